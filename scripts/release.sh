#!/bin/sh
# Build a helm-ecr release from this checkout into OUT_DIR (a new or empty
# directory), as the contract says (CLI.md, "Releases and installing without
# Rust"):
#
#   helm-ecr-VERSION-OS-ARCH.tar.gz  the binary (helm-ecr, helm-ecr.exe on
#                                    Windows), one per target built; OS/ARCH
#                                    in Go's names (linux darwin windows /
#                                    amd64 arm64). The Helm 3 install hook
#                                    (scripts/plugin-hook.sh) downloads these.
#   ecr-push-VERSION.tgz             Helm 4 plugin packages made by Helm 4's
#   ecr-login-VERSION.tgz            `helm plugin package`: an apiVersion v1
#                                    plugin.yaml generated from the legacy one
#                                    and every binary built, under
#                                    bin/OS-ARCH/, picked by platformCommand
#   *.tgz.prov                       their signatures (HELM_ECR_SIGN_KEY set)
#   checksums.txt                    sha256sum format, every other file
#
# Usage: scripts/release.sh OUT_DIR
#
# Environment:
#   HELM_BIN                   the Helm 4 that packages (default: helm on PATH)
#   HELM_ECR_SIGN_KEY          GPG key (user id, email or fingerprint) to sign
#                              the plugin packages with; unset: unsigned
#   HELM_ECR_KEYRING           legacy-format secret keyring file holding that
#                              key (default: exported with gpg from GNUPGHOME,
#                              or ~/.gnupg)
#   HELM_ECR_SIGN_PASSPHRASE_FILE  file holding the key's passphrase, if any
#   HELM_ECR_RELEASE_TARGETS   Rust target triples to build, space separated
#                              (default: this machine's; on Linux the static
#                              musl target when it is installed)
#   HELM_ECR_RELEASE_BIN       use binaries built already instead of running
#                              cargo: a file (this machine's OS/ARCH) or a
#                              directory holding OS-ARCH/helm-ecr[.exe] (the
#                              tests and the release workflow use it)
#   HELM_ECR_SOURCE_URL        sourceURL of the v1 plugin.yaml (default: the
#                              GitHub URL of the git remote `origin`, if any)
#   SOURCE_DATE_EPOCH          time stamped on archive entries (default: the
#                              last commit's time, else 0)
#   CARGO_TARGET_DIR           honoured
set -eu

say() { printf '%s\n' "$*"; }
die() {
  printf 'release.sh: error: %s\n' "$*" >&2
  exit 1
}

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/release.sh OUT_DIR (a new or empty directory)"
out=$1
if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out is not a directory: give a new or empty directory"
  [ -z "$(ls -A "$out")" ] || die "$out is not empty: give a new or empty directory (checksums.txt covers every file in it)"
fi

root=$(cd -P "$(dirname "$0")/.." && pwd)

# yaml_field FILE KEY: a top-level scalar of a legacy plugin.yaml, plain or
# quoted on one line, or a `|`/`|-` block (indentation removed).
yaml_field() {
  awk -v key="$2" '
    block {
      if ($0 ~ /^[^ ]/) exit
      sub(/^  /, ""); print; next
    }
    index($0, key ":") == 1 {
      v = substr($0, length(key) + 2)
      sub(/^ +/, "", v); sub(/ +$/, "", v)
      if (v ~ /^\|-?$/) { block = 1; next }
      if (v ~ /^".*"$/ || v ~ /^'\''.*'\''$/) v = substr(v, 2, length(v) - 2)
      print v; exit
    }' "$1"
}

legacy_push=$root/plugin.yaml
legacy_login=$root/plugins/ecr-login/plugin.yaml
for f in "$legacy_push" "$legacy_login" "$root/Cargo.toml"; do
  [ -f "$f" ] || die "$f is missing: run this from a helm-ecr checkout"
done
version=$(yaml_field "$legacy_push" version)
[ -n "$version" ] || die "$legacy_push has no version"
for f in "$legacy_login"; do
  v=$(yaml_field "$f" version)
  [ "$v" = "$version" ] || die "$f has version '$v' but plugin.yaml has '$version': make them equal"
