#!/bin/sh
# Helm plugin hooks for ecr-push (the repository root) and ecr-login
# (plugins/ecr-login): both plugins run the same binary, bin/helm-ecr.
#
#   plugin-hook.sh install   put bin/helm-ecr in both plugins (Helm 3 from a
#                            git URL, or any Helm from a directory without
#                            bin/), then install ecr-login too
#   plugin-hook.sh update    replace it (helm plugin update)
#
# The binary comes from the release: helm-ecr-VERSION-OS-ARCH.tar.gz and
# checksums.txt under the release base URL, the archive's sha256 checked
# against checksums.txt (sha256sum, shasum or openssl). Only when the release
# has no binary for this platform (or there is no release to ask) and cargo
# is on PATH is it built from source, and the hook says so. Anything else
# (checksum mismatch, failed download, no sha256 tool) is one error and
# nothing is installed: a failed install also takes the half-installed
# plugin out of HELM_PLUGINS again, so the same install can simply be re-run.
# A failed update says whether the old binary is still there (Helm's update
# of a git install deletes it before the hook runs).
#
# POSIX sh with curl or wget. On Windows (Git Bash, MSYS, Cygwin) the work is
# done by plugin-hook.ps1 when PowerShell is there.
#
# Environment: HELM_PLUGIN_DIR, HELM_PLUGINS, HELM_BIN (set by Helm);
# HELM_ECR_RELEASE_URL (release base URL: http(s):// or file://; default
# https://github.com/OWNER/REPO/releases/download/vVERSION from the git
# remote); HELM_ECR_BUILD_FROM_SOURCE=1 (skip the download, build with
# cargo); CARGO_TARGET_DIR.
set -eu

say() { printf 'helm-ecr: %s\n' "$*" >&2; }

action=${1:-install}
case $action in install | update) ;; *)
  say "error: unknown hook action '$action' (install or update)"
  exit 1
  ;;
esac
if [ -z "${HELM_PLUGIN_DIR:-}" ]; then
  say "error: HELM_PLUGIN_DIR is not set: this script is run by 'helm plugin install/update'; from a checkout use scripts/install.sh"
  exit 1
fi
plugin_dir=$(cd -P "$HELM_PLUGIN_DIR" && pwd)
root=$(cd -P "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version: *//p' "$root/plugin.yaml" | head -n 1)

tmp=""
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# A failed install leaves nothing: not the binary (never placed before
# every check passed) and not the plugin Helm has just put in HELM_PLUGINS
# (a link to a directory, or a copy of a git clone), so re-running the same
# `helm plugin install` works. Only a plugin directly inside HELM_PLUGINS is
# removed; a link is removed, never what it points to.
die() {
  undone=""
  if [ "$action" = install ] && [ -n "${HELM_PLUGINS:-}" ] && [ -d "$HELM_PLUGINS" ]; then
    parent=$(cd -P "$(dirname "$HELM_PLUGIN_DIR")" 2>/dev/null && pwd || true)
    plugins=$(cd -P "$HELM_PLUGINS" && pwd)
    if [ "$parent" = "$plugins" ] && rm -rf "${HELM_PLUGIN_DIR%/}"; then
      undone=" (nothing was installed: run the same 'helm plugin install' again once that is fixed)"
    fi
  fi
  # `helm plugin update` of a git install cleans the checkout (git clean
  # -x) before this hook runs, so the old binary may already be gone.
  if [ "$action" = update ]; then
    if [ -e "$plugin_dir/bin/helm-ecr$exe" ]; then
      undone=" (the installed helm-ecr is unchanged)"
    else
      undone=" (Helm's update removed the previous binary before this hook ran: ecr-push and ecr-login have none until 'helm plugin update ecr-push' succeeds; run it again once that is fixed)"
    fi
  fi
  say "error: $*$undone"
  exit 1
}

exe=""
os=""
case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT) os=windows exe=.exe ;;
esac
arch=""
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
esac

