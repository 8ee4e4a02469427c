//! AWS: the credential chain, SigV4 signing, endpoints and regions, the ECR
//! API and the token cache. Knows nothing of OCI or Helm.

mod context;
pub mod credentials;
pub mod ecr;
pub mod endpoint;
pub mod env;
mod errors;
mod form;
pub mod profile;
pub mod public;
mod sign;
mod sts;
pub mod token_cache;
mod transport;
mod xml;

/// The AWS reply parsers, for the fuzz targets (`crate::fuzzing`).
#[doc(hidden)]
pub mod fuzz {
    pub use super::errors::parse_error_body;
    pub use super::sts::parse_credentials as sts_credentials;
}

use crate::secret::Secret;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use context::Context;
pub use ecr::{CreateRepositoryOptions, ImageDetail};
pub use endpoint::{is_ecr_public_host, parse_ecr_host};
pub use env::Env;
pub use errors::{AwsErrorCode, Error};
pub use transport::RetryQuota;

use credentials::Source;
use ecr::{Api, Flavor};
use endpoint::{Service, Variant};
use profile::ProfileSet;
use token_cache::TokenCache;

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
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
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

/// An ECR registry host name, decoded (`ACCT.dkr.ecr.REGION.amazonaws.com`
/// and the FIPS, dual-stack and China forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    pub account: String,
    pub region: String,
    pub fips: bool,
    pub dualstack: bool,
}

/// One ECR authorization token. Debug never shows the password.
#[derive(Debug, Clone)]
pub struct AuthToken {
    /// Always `AWS` for ECR.
    pub username: String,
    pub password: Secret,
    pub expires_at: SystemTime,
    /// `https://ACCT.dkr.ecr.REGION.amazonaws.com` (`https://public.ecr.aws`
    /// for ECR Public).
    pub proxy_endpoint: String,
}

/// One command's resolved credentials, shared by all its sessions (one per
/// region): the chain runs once, so an MFA profile prompts once however
/// many regions or charts the command touches. Per partition, since keys
/// of one partition mean nothing in another.
#[derive(Clone, Default)]
pub struct CredentialScope(Arc<Mutex<HashMap<String, CredentialSlot>>>);

/// The outcome of resolving, kept whole: a failure is not retried within
/// the command (no second MFA prompt, no second wait on a dead endpoint).
type CredentialSlot = Arc<Mutex<Option<Result<(Credentials, Option<String>), Arc<Error>>>>>;

impl CredentialScope {
    fn slot(&self, partition: &str) -> CredentialSlot {
        let mut map = crate::sync::lock(&self.0);
        Arc::clone(map.entry(partition.to_string()).or_default())
    }
}

/// ECR Public lives in us-east-1 only.
pub const PUBLIC_REGION: &str = "us-east-1";

/// Whose token: a private registry (an account id; None = the caller's
/// own) or ECR Public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry<'a> {
    Private(Option<&'a str>),
    Public,
}

impl<'a> Registry<'a> {
    /// The registry a host serves: ECR Public, an ECR host name's account,
    /// else `registry_id` (the account a proxy or VPC endpoint fronts).
    pub fn for_host(host: &str, registry_id: Option<&'a str>) -> Registry<'a> {
        if is_ecr_public_host(host) {
            Registry::Public
        } else {
            Registry::Private(registry_id)
        }
    }
}

/// A session: resolved region, where credentials will come from, endpoints,
/// and an HTTP client for the AWS APIs. Credentials are resolved lazily, once.
pub struct Session {
    pub region: String,
    http: crate::http::Http,
    env: Env,
    profiles: ProfileSet,
    profile_name: String,
    source: Source,
    variant: Variant,
    ecr_endpoint: String,
    cache: TokenCache,
    credentials: CredentialSlot,
    retry_quota: transport::RetryQuota,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("region", &self.region)
            .field("profile", &self.profile_name)
            .field("source", &self.source)
            .field("ecr_endpoint", &self.ecr_endpoint)
            .finish_non_exhaustive()
    }
}

/// AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, else the profile's `max_attempts` /
/// `retry_mode`, checked here (one clear line for a bad value); the
/// profile's value is carried in the session's environment snapshot, where
/// every AWS call of the session reads it.
fn retry_settings(
    mut env: Env,
    section: Option<&profile::Section>,
    profile_name: &str,
) -> Result<Env, Error> {
    let from_profile = |key: &str| {
        section.and_then(|p| p.get(key)).map(|v| {
            (
                format!("{key} of AWS profile {profile_name:?}"),
                v.to_string(),
            )
        })
    };
    let pick = |var: &str, key: &str| {
        env.get(var)
            .map(|v| (var.to_string(), v.to_string()))
            .or_else(|| from_profile(key))
    };
    let attempts = pick("AWS_MAX_ATTEMPTS", "max_attempts");
    let mode = pick("AWS_RETRY_MODE", "retry_mode");
    transport::check_retry_settings(
        attempts.as_ref().map(|(f, v)| (f.as_str(), v.as_str())),
        mode.as_ref().map(|(f, v)| (f.as_str(), v.as_str())),
    )?;
    if let Some((_, v)) = attempts {
        env.set_if_unset("AWS_MAX_ATTEMPTS", v.trim());
    }
    Ok(env)
}

/// The last link of the SDKs' region chain: the EC2 instance's region from
/// IMDS (unless AWS_EC2_METADATA_DISABLED).
fn region_from_imds(
    env: &Env,
    http: &crate::http::Http,
    section: Option<&profile::Section>,
    profile_name: &str,
) -> Result<String, Error> {
    let todo =
        format!("pass --region, set AWS_REGION, or set region in AWS profile {profile_name:?}");
    if env.flag("AWS_EC2_METADATA_DISABLED") {
        return Err(Error::Config(format!(
            "no AWS region (EC2 instance metadata is off: AWS_EC2_METADATA_DISABLED): {todo}"
        )));
    }
    let endpoint = credentials::imds::endpoint(env, section);
    credentials::imds::region(env, http, &endpoint).map_err(|e| {
        Error::Config(format!(
            "no AWS region (none configured, and EC2 instance metadata at {endpoint} gave none: {}): {todo}",
            e
        ))
    })
}

impl Session {
    /// Region: `region_hint` (an ECR host name's region) wins, then
    /// `--region`, AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`,
    /// then the EC2 instance's region from IMDS (the only network call
    /// here, and only when nothing else names a region).
    pub fn new(
        options: &AwsOptions,
        region_hint: Option<&str>,
        http: crate::http::Http,
    ) -> Result<Session, Error> {
        Session::with_env(options, region_hint, http, Env::from_process())
    }

    /// The session that serves registry `host`: an ECR host name's region
    /// (and its FIPS or dual-stack form) wins over the flags and
    /// environment; ECR Public lives in us-east-1 only, so it needs no
    /// region from the user; any other host uses the configured region.
    pub fn for_registry_host(
        options: &AwsOptions,
        host: &str,
        http: crate::http::Http,
    ) -> Result<Session, Error> {
        if is_ecr_public_host(host) {
            return Session::new(options, Some(PUBLIC_REGION), http);
        }
        match parse_ecr_host(host) {
            Some(ecr) => Session::for_ecr_host(options, &ecr, http),
            None => Session::new(options, None, http),
        }
    }

    /// For an ECR registry host: its region wins, and a `-fips` or
    /// dual-stack host name selects the matching API endpoint too.
    pub fn for_ecr_host(
        options: &AwsOptions,
        host: &EcrHost,
        http: crate::http::Http,
    ) -> Result<Session, Error> {
        let mut s = Session::new(options, Some(&host.region), http)?;
        s.follow_host(host)?;
        Ok(s)
    }

    /// A configured endpoint still wins: the lab and proxies rely on it.
    fn follow_host(&mut self, host: &EcrHost) -> Result<(), Error> {
        if (host.fips && !self.variant.fips) || (host.dualstack && !self.variant.dualstack) {
            let section = self.profiles.profile(&self.profile_name);
            let configured =
                endpoint::configured_endpoint(Service::Ecr, &self.env, &self.profiles, section);
            if configured.is_none() {
                self.variant.fips |= host.fips;
                self.variant.dualstack |= host.dualstack;
                self.ecr_endpoint = endpoint::ecr_api_url(&self.region, self.variant)?;
            }
        }
        Ok(())
    }

