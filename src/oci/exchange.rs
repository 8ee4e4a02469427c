//! One HTTP exchange with a registry: the request and its body (streamed
//! from disk with an upload deadline), redirects followed by hand with
//! Authorization kept to one origin, the answer's status turned into an
//! [`Error`], and bounded retries around it all.

use super::error::{classify, is_transient, parse_registry_error, Error, ErrorKind};
use super::{progress, Reference};
use crate::http::retry::{self, Decision, Stop};
use crate::http::{self, Http};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Error bodies and token answers are small; anything bigger is cut here.
const MAX_BODY: u64 = 1 << 20;
const MAX_REDIRECTS: usize = 5;

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

impl<'a> Req<'a> {
    /// A request without headers or body acting on `reference`'s repository.
    pub fn new(method: &'static str, url: String, reference: &'a Reference) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            repository: &reference.repository,
            label: "",
        }
    }
}

pub(crate) struct Resp {
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the answering request carried our Authorization.
    pub(crate) authed: bool,
}

/// Bodies may hold tokens: Debug shows only status and URL.
impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resp({} {})", self.status, http::redact_url(&self.url))
    }
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        super::auth::lookup(&self.headers, name)
    }
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

/// Run `f` until it succeeds, fails for good, or the retry budget is spent
/// (the one policy, [`RetryPolicy::run`](crate::http::RetryPolicy::run)).
pub(crate) fn retrying<T>(http: &Http, f: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let decide = |e: &Error| match e.retry() {
        Some(r) => Decision::Retry {
            after: r.after.map(|d| retry::scale_duration(d, http.scale)),
        },
        None => Decision::Final,
    };
    let on_wait = |err: &Error, attempt: u32, delay: Duration| {
        if http.options.debug {
            eprintln!(
                "helm-ecr: retrying in {} ms (attempt {attempt} failed: {err})",
                delay.as_millis()
            );
        }
    };
    http.retry
        .run(f, decide, on_wait)
        .map_err(|gave_up| match gave_up.stop {
            Stop::Final => gave_up.error,
            Stop::WaitTooLong(after) => gave_up.error.context(format!(
                "the registry asked to wait {} s before retrying; try again later",
                after.as_secs()
            )),
            Stop::Spent => gave_up
                .error
                .context(format!("gave up after {} attempts", gave_up.attempts)),
        })
}

/// Send `req`, following redirects; Authorization goes only to
/// `auth_origin` (the registry's, or the token realm's), never to a host
/// an upload Location or a redirect names.
pub(crate) fn follow(
    http: &Http,
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
        let mut resp = once(http, method, &url, &req.headers, body, a, req.label)?;
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
    http: &Http,
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
    let agent = http.agent_for(url);
    let result = match body {
        Body::Empty if matches!(method, "GET" | "HEAD") => {
            agent.run(b.body(()).map_err(bad_request)?)
        }
        Body::Empty => agent.run(b.body(&[][..]).map_err(bad_request)?),
        Body::Bytes(bytes) => agent.run(b.body(*bytes).map_err(bad_request)?),
        Body::File { path, size } => {
            let file = std::fs::File::open(path).map_err(|source| Error::Io {
                context: format!("cannot read {}", path.display()),
                source,
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
            let reader: Box<dyn Read + Send> = match progress::wrap(file.take(*size), label, *size)
            {
                Ok(p) => Box::new(p),
                Err(plain) => Box::new(plain),
            };
            let request = b
                .body(ureq::SendBody::from_owned_reader(reader))
                .map_err(bad_request)?;
            agent.run(http.with_upload_deadline(agent, request, *size))
        }
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            http.trace(method, url, &format!("error: {e}"), started.elapsed());
            return Err(http.failure(e, url).into());
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
                http.trace(
                    method,
                    url,
                    &format!("{status}, body error: {e}"),
                    started.elapsed(),
                );
                return Err(http.failure(e, url).into());
            }
            Err(_) => Vec::new(),
        }
    };
    http.trace(method, url, &status.to_string(), started.elapsed());
    Ok(Resp {
        status,
        url: url.to_string(),
        headers,
        body,
        authed: false,
    })
}

#[cfg(test)]
fn same_origin(a: &str, b: &str) -> bool {
    origin(a) == origin(b)
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
    let retryable = is_transient(status);
    let retry_after = resp
        .header("retry-after")
        .filter(|_| retryable)
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
    Err(Error::Status {
        kind,
        status,
        code: reg.code,
        message: msg,
        retryable,
        retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::scripted::resp;

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
        assert!(e.retry().is_none());
        let e = check(resp(429, "", &[("retry-after", "3")]), &[202], "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert_eq!(e.retry().unwrap().after, Some(Duration::from_secs(3)));
        let e = check(resp(503, "", &[]), &[202], "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.retry().is_some());
    }
}