if [ "$os" = windows ] && [ -f "$root/scripts/plugin-hook.ps1" ]; then
  for ps in pwsh powershell powershell.exe; do
    if command -v "$ps" >/dev/null 2>&1; then
      exec "$ps" -NoProfile -ExecutionPolicy Bypass -File "$root/scripts/plugin-hook.ps1" "$action"
    fi
  done
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t helm-ecr)

# fetch URL FILE: 0 = got it, 2 = the server has no such file (404/410),
# 1 = anything else, explained in $fetch_error.
fetch() {
  fetch_error=""
  case $1 in
    file://*)
      if [ -f "${1#file://}" ]; then
        cp "${1#file://}" "$2" && return 0
        fetch_error="cannot copy ${1#file://}"
        return 1
      fi
      return 2
      ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -sSL --connect-timeout 10 --max-time 300 --retry 2 -o "$2" -w '%{http_code}' "$1" 2>"$tmp/fetch.err") || {
      fetch_error=$(head -n 1 "$tmp/fetch.err")
      return 1
    }
  elif command -v wget >/dev/null 2>&1; then
    if wget -S -T 60 -O "$2" "$1" 2>"$tmp/fetch.err"; then
      code=200
    else
      code=$(sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$tmp/fetch.err" | tail -n 1)
      [ -n "$code" ] || {
        fetch_error=$(grep -v '^ *$' "$tmp/fetch.err" | tail -n 1)
        return 1
      }
    fi
  else
    fetch_error="neither curl nor wget is installed: install one of them"
    return 1
  fi
  case $code in
    200) return 0 ;;
    404 | 410) return 2 ;;
    *)
      fetch_error="the server answered HTTP $code"
      return 1
      ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else
    return 1
  fi
}

release_base() {
  if [ -n "${HELM_ECR_RELEASE_URL:-}" ]; then
    printf '%s\n' "${HELM_ECR_RELEASE_URL%/}"
    return
  fi
  command -v git >/dev/null 2>&1 || return 1
  url=$(git -C "$root" config --get remote.origin.url 2>/dev/null) || return 1
  slug=$(printf '%s\n' "$url" | sed -n 's#^.*github\.com[:/]\([^/]*/[^/]*\)$#\1#p' | sed 's#\.git$##')
  [ -n "$slug" ] || return 1
  printf 'https://github.com/%s/releases/download/v%s\n' "$slug" "$version"
}

# Both plugin directories get the binary, or neither: copies are made
# beside the final names first, then renamed.
place() {
  dirs=""
  for d in "$root" "$root/plugins/ecr-login"; do
    [ -f "$d/plugin.yaml" ] || continue
    mkdir -p "$d/bin" || die "cannot create $d/bin"
    cp "$1" "$d/bin/.helm-ecr$exe.new" && chmod 755 "$d/bin/.helm-ecr$exe.new" || die "cannot write $d/bin"
    dirs="$dirs $d"
  done
  for d in $dirs; do
    # mv replaces the name: a bin/helm-ecr that is a link is not written through.
    mv -f "$d/bin/.helm-ecr$exe.new" "$d/bin/helm-ecr$exe" || die "cannot write $d/bin/helm-ecr$exe"
  done
}

