//! One configured HTTP client: TLS roots and flags, proxies, timeouts, and
//! the retry policy. Everything that talks HTTP goes through here.
//!
//! Redirects are NOT followed by the agents: registries redirect blob
//! requests to storage on other hosts, and the caller must decide which
//! headers travel (Authorization never leaves the registry's host).

mod client_key;
mod proxy;
pub mod retry;
mod tls;
mod tls_probe;

use std::path::PathBuf;
use std::time::Duration;

pub use retry::RetryPolicy;

/// Name of the variable that scales back-off and timeouts (fault tests set
/// it well below 1 to finish fast).
pub const RETRY_SCALE_ENV: &str = "HELM_ECR_RETRY_SCALE";

/// Name of the variable that scales request deadlines (the AWS calls' too).
pub const TIMEOUT_SCALE_ENV: &str = "HELM_ECR_TIMEOUT_SCALE";

/// The whole of one exchange, headers and body both ways, must end within
/// this: the stall timeouts alone let a peer that trickles a byte now and
/// then hold a push forever.
const DEADLINE: Duration = Duration::from_secs(120);

/// Uploads get DEADLINE plus their size at this rate (256 kbit/s): a slow
/// link still finishes, a peer that reads a byte a second does not.
const MIN_UPLOAD_BYTES_PER_SEC: u64 = 32 * 1024;

/// What the command line and environment say about transport.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Talk plain HTTP to registries (lab, local registries).
    pub plain_http: bool,
    /// Skip TLS verification (`--insecure`, `--insecure-skip-tls-verify`).
    pub insecure: bool,
    /// CA bundle that replaces the built-in roots, as Helm's `--ca-file` and
    /// the AWS CLI's AWS_CA_BUNDLE do.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// HELM_DEBUG: trace requests (never secrets) on stderr.
    pub debug: bool,
}

/// A shareable client; cheap to clone.
#[derive(Clone)]
pub struct Http {
    pub options: HttpOptions,
    pub retry: RetryPolicy,
    /// HELM_ECR_RETRY_SCALE (1.0 unless set).
    pub scale: f64,
    /// DEADLINE scaled by HELM_ECR_TIMEOUT_SCALE.
    deadline: Duration,
    /// Agents per route; [`Http::agent_for`] picks one per URL, so every
    /// caller honours NO_PROXY and never proxies loopback.
    direct: ureq::Agent,
    https_proxy: Option<ureq::Agent>,
    http_proxy: Option<ureq::Agent>,
}

impl Http {
    pub fn new(options: HttpOptions) -> Result<Http, String> {
        let scale = retry_scale(std::env::var(RETRY_SCALE_ENV).ok().as_deref())?;
        let timeout_scale = scale_var(TIMEOUT_SCALE_ENV, std::env::var(TIMEOUT_SCALE_ENV).ok())?;
        let deadline = retry::scale_duration(DEADLINE, timeout_scale);
        let tls = tls::config(&options)?;
        let build = |proxy: Option<ureq::Proxy>| -> ureq::Agent {
            let s = |secs| Some(retry::scale_duration(Duration::from_secs(secs), scale));
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(proxy)
                .tls_config(tls.clone())
                .user_agent(concat!("helm-ecr/", env!("CARGO_PKG_VERSION")))
                // Without it ureq resolves on the calling thread, bounded only
                // by the system resolver's own retries.
                .timeout_resolve(s(10))
                .timeout_connect(s(10))
                // Stall timeouts: a transfer may take as long as it needs while
                // bytes move, but a silent peer fails the attempt.
                .timeout_per_read(s(30))
                .timeout_per_write(s(30))
                .timeout_global(Some(deadline))
                .build()
                .into()
        };
        let env = |k: &str| std::env::var(k).ok();
        let proxy_agent = |scheme: &str| -> Result<Option<ureq::Agent>, String> {
            // A host that matches no NO_PROXY entry tells which proxy the scheme uses.
            match proxy::proxy_for(scheme, "proxy-probe.invalid", 1, &env) {
                None => Ok(None),
                Some(url) => {
                    let p = ureq::Proxy::new(&url).map_err(|e| {
                        format!(
                            "proxy {}: {e}: fix HTTPS_PROXY/HTTP_PROXY",
                            redact_url(&url)
                        )
                    })?;
                    Ok(Some(build(Some(p))))
                }
            }
        };
        let direct = build(None);
        let https_proxy = proxy_agent("https")?;
        let http_proxy = proxy_agent("http")?;
        Ok(Http {
            options,
            retry: RetryPolicy::scaled(scale),
            scale,
            deadline,
            direct,
            https_proxy,
            http_proxy,
        })
    }

