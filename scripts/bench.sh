#!/usr/bin/env bash
# The push benchmark of issue 4 (a benchmark, not a test: it never fails on
# timings; it exits non-zero only when something could not run).
#
# `helm ecr-push` runs through the real Helm 4 (the main peer) and the current
# Helm 3 (beside it), with both plugins installed by scripts/install.sh
# (release build) into throwaway Helm dirs. The peer is what users run today:
# awscli v1 and the same Helm, also in throwaway dirs.
#   (a) cold, 1 chart, empty token cache: helm ecr-push ./chart
#       vs aws ecr get-login-password | helm registry login ; helm package ; helm push
#   (b) warm, 1 chart, token cached / logged in: helm ecr-push ./chart
#       vs helm package ; helm push
#   (c) N charts (default 20): one helm ecr-push call
#       vs a loop of helm package ; helm push
#   (d) (a)-(c) again with DELAY ms (default 50) added to every request to the
#       registry and to the ECR API, by scripts/bench/proxy.py (no netem here).
#   (e) credential helpers, same Helm 4, same registry: `helm pull` with
#       docker-credential-helm-ecr vs AWS's docker-credential-ecr-login in
#       credHelpers, token cold (each helper's cache emptied) and cached. The
#       registry is named as ECR (ACCT.dkr.ecr.REGION.amazonaws.com:PORT, which
#       AWS's helper insists on) and reached through a local HTTP proxy.
# Every push is a real push: each chart's version is bumped before each run.
#
# Registry: a private CNCF distribution instance (the lab's htpasswd, its own
# access log, so request counts are exact). ECR API: the lab's moto behind
# scripts/bench/proxy.py's ECR front, which gives tokens a 12-hour expiry as
# real ECR does (moto's 2015 expiry would defeat any token cache).
#
#   scripts/bench.sh      env: BENCH_REPS (7), BENCH_REPS_MANY (3),
#                              BENCH_CHARTS (20), BENCH_DELAY_MS (50),
#                              BENCH_KEEP=1 keeps the work dir (logs, raw results)
# Brings the lab up when needed (and stops it if it started it).
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for v in BENCH_REPS BENCH_REPS_MANY BENCH_CHARTS BENCH_DELAY_MS; do
  if [ -n "${!v:-}" ] && ! [[ ${!v} =~ ^[1-9][0-9]{0,3}$ ]]; then
    echo "bench: $v must be a whole number from 1 to 9999 (got '${!v}')" >&2
    exit 2
  fi
done
REPS=${BENCH_REPS:-7}
REPS_MANY=${BENCH_REPS_MANY:-3}
N=${BENCH_CHARTS:-20}
DELAY_MS=${BENCH_DELAY_MS:-50}
DELAY=$(awk -v ms="$DELAY_MS" 'BEGIN { printf "%.3f", ms / 1000 }')

die() {
  echo "bench: error: $*" >&2
  exit 1
}
progress() { printf '  %s\n' "$*" >&2; }
section() { printf '\n== %s\n' "$*" >&2; }

# GNU time gives peak RSS (%M); wall time comes from EPOCHREALTIME (us).
TIME=/usr/bin/time
# shellcheck source=scripts/lab/root.sh
. "$REPO/scripts/lab/root.sh"
if ! "$TIME" -f %M true >/dev/null 2>&1; then
  section "Installing GNU time (apt-get install time)"
  if ! can_be_root ||
    ! { as_root apt-get install -y -qq time || { as_root apt-get update -qq && as_root apt-get install -y -qq time; }; } >/dev/null; then
    die "needs GNU time at /usr/bin/time: run 'sudo apt-get install time' and re-run"
  fi
fi

WORK=
BG_PIDS=()
cleanup() {
  local status=$? pid
  for pid in "${BG_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$WORK" ] && [ -n "${BENCH_KEEP:-}" ]; then
    echo "bench: kept $WORK" >&2
  elif [ -n "$WORK" ]; then
    rm -rf "$WORK"
  fi
  lab_session_end || true
  [ $status -eq 0 ] || echo "bench: FAILED (exit $status): see above" >&2
}
# shellcheck source=scripts/lab/session.sh
. "$REPO/scripts/lab/session.sh"
trap cleanup EXIT

