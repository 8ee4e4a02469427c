"""ECR Public for the lab: the registry public.ecr.aws and the ECR Public API.

Three listeners on 127.0.0.1, one process, one shared state:

* a TLS front that answers as public.ecr.aws does (REFERENCE.md section 5):
  401 `Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws"`
  to a request without credentials, 400 DENIED "Your Authorization Token is
  invalid." to Basic, a token from the realm (GET, or OAuth2 POST) for Basic
  AWS:PASSWORD (pull and push) or for nobody (pull only), and
  `Bearer <authorizationToken>` taken directly. Repositories must have been
  created through the API (else NAME_UNKNOWN, as ECR answers). Everything
  allowed is forwarded to the lab registry (distribution) as ALIAS/NAME with
  the lab registry's own Basic credentials. Its certificate names
  public.ecr.aws and ecr-public.aws.com and is signed by the lab CA.
* a CONNECT proxy (point HTTPS_PROXY at it) that tunnels public.ecr.aws:443
  and ecr-public.aws.com:443 to that front, and refuses every other host:
  the lab has no DNS for those names and no internet.
* a plain-HTTP ECR Public API (point AWS_ENDPOINT_URL_ECR_PUBLIC at it; moto
  has no ecr-public) that checks SigV4 (service ecr-public, region us-east-1,
  the lab user's key) and answers GetAuthorizationToken, CreateRepository,
  DescribeRepositories, DescribeImages (from what the registry holds) and
  DescribeRegistries, with ECR's JSON errors.

Each listener logs one JSON object a line (no secrets): the registry front
and proxy to --registry-log (kind registry, token or proxy; auth none, basic
(credentials given: a Basic header, or an OAuth2 password form at the realm)
or bearer; token requests with the scopes asked for), the API to --api-log
(op, region and service of the signature, request body, status).

Usage: python ecr_public.py --registry-port P --proxy-port P --api-port P
    --cert PEM --key PEM --upstream 127.0.0.1:PORT --alias ALIAS
    --registry-log FILE --api-log FILE
Secrets come from the environment: LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY,
LAB_ACCOUNT, LAB_REGISTRY_PASSWORD (the lab registry's password for user
AWS), LAB_PUBLIC_PASSWORD (what GetAuthorizationToken hands out).
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

from connect_proxy import ConnectProxy

REGION = "us-east-1"
SERVICE = "ecr-public"
TARGET_PREFIX = "SpencerFrontendService."
PUBLIC_HOSTS = ("public.ecr.aws", "ecr-public.aws.com")
REALM = "https://public.ecr.aws/token/"
CHALLENGE = 'Bearer realm="%s",service="public.ecr.aws"' % REALM
TOKEN_SECONDS = 12 * 3600
MAX_BODY = 256 << 20
# ECR's repository name grammar.
NAME_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class State:
    """Repositories (created through the API) and issued bearer tokens."""

    def __init__(self, args):
        self.args = args
        self.account = os.environ["LAB_ACCOUNT"]
        self.key_id = os.environ["LAB_ACCESS_KEY_ID"]
        self.secret = os.environ["LAB_SECRET_ACCESS_KEY"]
        self.upstream_auth = "Basic " + b64("AWS:" + os.environ["LAB_REGISTRY_PASSWORD"])
        self.public_password = os.environ["LAB_PUBLIC_PASSWORD"]
        self.authorization_token = b64("AWS:" + self.public_password)
        self.lock = threading.Lock()
        self.repositories = {}  # name (no alias) -> repository JSON
        self.tokens = {}  # token -> (expiry, {repository path: set(actions)})
        self.pushed_at = {}  # (name, tag) -> epoch seconds of the manifest PUT
        self.log_lock = threading.Lock()

    def log(self, path, record):
        record["time"] = time.time()
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.log_lock:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def now_epoch():
    return round(time.time(), 3)


# ---------------------------------------------------------------- registry


class RegistryHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "public-ecr-lab"

    def setup(self):
        # The handshake belongs to this connection's thread, not the
        # accepting one: a slow client never holds up the others.
        self.request.settimeout(60)
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def do_GET(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def answer(self, status, body=b"", headers=(), auth="none"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = list(headers) + [("Content-Type", "application/json; charset=utf-8")]
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status, auth)

    def record(self, status, auth):
        entry = {
            "kind": "registry",
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host", ""),
            "auth": auth,
            "status": status,
        }
        # Token requests: the scopes asked for, decoded (GET query or form).
        scopes = getattr(self, "scopes", None)
        if scopes is not None:
            entry["kind"] = "token"
            entry["scope"] = " ".join(scopes)
        self.state.log(self.state.args.registry_log, entry)

    def error(self, status, code, message, headers=(), auth="none"):
        self.answer(status, {"errors": [{"code": code, "message": message}]}, headers, auth)

    def route(self):
        # One handler serves every request of a kept-alive connection.
        self.scopes = None
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.error(413, "SIZE_INVALID", "request body too large")
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/token"):
            return self.token(body)
        if not path.startswith("/v2/"):
            return self.error(404, "NOT_FOUND", "not found")
        authorization = self.headers.get("Authorization", "")
        scheme = authorization.split(" ", 1)[0].lower() if authorization else "none"
        if scheme == "none":
            return self.error(
                401, "UNAUTHORIZED", "authentication required", [("WWW-Authenticate", CHALLENGE)]
            )
        if scheme != "bearer":
            return self.error(400, "DENIED", "Your Authorization Token is invalid.", auth=scheme)
        grants = self.grants(authorization.split(" ", 1)[1].strip())
        if grants is None:
            return self.error(
                401,
                "UNAUTHORIZED",
                "authentication required",
                [("WWW-Authenticate", CHALLENGE + ',error="invalid_token"')],
                auth="bearer",
            )
        if path == "/v2/" or path == "/v2":
            return self.forward(body, "bearer")
        m = re.match(r"^/v2/(.+?)/(manifests|blobs|tags)/(.*)$", path)
        if not m:
            return self.error(404, "NAME_INVALID", "invalid repository name", auth="bearer")
        repo_path, kind, rest = m.groups()
        action = "pull" if self.command in ("GET", "HEAD") else "push"
        if action not in grants.get(repo_path, set()) and action not in grants.get("*", set()):
            scope = "repository:%s:%s" % (repo_path, "pull,push" if action == "push" else "pull")
            return self.error(
                401,
                "DENIED",
                "Not Authorized",
                [("WWW-Authenticate", CHALLENGE + ',scope="%s",error="insufficient_scope"' % scope)],
                auth="bearer",
            )
        alias, _, name = repo_path.partition("/")
        with self.state.lock:
            known = alias == self.state.args.alias and name in self.state.repositories
        if not known:
            return self.error(
                404,
                "NAME_UNKNOWN",
                "The repository with name '%s' does not exist in the registry with id '%s'"
                % (name or repo_path, self.state.account),
                auth="bearer",
            )
        status = self.forward(body, "bearer")
        if kind == "manifests" and self.command == "PUT" and status == 201:
            with self.state.lock:
                self.state.pushed_at[(name, rest)] = now_epoch()

    def grants(self, token):
        """The repository actions a bearer token allows, or None."""
        if hmac.compare_digest(token, self.state.authorization_token):
            return {"*": {"pull", "push"}}
        with self.state.lock:
            entry = self.state.tokens.get(token)
        if entry is None or entry[0] < time.time():
            return None
        return entry[1]

    def token(self, body):
        if self.command == "POST":
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            user = form.get("username", [""])[0]
            password = form.get("password", [""])[0]
            scopes = " ".join(form.get("scope", [])).split()
            given = form.get("grant_type", [""])[0] == "password"
        elif self.command == "GET":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            scopes = " ".join(query.get("scope", [])).split()
            user = password = ""
            given = False
            authorization = self.headers.get("Authorization", "")
            if authorization.lower().startswith("basic "):
                try:
                    raw = base64.b64decode(authorization[6:].strip()).decode()
                except (ValueError, UnicodeDecodeError):
                    raw = ":"
                user, _, password = raw.partition(":")
                given = True
        else:
            return self.error(405, "UNSUPPORTED", "method not allowed")
        self.scopes = scopes
        auth = "basic" if given else "none"
        if given:
            if user != "AWS" or not hmac.compare_digest(password, self.state.public_password):
                return self.error(401, "DENIED", "Your Authorization Token is invalid.", auth=auth)
        grants = {}
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) != 3 or parts[0] != "repository":
                continue
            wanted = set(parts[2].split(","))
            allowed = {"pull", "push"} if given else {"pull"}
            grants.setdefault(parts[1], set()).update(wanted & allowed)
        token = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.tokens[token] = (time.time() + TOKEN_SECONDS, grants)
        key = "access_token" if self.command == "POST" else "token"
        self.answer(200, {key: token, "expires_in": TOKEN_SECONDS}, auth=auth)

    def forward(self, body, auth):
        up = http.client.HTTPConnection(self.state.args.upstream, timeout=120)
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in ("authorization", "connection", "transfer-encoding", "keep-alive", "host"):
                continue
            headers[k] = v
        headers["Authorization"] = self.state.upstream_auth
        # distribution builds its Location URLs from these.
        headers["Host"] = self.headers.get("Host", "public.ecr.aws")
        headers["X-Forwarded-Proto"] = "https"
        headers["Content-Length"] = str(len(body))
        try:
            up.request(self.command, self.path, body=body, headers=headers)
            resp = up.getresponse()
            data = resp.read()
        except OSError as e:
            return self.error(502, "UNAVAILABLE", "lab registry: %s" % e, auth=auth) or 502
        finally:
            up.close()
        out = [
            (k, v)
            for k, v in resp.getheaders()
            if k.lower() not in ("connection", "transfer-encoding", "keep-alive", "content-length", "www-authenticate")
        ]
        self.send_response(resp.status)
        for k, v in out:
            self.send_header(k, v)
        # A HEAD answer keeps the length the registry stated.
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.record(resp.status, auth)
        return resp.status


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, context, state):
        super().__init__(addr, handler)
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.state = state

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-handshake is no news


# ---------------------------------------------------------------- API


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def hmac_sha256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def check_sigv4(state, method, path, query, headers, body):
    """SigV4 as AWS checks it; returns nothing or raises ApiError."""
    auth = headers.get("authorization", "")
    m = re.match(
        r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
        r"SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$",
        auth,
    )
    if not m:
        raise ApiError(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    key_id, day, region, service, signed, signature = m.groups()
    if key_id != state.key_id:
        raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if service != SERVICE or region != REGION:
        raise ApiError(
            400,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: '%s' and region '%s'." % (SERVICE, REGION),
        )
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise ApiError(400, "IncompleteSignatureException", "X-Amz-Date is missing or malformed")
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 300:
        raise ApiError(400, "InvalidSignatureException", "Signature expired: %s is now earlier than allowed." % amz_date)
    names = signed.split(";")
    if "host" not in names:
        raise ApiError(400, "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    canonical_headers = "".join("%s:%s\n" % (n, " ".join(headers.get(n, "").split())) for n in names)
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")) for k, v in pairs
    )
    canonical = "\n".join(
        [method, path or "/", canonical_query, canonical_headers, signed, hashlib.sha256(body).hexdigest()]
    )
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = hmac_sha256(("AWS4" + state.secret).encode(), day)
    k = hmac_sha256(k, region)
    k = hmac_sha256(k, service)
    k = hmac_sha256(k, "aws4_request")
    want = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        raise ApiError(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return region, service


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecr-public-api-lab"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(404, {"__type": "UnknownOperationException"})

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        target = self.headers.get("X-Amz-Target", "")
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        record = {"kind": "api", "target": target, "op": op}
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        record["request"] = request
        try:
            split = urllib.parse.urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            region, service = check_sigv4(state, "POST", split.path, split.query, headers, body)
            record["region"], record["service"] = region, service
            if not op:
                raise ApiError(400, "UnknownOperationException", "unknown target %r" % target)
            if not isinstance(request, dict):
                raise ApiError(400, "SerializationException", "the body is not a JSON object")
            status, out = 200, self.operation(state, op, request)
        except ApiError as e:
            status, out = e.status, {"__type": "com.amazonaws.ecr.public#" + e.code, "message": e.message}
            record["error"] = e.code
        record["status"] = status
        state.log(state.args.api_log, record)
        self.reply(status, out)

    def operation(self, state, op, req):
        alias = state.args.alias
        if op == "GetAuthorizationToken":
            return {
                "authorizationData": {
                    "authorizationToken": state.authorization_token,
                    "expiresAt": now_epoch() + TOKEN_SECONDS,
                }
            }
        if op == "DescribeRegistries":
            return {
                "registries": [
                    {
                        "registryId": state.account,
                        "registryArn": "arn:aws:ecr-public::%s:registry/%s" % (state.account, state.account),
                        "registryUri": "public.ecr.aws/%s" % alias,
                        "verified": False,
                        "aliases": [
                            {
                                "name": alias,
                                "status": "ACTIVE",
                                "primaryRegistryAlias": True,
                                "defaultRegistryAlias": True,
                            }
                        ],
                    }
                ]
            }
        registry_id = req.get("registryId")
        if registry_id is not None and registry_id != state.account:
            raise ApiError(400, "RegistryNotFoundException", "The registry %s was not found." % registry_id)
        if op == "CreateRepository":
            name = req.get("repositoryName", "")
            if not (2 <= len(name) <= 205 and NAME_RE.match(name)):
                raise ApiError(400, "InvalidParameterException", "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")
            extra = set(req) - {"repositoryName", "registryId", "catalogData", "tags"}
            if extra:
                raise ApiError(400, "SerializationException", "Unknown field(s) for ECR Public CreateRepository: %s" % ", ".join(sorted(extra)))
            repo = {
                "repositoryArn": "arn:aws:ecr-public::%s:repository/%s" % (state.account, name),
                "registryId": state.account,
                "repositoryName": name,
                "repositoryUri": "public.ecr.aws/%s/%s" % (alias, name),
                "createdAt": now_epoch(),
            }
            with state.lock:
                if name in state.repositories:
                    raise ApiError(
                        400,
                        "RepositoryAlreadyExistsException",
                        "The repository with name '%s' already exists in the registry with id '%s'" % (name, state.account),
                    )
                state.repositories[name] = repo
            return {"repository": repo, "catalogData": {}}
        if op == "DescribeRepositories":
            names = req.get("repositoryNames")
            with state.lock:
                if names is None:
                    return {"repositories": list(state.repositories.values())}
                missing = [n for n in names if n not in state.repositories]
                if missing:
                    raise ApiError(
                        400,
                        "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist in the registry with id '%s'" % (missing[0], state.account),
                    )
                return {"repositories": [state.repositories[n] for n in names]}
        if op == "DescribeImages":
            return self.describe_images(state, req)
        raise ApiError(400, "UnknownOperationException", "the lab's ECR Public has no %s" % op)

    def describe_images(self, state, req):
        name = req.get("repositoryName", "")
        with state.lock:
            known = name in state.repositories
        if not known:
            raise ApiError(
                400,
                "RepositoryNotFoundException",
                "The repository with name '%s' does not exist in the registry with id '%s'" % (name, state.account),
            )
        details = []
        for image_id in req.get("imageIds") or []:
            ref = image_id.get("imageTag") or image_id.get("imageDigest")
            up = http.client.HTTPConnection(state.args.upstream, timeout=30)
            try:
                up.request(
                    "GET",
                    "/v2/%s/%s/manifests/%s" % (state.args.alias, name, ref),
                    headers={"Authorization": state.upstream_auth, "Accept": MANIFEST_TYPES},
                )
                resp = up.getresponse()
                data = resp.read()
            finally:
                up.close()
            if resp.status != 200:
                raise ApiError(
                    400,
                    "ImageNotFoundException",
                    "The image with imageId {imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'"
                    % (ref, name, state.account),
                )
            manifest = json.loads(data)
            size = len(data) + sum(int(d.get("size", 0)) for d in [manifest.get("config") or {}] + (manifest.get("layers") or []))
            tag = image_id.get("imageTag")
            with state.lock:
                pushed = state.pushed_at.get((name, tag)) if tag else None
            detail = {
                "registryId": state.account,
                "repositoryName": name,
                "imageDigest": resp.getheader("Docker-Content-Digest"),
                "imageTags": [tag] if tag else [],
                "imageSizeInBytes": size,
                "imagePushedAt": pushed or now_epoch(),
                "imageManifestMediaType": manifest.get("mediaType") or resp.getheader("Content-Type"),
            }
            config_type = (manifest.get("config") or {}).get("mediaType")
            if config_type:
                detail["artifactMediaType"] = config_type
            details.append(detail)
        return {"imageDetails": details}


class ApiServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state):
        super().__init__(addr, ApiHandler)
        self.state = state


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--registry-port", type=int, required=True)
    p.add_argument("--proxy-port", type=int, required=True)
    p.add_argument("--api-port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--alias", required=True)
    p.add_argument("--registry-log", required=True)
    p.add_argument("--api-log", required=True)
    args = p.parse_args()
    state = State(args)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    servers = [
        TLSServer(("127.0.0.1", args.registry_port), RegistryHandler, context, state),
        ConnectProxy(("127.0.0.1", args.proxy_port), PUBLIC_HOSTS, args.registry_port,
                     lambda record: state.log(args.registry_log, record)),
        ApiServer(("127.0.0.1", args.api_port), state),
    ]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    print("ecr_public: registry 127.0.0.1:%d, proxy 127.0.0.1:%d, API 127.0.0.1:%d"
          % (args.registry_port, args.proxy_port, args.api_port), file=sys.stderr, flush=True)
    try:
        while all(t.is_alive() for t in threads):
            time.sleep(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
