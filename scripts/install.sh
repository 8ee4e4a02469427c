#!/bin/sh
# Build helm-ecr from this checkout and install both Helm plugins (ecr-push
# and ecr-login) into the Helm on PATH, or $HELM_BIN. Safe to re-run: a
# plugin already installed from this checkout just gets the new binary; one
# installed from elsewhere is replaced.
#
# Environment: HELM_BIN (default: helm on PATH), CARGO_TARGET_DIR, and
# Helm's own HELM_DATA_HOME / HELM_PLUGINS / HELM_CONFIG_HOME.
set -eu

say() { printf '%s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

root=$(cd -P "$(dirname "$0")/.." && pwd)
helm=${HELM_BIN:-helm}
command -v "$helm" >/dev/null 2>&1 || die "Helm not found ('$helm'): install Helm 3.10+ or set HELM_BIN"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust from https://rustup.rs"

exe=""
case $(uname -s) in MINGW* | MSYS* | CYGWIN* | Windows_NT) exe=.exe ;; esac

say "Building helm-ecr (cargo build --release)"
(cd "$root" && cargo build --release --locked) || die "cargo build failed (see above)"
target=${CARGO_TARGET_DIR:-$root/target}
case $target in
  /* | [A-Za-z]:*) ;;
  *) target=$root/$target ;;
esac
binary=$target/release/helm-ecr$exe
[ -f "$binary" ] || die "cargo finished but $binary is missing"

for d in "$root" "$root/plugins/ecr-login"; do
  mkdir -p "$d/bin"
  # Replace, never write through: bin/helm-ecr may be a symlink.
  rm -f "$d/bin/helm-ecr$exe"
  cp "$binary" "$d/bin/helm-ecr$exe"
  chmod 755 "$d/bin/helm-ecr$exe"
done

plugins=$("$helm" env HELM_PLUGINS) || die "'$helm env HELM_PLUGINS' failed"
installed=$("$helm" plugin list | awk 'NR > 1 { print $1 }')

# install NAME DIR
install_plugin() {
  name=$1
  dir=$2
  link="$plugins/$(basename "$dir")"
  if [ -e "$link" ] && [ "$(cd -P "$link" && pwd)" = "$dir" ]; then
    say "$name: already installed from $dir (binary updated)"
    return
  fi
  if printf '%s\n' "$installed" | grep -qx "$name"; then
    say "$name: replacing the installed plugin"
    "$helm" plugin uninstall "$name" >/dev/null || die "could not uninstall the existing $name plugin"
  fi
  if [ -e "$link" ] || [ -L "$link" ]; then
    die "$link exists and is not the $name plugin from $dir: move it away and re-run"
  fi
  "$helm" plugin install "$dir" >/dev/null || die "helm plugin install $dir failed"
  say "$name: installed from $dir"
}

install_plugin ecr-push "$root"
install_plugin ecr-login "$root/plugins/ecr-login"
"$helm" plugin list
