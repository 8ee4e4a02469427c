#!/usr/bin/env bash
# THE test command (README and CI): brings the lab up (installing what it
# needs), then runs cargo fmt --check, clippy with -D warnings, and every test
# (unit and integration) against the lab. Stops the lab at the end if a test
# or demo run started it and no other such run still uses it (a lab started
# by hand with scripts/lab.sh up is left running). Exit status 1 if any step
# failed; every step runs regardless, so one run shows all failures.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1

say() { printf '\n==> %s\n' "$*"; }

say "Rust toolchain"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component" || exit 1
  fi
done
cargo --version

# shellcheck source=scripts/lab/session.sh
. "$REPO/scripts/lab/session.sh"
trap lab_session_end EXIT
say "Lab"
lab_session_start || {
  echo "error: the lab did not come up (see above)" >&2
  exit 1
}

failed=()
step() {
  local name=$1
  shift
  say "$name"
  "$@" || failed+=("$name")
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --all-targets -- -D warnings
scripts_parse() {
  local f ok=0
  for f in scripts/*.sh scripts/lab/*.sh .ci/run; do
    bash -n "$f" || ok=1
  done
  # ast.parse, not py_compile: no __pycache__ left in the tree.
  "$LAB_PYTHON" -c 'import ast, sys
for f in sys.argv[1:]:
    ast.parse(open(f).read(), f)' scripts/lab/*.py || ok=1
  return $ok
}
step "scripts parse" scripts_parse
# The release build scripts/install.sh makes inside the tests (and the
# bench) is done here first, outside any test's time limit.
step "cargo build --release" cargo build --release --locked
step "cargo test" cargo test --no-fail-fast

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "All checks passed."
