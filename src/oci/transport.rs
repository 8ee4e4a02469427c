//! The registry transport (go-containerregistry's `transport`): per-host
//! auth state (the scheme learnt from challenges, credentials from the
//! [`Keychain`], Bearer tokens per scope) wrapped around
//! [`exchange`](super::exchange). Credentials go only to the registry's own
//! origin and to its token realm.

use super::auth::{self, Challenge};
use super::error::{parse_registry_error, Error, ErrorKind};
use super::exchange::{self, check, follow, origin, Body, Req, Resp};
use super::{Credential, Keychain, Reference};
use crate::http::{self, Http};
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Auth rounds per exchange: Basic refused outright (400), the challenge
/// learnt, credentials refreshed once, the last try.
const MAX_AUTH_ROUNDS: usize = 4;

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

/// The HTTP client and the auth state of every registry host it has
/// talked to: shared by the pushes of one command.
pub(crate) struct Transport {
    pub http: Http,
    keychain: Arc<dyn Keychain>,
    hosts: Mutex<HashMap<String, Arc<Mutex<HostAuth>>>>,
}

impl Transport {
    pub fn new(http: Http, keychain: Arc<dyn Keychain>) -> Transport {
        Transport {
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

    /// `BASE/v2/REPOSITORY/PATH` for `r`'s registry.
    pub fn repository_url(&self, r: &Reference, path: &str) -> String {
        format!("{}/{}/{path}", self.base_url(&r.registry), r.repository)
    }

    /// One exchange for `r`, its status checked against `expected`.
    pub fn call(
        &self,
        r: &Reference,
        req: &Req,
        expected: &[u16],
        what: &str,
    ) -> Result<Resp, Error> {
        check(self.send(&r.registry, req)?, expected, what)
    }

    /// Run `f` until it succeeds, fails for good, or the retry budget is spent.
    pub fn retrying<T>(&self, f: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
        exchange::retrying(&self.http, f)
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
            let resp = follow(&self.http, req, authorization.as_deref(), &registry_origin)?;
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
                let probe = follow(&self.http, req, None, &registry_origin)?;
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
            h.cred = self
                .keychain
                .get(registry)
                .map_err(|source| Error::Credentials {
                    context: format!("credentials for {registry}"),
                    source,
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
        let fresh = self
            .keychain
            .refresh(registry)
            .map_err(|source| Error::Credentials {
                context: format!(
                    "{registry} refused the credentials, and fetching fresh ones failed"
                ),
                source,
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
            let r = follow(&self.http, &req, authorization.as_deref(), &realm_origin)?;
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
}

/// A Bearer realm over plain HTTP for a registry reached over HTTPS would
/// carry the Basic credentials in clear.
fn downgrades(token_url: &str, plain_http: bool) -> bool {
    !plain_http
        && !token_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::scripted::{answer, resp, scripted, trail, Answer, Hit, Keys, BASIC_PW};
    use crate::oci::KeychainError;

    #[test]
    fn credentials_never_go_to_a_plain_http_token_service_of_an_https_registry() {
        assert!(downgrades("http://auth.example/token?scope=x", false));
        assert!(downgrades("ftp://auth.example/token", false));
        assert!(!downgrades("https://auth.example/token", false));
        assert!(!downgrades("HTTPS://auth.example/token", false));
        assert!(!downgrades("http://127.0.0.1:5001/token", true));
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

    fn plain_registry(keychain: Arc<dyn Keychain>) -> Transport {
        let http = Http::new(crate::http::HttpOptions {
            plain_http: true,
            ..Default::default()
        })
        .unwrap();
        Transport::new(http, keychain)
    }

    fn get(reg: &Transport, registry: &str, method: &'static str, url: String) -> Resp {
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

    #[test]
    fn no_request_without_credentials_after_the_keychain_has_none_fresher() {
        let (addr, hits) =
            scripted(|_, _| answer(401, &[("WWW-Authenticate", r#"Basic realm="x""#)], ""));
        let keys = Keys::new(true);
        let reg = plain_registry(keys.clone());
        let url = format!("{}/alias/c/manifests/1", reg.base_url(&addr));
        assert_eq!(get(&reg, &addr, "HEAD", url).status, 401);
        assert_eq!(
            trail(&hits),
            [format!("HEAD /v2/alias/c/manifests/1 {BASIC_PW}")]
        );
        assert_eq!(keys.refreshes.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Has no credentials: its store cannot be read.
    struct Broken;

    impl Keychain for Broken {
        fn get(&self, _: &str) -> Result<Option<Credential>, KeychainError> {
            Err(KeychainError::new(std::io::Error::other(
                "store unreadable",
            )))
        }
        fn refresh(&self, _: &str) -> Result<Option<Credential>, KeychainError> {
            Ok(None)
        }
        fn basic_first(&self, _: &str) -> bool {
            true
        }
    }

    #[test]
    fn a_keychain_failure_keeps_its_cause() {
        let reg = plain_registry(Arc::new(Broken));
        let req = Req {
            method: "HEAD",
            url: format!("{}/ns/c/manifests/1", reg.base_url("127.0.0.1:1")),
            headers: Vec::new(),
            body: Body::Empty,
            repository: "ns/c",
            label: "",
        };
        let e = reg.send("127.0.0.1:1", &req).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Credentials);
        assert_eq!(
            e.to_string(),
            "credentials for 127.0.0.1:1: store unreadable"
        );
        let cause = std::error::Error::source(&e).expect("a source");
        assert_eq!(cause.to_string(), "store unreadable");
    }
}
