//! The OCI client: references, blobs, manifests and the distribution
//! protocol. Knows nothing of AWS or Helm: credentials come through
//! [`Keychain`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// `oci://HOST[:PORT]/NAMESPACE`, the remote given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `HOST[:PORT]`
    pub registry: String,
    /// May be empty (`oci://HOST`).
    pub namespace: String,
}

/// `HOST[:PORT]/REPOSITORY:TAG`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// Parse `oci://HOST[:PORT][/NAMESPACE]`.
pub fn parse_remote(s: &str) -> Result<Remote, Error> {
    let rest = s
        .strip_prefix("oci://")
        .ok_or_else(|| Error::new(format!("{s}: a remote must start with oci://")))?;
    let rest = rest.trim_end_matches('/');
    let (registry, namespace) = match rest.split_once('/') {
        Some((h, ns)) => (h, ns),
        None => (rest, ""),
    };
    if registry.is_empty() {
        return Err(Error::new(format!("{s}: no registry host")));
    }
    Ok(Remote {
        registry: registry.to_string(),
        namespace: namespace.to_string(),
    })
}

impl Remote {
    /// The reference `helm push` builds: `HOST/NS/NAME:TAG`, TAG = version with
    /// `+` replaced by `_`.
    pub fn reference(&self, name: &str, version: &str) -> Reference {
        let repository = if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}/{}", self.namespace, name)
        };
        Reference {
            registry: self.registry.clone(),
            repository,
            tag: version.replace('+', "_"),
        }
    }
}

/// Username and password for a registry. Debug never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Host in, credentials out (go-containerregistry's authn.Keychain).
pub trait Keychain: Send + Sync {
    /// Credentials to send on the first request to `registry` (`HOST[:PORT]`).
    fn get(&self, registry: &str) -> Result<Option<Credential>, String>;
    /// The registry refused what `get` gave: fetch fresh credentials once.
    fn refresh(&self, registry: &str) -> Result<Option<Credential>, String>;
}

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub enum BlobData {
    Bytes(Arc<Vec<u8>>),
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

#[derive(Debug)]
pub struct Error {
    msg: String,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error { msg: msg.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// A registry client sharing one HTTP agent and one keychain.
pub struct Client {
    _http: crate::http::Http,
    _keychain: Arc<dyn Keychain>,
}

impl Client {
    pub fn new(http: crate::http::Http, keychain: Arc<dyn Keychain>) -> Self {
        Client {
            _http: http,
            _keychain: keychain,
        }
    }

    /// Push `artifact` to `reference`. With `dry_run`, only reads.
    pub fn push(
        &self,
        reference: &Reference,
        artifact: &Artifact,
        dry_run: bool,
    ) -> Result<PushStatus, Error> {
        let _ = (reference, artifact, dry_run);
        Err(Error::new("push is not implemented yet"))
    }
}