    /// As [`Session::new`], with the environment given (tests).
    pub fn with_env(
        options: &AwsOptions,
        region_hint: Option<&str>,
        http: crate::http::Http,
        env: Env,
    ) -> Result<Session, Error> {
        let profiles = ProfileSet::load(&env)?;
        let source = credentials::select(&env, &profiles, options.profile.as_deref())?;
        let (profile_name, _) = profile::selected_profile(options.profile.as_deref(), &env);
        let section = profiles.profile(&profile_name);
        let env = retry_settings(env, section, &profile_name)?;
        let region = region_hint
            .map(str::to_string)
            .or_else(|| options.region.clone().filter(|r| !r.is_empty()))
            .or_else(|| env.get("AWS_REGION").map(str::to_string))
            .or_else(|| env.get("AWS_DEFAULT_REGION").map(str::to_string))
            .or_else(|| section.and_then(|p| p.get("region")).map(str::to_string))
            .map(|r| r.trim().to_string())
            .map_or_else(|| region_from_imds(&env, &http, section, &profile_name), Ok)?;
        endpoint::check_region(&region)?;
        let variant = endpoint::variant(&env, section);
        let ecr_endpoint = endpoint::pick(
            endpoint::configured_endpoint(Service::Ecr, &env, &profiles, section),
            variant,
            || endpoint::ecr_api_url(&region, variant),
        )?;
        let cache = TokenCache::from_env(&env);
        Ok(Session {
            region,
            http,
            env,
            profiles,
            profile_name,
            source,
            variant,
            ecr_endpoint,
            cache,
            credentials: CredentialSlot::default(),
            retry_quota: transport::RetryQuota::new(),
        })
    }

    /// Use (and fill) the command's shared credentials instead of this
    /// session's own: every session of one command resolves them once.
    pub fn sharing(mut self, scope: &CredentialScope) -> Session {
        self.credentials = scope.slot(&endpoint::partition_name(&self.region));
        self
    }

    /// The ECR API URL this session calls.
    pub fn ecr_endpoint(&self) -> &str {
        &self.ecr_endpoint
    }

    /// Where the credentials come from, for messages (never a secret).
    pub fn identity_description(&self) -> String {
        credentials::describe(&self.source)
    }

    /// The cache key names the identity. Where only a container or IMDS URL
    /// is configured, that takes the credentials (a local call, never an
    /// AWS one): two roles behind one URL must not share a token.
    fn cache_key(&self, region: &str, endpoint: &str, registry: Option<&str>) -> Option<String> {
        let identity = match credentials::identity_key(&self.source, &self.profiles)? {
            credentials::IdentityKey::Known(k) => k,
            credentials::IdentityKey::AfterResolve(prefix) => {
                let (creds, named) = self.resolved().ok()?;
                credentials::complete_identity(&prefix, &creds, named.as_deref())
            }
        };
        Some(TokenCache::key(&identity, region, endpoint, registry))
    }

    fn debug(&self, msg: &str) {
        if self.http.options.debug {
            eprintln!("helm-ecr: aws: {msg}");
        }
    }

    /// A still-valid token from the on-disk cache for (identity, region,
    /// registry id), found without any AWS call (and without resolving
    /// credentials, except where only their answer names the identity).
    /// `registry_id` None = the caller's default registry.
    pub fn cached_token(&self, registry_id: Option<&str>) -> Option<AuthToken> {
        let key = self.cache_key(&self.region, &self.ecr_endpoint, registry_id)?;
        let token = self.cache.load(&key, SystemTime::now());
        self.debug(if token.is_some() {
            "token cache hit"
        } else {
            "token cache miss"
        });
        token
    }

    /// The resolved credentials: once per session, or per command when its
    /// sessions share a [`CredentialScope`]; again only if they expire.
    pub fn credentials(&self) -> Result<Credentials, Error> {
        self.resolved().map(|(c, _)| c)
    }