done
cargo_version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
[ "$cargo_version" = "$version" ] || die "Cargo.toml has version '$cargo_version' but plugin.yaml has '$version': make them equal"

helm=${HELM_BIN:-helm}
command -v "$helm" >/dev/null 2>&1 || die "Helm 4 not found ('$helm'): install Helm 4 or set HELM_BIN"
helm_version=$("$helm" version --template '{{.Version}}' 2>/dev/null) || die "'$helm version' failed: set HELM_BIN to a Helm 4"
case $helm_version in
  v4.*) ;;
  *) die "$helm is Helm '$helm_version': packaging plugins needs Helm 4 (set HELM_BIN)" ;;
esac

sign_key=${HELM_ECR_SIGN_KEY:-}
keyring=${HELM_ECR_KEYRING:-}
passphrase_file=${HELM_ECR_SIGN_PASSPHRASE_FILE:-}
if [ -n "$keyring" ]; then
  [ -n "$sign_key" ] || die "HELM_ECR_KEYRING is set but HELM_ECR_SIGN_KEY is not: name the key to sign with"
  [ -f "$keyring" ] || die "HELM_ECR_KEYRING=$keyring is not a file"
fi
if [ -n "$passphrase_file" ] && [ ! -f "$passphrase_file" ]; then
  die "HELM_ECR_SIGN_PASSPHRASE_FILE=$passphrase_file is not a file"
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t helm-ecr-release)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/bin" "$tmp/out"

# Go's names for a Rust target triple: "OS ARCH", or nothing.
go_platform() {
  case $1 in
    x86_64-*-linux-*) echo "linux amd64" ;;
    aarch64-*-linux-*) echo "linux arm64" ;;
    x86_64-apple-darwin) echo "darwin amd64" ;;
    aarch64-apple-darwin) echo "darwin arm64" ;;
    x86_64-pc-windows-*) echo "windows amd64" ;;
    aarch64-pc-windows-*) echo "windows arm64" ;;
  esac
}

host_platform() {
  case $(uname -s) in
    Linux) o=linux ;;
    Darwin) o=darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT) o=windows ;;
    *) return 1 ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) a=amd64 ;;
    aarch64 | arm64) a=arm64 ;;
    *) return 1 ;;
  esac
  echo "$o $a"
}

exe_for() { [ "$1" = windows ] && echo .exe || true; }

# add_binary FILE OS ARCH
add_binary() {
  e=$(exe_for "$2")
  mkdir -p "$tmp/bin/$2-$3"
  cp "$1" "$tmp/bin/$2-$3/helm-ecr$e"
  chmod 755 "$tmp/bin/$2-$3/helm-ecr$e"
}

prebuilt=${HELM_ECR_RELEASE_BIN:-}
if [ -n "$prebuilt" ]; then
  if [ -f "$prebuilt" ]; then
    p=$(host_platform) || die "HELM_ECR_RELEASE_BIN is one file but this machine ($(uname -s)/$(uname -m)) has no Go platform name: give a directory of OS-ARCH/helm-ecr"
    # shellcheck disable=SC2086 # "OS ARCH" splits on purpose
    add_binary "$prebuilt" $p
  elif [ -d "$prebuilt" ]; then
    for o in linux darwin windows; do
      for a in amd64 arm64; do
        f="$prebuilt/$o-$a/helm-ecr$(exe_for $o)"
        [ ! -f "$f" ] || add_binary "$f" "$o" "$a"
      done
    done
  else
    die "HELM_ECR_RELEASE_BIN=$prebuilt is neither a file nor a directory"
  fi
