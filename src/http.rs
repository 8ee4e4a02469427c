//! One configured HTTP client: TLS roots and flags, proxies, timeouts, and
//! the retry policy. Everything that talks HTTP goes through here.
//!
//! Redirects are NOT followed by the agents: registries redirect blob
//! requests to storage on other hosts, and the caller must decide which
//! headers travel (Authorization never leaves the registry's host).

mod client_key;
mod failure;
mod proxy;
pub mod retry;
mod tls;
mod tls_probe;

use std::path::PathBuf;
use std::time::Duration;

pub use failure::{describe_error, is_retryable_error};
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

/// Everything the HTTP layer can fail with, each one line saying what
/// failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting that cannot be used: a scale variable, a proxy URL.
    #[error("{0}")]
    Config(String),
    /// The TLS settings: CA bundle, client certificate or key.
    #[error("{0}")]
    Tls(String),
    /// One exchange failed; the line already quotes the cause.
    #[error("{message}")]
    Exchange {
        message: String,
        /// Another attempt may go better (a reset, a stall).
        retryable: bool,
        #[source]
        source: ureq::Error,
    },
}

impl Error {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Exchange {
                retryable: true,
                ..
            }
        )
    }
}

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
    pub fn new(options: HttpOptions) -> Result<Http, Error> {
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
        let proxy_agent = |scheme: &str| -> Result<Option<ureq::Agent>, Error> {
            // A host that matches no NO_PROXY entry tells which proxy the scheme uses.
            match proxy::proxy_for(scheme, "proxy-probe.invalid", 1, &env) {
                None => Ok(None),
                Some(url) => {
                    let p = ureq::Proxy::new(&url).map_err(|e| {
                        Error::Config(format!(
                            "proxy {}: {e}: fix HTTPS_PROXY/HTTP_PROXY",
                            redact_url(&url)
                        ))
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
pub fn retry_scale(value: Option<&str>) -> Result<f64, Error> {
    scale_var(RETRY_SCALE_ENV, value.map(str::to_string))
}

fn scale_var(name: &str, value: Option<String>) -> Result<f64, Error> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(1.0),
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 && x <= 100.0 => Ok(x),
            _ => Err(Error::Config(format!(
                "{name}={v}: expected a number above 0 (1 = normal timing)"
            ))),
        },
    }
}

/// `HOST[:PORT]` of a URL (or of a bare `HOST[:PORT]`), without user-info,
/// path or query.
pub fn authority_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_drop_scheme_user_info_path_and_query() {
        for (url, want) in [
            ("http://127.0.0.1:5000/x?y", "127.0.0.1:5000"),
            (
                "https://api.ecr.us-east-1.amazonaws.com",
                "api.ecr.us-east-1.amazonaws.com",
            ),
            ("https://u:p@host:443/v2/?q#f", "host:443"),
            ("host.example/path", "host.example"),
        ] {
            assert_eq!(authority_of(url), want, "{url}");
        }
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
    fn retry_scale_parsing() {
        assert_eq!(retry_scale(None).ok(), Some(1.0));
        assert_eq!(retry_scale(Some("")).ok(), Some(1.0));
        assert_eq!(retry_scale(Some("0.05")).ok(), Some(0.05));
        for bad in ["0", "-1", "fast", "NaN", "inf"] {
            let e = retry_scale(Some(bad)).unwrap_err();
            assert!(e.to_string().contains(RETRY_SCALE_ENV), "{e}");
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
