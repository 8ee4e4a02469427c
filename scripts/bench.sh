#!/usr/bin/env bash
# Benchmark: `helm-ecr ecr-push` against the peer flow users run today,
#   aws ecr get-login-password | helm registry login ; helm package ; helm push
# (helm 3.10.1, awscli v1), per chart, for N charts (default 20), warm, on
# the lab's registry directly (loopback) and behind a proxy adding 50 ms per
# request turn (one round trip). Prints wall time, peak RSS and the ratios.
#
#   scripts/bench.sh [N_CHARTS]        HELM_ECR_BIN=path skips the release build
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-20}
DELAY=${BENCH_DELAY:-0.05}

bash "$REPO/scripts/lab.sh" up >/dev/null
# shellcheck disable=SC1091
source "$REPO/.lab/env"

if [ -z "${HELM_ECR_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --quiet)
  HELM_ECR_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/helm-ecr
fi
[ -x "$HELM_ECR_BIN" ] || { echo "bench: no binary at $HELM_ECR_BIN" >&2; exit 1; }
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }

WORK=$(mktemp -d)
PROXY_PID=
cleanup() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Throwaway Helm and cache dirs; AWS pointed at the lab's ECR (moto).
export HELM_CONFIG_HOME=$WORK/helm-config HELM_CACHE_HOME=$WORK/helm-cache HELM_DATA_HOME=$WORK/helm-data
export HELM_ECR_TOKEN_CACHE_DIR=$WORK/token-cache
export AWS_ACCESS_KEY_ID=$LAB_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$LAB_SECRET_ACCESS_KEY
export AWS_REGION=$LAB_REGION AWS_DEFAULT_REGION=$LAB_REGION AWS_ENDPOINT_URL_ECR=$LAB_ECR_ENDPOINT
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset AWS_PROFILE HELM_DEBUG

CHARTS=()
for i in $(seq -w 1 "$N"); do
  d=$WORK/charts/bench$i
  mkdir -p "$d"
  cp -R "$REPO/examples/hello/." "$d/"
  sed -i "s/^name:.*/name: bench$i/" "$d/Chart.yaml"
  CHARTS+=("$d")
done

# run LABEL CMD...: wall seconds and peak RSS (MiB) of CMD, as "secs mib".
measure() {
  local out=$WORK/time.$$
  "$TIME" -f "%e %M" -o "$out" "$@" >/dev/null 2>"$WORK/stderr" || {
    echo "bench: failed: $*" >&2
    cat "$WORK/stderr" >&2
    exit 1
  }
  awk '{printf "%s %.0f\n", $1, $2/1024}' "$out"
}

# The peer flow, per chart, as a script so `time` measures all of it.
cat >"$WORK/peer.sh" <<'PEER'
#!/usr/bin/env bash
set -euo pipefail
host=$1 ns=$2
shift 2
for c in "$@"; do
  "$LAB_AWS" --endpoint-url "$LAB_ECR_ENDPOINT" ecr get-login-password |
    "$LAB_HELM3" registry login --username AWS --password-stdin --insecure "$host" 2>/dev/null
  "$LAB_HELM3" package "$c" -d "$WORK/pkg" >/dev/null
  "$LAB_HELM3" push "$WORK/pkg/$(basename "$c")-0.1.0.tgz" "oci://$host/$ns" 2>/dev/null
done
PEER
chmod +x "$WORK/peer.sh"
export LAB_AWS LAB_ECR_ENDPOINT LAB_HELM3 WORK

ours() { # HOST NS
  "$HELM_ECR_BIN" ecr-push "${CHARTS[@]}" "oci://$1/$2" --plain-http
}

scenario() { # NAME HOST
  local name=$1 host=$2 ns
  # Warm: tools loaded, token cached, connections known.
  ours "$host" "warm-$RANDOM$RANDOM" >/dev/null
  "$WORK/peer.sh" "$host" "warm-$RANDOM$RANDOM" "${CHARTS[0]}" >/dev/null
  ns=bench-ours-$RANDOM$RANDOM
  read -r ours_s ours_m < <(measure "$HELM_ECR_BIN" ecr-push "${CHARTS[@]}" "oci://$host/$ns" --plain-http)
  read -r same_s same_m < <(measure "$HELM_ECR_BIN" ecr-push "${CHARTS[@]}" "oci://$host/$ns" --plain-http)
  read -r peer_s peer_m < <(measure "$WORK/peer.sh" "$host" "bench-peer-$RANDOM$RANDOM" "${CHARTS[@]}")
  printf '%-22s %8s s %6s MiB | unchanged %6s s | peer %8s s %6s MiB | speed-up x%s\n' \
    "$name ($N charts)" "$ours_s" "$ours_m" "$same_s" "$peer_s" "$peer_m" \
    "$(awk -v a="$peer_s" -v b="$ours_s" 'BEGIN{printf "%.1f", (b>0 ? a/b : 0)}')"
}

mkdir -p "$WORK/pkg"
echo "helm-ecr: $HELM_ECR_BIN; peer: aws ecr get-login-password | helm $("$LAB_HELM3" version --short) registry login + package + push, per chart"
scenario "loopback" "$LAB_REGISTRY"

PY=${LAB_PYTHON:-python3}
exec 3< <("$PY" "$REPO/scripts/bench/delay_proxy.py" "$LAB_REGISTRY" "$DELAY")
PROXY_PID=$!
read -r PROXY_PORT <&3
scenario "+$(awk -v d="$DELAY" 'BEGIN{print d*1000}') ms per request" "127.0.0.1:$PROXY_PORT"
