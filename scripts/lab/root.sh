# shellcheck shell=bash
# Sourced by scripts/lab.sh and scripts/bench.sh, which install the Debian
# packages they lack:
#
#   can_be_root      true when this shell can run commands as root: it is
#                    root, or sudo asks no password
#   as_root CMD...   runs CMD as root (ask can_be_root first)

can_be_root() {
  [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    sudo -n "$@"
  fi
}
