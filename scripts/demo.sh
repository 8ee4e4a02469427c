#!/usr/bin/env bash
# The README's first command: on a fresh machine, with no AWS account, show
# helm-ecr doing its job end to end against the local lab:
#   lab up -> build + install both plugins into Helm 4 (the Helm a new user
#   has; throwaway Helm dirs) -> helm ecr-login -> helm ecr-push
#   examples/hello -> helm pull it back (Helm 4, and the current Helm 3) ->
#   helm template it -> lab down (if this run started it).
# Nothing outside the lab's state dir and a temp dir is touched.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
CHART=examples/hello

step=0
say() {
  step=$((step + 1))
  printf '\n\033[1m==> %d. %s\033[0m\n' "$step" "$*"
}
show() { # print a command the way a person would type it, then run it
  printf '$ %s\n' "$*" | sed "s|$LAB_HELM_V4|helm|; s|$LAB_HELM_V3|helm3|; s|$DEMO/||g"
  "$@"
}

DEMO=
cleanup() {
  local status=$?
  [ -n "$DEMO" ] && rm -rf "$DEMO"
  lab_session_end || true
  if [ $status -eq 0 ]; then
    printf '\nDemo finished.\n'
  else
    printf '\nDemo FAILED (exit %d): see the step above.\n' "$status" >&2
  fi
}
# shellcheck source=scripts/lab/session.sh
. "$REPO/scripts/lab/session.sh"
trap cleanup EXIT

say "Bringing up the lab: moto as the ECR API, a CNCF distribution registry, Helm 4 and Helm 3"
lab_session_start
echo "ECR API: $LAB_ECR_ENDPOINT   registry: $LAB_REGISTRY (plain HTTP)   account: $LAB_ACCOUNT"

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/helm-ecr-demo.XXXXXX")
# Throwaway Helm dirs, and AWS settings that point at the lab only: the
# caller's own ~/.aws and Helm config stay untouched and unread.
export HELM_CONFIG_HOME=$DEMO/helm/config HELM_CACHE_HOME=$DEMO/helm/cache HELM_DATA_HOME=$DEMO/helm/data
export HELM_REGISTRY_CONFIG=$HELM_CONFIG_HOME/registry/config.json
HELM=$LAB_HELM_V4
export HELM_BIN=$HELM HELM_ECR_TOKEN_CACHE_DIR=$DEMO/token-cache
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL
export AWS_CONFIG_FILE=$DEMO/aws/config AWS_SHARED_CREDENTIALS_FILE=$DEMO/aws/credentials
export AWS_ACCESS_KEY_ID=$LAB_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$LAB_SECRET_ACCESS_KEY
export AWS_REGION=$LAB_REGION AWS_ENDPOINT_URL_ECR=$LAB_ECR_ENDPOINT AWS_EC2_METADATA_DISABLED=true
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

"$HELM" version --short
say "Building helm-ecr and installing both plugins into Helm 4"
if [ -f scripts/install.sh ]; then
  bash scripts/install.sh
else
  # Until scripts/install.sh exists: a release build, staged the way the tests do.
  cargo build --release --quiet
  stage=$DEMO/stage/helm-ecr
  mkdir -p "$stage/plugins/ecr-login"
  for f in plugin.yaml completion.yaml plugin.complete scripts plugins; do
    [ -e "$f" ] && cp -R "$f" "$stage/"
  done
  for f in plugin.yaml plugins/ecr-login/plugin.yaml; do
    [ -e "$stage/$f" ] || cp "scripts/lab/fallback-plugin/$f" "$stage/$f"
  done
  for d in "$stage" "$stage/plugins/ecr-login"; do
    mkdir -p "$d/bin"
    ln -sf "${CARGO_TARGET_DIR:-$REPO/target}/release/helm-ecr" "$d/bin/helm-ecr"
  done
  "$HELM" plugin install "$stage" >/dev/null
  "$HELM" plugin install "$stage/plugins/ecr-login" >/dev/null
fi
show "$HELM" plugin list

say "Logging Helm in to the registry with an ECR token (SigV4-signed GetAuthorizationToken)"
show "$HELM" ecr-login "$LAB_REGISTRY"

say "Packaging and pushing the example chart"
show "$HELM" ecr-push "$CHART" "oci://$LAB_REGISTRY/demo" --plain-http

say "Pulling it back with stock Helm"
mkdir -p "$DEMO/pulled"
show "$HELM" pull "oci://$LAB_REGISTRY/demo/hello" --version 0.1.0 -d "$DEMO/pulled" --plain-http
show "$HELM" show chart "$DEMO/pulled/hello-0.1.0.tgz"
mkdir -p "$DEMO/pulled3"
show "$LAB_HELM_V3" pull "oci://$LAB_REGISTRY/demo/hello" --version 0.1.0 -d "$DEMO/pulled3" --plain-http
cmp "$DEMO/pulled/hello-0.1.0.tgz" "$DEMO/pulled3/hello-0.1.0.tgz"
echo "Helm 3 pulled the same bytes."

say "Rendering it"
show "$HELM" template demo "$DEMO/pulled/hello-0.1.0.tgz"

say "Tearing down"