# Sets $missing (why there is no release binary to use) and returns 1 when
# the release has none for this platform; dies on every other failure.
download() {
  missing=""
  if [ "${HELM_ECR_BUILD_FROM_SOURCE:-}" = 1 ]; then
    missing="HELM_ECR_BUILD_FROM_SOURCE=1"
    return 1
  fi
  if [ -z "$os" ] || [ -z "$arch" ]; then
    missing="helm-ecr publishes no binary for $(uname -s)/$(uname -m) (only linux, darwin, windows on amd64, arm64)"
    return 1
  fi
  base=$(release_base) || {
    missing="no release URL is known for this copy (no GitHub remote): set HELM_ECR_RELEASE_URL to the release's base URL"
    return 1
  }
  asset="helm-ecr-$version-$os-$arch.tar.gz"
  say "downloading helm-ecr $version for $os/$arch from $base"
  set +e
  fetch "$base/checksums.txt" "$tmp/checksums.txt"
  rc=$?
  set -e
  case $rc in
    0) ;;
    2)
      missing="$base/checksums.txt does not exist: no release $version there"
      return 1
      ;;
    *) die "cannot download $base/checksums.txt: $fetch_error (check the network, or set HELM_ECR_RELEASE_URL)" ;;
  esac
  want=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/checksums.txt")
  if [ -z "$want" ]; then
    missing="release $version has no binary for $os/$arch ($asset is not in checksums.txt)"
    return 1
  fi
  set +e
  fetch "$base/$asset" "$tmp/$asset"
  rc=$?
  set -e
  case $rc in
    0) ;;
    2) die "$base/$asset does not exist although checksums.txt lists it: the release is incomplete" ;;
    *) die "cannot download $base/$asset: $fetch_error (check the network, or set HELM_ECR_RELEASE_URL)" ;;
  esac
  got=$(sha256 "$tmp/$asset") || die "no sha256sum, shasum or openssl to check $asset: install one of them"
  [ "$got" = "$want" ] || die "checksum mismatch for $asset: checksums.txt says $want, the download is $got; not installing it"
  mkdir "$tmp/x"
  tar -xzf "$tmp/$asset" -C "$tmp/x" "helm-ecr$exe" 2>"$tmp/tar.err" || die "$asset is not a helm-ecr archive: $(head -n 1 "$tmp/tar.err")"
  [ -f "$tmp/x/helm-ecr$exe" ] && [ ! -L "$tmp/x/helm-ecr$exe" ] || die "$asset holds no helm-ecr$exe file"
  chmod 755 "$tmp/x/helm-ecr$exe"
  "$tmp/x/helm-ecr$exe" --version >/dev/null 2>&1 || die "the helm-ecr in $asset does not run on this machine ($os/$arch)"
  place "$tmp/x/helm-ecr$exe"
  say "installed helm-ecr $version for $os/$arch (sha256 checked)"
}

build() {
  [ -f "$root/Cargo.toml" ] || die "no release binary to install ($missing), and no source to build here"
  command -v cargo >/dev/null 2>&1 || die "no release binary to install ($missing), and cargo is not on PATH to build one"
  say "no release binary to install ($missing): building helm-ecr $version from source with cargo (a few minutes the first time)"
  (cd "$root" && cargo build --release --locked) || die "cargo build failed (see above)"
  target=${CARGO_TARGET_DIR:-$root/target}
  case $target in
    /* | [A-Za-z]:*) ;;
    *) target=$root/$target ;;
  esac
  [ -f "$target/release/helm-ecr$exe" ] || die "cargo finished but $target/release/helm-ecr$exe is missing"
  place "$target/release/helm-ecr$exe"
  say "built $target/release/helm-ecr$exe"
}

# Installed from a git URL (or a bare `helm plugin install` of the checkout),
# ecr-push brings ecr-login along: one install, both commands.
install_login_plugin() {
  [ "$plugin_dir" = "$root" ] || return 0
  [ -f "$root/plugins/ecr-login/plugin.yaml" ] || return 0
  helm=${HELM_BIN:-helm}
  if "$helm" plugin list 2>/dev/null | awk 'NR > 1 { print $1 }' | grep -qx ecr-login; then
    return 0
  fi
  say "installing the ecr-login plugin from $root/plugins/ecr-login"
  "$helm" plugin install "$root/plugins/ecr-login" >/dev/null || die "could not install the ecr-login plugin: run '$helm plugin install $root/plugins/ecr-login'"
}

if [ "$action" = update ] || [ ! -e "$plugin_dir/bin/helm-ecr$exe" ]; then
  download || build
fi
[ "$action" = update ] || install_login_plugin
