//! The OCI client: references, blobs, manifests and the distribution
//! protocol. Knows nothing of AWS or Helm: credentials come through
//! [`Keychain`].
//!
//! Modules: `reference` (remotes, references, the name grammar), `auth`
//! (challenges, Basic, Bearer tokens), `client` (one exchange with auth,
//! redirects and retries), `protocol` (the distribution calls), `push` (the
//! plan and its phases), `error`, `progress`.

mod auth;
mod client;
mod error;
mod progress;
mod protocol;
mod push;
mod reference;

/// The registry-reply parsers, for the fuzz targets (`crate::fuzzing`).
#[doc(hidden)]
pub mod fuzz {
    pub use super::auth::{parse_challenges, parse_token, push_scope, token_url};
    pub use super::error::parse_registry_error;
}

use crate::secret::Secret;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{Error, ErrorKind};
pub use reference::{
    parse_remote, validate_registry, validate_repository, validate_tag, Reference, Remote,
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
    fn get(&self, registry: &str) -> Result<Option<Credential>, String>;
    /// The registry refused what `get` gave: fetch fresh credentials once.
    /// None = nothing fresher than what was refused: the client gives up.
    fn refresh(&self, registry: &str) -> Result<Option<Credential>, String>;
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
    registry: client::Registry,
}

impl Client {
    pub fn new(http: crate::http::Http, keychain: Arc<dyn Keychain>) -> Self {
        Client {
            registry: client::Registry::new(http, keychain),
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
        push::push(&self.registry, reference, artifact, dry_run)
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
