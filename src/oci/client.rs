//! The registry transport: one exchange with auth and redirects
//! ([`Registry::send`]), bounded retries around it ([`Registry::retrying`]),
//! and the distribution protocol calls built on them.

use super::auth::{self, Challenge};
use super::error::{classify, parse_registry_error, Error, ErrorKind};
use super::{progress, Credential, Keychain};
use crate::http::{self, retry, Http};
use crate::sync::lock;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
#[cfg(test)]
use std::time::Duration;
use std::time::{Instant, SystemTime};

/// Error bodies and token answers are small; anything bigger is cut here.
const MAX_BODY: u64 = 1 << 20;
const MAX_REDIRECTS: usize = 5;
/// Auth rounds per exchange: Basic refused outright (400), the challenge
/// learnt, credentials refreshed once, the last try.
const MAX_AUTH_ROUNDS: usize = 4;

pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Streamed from disk, never held in memory.
    File {
        path: &'a Path,
        size: u64,
    },
}

pub(crate) struct Req<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
    /// Repository the request acts on (the Bearer scope).
    pub repository: &'a str,
    /// For progress lines.
    pub label: &'a str,
}

pub(crate) struct Resp {
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the answering request carried our Authorization.
    authed: bool,
}

/// Bodies may hold tokens: Debug shows only status and URL.
impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resp({} {})", self.status, http::redact_url(&self.url))
    }
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a registry host takes credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scheme {
    /// Not known yet: send nothing and let the registry's challenge say.
    Unknown,
    Basic,
    /// A token from the challenge's realm, per scope.
    Bearer(Challenge),
}

/// What we know about one registry host's authentication.
struct HostAuth {
    loaded: bool,
    cred: Option<Credential>,
    /// Bumped on every refresh, so parallel requests refused with the old
    /// credentials retry with the new ones instead of refreshing again.
    generation: u64,
    refreshed: bool,
    scheme: Scheme,
    /// scope -> token
    tokens: HashMap<String, String>,
}

impl HostAuth {
    fn new(basic_first: bool) -> HostAuth {
        HostAuth {
            loaded: false,
            cred: None,
            generation: 0,
            refreshed: false,
            scheme: if basic_first {
                Scheme::Basic
            } else {
                Scheme::Unknown
            },
            tokens: HashMap::new(),
        }
    }

    /// A new scheme is a new generation: parallel requests refused under
    /// the old one try again with it rather than refresh credentials.
    fn learn(&mut self, scheme: Scheme) {
        self.scheme = scheme;
        self.generation += 1;
    }
}

pub(crate) struct Registry {
    pub http: Http,
    keychain: Arc<dyn Keychain>,
    hosts: Mutex<HashMap<String, Arc<Mutex<HostAuth>>>>,
}

/// `scheme://authority` of a URL, lower-cased, without a default port:
/// credentials go to exactly this and nowhere else.
pub(crate) fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let authority = match authority.strip_suffix(default_port) {
        Some(a) if !default_port.is_empty() && !a.is_empty() && !a.ends_with(':') => a,
        _ => authority.as_str(),
    };
    format!("{scheme}://{authority}")
}

/// Resolve a `Location` header against the URL it came from.
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let o = origin(base);
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split_once("://").map_or("https", |(s, _)| s);
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{o}{location}");
    }
    let path_end = base.find(['?', '#']).unwrap_or(base.len());
    let dir = base[..path_end].rfind('/').map_or(base, |i| &base[..=i]);
    format!("{dir}{location}")
}

/// `url` with `digest=DIGEST` added to its query.
pub(crate) fn with_digest(url: &str, digest: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={digest}")
}

impl Registry {
    pub fn new(http: Http, keychain: Arc<dyn Keychain>) -> Registry {
        Registry {
            http,
            keychain,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub fn base_url(&self, registry: &str) -> String {
        let scheme = if self.http.options.plain_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{registry}/v2")
    }

    fn host(&self, registry: &str) -> Arc<Mutex<HostAuth>> {
        lock(&self.hosts)
            .entry(registry.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(HostAuth::new(
                    self.keychain.basic_first(registry),
                )))
            })
            .clone()
    }