section "Lab"
lab_session_start >/dev/null || die "the lab did not come up (see above)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/helm-ecr-bench.XXXXXX")
mkdir -p "$WORK/res" "$WORK/aws"

# Nothing of the caller's: no AWS profile or config, no proxy, no Helm dirs.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL HELM_DEBUG
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
unset HELM_ECR_NO_TOKEN_CACHE HELM_ECR_RETRY_SCALE HELM_ECR_TIMEOUT_SCALE
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export AWS_CONFIG_FILE=$WORK/aws/config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws/credentials
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=$LAB_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$LAB_SECRET_ACCESS_KEY
export AWS_REGION=$LAB_REGION AWS_DEFAULT_REGION=$LAB_REGION
# Our side: plugins installed here; its registry config is never written, so
# a push authenticates with our token cache (or fetches a token) only.
export HELM_CONFIG_HOME=$WORK/ours/config HELM_CACHE_HOME=$WORK/ours/cache HELM_DATA_HOME=$WORK/ours/data
export HELM_REGISTRY_CONFIG=$WORK/ours/registry.json
export HELM_ECR_TOKEN_CACHE_DIR=$WORK/ours/token-cache
# The peer's side: plain helm, no plugins, its own registry config.
PEER_ENV=(HELM_CONFIG_HOME="$WORK/peer/config" HELM_CACHE_HOME="$WORK/peer/cache"
  HELM_DATA_HOME="$WORK/peer/data" HELM_REGISTRY_CONFIG="$WORK/peer/registry.json")

H4=$LAB_HELM_V4
H3=$LAB_HELM_V3
H4_VERSION=$("$H4" version --short)
H3_VERSION=$("$H3" version --short)
section "Building helm-ecr and installing the plugins into helm $H4_VERSION (helm $H3_VERSION shares the plugin dir)"
HELM_BIN=$H4 sh "$REPO/scripts/install.sh" >"$WORK/install.log" 2>&1 || {
  cat "$WORK/install.log" >&2
  die "scripts/install.sh failed"
}
BIN=$REPO/bin/helm-ecr
for h in "$H4" "$H3"; do
  "$h" plugin list | grep -q '^ecr-push' || die "ecr-push is not in '$h plugin list' after install.sh"
done

# ------------------------------------------------------------ services

free_port() {
  "$LAB_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PORT WHAT
  local i
  for i in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  die "$2 did not listen on 127.0.0.1:$1"
}

# A private registry: exact request counts, no other client in its log.
mkdir -p "$WORK/registry"
cp "$LAB_DIR/run/htpasswd" "$WORK/registry/htpasswd"
REG_PORT=$(free_port)
cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/registry/data
http:
  addr: 127.0.0.1:$REG_PORT
  secret: bench-$RANDOM$RANDOM
auth:
  htpasswd:
    realm: helm-ecr-bench
    path: $WORK/registry/htpasswd
EOF
REG_LOG=$WORK/registry/access.log
docker-registry serve "$WORK/registry/config.yml" >"$REG_LOG" 2>"$WORK/registry/registry.log" &
REG_PID=$!
BG_PIDS+=("$REG_PID")
wait_port "$REG_PORT" "the private registry"

