//! AWS: the credential chain, SigV4 signing, endpoints and regions, the ECR
//! API and the token cache. Knows nothing of OCI or Helm.

use std::fmt;
use std::time::SystemTime;

/// AWS credentials. Debug never shows the secret or the session token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What the user chose on the command line.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// An ECR registry host name, decoded (`ACCT.dkr.ecr.REGION.amazonaws.com`
/// and the FIPS, dual-stack and China forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    pub account: String,
    pub region: String,
    pub fips: bool,
    pub dualstack: bool,
}

/// Decode an ECR registry host (`HOST[:PORT]`); None for any other host.
pub fn parse_ecr_host(host: &str) -> Option<EcrHost> {
    let _ = host;
    None
}

/// One ECR authorization token.
#[derive(Clone)]
pub struct AuthToken {
    /// Always `AWS` for ECR.
    pub username: String,
    pub password: String,
    pub expires_at: SystemTime,
    /// `https://ACCT.dkr.ecr.REGION.amazonaws.com`
    pub proxy_endpoint: String,
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .finish()
    }
}

/// A session: resolved region and credentials, and an HTTP client for the
/// AWS APIs. Credentials are resolved lazily, once.
pub struct Session {
    pub region: String,
    _http: crate::http::Http,
    _options: AwsOptions,
}

impl Session {
    /// Resolve the region (`--region`, AWS_REGION, AWS_DEFAULT_REGION, the
    /// profile) or, when `region_hint` (from an ECR host name) is given, use it.
    pub fn new(
        options: &AwsOptions,
        region_hint: Option<&str>,
        http: crate::http::Http,
    ) -> Result<Session, Error> {
        let region = region_hint
            .map(str::to_string)
            .or_else(|| options.region.clone())
            .ok_or_else(|| Error("no AWS region: pass --region or set AWS_REGION".into()))?;
        Ok(Session {
            region,
            _http: http,
            _options: options.clone(),
        })
    }

    /// A still-valid token from the on-disk cache for (identity, region,
    /// registry id), found WITHOUT resolving credentials or any network call.
    /// `registry_id` None = the caller's default registry.
    pub fn cached_token(&self, registry_id: Option<&str>) -> Option<AuthToken> {
        let _ = registry_id;
        None
    }

    /// ECR GetAuthorizationToken for `registry_id` (None = the caller's own),
    /// signed with the resolved credentials; the answer goes into the cache.
    pub fn fetch_token(&self, registry_id: Option<&str>) -> Result<AuthToken, Error> {
        let _ = registry_id;
        Err(Error("GetAuthorizationToken is not implemented yet".into()))
    }
}