    /// Run `f` until it succeeds, fails for good, or the retry budget is spent.
    pub fn retrying<T>(&self, mut f: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
        let mut attempt = 1;
        loop {
            let err = match f() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some(r) = err.retry else {
                return Err(err);
            };
            let after = r.after.map(|d| retry::scale_duration(d, self.http.scale));
            match self.http.retry.next_delay(attempt, after, retry::jitter()) {
                Some(delay) => {
                    if self.http.options.debug {
                        eprintln!(
                            "helm-ecr: retrying in {} ms (attempt {attempt} failed: {err})",
                            delay.as_millis()
                        );
                    }
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                None if after.is_some_and(|a| a > self.http.retry.max_retry_after) => {
                    return Err(err.context(&format!(
                        "the registry asked to wait {} s before retrying; try again later",
                        after.unwrap_or_default().as_secs()
                    )))
                }
                None => return Err(err.context(&format!("gave up after {attempt} attempts"))),
            }
        }
    }

    /// One exchange: credentials on the first request where the keychain
    /// says Basic is taken, else after the registry's challenge; one
    /// credential refresh on refusal; redirects followed by hand.
    /// Credentials go only to the registry's own origin.
    pub fn send(&self, registry: &str, req: &Req) -> Result<Resp, Error> {
        let host = self.host(registry);
        let scope = auth::push_scope(req.repository);
        let registry_origin = origin(&self.base_url(registry));
        for _ in 0..MAX_AUTH_ROUNDS {
            let (authorization, generation) = self.authorization(registry, &host, &scope)?;
            let resp = self.follow(req, authorization.as_deref(), &registry_origin)?;
            if origin(&resp.url) != registry_origin {
                // Another host's refusal is no challenge of the registry's.
                return Ok(resp);
            }
            let sent_basic = authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Basic "));
            if sent_basic && resp.authed && refuses_basic(req.method, &resp) {
                // Ask without credentials: a Bearer challenge means tokens
                // are what it takes; anything else, the 400 stands.
                let probe = self.follow(req, None, &registry_origin)?;
                match bearer_challenge(&probe).filter(|_| probe.status == 401) {
                    Some(bearer) => {
                        let mut h = lock(&host);
                        if !matches!(h.scheme, Scheme::Bearer(_)) {
                            h.learn(Scheme::Bearer(bearer));
                        }
                        continue;
                    }
                    None => return Ok(resp),
                }
            }
            let refused = resp.status == 401 || (resp.status == 403 && resp.authed);
            if !refused || !self.on_refused(registry, &host, &resp, generation)? {
                return Ok(resp);
            }
        }
        Err(Error::with_kind(
            ErrorKind::Unauthorized,
            format!(
                "{registry} kept refusing the credentials; check that they may push to {}",
                req.repository
            ),
        ))
    }

    /// The Authorization header for the next request, and the credential
    /// generation it was made from.
    fn authorization(
        &self,
        registry: &str,
        host: &Mutex<HostAuth>,
        scope: &str,
    ) -> Result<(Option<String>, u64), Error> {
        let mut h = lock(host);
        let challenge = match h.scheme.clone() {
            Scheme::Unknown => return Ok((None, h.generation)),
            Scheme::Basic => {
                self.load(registry, &mut h)?;
                return Ok((h.cred.as_ref().map(auth::basic_header), h.generation));
            }
            Scheme::Bearer(c) => c,
        };
        self.load(registry, &mut h)?;
        if let Some(t) = h.tokens.get(scope) {
            return Ok((Some(format!("Bearer {t}")), h.generation));
        }
        let token = match self.fetch_token(&challenge, scope, h.cred.as_ref()) {
            Err(e) if e.kind() == ErrorKind::Unauthorized && !h.refreshed => {
                if !self.refresh(registry, &mut h)? {
                    return Err(e);
                }
                self.fetch_token(&challenge, scope, h.cred.as_ref())?
            }
            other => other?,
        };
        h.tokens.insert(scope.to_string(), token.clone());
        Ok((Some(format!("Bearer {token}")), h.generation))
    }

    /// The keychain's credentials for `registry`, asked for once.
    fn load(&self, registry: &str, h: &mut HostAuth) -> Result<(), Error> {
        if !h.loaded {
            h.cred = self.keychain.get(registry).map_err(|e| {
                Error::with_kind(
                    ErrorKind::Credentials,
                    format!("credentials for {registry}: {e}"),
                )
            })?;
            h.loaded = true;
        }
        Ok(())
    }

    /// Ask the keychain once for fresher credentials; false when it has
    /// none (the ones refused were already fresh), so the caller gives up
    /// instead of spending a round trip, or re-sending a body, without them.
    fn refresh(&self, registry: &str, h: &mut HostAuth) -> Result<bool, Error> {
        h.refreshed = true;
        let fresh = self.keychain.refresh(registry).map_err(|e| {
            Error::with_kind(
                ErrorKind::Credentials,
                format!("{registry} refused the credentials, and fetching fresh ones failed: {e}"),
            )
        })?;
        let Some(cred) = fresh else {
            return Ok(false);
        };
        h.cred = Some(cred);
        h.generation += 1;
        h.tokens.clear();
        Ok(true)
    }

    /// After a 401/403: learn the challenge (a Bearer realm, or Basic after
    /// a request sent without credentials), or refresh the credentials
    /// once. Returns whether to try again.
    fn on_refused(
        &self,
        registry: &str,
        host: &Mutex<HostAuth>,
        resp: &Resp,
        generation: u64,
    ) -> Result<bool, Error> {
        let mut h = lock(host);
        match (&h.scheme, bearer_challenge(resp)) {
            (Scheme::Bearer(_), _) => {}
            (_, Some(bearer)) => {
                h.learn(Scheme::Bearer(bearer));
                return Ok(true);
            }
            // Refused without credentials and no realm named: Basic (a
            // 401 without any challenge asks for credentials all the same).
            (Scheme::Unknown, None) => {
                h.learn(Scheme::Basic);
                self.load(registry, &mut h)?;
                return Ok(h.cred.is_some());
            }
            (Scheme::Basic, None) => {}
        }
        if h.generation != generation {
            return Ok(true);
        }
        if h.refreshed {
            return Ok(false);
        }
        self.refresh(registry, &mut h)
    }

    fn fetch_token(
        &self,
        challenge: &Challenge,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<String, Error> {
        let url = auth::token_url(challenge, scope).ok_or_else(|| {
            Error::with_kind(
                ErrorKind::Unauthorized,
                "the registry asked for a Bearer token without saying where to get one (no realm)",
            )
        })?;
        if downgrades(&url, self.http.options.plain_http) {
            return Err(Error::with_kind(
                ErrorKind::Unauthorized,
                format!(
                    "the registry's token service {} is plain HTTP: refusing to send credentials there; ask the registry's operator to serve it over HTTPS",
                    http::redact_url(&url)
                ),
            ));
        }
        let authorization = cred.map(auth::basic_header);
        let req = Req {
            method: "GET",
            url: url.clone(),
            headers: Vec::new(),
            body: Body::Empty,
            repository: "",
            label: "",
        };
        // The realm's origin is the only other place credentials may go.
        let realm_origin = origin(&url);
        let resp = self.retrying(|| {
            let r = self.follow(&req, authorization.as_deref(), &realm_origin)?;
            check(r, &[200], "token request")
        })?;
        auth::parse_token(&resp.body).ok_or_else(|| {
            Error::with_kind(
                ErrorKind::Unauthorized,
                format!(
                    "the token service {} answered without a token",
                    http::redact_url(&url)
                ),
            )
        })
    }

    /// Send `req`, following redirects; Authorization goes only to
    /// `auth_origin` (the registry's, or the token realm's), never to a host
    /// an upload Location or a redirect names.
    fn follow(
        &self,
        req: &Req,
        authorization: Option<&str>,
        auth_origin: &str,
    ) -> Result<Resp, Error> {
        let mut url = req.url.clone();
        let mut method = req.method;
        let mut body = &req.body;
        for _ in 0..=MAX_REDIRECTS {
            let authed = authorization.is_some() && origin(&url) == auth_origin;
            let a = if authed { authorization } else { None };
            let mut resp = self.once(method, &url, &req.headers, body, a, req.label)?;
            resp.authed = authed;
            let location = resp.header("location").map(str::to_string);
            match (resp.status, location) {
                (301 | 302 | 303 | 307 | 308, Some(loc)) => {
                    url = resolve(&url, &loc);
                    if resp.status == 303 && method != "HEAD" {
                        method = "GET";
                        body = &Body::Empty;
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(Error::with_kind(
            ErrorKind::Transport,
            format!(
                "more than {MAX_REDIRECTS} redirects from {}",
                http::redact_url(&req.url)
            ),
        ))
    }

    fn once(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&'static str, String)],
        body: &Body,
        authorization: Option<&str>,
        label: &str,
    ) -> Result<Resp, Error> {
        let started = Instant::now();
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        if let Some(a) = authorization {
            b = b.header("Authorization", a);
        }
        let bad_request = |e: ureq::http::Error| {
            Error::with_kind(
                ErrorKind::InvalidReference,
                format!("{}: {e}", http::redact_url(url)),
            )
        };
        let agent = self.http.agent_for(url);
        let result = match body {
            Body::Empty if matches!(method, "GET" | "HEAD") => {
                agent.run(b.body(()).map_err(bad_request)?)
            }
            Body::Empty => agent.run(b.body(&[][..]).map_err(bad_request)?),
            Body::Bytes(bytes) => agent.run(b.body(*bytes).map_err(bad_request)?),
            Body::File { path, size } => {
                let file = std::fs::File::open(path).map_err(|e| {
                    Error::with_kind(
                        ErrorKind::Io,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
                if len != *size {
                    return Err(Error::with_kind(
                        ErrorKind::Io,
                        format!(
                            "{} changed on disk while pushing ({size} bytes expected, {len} found)",
                            path.display()
                        ),
                    ));
                }
                // Content-Length set by hand keeps ureq from chunking the body:
                // ECR loses data on chunked uploads.
                let b = b.header("Content-Length", size.to_string());
                let reader: Box<dyn Read + Send> =
                    match progress::wrap(file.take(*size), label, *size) {
                        Ok(p) => Box::new(p),
                        Err(plain) => Box::new(plain),
                    };
                let request = b
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(bad_request)?;
                agent.run(self.http.with_upload_deadline(agent, request, *size))
            }
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                self.http
                    .trace(method, url, &format!("error: {e}"), started.elapsed());
                let (message, retryable) = self.http.failure(&e, url);
                let err = Error::with_kind(ErrorKind::Transport, message);
                return Err(if retryable { err.retryable(None) } else { err });
            }
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "location"
                        | "docker-content-digest"
                        | "www-authenticate"
                        | "retry-after"
                        | "content-type"
                )
            })
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            match response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
            {
                Ok(b) => b,
                // Cut short or oversized: the status still says what happened,
                // except on success, where the body may matter.
                Err(e) if (200..300).contains(&status) => {
                    self.http.trace(
                        method,
                        url,
                        &format!("{status}, body error: {e}"),
                        started.elapsed(),
                    );
                    let (message, retryable) = self.http.failure(&e, url);
                    let err = Error::with_kind(ErrorKind::Transport, message);
                    return Err(if retryable { err.retryable(None) } else { err });
                }
                Err(_) => Vec::new(),
            }
        };
        self.http
            .trace(method, url, &status.to_string(), started.elapsed());
        Ok(Resp {
            status,
            url: url.to_string(),
            headers,
            body,
            authed: false,
        })
    }
}

/// A Bearer realm over plain HTTP for a registry reached over HTTPS would
/// carry the Basic credentials in clear.
fn downgrades(token_url: &str, plain_http: bool) -> bool {
    !plain_http
        && !token_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
fn same_origin(a: &str, b: &str) -> bool {
    origin(a) == origin(b)
}

/// The Bearer challenge in a refusal's `WWW-Authenticate`, if any.
fn bearer_challenge(resp: &Resp) -> Option<Challenge> {
    resp.header("www-authenticate")
        .map(auth::parse_challenges)?
        .into_iter()
        .find(|c| c.scheme == "bearer")
}

/// A registry that takes only tokens may refuse Basic with 400 instead of a
/// 401 challenge: public.ecr.aws answers `DENIED "Your Authorization Token
/// is invalid."` (a HEAD's answer has no body to say so).
fn refuses_basic(method: &str, resp: &Resp) -> bool {
    if resp.status != 400 {
        return false;
    }
    if method == "HEAD" {
        return true;
    }
    parse_registry_error(&resp.body).is_some_and(|e| e.code == "DENIED")
}

/// `resp` if its status is expected; else the error it stands for, marked
/// retryable for throttling and server failures.
pub(crate) fn check(resp: Resp, expected: &[u16], what: &str) -> Result<Resp, Error> {
    if expected.contains(&resp.status) {
        return Ok(resp);
    }
    let status = resp.status;
    let reg = parse_registry_error(&resp.body).unwrap_or_default();
    let kind = classify(status, &reg.code, &reg.message);
    let host = origin(&resp.url);
    let host = host.split_once("://").map_or(host.as_str(), |(_, h)| h);
    let detail = match (reg.code.is_empty(), reg.message.is_empty()) {
        (false, false) => format!(" ({}: {})", reg.code, reg.message),
        (false, true) => format!(" ({})", reg.code),
        (true, false) => format!(" ({})", reg.message),
        (true, true) => String::new(),
    };
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut msg = format!("{what}: {host} answered {status} {reason}{detail}");
    // A TLS server answers plain HTTP with a bare 400 (Go: "Client sent an
    // HTTP request to an HTTPS server").
    if status == 400 && reg.code.is_empty() && resp.url.starts_with("http://") {
        msg.push_str(": if the registry speaks HTTPS, drop --plain-http");
    }
    let err = Error::with_kind(kind, msg);
    if retry::is_retryable_status(status) {
        let after = resp
            .header("retry-after")
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        return Err(err.retryable(after));
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "https://reg:5000/v2/a/b/blobs/uploads/";
        assert_eq!(resolve(base, "https://s3/x?y=1"), "https://s3/x?y=1");
        assert_eq!(
            resolve(base, "/v2/a/b/blobs/uploads/u1?_state=s"),
            "https://reg:5000/v2/a/b/blobs/uploads/u1?_state=s"
        );
        assert_eq!(
            resolve(base, "u1"),
            "https://reg:5000/v2/a/b/blobs/uploads/u1"
        );
        assert_eq!(resolve("http://h/v2/x?q=1", "//other/p"), "http://other/p");
    }

    #[test]
    fn credentials_never_go_to_a_plain_http_token_service_of_an_https_registry() {
        assert!(downgrades("http://auth.example/token?scope=x", false));
        assert!(downgrades("ftp://auth.example/token", false));
        assert!(!downgrades("https://auth.example/token", false));
        assert!(!downgrades("HTTPS://auth.example/token", false));
        assert!(!downgrades("http://127.0.0.1:5001/token", true));
    }

    #[test]
    fn digest_is_appended_to_the_query() {
        assert_eq!(
            with_digest("http://h/u/1", "sha256:ab"),
            "http://h/u/1?digest=sha256:ab"
        );
        assert_eq!(
            with_digest("http://h/u/1?_state=x", "sha256:ab"),
            "http://h/u/1?_state=x&digest=sha256:ab"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            "https://Reg:5000/v2/x",
            "https://reg:5000/v2/y?z"
        ));
        assert!(!same_origin(
            "https://reg:5000/v2/x",
            "https://reg:5001/v2/x"
        ));
        assert!(!same_origin("https://reg/v2/x", "http://reg/v2/x"));
        assert!(!same_origin(
            "https://reg/v2/x",
            "https://s3.amazonaws.com/bucket"
        ));
        // Default ports are the same origin; any user info is another.
        assert!(same_origin("https://reg:443/v2/", "HTTPS://REG/v2/"));
        assert!(same_origin("http://reg:80/v2/", "http://reg/"));
        assert!(!same_origin("http://reg:443/v2/", "http://reg/"));
        assert!(!same_origin(
            "https://reg@evil.example/v2/",
            "https://reg/v2/"
        ));
        assert!(!same_origin("https://reg.evil.example/", "https://reg/"));
        assert_eq!(
            origin("https://Public.ECR.aws:443/token/?x"),
            "https://public.ecr.aws"
        );
    }

    #[test]
    fn basic_refusals_are_told_from_other_400s() {
        let denied = resp(
            400,
            r#"{"errors":[{"code":"DENIED","message":"Your Authorization Token is invalid."}]}"#,
            &[],
        );
        assert!(refuses_basic("POST", &denied));
        assert!(refuses_basic("HEAD", &resp(400, "", &[])));
        let invalid = resp(
            400,
            r#"{"errors":[{"code":"MANIFEST_INVALID","message":"x"}]}"#,
            &[],
        );
        assert!(!refuses_basic("PUT", &invalid));
        assert!(!refuses_basic("HEAD", &resp(401, "", &[])));
        let challenged = resp(
            401,
            "",
            &[(
                "www-authenticate",
                r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws""#,
            )],
        );
        let c = bearer_challenge(&challenged).unwrap();
        assert_eq!(c.param("service"), Some("public.ecr.aws"));
        assert_eq!(
            bearer_challenge(&resp(401, "", &[("www-authenticate", "Basic realm=x")])),
            None
        );
    }

    /// One request as a scripted server saw it.
    #[derive(Debug, Clone)]
    struct Hit {
        method: String,
        path: String,
        authorization: Option<String>,
    }

    type Answer = (u16, Vec<(String, String)>, String);

    /// A plain-HTTP server that answers each request by `script` (given the
    /// request and its own address) and records what it saw.
    fn scripted(
        script: impl Fn(&Hit, &str) -> Answer + Send + Sync + 'static,
    ) -> (String, Arc<Mutex<Vec<Hit>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let (seen, me, script) = (hits.clone(), addr.clone(), Arc::new(script));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (seen, me, script) = (seen.clone(), me.clone(), script.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn);
                    loop {
                        let mut first = String::new();
                        if reader.read_line(&mut first).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = first.split_whitespace();
                        let method = parts.next().unwrap_or("").to_string();
                        let path = parts.next().unwrap_or("").to_string();
                        let (mut len, mut authorization) = (0usize, None);
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((k, v)) = line.split_once(':') {
                                let v = v.trim().to_string();
                                if k.eq_ignore_ascii_case("content-length") {
                                    len = v.parse().unwrap_or(0);
                                } else if k.eq_ignore_ascii_case("authorization") {
                                    authorization = Some(v);
                                }
                            }
                        }
                        let mut body = vec![0u8; len];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let hit = Hit {
                            method,
                            path,
                            authorization,
                        };
                        seen.lock().unwrap().push(hit.clone());
                        let (status, headers, body) = script(&hit, &me);
                        let mut out =
                            format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        if hit.method != "HEAD" {
                            out.push_str(&body);
                        }
                        if reader.get_mut().write_all(out.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, hits)
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        (
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body.to_string(),
        )
    }

    /// Hands out `AWS:pw`; counts refreshes; says whether Basic goes first.
    struct Keys {
        basic_first: bool,
        refreshes: std::sync::atomic::AtomicUsize,
    }

    impl Keys {
        fn new(basic_first: bool) -> Arc<Keys> {
            Arc::new(Keys {
                basic_first,
                refreshes: Default::default(),
            })
        }
    }

    impl Keychain for Keys {
        fn get(&self, _: &str) -> Result<Option<Credential>, String> {
            Ok(Some(Credential {
                username: "AWS".into(),
                password: "pw".into(),
            }))
        }
        fn refresh(&self, _: &str) -> Result<Option<Credential>, String> {
            self.refreshes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(None)
        }
        fn basic_first(&self, _: &str) -> bool {
            self.basic_first
        }
    }

    const BASIC_PW: &str = "Basic QVdTOnB3";

    /// Answers as public.ecr.aws does: 401 with a Bearer realm to a request
    /// without credentials, 400 DENIED to Basic, a token from the realm for
    /// Basic AWS:pw, and 200 to that token.
    fn public_like(hit: &Hit, me: &str) -> Answer {
        if hit.path.starts_with("/token/") {
            let scoped = hit.path.contains("service=public.ecr.aws")
                && hit.path.contains("scope=repository:alias/c:pull,push");
            return if hit.authorization.as_deref() == Some(BASIC_PW) && scoped {
                answer(200, &[], r#"{"token":"tok"}"#)
            } else {
                answer(401, &[], "")
            };
        }
        match hit.authorization.as_deref() {
            Some("Bearer tok") => answer(200, &[], ""),
            Some(a) if a.starts_with("Basic ") => answer(
                400,
                &[],
                r#"{"errors":[{"code":"DENIED","message":"Your Authorization Token is invalid."}]}"#,
            ),
            _ => {
                let realm =
                    format!(r#"Bearer realm="http://{me}/token/",service="public.ecr.aws""#);
                answer(401, &[("WWW-Authenticate", realm.as_str())], "")
            }
        }
    }

    fn plain_registry(keychain: Arc<dyn Keychain>) -> Registry {
        let http = Http::new(crate::http::HttpOptions {
            plain_http: true,
            ..Default::default()
        })
        .unwrap();
        Registry::new(http, keychain)
    }

    fn get(reg: &Registry, registry: &str, method: &'static str, url: String) -> Resp {
        let req = Req {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            repository: "alias/c",
            label: "",
        };
        reg.send(registry, &req).unwrap()
    }

    fn trail(hits: &Mutex<Vec<Hit>>) -> Vec<String> {
        let hits = std::mem::take(&mut *hits.lock().unwrap());
        hits.iter()
            .map(|h| {
                let path = h.path.split('?').next().unwrap_or("");
                match &h.authorization {
                    Some(a) => format!("{} {path} {}", h.method, a),
                    None => format!("{} {path}", h.method),
                }
            })
            .collect()
    }

    #[test]
    fn challenge_first_learns_the_bearer_realm_and_reuses_the_token() {
        let (addr, hits) = scripted(public_like);
        let keys = Keys::new(false);
        let reg = plain_registry(keys.clone());
        let url = format!("{}/alias/c/manifests/1", reg.base_url(&addr));
        assert_eq!(get(&reg, &addr, "HEAD", url.clone()).status, 200);
        assert_eq!(
            trail(&hits),
            [
                "HEAD /v2/alias/c/manifests/1".to_string(),
                format!("GET /token/ {BASIC_PW}"),
                "HEAD /v2/alias/c/manifests/1 Bearer tok".into(),
            ]
        );
        assert_eq!(get(&reg, &addr, "GET", url).status, 200);
        assert_eq!(trail(&hits), ["GET /v2/alias/c/manifests/1 Bearer tok"]);
        assert_eq!(keys.refreshes.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn basic_refused_with_400_denied_turns_to_the_bearer_realm() {
        for method in ["HEAD", "POST"] {
            let (addr, hits) = scripted(public_like);
            let reg = plain_registry(Keys::new(true));
            let url = format!("{}/alias/c/blobs/uploads/", reg.base_url(&addr));
            assert_eq!(get(&reg, &addr, method, url.clone()).status, 200);
            let path = "/v2/alias/c/blobs/uploads/";
            assert_eq!(
                trail(&hits),
                [
                    format!("{method} {path} {BASIC_PW}"),
                    format!("{method} {path}"),
                    format!("GET /token/ {BASIC_PW}"),
                    format!("{method} {path} Bearer tok"),
                ]
            );
            // Basic never goes to the registry again.
            get(&reg, &addr, method, url);
            assert_eq!(trail(&hits), [format!("{method} {path} Bearer tok")]);
        }
    }

    #[test]
    fn a_400_that_is_no_basic_refusal_stands() {
        let (addr, hits) = scripted(|hit, _| match hit.authorization {
            Some(_) => answer(400, &[], r#"{"errors":[{"code":"DENIED","message":"no"}]}"#),
            None => answer(401, &[("WWW-Authenticate", "Basic realm=x")], ""),
        });
        let reg = plain_registry(Keys::new(true));
        let url = format!("{}/alias/c/blobs/uploads/", reg.base_url(&addr));
        let resp = get(&reg, &addr, "POST", url);
        assert_eq!(resp.status, 400);
        assert_eq!(trail(&hits).len(), 2, "the Basic try and one probe");
    }

    #[test]
    fn challenge_first_against_a_basic_registry_costs_one_challenge_and_no_refresh() {
        let (addr, hits) = scripted(|hit, _| match hit.authorization.as_deref() {
            Some(BASIC_PW) => answer(200, &[], ""),
            _ => answer(401, &[("WWW-Authenticate", r#"Basic realm="reg""#)], ""),
        });
        let keys = Keys::new(false);
        let reg = plain_registry(keys.clone());
        let url = format!("{}/alias/c/manifests/1", reg.base_url(&addr));
        assert_eq!(get(&reg, &addr, "HEAD", url.clone()).status, 200);
        assert_eq!(trail(&hits).len(), 2);
        assert_eq!(get(&reg, &addr, "HEAD", url).status, 200);
        assert_eq!(
            trail(&hits),
            [format!("HEAD /v2/alias/c/manifests/1 {BASIC_PW}")]
        );
        assert_eq!(keys.refreshes.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn credentials_go_to_the_realm_but_not_where_it_redirects() {
        let (elsewhere, at_elsewhere) = scripted(|_, _| answer(200, &[], r#"{"token":"tok"}"#));
        let (realm, at_realm) = scripted(move |hit, _| {
            let to = format!("http://{elsewhere}{}", hit.path);
            answer(307, &[("Location", to.as_str())], "")
        });
        let (addr, at_registry) = scripted(move |hit, _| match hit.authorization.as_deref() {
            Some("Bearer tok") => answer(200, &[], ""),
            _ => {
                let c = format!(r#"Bearer realm="http://{realm}/token",service="reg""#);
                answer(401, &[("WWW-Authenticate", c.as_str())], "")
            }
        });
        let reg = plain_registry(Keys::new(false));
        let url = format!("{}/alias/c/manifests/1", reg.base_url(&addr));
        assert_eq!(get(&reg, &addr, "HEAD", url).status, 200);
        assert_eq!(trail(&at_realm), [format!("GET /token {BASIC_PW}")]);
        assert_eq!(trail(&at_elsewhere), ["GET /token"]);
        assert_eq!(trail(&at_registry).len(), 2);
    }

    #[test]
    fn credentials_go_only_to_the_registry_origin() {
        // "Storage" on another port: an upload Location pointing there, and a
        // redirect from it to itself by a relative Location.
        let (storage, at_storage) = scripted(|hit, _| {
            if hit.path.starts_with("/first") {
                answer(307, &[("Location", "/second?x=1")], "")
            } else {
                answer(201, &[], "")
            }
        });
        let storage_url = format!("http://{storage}/first?_state=s");
        let (addr, at_registry) = scripted(move |hit, _| {
            if hit.authorization.as_deref() != Some(BASIC_PW) {
                answer(401, &[("WWW-Authenticate", "Basic realm=reg")], "")
            } else if hit.path.starts_with("/v2/alias/c/blobs/uploads/") {
                answer(307, &[("Location", storage_url.as_str())], "")
            } else {
                answer(201, &[], "")
            }
        });
        for basic_first in [true, false] {
            let reg = plain_registry(Keys::new(basic_first));
            // Learn the scheme first, so credentials are in hand.
            let start = format!("{}/alias/c/manifests/1", reg.base_url(&addr));
            get(&reg, &addr, "HEAD", start);
            // A Location naming the storage host, used as the next URL.
            let put = get(
                &reg,
                &addr,
                "PUT",
                format!("http://{storage}/first?_state=s"),
            );
            assert_eq!(put.status, 201);
            // A redirect from the registry to the storage host.
            let put = get(
                &reg,
                &addr,
                "PUT",
                format!("{}/alias/c/blobs/uploads/u1", reg.base_url(&addr)),
            );
            assert_eq!(put.status, 201);
            let seen = std::mem::take(&mut *at_storage.lock().unwrap());
            assert_eq!(seen.len(), 4, "{seen:?}");
            assert!(
                seen.iter().all(|h| h.authorization.is_none()),
                "credentials reached another origin: {seen:?}"
            );
            let seen = std::mem::take(&mut *at_registry.lock().unwrap());
            assert!(seen.iter().any(|h| h.authorization.is_some()), "{seen:?}");
        }
    }

    fn resp(status: u16, body: &str, headers: &[(&str, &str)]) -> Resp {
        Resp {
            status,
            url: "https://reg:5000/v2/ns/c/blobs/uploads/".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            authed: true,
        }
    }

    /// A registry that refuses everything with 401, counting requests.
    fn refusing_registry() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn);
                'requests: loop {
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => break 'requests,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    let reply = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n";
                    if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        (addr, count)
    }

    /// Hands out one credential; has nothing fresher when it is refused.
    struct OneShot;

    impl Keychain for OneShot {
        fn get(&self, _: &str) -> Result<Option<Credential>, String> {
            Ok(Some(Credential {
                username: "AWS".into(),
                password: "fresh".into(),
            }))
        }
        fn refresh(&self, _: &str) -> Result<Option<Credential>, String> {
            Ok(None)
        }
        fn basic_first(&self, _: &str) -> bool {
            true
        }
    }

    #[test]
    fn no_request_without_credentials_after_the_keychain_has_none_fresher() {
        let (addr, count) = refusing_registry();
        let http = Http::new(crate::http::HttpOptions {
            plain_http: true,
            ..Default::default()
        })
        .unwrap();
        let reg = Registry::new(http, Arc::new(OneShot));
        let req = Req {
            method: "HEAD",
            url: format!("{}/ns/c/manifests/1", reg.base_url(&addr)),
            headers: Vec::new(),
            body: Body::Empty,
            repository: "ns/c",
            label: "",
        };
        let resp = reg.send(&addr, &req).unwrap();
        assert_eq!(resp.status, 401);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn check_maps_statuses_to_errors() {
        assert!(check(resp(202, "", &[]), &[202], "x").is_ok());
        let e = check(
            resp(404, r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#, &[]),
            &[202],
            "starting an upload",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NameUnknown);
        assert_eq!(
            e.to_string(),
            "starting an upload: reg:5000 answered 404 Not Found (NAME_UNKNOWN: repository name not known to registry)"
        );
        assert!(e.retry.is_none());
        let e = check(resp(429, "", &[("retry-after", "3")]), &[202], "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert_eq!(e.retry.unwrap().after, Some(Duration::from_secs(3)));
        let e = check(resp(503, "", &[]), &[202], "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.retry.is_some());
    }
}