# start_proxy VAR MODE UPSTREAM DELAY LOG: sets VAR to the proxy's port.
start_proxy() {
  local var=$1 mode=$2 upstream=$3 delay=$4 log=$5 out i port=
  out=$WORK/proxy-$var
  : >"$log"
  "$LAB_PYTHON" "$REPO/scripts/bench/proxy.py" "$mode" "$upstream" "$delay" "$log" $$ >"$out" 2>"$out.err" &
  BG_PIDS+=($!)
  for i in $(seq 200); do
    port=$(head -n 1 "$out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || die "proxy.py $mode did not start: $(cat "$out.err")"
  printf -v "$var" '%s' "$port"
}
ECR_UPSTREAM=${LAB_ECR_ENDPOINT#http://}
API_LOG=$WORK/api.log     # both ECR fronts: one line per ECR API call
CONN_LOG=$WORK/conn.log   # the registry delay proxy: connections and turns
start_proxy FRONT_FAST ecr "$ECR_UPSTREAM" 0 "$API_LOG"
start_proxy FRONT_SLOW ecr "$ECR_UPSTREAM" "$DELAY" "$API_LOG"
start_proxy REG_SLOW tcp "127.0.0.1:$REG_PORT" "$DELAY" "$CONN_LOG"
# (e): an HTTP proxy for the ECR-named registry (distribution, a Go server,
# takes the absolute-form request lines a proxy client sends).
start_proxy REG_NAMED proxy "127.0.0.1:$REG_PORT" 0 "$WORK/named.log"

# ------------------------------------------------------------ charts

# N copies of examples/hello per side, named bench01..; versions bumped per run.
VERSION_N=0
for side in ours peer; do
  for i in $(seq -f '%02g' 1 "$N"); do
    d=$WORK/$side/charts/bench$i
    mkdir -p "$d"
    cp -R "$REPO/examples/hello/." "$d/"
    sed -i "s/^name:.*/name: bench$i/" "$d/Chart.yaml"
  done
done
bump() { # CHART_DIR...: a new version, so the push really uploads
  local d
  VERSION_N=$((VERSION_N + 1))
  for d in "$@"; do
    sed -i "s/^version:.*/version: 1.0.$VERSION_N/" "$d/Chart.yaml"
  done
}

# The peer flow as a script, so GNU time sees all of it. Step times go to
# $PEER_STEPS: "NAME START END" (aws = get-login-password alone; login = the
# whole aws | helm registry login pipe).
cat >"$WORK/peer.sh" <<'PEER'
#!/usr/bin/env bash
# peer.sh cold|warm HOST NAMESPACE CHART_DIR...
set -euo pipefail
mode=$1 host=$2 ns=$3
shift 3
if [ "$mode" = cold ]; then
  t0=$EPOCHREALTIME
  {
    "$LAB_AWS" --endpoint-url "$AWS_ENDPOINT_URL_ECR" ecr get-login-password
    echo "aws $t0 $EPOCHREALTIME" >>"$PEER_STEPS"
  } | "$PEER_HELM" registry login --plain-http --username AWS --password-stdin "$host" >/dev/null
  echo "login $t0 $EPOCHREALTIME" >>"$PEER_STEPS"
fi
for c in "$@"; do
  pkg=$(mktemp -d "$PEER_PKG/p.XXXXXX")
  t0=$EPOCHREALTIME
  "$PEER_HELM" package "$c" -d "$pkg" >/dev/null
  t1=$EPOCHREALTIME
  "$PEER_HELM" push "$pkg"/*.tgz "oci://$host/$ns" --plain-http 2>/dev/null
  echo "package $t0 $t1" >>"$PEER_STEPS"
  echo "push $t1 $EPOCHREALTIME" >>"$PEER_STEPS"
done
PEER
chmod +x "$WORK/peer.sh"
mkdir -p "$WORK/peer/pkg"
export LAB_AWS PEER_PKG=$WORK/peer/pkg PEER_STEPS=$WORK/res/warmup.steps

# ------------------------------------------------------------ measuring

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
usec() { local t=${1/./}; echo $((10#$t)); } # EPOCHREALTIME -> microseconds
# CPU seconds (user + system) the registry has used so far.
registry_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$REG_PID/stat"; }

# measure KEY SIDE CHARTS CMD...: runs CMD once; appends one line to
# $WORK/res/KEY.SIDE, fields: 1 wall s, 2 peak RSS MiB, 3 registry requests
# per chart, 4 401s per chart, 5 registry connections per chart (delay proxy
# only), 6 ECR API calls, 7 client CPU s, 8 registry CPU s.
measure() {
  local key=$1 side=$2 charts=$3 reg0 api0 conn0 cpu0 t0 t1
  shift 3
  reg0=$(lines "$REG_LOG")
  api0=$(lines "$API_LOG")
  conn0=$(grep -c '^conn' "$CONN_LOG" || true)
  cpu0=$(registry_cpu)
  t0=$EPOCHREALTIME
  if ! "$TIME" -f '%M %U %S' -o "$WORK/time.out" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err"; then
    echo "bench: this run failed: $*" >&2
    cat "$WORK/cmd.err" "$WORK/cmd.out" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  # The registry logs a request once it has answered it: let the last land.
  sleep 0.1
  local req r401 conn api cpu1 rss user sys
  req=$(($(lines "$REG_LOG") - reg0))
  r401=$(tail -n +"$((reg0 + 1))" "$REG_LOG" | awk '$9 == 401' | wc -l)
  conn=$(($(grep -c '^conn' "$CONN_LOG" || true) - conn0))
  api=$(($(lines "$API_LOG") - api0))
  cpu1=$(registry_cpu)
  read -r rss user sys < <(tail -n 1 "$WORK/time.out")
  awk -v t0="$(usec "$t0")" -v t1="$(usec "$t1")" -v rss="$rss" -v n="$charts" -v req="$req" \
    -v r401="$r401" -v conn="$conn" -v api="$api" -v cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" \
    -v reg="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" \
    'BEGIN { printf "%.4f %.1f %.2f %.2f %.2f %d %.2f %.2f\n", (t1 - t0) / 1e6, rss / 1024, req / n, r401 / n, conn / n, api, cpu, reg }' \
    >>"$WORK/res/$key.$side"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# col KEY SIDE FIELD: the median of one field over the runs; colmax: the largest.
col() { awk -v f="$3" '{ print $f }' "$WORK/res/$1.$2" | median; }
colmax() { awk -v f="$3" '{ print $f }' "$WORK/res/$1.$2" | sort -g | tail -n 1; }
colmin() { awk -v f="$3" '{ print $f }' "$WORK/res/$1.$2" | sort -g | head -n 1; }
# step_min KEY NAME: the fastest run of one peer step (package/push: per chart).
step_min() {
  awk -v name="$2" '$1 == name { printf "%.4f\n", ($3 - $2) }' "$WORK/res/$1.steps" 2>/dev/null | sort -g | head -n 1
}
calc() { awk "BEGIN { $1 }"; } # calc 'printf ..., expr': awk arithmetic in one place

# Commands, not functions: GNU time runs them. DIRECT is the plugin binary
# without helm in front, with the environment helm would give it. OURS and
# PEER are set per Helm by use_helm.
DIRECT=("$BIN" ecr-push --plain-http)
use_helm() { # HELM_BINARY
  OURS=("$1" ecr-push --plain-http)
  PEER=(env "${PEER_ENV[@]}" PEER_HELM="$1" "$WORK/peer.sh")
}

OURS1=$WORK/ours/charts/bench01
PEER1=$WORK/peer/charts/bench01
mapfile -t OURS_ALL < <(printf '%s\n' "$WORK"/ours/charts/bench*)
mapfile -t PEER_ALL < <(printf '%s\n' "$WORK"/peer/charts/bench*)

# run_network TAG HOST ECR_ENDPOINT: scenarios (a), (b), (c) on one network;
# ours, ours direct and the peer take turns, so drift in the machine's load
# hits all three alike.
run_network() {
  local tag=$1 host=$2 ecr=$3 r
  export AWS_ENDPOINT_URL_ECR=$ecr
  # Unmeasured: first runs load binaries and Python modules into the page cache.
  bump "$OURS1" "$PEER1"
  "${OURS[@]}" "$OURS1" "oci://$host/warmup" >/dev/null
  "${PEER[@]}" cold "$host" warmup "$PEER1" >/dev/null 2>&1

  for r in $(seq "$REPS"); do
    progress "($tag) cold, 1 chart: run $r/$REPS"
    turns "a-$tag" cold 1 "$host" "$tag"
  done

  # Warm: the token from the last cold run is cached; the peer is logged in.
  for r in $(seq "$REPS"); do
    progress "($tag) warm, 1 chart: run $r/$REPS"
    turns "b-$tag" warm 1 "$host" "$tag"
  done

  for r in $(seq "$REPS_MANY"); do
    progress "($tag) $N charts: run $r/$REPS_MANY"
    turns "c-$tag" warm "$N" "$host" "$tag"
  done
}

# turns KEY MODE COUNT HOST TAG: ours, ours direct and the peer each push
# the first COUNT charts once (each chart's version bumped first), to
# repositories ours-TAG and peer-TAG. MODE cold: each starts without a token
# (our cache emptied before each of ours; the peer logged out).
turns() {
  local key=$1 mode=$2 count=$3 host=$4 tag=$5 side cmd=()
  local ours=("${OURS_ALL[@]:0:$count}") peer=("${PEER_ALL[@]:0:$count}")
  for side in ours direct; do
    case $side in
      ours) cmd=("${OURS[@]}") ;;
      direct) cmd=("${DIRECT[@]}") ;;
    esac
    [ "$mode" = warm ] || rm -rf "$HELM_ECR_TOKEN_CACHE_DIR"
    bump "${ours[@]}"
    measure "$key" "$side" "$count" "${cmd[@]}" "${ours[@]}" "oci://$host/ours-$tag"
  done
  [ "$mode" = warm ] || rm -f "$WORK/peer/registry.json"
  bump "${peer[@]}"
  PEER_STEPS=$WORK/res/$key.steps measure "$key" peer "$count" "${PEER[@]}" "$mode" "$host" "peer-$tag" "${peer[@]}"
}

# run_helpers: scenario (e). Both helpers answer Helm 4's `helm pull` for
# the ECR-named registry; each has its own registry config naming it in
# credHelpers, and its own token cache.
run_helpers() {
  local host=$LAB_ACCOUNT.dkr.ecr.$LAB_REGION.amazonaws.com:$REG_PORT r side
  local proxy=http://127.0.0.1:$REG_NAMED
  mkdir -p "$WORK/helpers/bin" "$WORK/helpers/pull"
  ln -sf "$LAB_ECR_LOGIN" "$WORK/helpers/bin/docker-credential-ecr-login"
  export AWS_ENDPOINT_URL_ECR=http://127.0.0.1:$FRONT_FAST
  # The chart to pull, pushed by us through the same proxy.
  bump "$OURS1"
  HTTP_PROXY=$proxy "$BIN" ecr-push "$OURS1" "oci://$host/helpers" --plain-http >/dev/null ||
    die "could not push the chart scenario (e) pulls"
  local version
  version=$(sed -n 's/^version: //p' "$OURS1/Chart.yaml")
  HELM_REGISTRY_CONFIG=$WORK/helpers/ours.json HELM_ECR_HELPER_CONFIG=$WORK/helpers/ours-settings.json \
    "$H4" ecr-login "$host" --credential-helper >"$WORK/helpers/login.out" ||
    die "helm ecr-login --credential-helper failed: $(cat "$WORK/helpers/login.out")"
  ln -sf "$BIN" "$WORK/helpers/bin/docker-credential-helm-ecr"
  printf '{"credHelpers":{"%s":"ecr-login"}}\n' "$host" >"$WORK/helpers/aws.json"
  # pull.sh SIDE: one helm pull through that side's helper (a script, so
  # GNU time sees all of it).
  cat >"$WORK/helpers/pull.sh" <<'PULL'
#!/usr/bin/env bash
set -euo pipefail
cfg=$HELPERS/ours.json
[ "$1" = aws ] && cfg=$HELPERS/aws.json
rm -rf "$HELPERS/pull"
mkdir -p "$HELPERS/pull"
exec env HTTP_PROXY="$HELPERS_PROXY" PATH="$HELPERS/bin:$PATH" HELM_REGISTRY_CONFIG="$cfg" \
  HELM_ECR_HELPER_CONFIG="$HELPERS/ours-settings.json" AWS_ECR_CACHE_DIR="$HELPERS/aws-cache" \
  "$HELPERS_HELM" pull "oci://$HELPERS_HOST/helpers/bench01" --version "$HELPERS_VERSION" --plain-http -d "$HELPERS/pull"
PULL
  chmod +x "$WORK/helpers/pull.sh"
  export HELPERS=$WORK/helpers HELPERS_PROXY=$proxy HELPERS_HELM=$H4 HELPERS_HOST=$host HELPERS_VERSION=$version
  for side in ours aws; do
    "$WORK/helpers/pull.sh" "$side" >"$WORK/helpers/first-$side.log" 2>&1 ||
      die "helm pull through the $side helper failed: $(cat "$WORK/helpers/first-$side.log")"
  done
  for r in $(seq "$REPS"); do
    progress "(e) credential helpers: run $r/$REPS"
    for side in ours aws; do
      rm -rf "$HELM_ECR_TOKEN_CACHE_DIR" "$WORK/helpers/aws-cache"
      measure e-cold "$side" 1 "$WORK/helpers/pull.sh" "$side"
      measure e-warm "$side" 1 "$WORK/helpers/pull.sh" "$side"
    done
  done
}

START=$EPOCHREALTIME
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
section "Helm's own start-up (helm version), the floor of any helm plugin"
for r in $(seq "$REPS"); do
  measure helm floor-h4 1 "$H4" version --short
  measure helm floor-h3 1 "$H3" version --short
done
for hv in h4 h3; do
  if [ $hv = h4 ]; then use_helm "$H4"; else use_helm "$H3"; fi
  section "helm $([ $hv = h4 ] && echo "$H4_VERSION" || echo "$H3_VERSION"): loopback (registry 127.0.0.1:$REG_PORT, ECR API front 127.0.0.1:$FRONT_FAST)"
  run_network "lo-$hv" "127.0.0.1:$REG_PORT" "http://127.0.0.1:$FRONT_FAST"
  [ $hv = h4 ] && LAST_LO=$(sed -n 's/^version: //p' "$OURS1/Chart.yaml")
  section "helm $([ $hv = h4 ] && echo "$H4_VERSION" || echo "$H3_VERSION"): +$DELAY_MS ms on every request (registry and ECR API behind scripts/bench/proxy.py)"
  run_network "slow-$hv" "127.0.0.1:$REG_SLOW" "http://127.0.0.1:$FRONT_SLOW"
done
section "Credential helpers: helm pull through docker-credential-helm-ecr vs docker-credential-ecr-login"
run_helpers
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# Exit 0 is not enough: helm itself reads back the last chart we pushed.
(
  umask 077
  printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' "$REG_PORT" \
    "$(printf 'AWS:%s' "$LAB_REGISTRY_PASSWORD" | base64 -w0)" >"$WORK/readback.json"
)
HELM_REGISTRY_CONFIG=$WORK/readback.json "$H3" show chart "oci://127.0.0.1:$REG_PORT/ours-lo-h4/bench01" --version "$LAST_LO" --plain-http 2>&1 |
  grep -qx "version: $LAST_LO" || die "helm show chart could not read back bench01 $LAST_LO pushed by helm ecr-push"

# ------------------------------------------------------------ report

ELAPSED=$(calc "printf \"%.0f\", ($(usec "$EPOCHREALTIME") - $(usec "$START")) / 1e6")
ms() { calc "printf \"%.0f ms\", ($1) * 1000"; } # ms SECONDS_EXPR
secs() { calc "s = $1; if (s < 1) printf \"%.0f ms\", s * 1000; else printf \"%.2f s\", s"; }
num() { calc "printf \"%g\", $1"; }

row() { # KEY LABEL TARGET (the peer's time divided by at least this)
  local key=$1 label=$2 target=$3 o p
  o=$(col "$key" ours 1)
  p=$(col "$key" peer 1)
  printf '| %s | %s | %s | %s | %s | %s (%s) / %s MiB | %s / %s | %s / %s |\n' \
    "$label" "$(secs "$o") ($(secs "$(colmin "$key" ours 1)"))" "$(secs "$p") ($(secs "$(colmin "$key" peer 1)"))" \
    "$(calc "printf \"%.3f (x%.1f faster)\", $o / $p, $p / $o")" \
    "$(calc "printf \"< %.2f: %s\", 1 / $target, ($o / $p < 1 / $target) ? \"met\" : \"missed\"")" \
    "$(colmax "$key" ours 2)" "$(colmax "$key" direct 2)" "$(colmax "$key" peer 2)" \
    "$(num "$(col "$key" ours 3)")" "$(num "$(col "$key" peer 3)")" \
    "$(num "$(col "$key" ours 4)")" "$(num "$(col "$key" peer 4)")"
}

hrow() { # KEY LABEL: a credential-helper row, ours vs AWS's
  local key=$1 label=$2 o p
  o=$(col "$key" ours 1)
  p=$(col "$key" aws 1)
  printf '| %s | %s | %s | %s | %s / %s MiB | %s / %s |\n' "$label" \
    "$(secs "$o") ($(secs "$(colmin "$key" ours 1)"))" "$(secs "$p") ($(secs "$(colmin "$key" aws 1)"))" \
    "$(calc "printf \"%.3f (x%.1f faster)\", $o / $p, $p / $o")" \
    "$(colmax "$key" ours 2)" "$(colmax "$key" aws 2)" "$(num "$(col "$key" ours 6)")" "$(num "$(col "$key" aws 6)")"
}

{
  echo
  echo "## Push benchmark (scripts/bench.sh)"
  echo
  echo "helm-ecr $("$BIN" --version 2>/dev/null | awk '{ print $2; exit }') as a plugin of helm $H4_VERSION (main peer) and helm $H3_VERSION" \
    "against awscli $("$LAB_AWS" --version 2>&1 | awk '{ print $1 }' | cut -d/ -f2) + the same helm." \
    "Registry: CNCF distribution $(docker-registry --version 2>/dev/null | awk '{ print $3 }') (htpasswd, bcrypt) on loopback;" \
    "ECR API: moto. $(nproc) cores, load average $LOAD_START at the start, $LOAD_END at the end." \
    "Median (fastest) of $REPS runs ($REPS_MANY for $N charts); every run pushes a new chart version."
  for hv in h4 h3; do
    echo
    if [ $hv = h4 ]; then echo "### Through helm $H4_VERSION"; else echo "### Through helm $H3_VERSION"; fi
    echo
    echo "| Scenario | helm ecr-push | peer | ours / peer | target | peak RSS: ours (helm-ecr alone) / peer | registry requests per chart: ours / peer | 401s per chart: ours / peer |"
    echo "|---|---|---|---|---|---|---|---|"
    row "a-lo-$hv" "(a) cold: token + package + push, 1 chart" 10
    row "b-lo-$hv" "(b) warm: package + push, 1 chart" 2
    row "c-lo-$hv" "(c) $N charts, one call vs a loop" 5
    row "a-slow-$hv" "(d) = (a) with +$DELAY_MS ms per request" 10
    row "b-slow-$hv" "(d) = (b) with +$DELAY_MS ms per request" 2
    row "c-slow-$hv" "(d) = (c) with +$DELAY_MS ms per request" 5
  done
  echo
  echo "### (e) Credential helpers: \`helm pull\` through helm $H4_VERSION"
  echo
  echo "| Token | docker-credential-helm-ecr | docker-credential-ecr-login $("$LAB_ECR_LOGIN" version 2>/dev/null | awk '{ print $NF; exit }') | ours / AWS's | peak RSS: ours / AWS's | ECR API calls: ours / AWS's |"
  echo "|---|---|---|---|---|---|"
  hrow e-cold "cold (each helper's cache empty)"
  hrow e-warm "cached"
  echo
  echo "- Ours: \`helm ecr-push CHART... oci://HOST/NS --plain-http\` through each Helm (plugins installed by scripts/install.sh);" \
    "token cache empty in (a), holding the token in (b) and (c)."
  echo "- Peer: (a) \`aws ecr get-login-password | helm registry login --plain-http --username AWS --password-stdin HOST\`" \
    "+ \`helm package\` + \`helm push --plain-http\`; (b) \`helm package\` + \`helm push\`, logged in; (c) a loop of $N of (b)."
  echo "- Wall time per run, median (fastest) (for $N charts: the whole batch). Peak RSS: the largest process of the run," \
    "for ours that is helm itself; in brackets the helm-ecr binary run alone. Requests and 401s: the registry's access log."
  echo "- (d): scripts/bench/proxy.py in front of the registry and of the ECR API holds every request $DELAY_MS ms."
  echo "- (e): the same registry named ACCT.dkr.ecr.REGION.amazonaws.com:PORT (AWS's helper only answers for ECR names)," \
    "reached through a local HTTP proxy; credHelpers names each helper; the whole \`helm pull\` is timed."
  echo "- Lab, not AWS: plain HTTP, so no TLS set-up on new connections;" \
    "the registry checks a bcrypt password on every request and shares the $(nproc) cores with the clients."
  echo
  echo "### Where the time goes"
  echo
  echo "Wall times here are each kind's fastest run, the one least disturbed by other load on the machine."
  echo
  echo "- helm $H4_VERSION alone (\`helm version\`) takes $(secs "$(colmin helm floor-h4 1)") and $(colmax helm floor-h4 2) MiB;" \
    "helm $H3_VERSION $(secs "$(colmin helm floor-h3 1)") and $(colmax helm floor-h3 2) MiB: the floor of any helm plugin." \
    "helm ecr-push (Helm 4) minus the helm-ecr binary run alone:" \
    "$(ms "$(colmin a-lo-h4 ours 1) - $(colmin a-lo-h4 direct 1)") (a), $(ms "$(colmin b-lo-h4 ours 1) - $(colmin b-lo-h4 direct 1)") (b)," \
    "$(ms "$(colmin c-lo-h4 ours 1) - $(colmin c-lo-h4 direct 1)") (c)."
  echo "- helm-ecr alone, loopback: cold $(secs "$(colmin a-lo-h4 direct 1)"), warm $(secs "$(colmin b-lo-h4 direct 1)")," \
    "$N charts $(secs "$(colmin c-lo-h4 direct 1)"); the binary alone vs the Helm 4 peer: (a) $(calc "printf \"%.3f\", $(col a-lo-h4 direct 1) / $(col a-lo-h4 peer 1)")," \
    "(b) $(calc "printf \"%.3f\", $(col b-lo-h4 direct 1) / $(col b-lo-h4 peer 1)"), (c) $(calc "printf \"%.3f\", $(col c-lo-h4 direct 1) / $(col c-lo-h4 peer 1)")." \
    "Its own CPU: $(ms "$(col b-lo-h4 direct 7)") per warm push, $(ms "$(col c-lo-h4 direct 7)") for $N charts."
  echo "- Peer (Helm 4), loopback: \`aws ecr get-login-password\` $(secs "$(step_min a-lo-h4 aws)") (Python start-up)," \
    "the whole login pipe $(secs "$(step_min a-lo-h4 login)"), \`helm package\` $(secs "$(step_min b-lo-h4 package)")," \
    "\`helm push\` $(secs "$(step_min b-lo-h4 push)") per chart."
  echo "- +$DELAY_MS ms per request (Helm 4), time added to loopback (÷ $DELAY_MS ms = requests waited for in sequence):"
  for key in a b c; do
    echo "  ($key) ours $(calc "d = $(colmin "$key-slow-h4" ours 1) - $(colmin "$key-lo-h4" ours 1); printf \"%.0f ms (%.1f)\", d * 1000, d / $DELAY")," \
      "peer $(calc "d = $(colmin "$key-slow-h4" peer 1) - $(colmin "$key-lo-h4" peer 1); printf \"%.0f ms (%.1f)\", d * 1000, d / $DELAY")."
  done
  echo
  echo "Benchmark run: ${ELAPSED} s, plus the build."
} | tee "$WORK/report.md"
