# shellcheck shell=bash
# The lab's ECR Public service (public.ecr.aws's registry, its API and a
# CONNECT proxy, one process: ecr_public.py), sourced by scripts/lab.sh,
# whose helpers (spawn, wait_ready, free_ports, update_env, add_service,
# service_up, ensure_venv) and variables (LAB_DIR, RUN, REPO) it uses.

# Through the CONNECT proxy on PORT, public.ecr.aws answers /v2/ with its
# Bearer challenge, verified with the lab CA.
public_answers() { # PROXY_PORT
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --proxy "http://127.0.0.1:$1" \
    --noproxy '' --cacert "$LAB_DIR/tls/ca.pem" "https://public.ecr.aws/v2/" || true)
  [ "$code" = 401 ]
}

public_up() {
  service_up ecr-public && grep -q '^export LAB_PUBLIC_PROXY=' "$LAB_DIR/env"
}

# A per-run certificate for the ECR Public names, signed by the lab CA.
public_cert() { # DIR
  mkdir -p "$1" || return 1
  (
    cd "$1" || exit 1
    openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=public.ecr.aws" \
      -keyout public.key -out public.csr 2>/dev/null || exit 1
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=DNS:public.ecr.aws,DNS:ecr-public.aws.com" \
      "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" >public.ext
    openssl x509 -req -in public.csr -CA "$LAB_DIR/tls/ca.pem" -CAkey "$LAB_DIR/tls/ca.key" \
      -CAcreateserial -CAserial public.srl -days 3650 -sha256 -extfile public.ext \
      -out public.pem 2>/dev/null || exit 1
    chmod 600 public.key
  )
}

# ECR Public's registry, its API and the CONNECT proxy (one process), before
# the lab registry; needs the env written by start_lab.
start_public() {
  local ports reg_port proxy_port api_port upstream password key_id secret account
  [ -s "$LAB_DIR/env" ] || return 1
  read -r upstream password key_id secret account < <(
    # shellcheck disable=SC1091
    . "$LAB_DIR/env" && echo "$LAB_REGISTRY $LAB_REGISTRY_PASSWORD $LAB_ACCESS_KEY_ID $LAB_SECRET_ACCESS_KEY $LAB_ACCOUNT"
  ) || return 1
  [ -n "$account" ] || return 1
  ports=$(free_ports 3) || return 1
  read -r reg_port proxy_port api_port <<<"$ports"
  public_cert "$RUN/public-tls" || return 1
  : >"$RUN/public-registry.log"
  : >"$RUN/ecr-public-api.log"
  # Secrets go through the environment, never the command line.
  spawn ecr-public "ecr_public.py --registry-port $reg_port" "$proxy_port" "$RUN/ecr-public.out" "$RUN/ecr-public.out" \
    env LAB_REGISTRY_PASSWORD="$password" LAB_ACCESS_KEY_ID="$key_id" LAB_SECRET_ACCESS_KEY="$secret" \
    LAB_ACCOUNT="$account" LAB_PUBLIC_PASSWORD="ecr-public-$account-auth-token" \
    "$LAB_DIR/venv/bin/python" "$REPO/scripts/lab/ecr_public.py" --registry-port "$reg_port" \
    --proxy-port "$proxy_port" --api-port "$api_port" \
    --cert "$RUN/public-tls/public.pem" --key "$RUN/public-tls/public.key" \
    --upstream "$upstream" --alias myalias \
    --registry-log "$RUN/public-registry.log" --api-log "$RUN/ecr-public-api.log"
  wait_ready ecr-public "$proxy_port" "$RUN/ecr-public.out" || return 1
  update_env \
    "LAB_PUBLIC_PROXY=http://127.0.0.1:$proxy_port" \
    "LAB_PUBLIC_ALIAS=myalias" \
    "LAB_PUBLIC_REGISTRY_LOG=$RUN/public-registry.log" \
    "LAB_ECR_PUBLIC_ENDPOINT=http://127.0.0.1:$api_port" \
    "LAB_ECR_PUBLIC_LOG=$RUN/ecr-public-api.log"
}

add_public() {
  ensure_venv
  add_service ecr-public start_public "ECR Public"
}
