# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: use the lab for the length of
# this shell. At the end the lab is stopped if a session started it (never one
# a person started by hand with scripts/lab.sh up) and no other session still
# uses it: the last session out stops it.
#
#   lab_session_start   brings the lab up and exports its LAB_* variables
#   lab_session_end     (run it from an EXIT trap)
#
# Each session holds a shared flock on $LAB_DIR/users.lock (fd 7) while it
# runs; at the end it stops the lab only if it can take that lock exclusively.
# lab.sh records $HELM_ECR_LAB_OWNER in run/owner when it starts a fresh lab,
# so run/owner exists exactly when a session started the running lab.

lab_session_start() {
  local repo envfile
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  LAB_SESSION_REPO=$repo
  LAB_SESSION_DIR=${HELM_ECR_LAB_DIR:-$repo/.lab}
  mkdir -p "$LAB_SESSION_DIR"
  exec 7>"$LAB_SESSION_DIR/users.lock"
  flock -s 7
  export HELM_ECR_LAB_OWNER="session-$$-$RANDOM$RANDOM"
  envfile=$(bash "$repo/scripts/lab.sh" up) || return 1
  eval "$envfile"
}

lab_session_end() {
  [ -n "${LAB_SESSION_DIR:-}" ] || return 0
  flock -u 7
  if [ -s "$LAB_SESSION_DIR/run/owner" ]; then
    if flock -xn 7; then
      bash "$LAB_SESSION_REPO/scripts/lab.sh" down
    else
      echo "lab: left up: another session still uses it and will stop it" >&2
    fi
  fi
  exec 7>&-
}
