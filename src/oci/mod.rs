//! The OCI client: references, blobs, manifests and the distribution
//! protocol. Knows nothing of AWS or Helm: credentials come through
//! [`Keychain`].
//!
//! Modules, in go-containerregistry's `remote`/`transport` shape:
//! `reference` (remotes, references, the name grammar), `auth` (challenge
//! parsing, Basic headers, the token request), `exchange` (one HTTP
//! exchange: bodies, deadlines, redirects, status to error, retries),
//! `transport` (per-host auth state around an exchange: challenges,
//! credential refresh, Bearer tokens per scope, the origin rule), `blob` and
//! `manifest` (the distribution calls), `push` (the plan and its phases),
//! `error`, `progress`.

mod auth;
mod blob;
mod error;
mod exchange;
mod manifest;
mod progress;
mod push;
mod reference;
#[cfg(test)]
mod scripted;
mod transport;

/// The registry-reply parsers, for the fuzz targets (`crate::fuzzing`).
#[doc(hidden)]
pub mod fuzz {
    pub use super::auth::{parse_challenges, parse_token, push_scope, token_url};
    pub use super::error::parse_registry_error;
}

use crate::secret::Secret;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{Error, ErrorKind, KeychainError};
pub use reference::{
    parse_remote, validate_registry, validate_repository, validate_tag, InvalidName, Reference,
    Remote,
};

/// Username and password for a registry. Debug never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: Secret,
}

/// Host in, credentials out (go-containerregistry's authn.Keychain).
pub trait Keychain: Send + Sync {
    /// Credentials to send on the first request to `registry` (`HOST[:PORT]`).
    fn get(&self, registry: &str) -> Result<Option<Credential>, KeychainError>;
    /// The registry refused what `get` gave: fetch fresh credentials once.
    /// None = nothing fresher than what was refused: the client gives up.
    fn refresh(&self, registry: &str) -> Result<Option<Credential>, KeychainError>;
    /// Whether Basic credentials may go on the very first request, before
    /// the registry has challenged: a round trip saved where Basic is known
    /// to be what the registry takes (private ECR). Otherwise the first
    /// request goes without credentials and the registry's challenge (Basic,
    /// or a Bearer realm) decides, as go-containerregistry and oras do.
    fn basic_first(&self, _registry: &str) -> bool {
        false
    }
}

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub enum BlobData {
    Bytes(Arc<Vec<u8>>),
    /// Streamed from disk on upload; `Blob::size` must be the file's length.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    pub size: u64,
    pub data: BlobData,
}

/// Everything one push writes: blobs first, the manifest last.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Arc<Vec<u8>>,
    pub manifest_media_type: String,
    /// `sha256:<hex>` of `manifest`.
    pub manifest_digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushStatus {
    Pushed,
    Unchanged,
    DryRun,
}

/// A registry client sharing one HTTP agent and one keychain. `Send + Sync`:
/// push several charts from threads sharing one client (credentials and
/// tokens are fetched once per host).
pub struct Client {
    transport: transport::Transport,
}

impl Client {
    pub fn new(http: crate::http::Http, keychain: Arc<dyn Keychain>) -> Self {
        Client {
            transport: transport::Transport::new(http, keychain),
        }
    }

    /// Push `artifact` to `reference`: nothing when the tag already holds
    /// the same manifest (`Unchanged`); with `dry_run`, only reads.
    pub fn push(
        &self,
        reference: &Reference,
        artifact: &Artifact,
        dry_run: bool,
    ) -> Result<PushStatus, Error> {
        push::push(&self.transport, reference, artifact, dry_run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }

    #[test]
    fn credential_debug_hides_the_password() {
        let c = Credential {
            username: "AWS".into(),
            password: "s3cr3t".into(),
        };
        let d = format!("{c:?}");
        assert!(d.contains("AWS") && !d.contains("s3cr3t"), "{d}");
    }
}