    /// The agent to use for `url`: through the scheme's proxy unless NO_PROXY
    /// or loopback says direct.
    pub fn agent_for(&self, url: &str) -> &ureq::Agent {
        let Ok(uri) = url.parse::<ureq::http::Uri>() else {
            return &self.direct;
        };
        let scheme = uri.scheme_str().unwrap_or("https");
        let proxied = match scheme {
            "https" => self.https_proxy.as_ref(),
            "http" => self.http_proxy.as_ref(),
            _ => None,
        };
        let Some(proxied) = proxied else {
            return &self.direct;
        };
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        let env = |k: &str| std::env::var(k).ok();
        match proxy::proxy_for(scheme, uri.host().unwrap_or(""), port, &env) {
            Some(_) => proxied,
            None => &self.direct,
        }
    }

    /// The deadline for an exchange that uploads `bytes`: the agents' own
    /// deadline plus the time the body takes at the slowest rate we wait for.
    pub fn upload_deadline(&self, bytes: u64) -> Duration {
        let at_min_rate = Duration::from_secs_f64(bytes as f64 / MIN_UPLOAD_BYTES_PER_SEC as f64);
        let scale = self.deadline.as_secs_f64() / DEADLINE.as_secs_f64();
        self.deadline
            .saturating_add(retry::scale_duration(at_min_rate, scale))
    }

    /// `request` with the deadline for uploading `bytes` in place of the
    /// agent's own; run it with the same agent.
    pub fn with_upload_deadline<S: ureq::AsSendBody>(
        &self,
        agent: &ureq::Agent,
        request: ureq::http::Request<S>,
        bytes: u64,
    ) -> ureq::http::Request<S> {
        agent
            .configure_request(request)
            .timeout_global(Some(self.upload_deadline(bytes)))
            .build()
    }

    /// What to say about a failed exchange with `url`, and whether another
    /// attempt could go better. A plain-HTTP request that a TLS server cut
    /// off (reset, or TLS bytes for an answer) is found by offering that
    /// server a TLS handshake, and is final.
    pub fn failure(&self, err: &ureq::Error, url: &str) -> (String, bool) {
        if url.starts_with("http://") && is_cut_off(err) {
            let authority = authority_of(url);
            let timeout = retry::scale_duration(Duration::from_secs(3), self.scale);
            if tls_probe::speaks_tls(&authority, timeout) {
                return (
                    format!(
                        "{authority} speaks HTTPS (it answers a TLS handshake) and cut off the plain \
                         HTTP request ({err}): drop --plain-http (with --ca-file if its CA is private)"
                    ),
                    false,
                );
            }
        }
        if let Some(ca) = &self.options.ca_file {
            if is_certificate_error(err) && is_unknown_issuer(err) {
                // "pass --ca-file" would be no advice: it was passed.
                return (
                    format!(
                        "TLS with {} failed ({err}): its certificate is not signed by the CA in \
                         --ca-file {}: give the CA that issued the registry's certificate; \
                         --insecure skips verification",
                        authority_of(url),
                        ca.display()
                    ),
                    false,
                );
            }
        }
        (describe_error(err, url), is_retryable_error(err))
    }

    /// HELM_DEBUG trace of one exchange: method, URL without secrets, outcome
    /// and time. Headers are never printed.
    pub fn trace(&self, method: &str, url: &str, outcome: &str, elapsed: Duration) {
        if self.options.debug {
            eprintln!(
                "helm-ecr: {method} {} -> {outcome} ({} ms)",
                redact_url(url),
                elapsed.as_millis()
            );
        }
    }
}

/// Parse HELM_ECR_RETRY_SCALE: a positive float, 1.0 when unset.
pub fn retry_scale(value: Option<&str>) -> Result<f64, String> {
    scale_var(RETRY_SCALE_ENV, value.map(str::to_string))
}

fn scale_var(name: &str, value: Option<String>) -> Result<f64, String> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(1.0),
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 && x <= 100.0 => Ok(x),
            _ => Err(format!(
                "{name}={v}: expected a number above 0 (1 = normal timing)"
            )),
        },
    }
}

/// `HOST[:PORT]` of a URL, without user-info.
fn authority_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_string()
}

