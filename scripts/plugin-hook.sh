#!/bin/sh
# Helm plugin hooks for ecr-push (the repository root) and ecr-login
# (plugins/ecr-login); both plugins run the same binary, bin/helm-ecr.
#
#   plugin-hook.sh install   put bin/helm-ecr in place: a published release
#                            binary for this platform, else `cargo build`
#   plugin-hook.sh update    the same, replacing what is there
#
# The install hooks in plugin.yaml only call this when bin/helm-ecr is
# missing (scripts/install.sh and the tests put it there first).
#
# Environment: HELM_PLUGIN_DIR, HELM_BIN (set by Helm); CARGO_TARGET_DIR;
# HELM_ECR_RELEASE_URL (base URL of release assets, overriding the one
# derived from the git remote); HELM_ECR_BUILD_FROM_SOURCE=1 (skip the download).
set -eu

say() { printf 'helm-ecr: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

action=${1:-install}
[ -n "${HELM_PLUGIN_DIR:-}" ] || die "HELM_PLUGIN_DIR is not set: this script is run by 'helm plugin install/update'; use scripts/install.sh by hand"
plugin_dir=$(cd -P "$HELM_PLUGIN_DIR" && pwd)
root=$(cd -P "$(dirname "$0")/.." && pwd)

exe=""
case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT) os=windows exe=.exe ;;
  *) os=$(uname -s) ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
version=$(sed -n 's/^version: *//p' "$root/plugin.yaml" | head -n 1)

# Both plugin directories get the binary: either hook may be the first to run.
place() {
  for d in "$root" "$root/plugins/ecr-login"; do
    [ -f "$d/plugin.yaml" ] || continue
    mkdir -p "$d/bin"
    # Remove first: bin/helm-ecr may be a symlink, and copying onto it would
    # overwrite whatever it points to.
    rm -f "$d/bin/helm-ecr$exe"
    cp "$1" "$d/bin/helm-ecr$exe"
    chmod 755 "$d/bin/helm-ecr$exe"
  done
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

fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --connect-timeout 10 --max-time 300 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 60 -O "$2" "$1"
  else
    return 1
  fi
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# A release asset helm-ecr_VERSION_OS_ARCH.tar.gz and its .sha256; the
# checksum must match or the binary is not used.
download() {
  [ "${HELM_ECR_BUILD_FROM_SOURCE:-}" != 1 ] || return 1
  base=$(release_base) || return 1
  asset="helm-ecr_${version}_${os}_${arch}.tar.gz"
  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t helm-ecr)
  say "looking for a release binary: $base/$asset"
  if ! fetch "$base/$asset" "$tmp/$asset" || ! fetch "$base/$asset.sha256" "$tmp/sum"; then
    say "no release binary for $os/$arch (none published, or no network)"
    rm -rf "$tmp"
    return 1
  fi
  want=$(cut -d' ' -f1 <"$tmp/sum")
  got=$(sha256 "$tmp/$asset")
  if [ "$want" != "$got" ]; then
    say "checksum mismatch for $asset (want $want, got $got): not using it"
    rm -rf "$tmp"
    return 1
  fi
  tar -xzf "$tmp/$asset" -C "$tmp" "helm-ecr$exe" || {
    rm -rf "$tmp"
    return 1
  }
  place "$tmp/helm-ecr$exe"
  rm -rf "$tmp"
  say "installed release binary $version for $os/$arch"
}

build() {
  [ -f "$root/Cargo.toml" ] || die "no release binary and no source to build ($root has no Cargo.toml): put a helm-ecr binary in $plugin_dir/bin/"
  command -v cargo >/dev/null 2>&1 || die "no release binary for $os/$arch and cargo is not installed: install Rust (https://rustup.rs), then run 'helm plugin update ecr-push'"
  say "building helm-ecr $version from source with cargo (a few minutes the first time)"
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
  "$helm" plugin install "$root/plugins/ecr-login" || die "could not install the ecr-login plugin: run '$helm plugin install $root/plugins/ecr-login'"
}

case $action in
  install)
    if [ ! -e "$plugin_dir/bin/helm-ecr$exe" ]; then
      download || build
    fi
    install_login_plugin
    ;;
  update)
    download || build
    ;;
  *) die "unknown hook action '$action' (install or update)" ;;
esac