else
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs), or set HELM_ECR_RELEASE_BIN to binaries built already"
  targets=${HELM_ECR_RELEASE_TARGETS:-}
  if [ -z "$targets" ]; then
    targets=$(rustc -vV | sed -n 's/^host: //p')
    [ -n "$targets" ] || die "'rustc -vV' names no host target"
    # A static binary runs on every Linux (glibc or not): prefer musl when
    # its standard library is installed (rustup target add ...-musl).
    case $targets in
      *-unknown-linux-gnu)
        musl=${targets%-gnu}-musl
        if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
          targets=$musl
        fi
        ;;
    esac
  fi
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  case $target_dir in
    /* | [A-Za-z]:*) ;;
    *) target_dir=$root/$target_dir ;;
  esac
  for t in $targets; do
    p=$(go_platform "$t")
    [ -n "$p" ] || die "target $t has no Go platform name (linux, darwin, windows / amd64, arm64)"
    case $t in
      *-linux-musl)
        # ring has C parts: the cc crate wants ARCH-linux-musl-gcc, which
        # few machines have. musl-gcc (Debian's musl-tools), else the system
        # cc, builds them (they need no libc headers beyond the compiler's).
        cc_var=CC_$(printf '%s' "$t" | tr '-' '_')
        if [ -z "$(eval "printf '%s' \"\${$cc_var:-}\"")" ] && ! command -v "${t%%-*}-linux-musl-gcc" >/dev/null 2>&1; then
          if command -v musl-gcc >/dev/null 2>&1; then musl_cc=musl-gcc; else musl_cc=cc; fi
          export "$cc_var=$musl_cc"
        fi
        ;;
    esac
    say "Building helm-ecr $version for $t"
    (cd "$root" && cargo build --release --locked --target "$t") || die "cargo build --target $t failed (see above)"
    # shellcheck disable=SC2086
    set -- $p
    f="$target_dir/$t/release/helm-ecr$(exe_for "$1")"
    [ -f "$f" ] || die "cargo finished but $f is missing"
    add_binary "$f" "$1" "$2"
  done
fi
platforms=$(cd "$tmp/bin" && ls)
[ -n "$platforms" ] || die "no binary to release: HELM_ECR_RELEASE_BIN=$prebuilt holds no OS-ARCH/helm-ecr[.exe]"

# A binary this machine can run must say the version being released.
if hp=$(host_platform); then
  # shellcheck disable=SC2086
  set -- $hp
  f="$tmp/bin/$1-$2/helm-ecr$(exe_for "$1")"
  if [ -f "$f" ]; then
    v=$("$f" --version 2>/dev/null) || die "$f --version failed: is it a helm-ecr binary for $1/$2?"
    case " $v " in
      *" $version "*) ;;
      *) die "the binary says '$v', not version $version: rebuild it from this checkout" ;;
    esac
  fi
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

# Same bytes for the same binary: sorted, owner 0, fixed times, gzip -n.
# GNU tar has the flags; others (bsdtar) get a plain archive.
tar_gz() { # ARCHIVE DIR NAME...
  archive=$1 dir=$2
  shift 2
  if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -C "$dir" -cf - "$@" | gzip -n >"$archive"
  else
    tar -C "$dir" -cf - "$@" | gzip -n >"$archive"
  fi
}

for p in $platforms; do
  o=${p%-*}
  e=$(exe_for "$o")
  tar_gz "$tmp/out/helm-ecr-$version-$p.tar.gz" "$tmp/bin/$p" "helm-ecr$e"
  say "Archived helm-ecr-$version-$p.tar.gz"
done

source_url=${HELM_ECR_SOURCE_URL:-}
if [ -z "$source_url" ]; then
  remote=$(git -C "$root" config --get remote.origin.url 2>/dev/null || true)
  slug=$(printf '%s\n' "$remote" | sed -n 's#^.*github\.com[:/]\([^/]*/[^/]*\)$#\1#p' | sed 's#\.git$##')
  [ -z "$slug" ] || source_url=https://github.com/$slug
fi