    /// The context this session's AWS calls are made in.
    pub fn context(&self) -> Context<'_> {
        Context {
            env: &self.env,
            profiles: &self.profiles,
            profile: self.profiles.profile(&self.profile_name),
            http: &self.http,
            region: &self.region,
            variant: self.variant,
            retry_quota: &self.retry_quota,
        }
    }

    fn resolved(&self) -> Result<(Credentials, Option<String>), Error> {
        let mut slot = crate::sync::lock(&self.credentials);
        match slot.as_ref() {
            Some(Ok((c, who))) if credentials::fresh(c, Duration::from_secs(60)) => {
                return Ok((c.clone(), who.clone()));
            }
            Some(Err(e)) => return Err(Error::Shared(Arc::clone(e))),
            _ => {}
        }
        let resolved = credentials::resolve(&self.context(), &self.source).map_err(Arc::new);
        match &resolved {
            Ok((c, _)) => self.debug(&format!(
                "credentials: {}; key id {}",
                self.identity_description(),
                c.access_key_id
            )),
            Err(e) => self.debug(&format!("credentials: {e}")),
        }
        *slot = Some(resolved.clone());
        resolved.map_err(Error::Shared)
    }

    fn with_api<T>(
        &self,
        flavor: Flavor,
        f: impl FnOnce(&Api<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let creds = self.credentials()?;
        let public_url;
        let (url, region) = match flavor {
            Flavor::Private => (self.ecr_endpoint.as_str(), self.region.as_str()),
            Flavor::Public => {
                public_url = self.public_endpoint()?;
                (public_url.as_str(), PUBLIC_REGION)
            }
        };
        f(&Api {
            ctx: &self.context(),
            url,
            region,
            flavor,
            credentials: &creds,
        })
    }

    fn store(&self, key: Option<String>, token: &AuthToken) {
        let Some(key) = key else { return };
        match self.cache.store(&key, token, SystemTime::now()) {
            Ok(true) => self.debug("token cached"),
            Ok(false) => self.debug("token not cached (cache off or token near expiry)"),
            Err(e) => self.debug(&format!("token cache not written: {e}")),
        }
    }

    /// The same token under another name: [`Self::store`] already said
    /// whether it was cached, so only a failure here is worth a line.
    fn store_alias(&self, key: Option<String>, token: &AuthToken) {
        let Some(key) = key else { return };
        if let Err(e) = self.cache.store(&key, token, SystemTime::now()) {
            self.debug(&format!("token cache not written: {e}"));
        }
    }

    /// A still-valid cached token for `registry`; no AWS call.
    pub fn cached(&self, registry: Registry<'_>) -> Option<AuthToken> {
        match registry {
            Registry::Private(id) => self.cached_token(id),
            Registry::Public => self.cached_public_token(),
        }
    }

    /// A fresh token for `registry` (cached for the next command).
    pub fn fetch(&self, registry: Registry<'_>) -> Result<AuthToken, Error> {
        match registry {
            Registry::Private(id) => self.fetch_token(id),
            Registry::Public => self.fetch_public_token(),
        }
    }

    /// The token source every command uses: a cached token, else a fresh
    /// one. (The push keychain puts Helm's registry config between the two.)
    pub fn token(&self, registry: Registry<'_>) -> Result<AuthToken, Error> {
        match self.cached(registry) {
            Some(t) => Ok(t),
            None => self.fetch(registry),
        }
    }

    /// ECR GetAuthorizationToken for `registry_id` (None = the caller's own),
    /// signed with the resolved credentials; the answer goes into the cache.
    pub fn fetch_token(&self, registry_id: Option<&str>) -> Result<AuthToken, Error> {
        let body = match registry_id {
            Some(id) => serde_json::json!({ "registryIds": [id] }),
            None => serde_json::json!({}),
        };
        let mut token = self.with_api(Flavor::Private, |api| {
            let v = api.call("GetAuthorizationToken", &body)?;
            ecr::parse_auth_reply(&v, Flavor::Private)
        })?;
        token.proxy_endpoint = endpoint::registry_endpoint_for(&token.proxy_endpoint, self.variant);
        self.store(
            self.cache_key(&self.region, &self.ecr_endpoint, registry_id),
            &token,
        );
        // The default token names its account: a later lookup by that
        // account id then hits the cache too.
        if registry_id.is_none() {
            if let Some(acct) = ecr::proxy_account(&token.proxy_endpoint) {
                self.store_alias(
                    self.cache_key(&self.region, &self.ecr_endpoint, Some(&acct)),
                    &token,
                );
            }
        }
        Ok(token)
    }

    fn public_endpoint(&self) -> Result<String, Error> {
        let section = self.profiles.profile(&self.profile_name);
        endpoint::pick(
            endpoint::configured_endpoint(Service::EcrPublic, &self.env, &self.profiles, section),
            self.variant,
            || endpoint::ecr_public_api_url(self.variant),
        )
    }

    /// A cached ECR Public (`public.ecr.aws`) token; no credentials, no network.
    pub fn cached_public_token(&self) -> Option<AuthToken> {
        let url = self.public_endpoint().ok()?;
        let key = self.cache_key(PUBLIC_REGION, &url, Some("public.ecr.aws"))?;
        self.cache.load(&key, SystemTime::now())
    }

    /// ECR Public GetAuthorizationToken (always in us-east-1), cached.
    pub fn fetch_public_token(&self) -> Result<AuthToken, Error> {
        let token = self.with_api(Flavor::Public, |api| {
            let v = api.call("GetAuthorizationToken", &serde_json::json!({}))?;
            ecr::parse_auth_reply(&v, Flavor::Public)
        })?;
        let url = self.public_endpoint()?;
        self.store(
            self.cache_key(PUBLIC_REGION, &url, Some("public.ecr.aws")),
            &token,
        );
        Ok(token)
    }

    /// Create the repository unless it exists; true when it was created
    /// (see [`ecr::Api::create_unless_present`]).
    pub fn create_repository(
        &self,
        name: &str,
        options: &CreateRepositoryOptions,
    ) -> Result<bool, Error> {
        self.with_api(Flavor::Private, |api| {
            api.create_unless_present(name, options)
        })
    }

    /// Whether private ECR has repository `name` in `registry_id`'s
    /// registry (the caller's when None).
    pub fn repository_exists(&self, name: &str, registry_id: Option<&str>) -> Result<bool, Error> {
        self.with_api(Flavor::Private, |api| {
            api.repository_exists(name, registry_id)
        })
    }

    /// DescribeImages of `repository:tag` in private ECR or ECR Public (for
    /// ECR Public, `repository` without the alias), in `registry_id`'s
    /// registry or the caller's; None when the tag does not exist. A missing
    /// repository is an error that says where it was looked for.
    pub fn describe_image(
        &self,
        flavor: Flavor,
        registry_id: Option<&str>,
        repository: &str,
        tag: &str,
    ) -> Result<Option<ImageDetail>, Error> {
        let missing = || {
            let place = match flavor {
                Flavor::Private => format!(
                    "ECR repository {repository:?} does not exist in region {}",
                    self.region
                ),
                Flavor::Public => format!(
                    "ECR Public repository {repository:?} does not exist in your public registry"
                ),
            };
            format!("{place}: create it (e.g. with --create-repository) or check the name")
        };
        self.with_api(flavor, |api| {
            api.describe_image(registry_id, repository, tag, missing)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(pairs: &[(&str, &str)], hint: Option<&str>) -> Result<Session, Error> {
        let mut env: Vec<(&str, &str)> = vec![
            ("HOME", "/nonexistent-helm-ecr-home"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        env.extend_from_slice(pairs);
        let http = crate::http::Http::new(crate::http::HttpOptions::default()).unwrap();
        Session::with_env(&AwsOptions::default(), hint, http, Env::from_pairs(env))
    }

    #[test]
    fn region_hint_wins_and_fips_hosts_pick_the_fips_api() {
        let mut s = session(&[("AWS_REGION", "us-east-1")], Some("us-gov-west-1")).unwrap();
        assert_eq!(s.region, "us-gov-west-1");
        assert_eq!(
            s.ecr_endpoint(),
            "https://api.ecr.us-gov-west-1.amazonaws.com"
        );
        let host = parse_ecr_host("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").unwrap();
        s.follow_host(&host).unwrap();
        assert_eq!(
            s.ecr_endpoint(),
            "https://api.ecr-fips.us-gov-west-1.amazonaws.com"
        );
        let mut s = session(
            &[("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:1")],
            Some("us-east-1"),
        )
        .unwrap();
        s.follow_host(&host).unwrap();
        assert_eq!(s.ecr_endpoint(), "http://127.0.0.1:1");
    }

    #[test]
    fn session_errors_are_clear() {
        let e = session(&[], None).unwrap_err();
        assert!(
            e.to_string().contains("no AWS region")
                && e.to_string().contains("AWS_EC2_METADATA_DISABLED"),
            "{e}"
        );
        let e = session(&[("AWS_REGION", "us east 1")], None).unwrap_err();
        assert!(e.to_string().contains("invalid AWS region"), "{e}");
        let e = session(
            &[
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL", "http://x"),
                ("AWS_USE_FIPS_ENDPOINT", "true"),
            ],
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("cannot be combined with FIPS"),
            "{e}"
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let s = session(
            &[
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "AKIAX"),
                ("AWS_SECRET_ACCESS_KEY", "TOPSECRET"),
            ],
            None,
        )
        .unwrap();
        let c = s.credentials().unwrap();
        let all = format!("{s:?} {c:?}");
        assert!(all.contains("AKIAX") && !all.contains("TOPSECRET"), "{all}");
    }
}