/// The peer ended the exchange early: reset, closed, or answered bytes
/// that are not HTTP. What a TLS server does to a plain HTTP request.
fn is_cut_off(err: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match err {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe
        ),
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// The request ran past its deadline: the peer kept it alive but slow.
fn is_past_deadline(err: &ureq::Error) -> bool {
    matches!(err, ureq::Error::Timeout(ureq::Timeout::Global))
}

/// A URL fit for logs and errors: no user-info, and query values other than
/// a few harmless ones replaced (upload URLs carry signed state, storage
/// redirects carry pre-signed credentials).
pub fn redact_url(url: &str) -> String {
    let (without_frag, _) = url.split_once('#').unwrap_or((url, ""));
    let (base, query) = match without_frag.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (without_frag, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_string(),
    };
    let Some(query) = query else {
        return base;
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| {
            let key = kv.split_once('=').map_or(kv, |(k, _)| k);
            if matches!(
                key,
                "digest" | "service" | "scope" | "n" | "last" | "mount" | "from"
            ) {
                kv.to_string()
            } else {
                format!("{key}=<redacted>")
            }
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// Connection failures, resets and stalls: worth another attempt.
/// DNS failures, TLS verification failures and malformed URLs are not.
pub fn is_retryable_error(err: &ureq::Error) -> bool {
    // A peer that kept the whole deadline busy would take it again: five
    // attempts would only multiply the wait.
    if is_past_deadline(err) {
        return false;
    }
    match err {
        ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => {
            !is_certificate_error(err)
                && !is_unknown_host(err)
                && !is_plain_http_answer(err)
                && !is_client_cert_refused(err)
        }
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// A name the resolver says does not exist will not exist a second later
/// (a temporary resolver failure, EAI_AGAIN, is still retried).
fn is_unknown_host(err: &ureq::Error) -> bool {
    let s = err.to_string();
    matches!(err, ureq::Error::HostNotFound)
        || s.contains("Name or service not known")
        || s.contains("No address associated with hostname")
        || s.contains("nodename nor servname provided")
}

/// A TLS handshake answered in plain HTTP: rustls sees `H` (of `HTTP/1.1`)
/// where a TLS record type belongs. Asking again will not change that.
fn is_plain_http_answer(err: &ureq::Error) -> bool {
    err.to_string().contains("InvalidContentType")
}

/// The server ended the handshake over our client certificate: none sent
/// to a registry that requires one, or one it does not trust. rustls reports
/// the peer's alert by name (`received fatal alert: BadCertificate`); an
/// alert about a certificate from the server is always about ours, since
/// the server's own certificate is judged on this side.
fn is_client_cert_refused(err: &ureq::Error) -> bool {
    let s = err.to_string();
    s.split("received fatal alert: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .is_some_and(|alert| alert.contains("Certificate") || alert == "UnknownCA")
}

/// The certificate is fine, for another name: no CA will change that.
fn is_name_mismatch(err: &ureq::Error) -> bool {
    let s = err.to_string();
    s.contains("not valid for name") || s.contains("NotValidForName")
}

/// Signed by no CA we were given.
fn is_unknown_issuer(err: &ureq::Error) -> bool {
    let s = err.to_string();
    s.contains("UnknownIssuer") || s.contains("unknown issuer")
}

fn is_certificate_error(err: &ureq::Error) -> bool {
    let s = err.to_string();
    matches!(err, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || s.contains("certificate")
        || s.contains("UnknownIssuer")
}

/// One line saying what failed and what to do about it.
pub fn describe_error(err: &ureq::Error, raw_url: &str) -> String {
    let url = redact_url(raw_url);
    let host = url
        .split_once("://")
        .map(|(_, r)| r.split('/').next().unwrap_or(r))
        .unwrap_or(&url)
        .to_string();
    if is_client_cert_refused(err) {
        return format!(
            "{host} refused the TLS handshake over the client certificate ({err}): the registry \
             requires one it trusts: pass --cert-file and --key-file with a certificate signed \
             by a CA the registry accepts"
        );
    }
    if is_certificate_error(err) && is_name_mismatch(err) {
        let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        return format!(
            "TLS with {host} failed ({err}): the registry's certificate is not issued for \
             {name}: reach the registry by a name the certificate lists, or have it reissued for \
             {name}; --insecure skips verification"
        );
    }
    if is_certificate_error(err) {
        return format!(
            "TLS with {host} failed ({err}): if the registry uses a private CA, pass \
             --ca-file with it; --insecure skips verification"
        );
    }
    if is_plain_http_answer(err) {
        return format!(
            "{host} does not speak TLS ({err}): if the registry serves plain HTTP, pass --plain-http"
        );
    }
    if is_unknown_host(err) {
        return format!("cannot resolve {host}: check the registry host name and your DNS");
    }
    // Over plain HTTP already, "try --plain-http" would be no advice at all.
    let plain_hint = if url.starts_with("http://") {
        ""
    } else {
        ", and --plain-http needed"
    };
    match err {
        _ if is_past_deadline(err) => format!(
            "{host} kept the request to {url} going past its deadline (the registry, or a proxy \
             between, is answering a trickle): check the network and proxy settings (HTTPS_PROXY, \
             NO_PROXY), or push to another registry"
        ),
        ureq::Error::Timeout(t) => format!(
            "{host} did not answer in time ({t}) for {url}: check the network or proxy \
             (HTTPS_PROXY, NO_PROXY)"
        ),
        ureq::Error::ConnectionFailed => {
            format!("cannot connect to {host}: is the registry up, and the port right?")
        }
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("cannot connect to {host}: connection refused (is the registry up, the port right{plain_hint}?)")
        }
        ureq::Error::Io(e) => format!(
            "connection to {host} failed: {e}: check the network and proxy settings (HTTPS_PROXY, NO_PROXY)"
        ),
        ureq::Error::Protocol(e) => format!(
            "{host} answered something that is not HTTP/1.1 ({e}): does it need --plain-http, or not?"
        ),
        // Some errors quote the URL (bad URI): never its signed query.
        other => format!(
            "request to {url} failed: {}",
            other.to_string().replace(raw_url, &url)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_hosts_are_not_retried_but_resets_are() {
        let io = |m: &str| ureq::Error::Io(std::io::Error::other(m.to_string()));
        assert!(!is_retryable_error(&io(
            "failed to lookup address information: Name or service not known"
        )));
        assert!(!is_retryable_error(&ureq::Error::HostNotFound));
        assert!(is_retryable_error(&io("connection reset by peer")));
        assert!(is_retryable_error(&ureq::Error::ConnectionFailed));
    }

    #[test]
    fn tls_to_a_plain_http_port_is_not_retried_and_names_plain_http() {
        let e = ureq::Error::Io(std::io::Error::other(
            "received corrupt message of type InvalidContentType",
        ));
        assert!(!is_retryable_error(&e));
        let m = describe_error(&e, "https://127.0.0.1:5000/v2/");
        assert!(
            m.contains("127.0.0.1:5000") && m.contains("pass --plain-http"),
            "{m}"
        );
    }

    #[test]
    fn a_refused_client_certificate_is_not_retried_and_names_the_flags() {
        for alert in ["BadCertificate", "CertificateRequired", "UnknownCA"] {
            let e = ureq::Error::Io(std::io::Error::other(format!(
                "received fatal alert: {alert}"
            )));
            assert!(!is_retryable_error(&e), "{alert}");
            let m = describe_error(&e, "https://127.0.0.1:5000/v2/");
            assert!(
                m.contains("--cert-file and --key-file") && !m.contains("--ca-file"),
                "{m}"
            );
        }
        // Other alerts stay what they were.
        let e = ureq::Error::Io(std::io::Error::other(
            "received fatal alert: HandshakeFailure",
        ));
        assert!(!describe_error(&e, "https://h/v2/").contains("--cert-file"));
    }

    #[test]
    fn unknown_hosts_and_refusals_say_what_to_check() {
        let io = |e: std::io::Error| ureq::Error::Io(e);
        let m = describe_error(
            &io(std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            )),
            "https://nope.invalid/v2/",
        );
        assert_eq!(
            m,
            "cannot resolve nope.invalid: check the registry host name and your DNS"
        );
        let refused = || io(std::io::ErrorKind::ConnectionRefused.into());
        let m = describe_error(&refused(), "http://127.0.0.1:1/v2/");
        assert!(!m.contains("--plain-http"), "{m}");
        let m = describe_error(&refused(), "https://127.0.0.1:1/v2/");
        assert!(m.contains("--plain-http needed"), "{m}");
    }

    #[test]
    fn an_error_quoting_the_url_loses_its_query() {
        let raw = "https://s3.example/b?X-Amz-Signature=zzz";
        let m = describe_error(&ureq::Error::BadUri(raw.to_string()), raw);
        assert!(!m.contains("zzz") && m.contains("<redacted>"), "{m}");
    }

    #[test]
    fn a_request_past_its_deadline_is_final_and_says_what_to_check() {
        let e = ureq::Error::Timeout(ureq::Timeout::Global);
        assert!(!is_retryable_error(&e));
        let m = describe_error(&e, "https://reg:5000/v2/ns/c/blobs/uploads/x?_state=s");
        assert!(
            m.contains("reg:5000") && m.contains("deadline") && m.contains("check the network"),
            "{m}"
        );
        assert!(!m.contains("_state=s"), "{m}");
        // A stall of one read is still worth another attempt.
        assert!(is_retryable_error(&ureq::Error::Timeout(
            ureq::Timeout::PerRead
        )));
    }

    #[test]
    fn uploads_get_time_for_their_size_at_the_slowest_rate_waited_for() {
        let http = Http::new(HttpOptions::default()).unwrap();
        assert_eq!(http.upload_deadline(0), DEADLINE);
        let mib = 1 << 20;
        assert_eq!(
            http.upload_deadline(100 * mib),
            DEADLINE + Duration::from_secs(100 * mib / MIN_UPLOAD_BYTES_PER_SEC)
        );
    }

    #[test]
    fn a_plain_http_request_cut_off_by_a_tls_server_is_final_and_names_the_flag() {
        use std::io::{Read, Write};
        // Resets a plain request (unread bytes make the close a reset) and
        // answers a ClientHello with a TLS alert, as TLS terminators do.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { break };
                let mut first = [0u8; 1];
                if c.read_exact(&mut first).is_ok() && first[0] == 0x16 {
                    let _ = c.write_all(b"\x15\x03\x03\x00\x02\x02\x28");
                }
            }
        });
        let http = Http::new(HttpOptions::default()).unwrap();
        let reset = ureq::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        let (m, retry) = http.failure(&reset, &format!("http://{addr}/v2/"));
        assert!(!retry, "{m}");
        assert!(
            m.contains("speaks HTTPS") && m.contains("drop --plain-http"),
            "{m}"
        );
        // The same reset over HTTPS, or from a port that is not TLS, stays
        // an ordinary, retried reset.
        let (m, retry) = http.failure(&reset, &format!("https://{addr}/v2/"));
        assert!(retry && !m.contains("--plain-http"), "{m}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (m, retry) = http.failure(&reset, &format!("http://127.0.0.1:{port}/v2/"));
        assert!(retry && !m.contains("speaks HTTPS"), "{m}");
    }

    #[test]
    fn a_certificate_for_another_name_or_issuer_is_not_sent_to_ca_file() {
        let io = |m: &str| ureq::Error::Io(std::io::Error::other(m.to_string()));
        let name = io(
            "invalid peer certificate: certificate not valid for name \"127.0.0.2\"; \
                       certificate is only valid for IpAddress(127.0.0.1)",
        );
        assert!(!is_retryable_error(&name));
        let m = describe_error(&name, "https://127.0.0.2:5000/v2/");
        assert!(
            !m.contains("--ca-file") && m.contains("not issued for 127.0.0.2"),
            "{m}"
        );
        let issuer = io("invalid peer certificate: UnknownIssuer");
        let with_ca = Http {
            options: HttpOptions {
                ca_file: Some("/etc/lab-ca.pem".into()),
                ..Default::default()
            },
            ..Http::new(HttpOptions::default()).unwrap()
        };
        let (m, retry) = with_ca.failure(&issuer, "https://reg:5000/v2/");
        assert!(!retry);
        assert!(
            m.contains("not signed by the CA in --ca-file /etc/lab-ca.pem") && !m.contains("pass"),
            "{m}"
        );
        // Without --ca-file, passing one is the advice.
        let m = describe_error(&issuer, "https://reg:5000/v2/");
        assert!(m.contains("pass --ca-file"), "{m}");
    }

    #[test]
    fn retry_scale_parsing() {
        assert_eq!(retry_scale(None), Ok(1.0));
        assert_eq!(retry_scale(Some("")), Ok(1.0));
        assert_eq!(retry_scale(Some("0.05")), Ok(0.05));
        for bad in ["0", "-1", "fast", "NaN", "inf"] {
            let e = retry_scale(Some(bad)).unwrap_err();
            assert!(e.contains(RETRY_SCALE_ENV), "{e}");
        }
    }

    #[test]
    fn redaction_keeps_digest_hides_state_and_userinfo() {
        assert_eq!(
            redact_url("https://u:p@reg/v2/r/blobs/uploads/x?_state=abc&digest=sha256:1"),
            "https://reg/v2/r/blobs/uploads/x?_state=<redacted>&digest=sha256:1"
        );
        assert_eq!(
            redact_url("https://s3/b?X-Amz-Signature=zzz&X-Amz-Credential=AKIA"),
            "https://s3/b?X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>"
        );
        assert_eq!(redact_url("http://h:5000/v2/"), "http://h:5000/v2/");
    }

    #[test]
    fn agent_for_loopback_is_direct_without_proxy_env() {
        let http = Http::new(HttpOptions::default()).unwrap();
        // Compare by address: the direct agent is returned for loopback.
        assert!(std::ptr::eq(
            http.agent_for("http://127.0.0.1:1/v2/"),
            &http.direct
        ));
    }
}