# A YAML double-quoted string (JSON's escapes are YAML's).
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# write_v1 LEGACY_YAML OUT_YAML: the Helm 4 (apiVersion v1, cli/v1)
# plugin.yaml made from the legacy one's facts, the way Helm 4 itself
# reads a legacy file (usage -> shortHelp, description -> longHelp).
write_v1() {
  name=$(yaml_field "$1" name)
  usage=$(yaml_field "$1" usage)
  description=$(yaml_field "$1" description)
  ignore=$(yaml_field "$1" ignoreFlags)
  # The subcommand the binary is run with: the words after the program.
  args=$(awk '/^ *(- )?command:/ { sub(/^ *(- )?command: */, ""); n = split($0, w, " ")
    for (i = 2; i <= n; i++) printf "%s\"%s\"", (i > 2 ? ", " : ""), w[i]; exit }' "$1")
  [ -n "$name" ] && [ -n "$args" ] || die "$1 lacks name or command"
  {
    echo "# Made by scripts/release.sh from the legacy plugin.yaml; Helm 4 reads this."
    echo "apiVersion: v1"
    echo "name: $name"
    echo "version: $version"
    echo "type: cli/v1"
    echo "runtime: subprocess"
    [ -z "$source_url" ] || echo "sourceURL: $(quote "$source_url")"
    echo "config:"
    echo "  shortHelp: $(quote "$usage")"
    if [ -n "$description" ]; then
      echo "  longHelp: |-"
      printf '%s\n' "$description" | sed 's/^\(.\)/    \1/'
    fi
    echo "  ignoreFlags: ${ignore:-false}"
    echo "runtimeConfig:"
    echo "  platformCommand:"
    for p in $platforms; do
      o=${p%-*}
      echo "    - os: $o"
      echo "      arch: ${p#*-}"
      echo "      command: \${HELM_PLUGIN_DIR}/bin/$p/helm-ecr$(exe_for "$o")"
      echo "      args: [$args]"
    done
  } >"$2"
}

sign_flags="--sign=false"
if [ -n "$sign_key" ]; then
  if [ -z "$keyring" ]; then
    # Helm reads only the legacy secret keyring format; GnuPG 2.1+ keeps
    # keys elsewhere, so export the one key for this run.
    command -v gpg >/dev/null 2>&1 || die "HELM_ECR_SIGN_KEY is set but gpg is not installed: install GnuPG or set HELM_ECR_KEYRING to a secret keyring file"
    keyring=$tmp/secring.gpg
    gpg --batch --export-secret-keys "$sign_key" >"$keyring" 2>"$tmp/gpg.err" || true
    [ -s "$keyring" ] || die "cannot export the secret key '$sign_key' with gpg (GNUPGHOME=${GNUPGHOME:-~/.gnupg}): $(head -n 1 "$tmp/gpg.err"); import it there, or set HELM_ECR_KEYRING to a legacy secret keyring file holding it"
  fi
  sign_flags="--sign"
fi

for plugin in ecr-push ecr-login; do
  case $plugin in
    ecr-push) src=$root ;;
    ecr-login) src=$root/plugins/ecr-login ;;
  esac
  dir=$tmp/pkg/$plugin
  mkdir -p "$dir/bin"
  write_v1 "$src/plugin.yaml" "$dir/plugin.yaml"
  for f in completion.yaml plugin.complete; do
    [ ! -f "$src/$f" ] || cp "$src/$f" "$dir/$f"
  done
  # Copies, never links: Helm's tarball extractor accepts only regular
  # files and directories.
  cp -R "$tmp/bin/." "$dir/bin/"
  set -- "$helm" plugin package "$dir" -d "$tmp/out" "$sign_flags"
  if [ -n "$sign_key" ]; then
    set -- "$@" --key "$sign_key" --keyring "$keyring"
    [ -z "$passphrase_file" ] || set -- "$@" --passphrase-file "$passphrase_file"
  fi
  "$@" >"$tmp/package.log" 2>&1 || die "'helm plugin package' of $plugin failed: $(grep -v '^WARNING' "$tmp/package.log" | tail -n 1)"
  [ -f "$tmp/out/$plugin-$version.tgz" ] || die "helm plugin package wrote no $plugin-$version.tgz"
  if [ -n "$sign_key" ]; then
    [ -f "$tmp/out/$plugin-$version.tgz.prov" ] || die "helm plugin package wrote no $plugin-$version.tgz.prov"
    say "Packaged $plugin-$version.tgz (signed with '$sign_key')"
  else
    say "Packaged $plugin-$version.tgz (unsigned: Helm 4 installs it only with --verify=false; set HELM_ECR_SIGN_KEY)"
  fi
done

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$@"
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$@"
  else
    die "no sha256sum or shasum to write checksums.txt"
  fi
}
(cd "$tmp/out" && sha256 -- *) >"$tmp/checksums.txt"
mv "$tmp/checksums.txt" "$tmp/out/checksums.txt"

mkdir -p "$out"
mv "$tmp/out/"* "$out/"
say "Release $version in $out:"
(cd "$out" && ls -1)
