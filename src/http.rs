//! One configured HTTP client: TLS roots and flags, proxies, timeouts, and
//! the retry policy. Everything that talks HTTP goes through here.

use std::path::PathBuf;

/// What the command line and environment say about transport.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Talk plain HTTP to registries (lab, local registries).
    pub plain_http: bool,
    /// Skip TLS verification (`--insecure`, `--insecure-skip-tls-verify`).
    pub insecure: bool,
    /// Extra CA bundle (`--ca-file`, else AWS_CA_BUNDLE for AWS endpoints).
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// HELM_DEBUG: trace requests (never secrets) on stderr.
    pub debug: bool,
}

/// A shareable client; cheap to clone.
#[derive(Clone)]
pub struct Http {
    pub agent: ureq::Agent,
    pub options: HttpOptions,
}

impl Http {
    pub fn new(options: HttpOptions) -> Result<Http, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(10)))
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .build()
            .into();
        Ok(Http { agent, options })
    }
}
