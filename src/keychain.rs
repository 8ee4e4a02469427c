//! The auth rule (CLI.md): for a registry host, use
//! 1. a still-valid token from our own token cache, else
//! 2. credentials for the host in Helm's registry config, else
//! 3. a fresh ECR token (which the AWS part caches).
//!
//! If the registry refuses what we sent, fetch a fresh ECR token once.
//! Every target is taken to be ECR, so Basic goes on the first request and
//! there is no challenge round trip; except ECR Public (`public.ecr.aws`,
//! `ecr-public.aws.com`), whose registry refuses Basic: there the token is
//! sent to the Bearer realm its challenge names.

use crate::aws::{self, AuthToken, AwsOptions, CredentialScope, Registry, Session};
use crate::http::Http;
use crate::oci::{Credential, Keychain, KeychainError};
use crate::sync::lock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where a credential came from: a freshly fetched token is not worth
/// fetching again when the registry refuses it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    TokenCache,
    RegistryConfig,
    Fetched,
}

pub struct EcrKeychain {
    aws: AwsOptions,
    aws_http: Http,
    registry_config: PathBuf,
    /// `--registry-id`: the account whose registry a non-ECR host (VPC
    /// endpoint, proxy) fronts; None = the caller's own.
    registry_id: Option<String>,
    /// One session per region, all sharing `credentials`: the chain (and
    /// an MFA prompt) runs once per command.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    credentials: CredentialScope,
    /// Per host, what we last handed out. Holding the lock while fetching
    /// makes concurrent pushes to one host share one token request.
    hosts: Mutex<HashMap<String, (Credential, Source)>>,
}

impl EcrKeychain {
    pub fn new(
        aws: AwsOptions,
        aws_http: Http,
        registry_config: PathBuf,
        registry_id: Option<String>,
    ) -> Self {
        EcrKeychain {
            aws,
            aws_http,
            registry_config,
            registry_id,
            sessions: Mutex::new(HashMap::new()),
            credentials: CredentialScope::default(),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The AWS session for `host` (see [`Session::for_registry_host`]),
    /// one per region and endpoint form.
    pub fn session_for(&self, host: &str) -> Result<Arc<Session>, aws::Error> {
        let key = if aws::is_ecr_public_host(host) {
            aws::PUBLIC_REGION.to_string()
        } else {
            match aws::parse_ecr_host(host) {
                Some(ecr) => format!("{}|{}|{}", ecr.region, ecr.fips, ecr.dualstack),
                None => String::new(),
            }
        };
        self.session_keyed(key, || {
            Session::for_registry_host(&self.aws, host, self.aws_http.clone())
        })
    }

    /// The AWS session for the region the user chose (or `region_hint`).
    pub fn session(&self, region_hint: Option<&str>) -> Result<Arc<Session>, aws::Error> {
        self.session_keyed(region_hint.unwrap_or("").to_string(), || {
            Session::new(&self.aws, region_hint, self.aws_http.clone())
        })
    }

    /// The session kept under `key`, made by `make` the first time, sharing
    /// the command's credentials.
    fn session_keyed(
        &self,
        key: String,
        make: impl FnOnce() -> Result<Session, aws::Error>,
    ) -> Result<Arc<Session>, aws::Error> {
        let mut sessions = lock(&self.sessions);
        if let Some(s) = sessions.get(&key) {
            return Ok(Arc::clone(s));
        }
        let session = Arc::new(make()?.sharing(&self.credentials));
        sessions.insert(key, Arc::clone(&session));
        Ok(session)
    }

    /// The registry id (account) whose token serves `host`.
    fn registry_id_for(&self, host: &str) -> Option<String> {
        aws::parse_ecr_host(host)
            .map(|h| h.account)
            .or_else(|| self.registry_id.clone())
    }

    /// The caller's default registry token (for a push with no remote).
    pub fn default_registry_token(&self) -> Result<AuthToken, aws::Error> {
        self.session(None)?
            .token(Registry::Private(self.registry_id.as_deref()))
    }

    /// Remember a token fetched outside `get` (the default-registry lookup)
    /// for the host it serves, so the push does not ask again.
    pub fn remember(&self, host: &str, token: &AuthToken) {
        lock(&self.hosts).insert(host.to_string(), (credential(token), Source::TokenCache));
    }

    /// Rule 2. A registry config we cannot read (corrupt, or naming a
    /// credential helper that is not installed) must not stop a push that
    /// rule 3 can serve: say so once and fall through to a fresh token.
    fn registry_config_credentials(&self, host: &str) -> Option<crate::helm::Auth> {
        match crate::helm::get_credentials(&self.registry_config, host) {
            Ok(auth) => auth,
            Err(e) => {
                eprintln!("Warning: {host}: not using Helm's registry config ({e}); fetching an ECR token instead");
                None
            }
        }
    }

    fn fetch(&self, host: &str) -> Result<Credential, aws::Error> {
        let id = self.registry_id_for(host);
        let token = self
            .session_for(host)?
            .fetch(Registry::for_host(host, id.as_deref()))?;
        Ok(credential(&token))
    }

    fn cached(&self, session: &Session, host: &str) -> Option<AuthToken> {
        let id = self.registry_id_for(host);
        session.cached(Registry::for_host(host, id.as_deref()))
    }
}

impl Keychain for EcrKeychain {
    fn get(&self, registry: &str) -> Result<Option<Credential>, KeychainError> {
        let mut hosts = lock(&self.hosts);
        if let Some((cred, _)) = hosts.get(registry) {
            return Ok(Some(cred.clone()));
        }
        let session = self.session_for(registry).map_err(KeychainError::new)?;
        let (cred, source) = if let Some(token) = self.cached(&session, registry) {
            (credential(&token), Source::TokenCache)
        } else if let Some(auth) = self.registry_config_credentials(registry) {
            (
                Credential {
                    username: auth.username,
                    password: auth.password,
                },
                Source::RegistryConfig,
            )
        } else {
            (
                self.fetch(registry).map_err(KeychainError::new)?,
                Source::Fetched,
            )
        };
        hosts.insert(registry.to_string(), (cred.clone(), source));
        Ok(Some(cred))
    }

    fn refresh(&self, registry: &str) -> Result<Option<Credential>, KeychainError> {
        let mut hosts = lock(&self.hosts);
        if let Some((_, Source::Fetched)) = hosts.get(registry) {
            // A token fetched moments ago was refused: another would be too.
            return Ok(None);
        }
        let cred = self.fetch(registry).map_err(KeychainError::new)?;
        hosts.insert(registry.to_string(), (cred.clone(), Source::Fetched));
        Ok(Some(cred))
    }

    /// Every ECR registry but ECR Public's takes Basic `AWS:TOKEN`.
    fn basic_first(&self, registry: &str) -> bool {
        !aws::is_ecr_public_host(registry)
    }
}

fn credential(token: &AuthToken) -> Credential {
    Credential {
        username: token.username.clone(),
        password: token.password.clone(),
    }
}

/// The registry host of an ECR proxy endpoint (`https://HOST` -> `HOST`).
pub fn endpoint_host(proxy_endpoint: &str) -> String {
    crate::http::authority_of(proxy_endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_host_strips_scheme_and_path() {
        assert_eq!(
            endpoint_host("https://123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(endpoint_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(endpoint_host("host:1"), "host:1");
    }
}
