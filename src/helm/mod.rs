//! Helm integration: the HELM_* environment, the registry config file,
//! Docker credential helpers, plugin glue. Knows nothing of AWS or OCI.

pub mod atomic;
pub mod credential_helper;
pub mod env;
pub mod helper_settings;
pub mod registry_config;

use crate::secret::Secret;
use registry_config::{Config, Store};
use std::path::{Path, PathBuf};

pub use registry_config::host_key;

/// The name our own binary answers to as a Docker credential helper: the
/// registry config says `"credHelpers": {"HOST": "helm-ecr"}` and Helm runs
/// `docker-credential-helm-ecr get`.
pub const HELPER_NAME: &str = "helm-ecr";

/// Everything the Helm layer can fail with; each renders as one line that
/// names the file or helper, why, and what to do. Where a cause is carried
/// (`#[source]`), the line already includes its text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSON file we keep (registry config, helper settings) cannot be
    /// read, parsed, locked or written.
    #[error("{0}")]
    File(String),
    /// An entry of the registry config or of our settings is malformed.
    #[error("{0}")]
    Config(String),
    /// A Docker credential helper failed or answered nonsense.
    #[error("{0}")]
    Helper(String),
    /// A credential helper that could not be started.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A helper's failure, with the registry config entry that named it.
    #[error("{source} (named by {key} in {})", config.display())]
    NamedBy {
        key: String,
        config: PathBuf,
        #[source]
        source: Box<Error>,
    },
}

/// A username and password from the registry config. Debug hides the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: Secret,
}

/// Where Helm keeps its registry config: HELM_REGISTRY_CONFIG, else
/// HELM_CONFIG_HOME/registry/config.json, else XDG_CONFIG_HOME/helm/..., else
/// the OS default.
pub fn registry_config_path() -> PathBuf {
    env::registry_config()
}

/// The parsed registry config; an absent file is an empty config.
pub fn read_config(config: &Path) -> Result<Config, Error> {
    let doc = atomic::read(config)?.unwrap_or_default();
    Config::from_map(doc, config)
}

/// Under the config's lock: read, change, write back atomically if changed.
/// When `f` fails the file is left byte-identical.
pub fn update_config<T>(
    config: &Path,
    f: impl FnOnce(&mut Config) -> Result<T, Error>,
) -> Result<T, Error> {
    atomic::update(config, |doc| {
        let mut cfg = Config::from_map(std::mem::take(doc), config)?;
        let out = f(&mut cfg);
        *doc = cfg.into_map();
        out
    })
}

/// Credentials for `host` (`HOST[:PORT]`) in Helm's order: credHelpers[host],
/// credsStore, auths. A host served by our own helper gives None: the
/// caller fetches the token itself rather than running itself as a
/// subprocess.
pub fn get_credentials(config: &Path, host: &str) -> Result<Option<Auth>, Error> {
    let cfg = read_config(config)?;
    match cfg.store_for(host) {
        Store::Helper { name, .. } if name == HELPER_NAME => Ok(None),
        Store::Helper { name, per_host } => {
            credential_helper::get(&name, host).map_err(|e| in_config(e, config, host, per_host))
        }
        Store::File => cfg.file_auth(host, config),
    }
}

/// Store credentials for `host`, keeping every other entry and unknown key;
/// atomic, 0600, locked against concurrent writers. With a helper for the
/// host the secret goes to the helper and any stale copy in the file goes.
pub fn store_credentials(config: &Path, host: &str, auth: &Auth) -> Result<(), Error> {
    update_config(config, |cfg| store_in(cfg, config, host, auth)).map(|_| ())
}

/// Where `store_credentials` put the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    File,
    Helper(String),
    /// Our own helper answers for the host: nothing to keep.
    OwnHelper,
}

/// The body of `store_credentials`, for callers already holding the lock.
pub fn store_in(cfg: &mut Config, config: &Path, host: &str, auth: &Auth) -> Result<Stored, Error> {
    match cfg.store_for(host) {
        Store::Helper { name, .. } if name == HELPER_NAME => Ok(Stored::OwnHelper),
        Store::Helper { name, per_host } => {
            credential_helper::store(&name, host, auth)
                .map_err(|e| in_config(e, config, host, per_host))?;
            cfg.clear_file_secret(host);
            Ok(Stored::Helper(name))
        }
        Store::File => {
            cfg.set_file_auth(host, auth);
            Ok(Stored::File)
        }
    }
}

/// Remove the credentials for `host` from the store where they live. Returns
/// false when there was nothing to remove. Our own helper's entry is
/// unregistered (its settings are the caller's business).
pub fn erase_in(cfg: &mut Config, config: &Path, host: &str) -> Result<bool, Error> {
    match cfg.store_for(host) {
        Store::Helper { name, per_host } if name == HELPER_NAME => {
            let removed = if per_host {
                cfg.remove_cred_helper(host)
            } else {
                false
            };
            Ok(cfg.remove_file_auth(host) || removed)
        }
        Store::Helper { name, per_host } => {
            credential_helper::erase(&name, host)
                .map_err(|e| in_config(e, config, host, per_host))?;
            cfg.remove_file_auth(host);
            Ok(true)
        }
        Store::File => Ok(cfg.remove_file_auth(host)),
    }
}

pub fn erase_credentials(config: &Path, host: &str) -> Result<bool, Error> {
    update_config(config, |cfg| erase_in(cfg, config, host))
}

/// Register our own helper for `host` and drop any secret the file held
/// for it (the helper derives fresh tokens; a stored one would only expire).
pub fn set_cred_helper(config: &Path, host: &str) -> Result<(), Error> {
    update_config(config, |cfg| {
        cfg.set_cred_helper(host, HELPER_NAME);
        cfg.clear_file_secret(host);
        Ok(())
    })
}

fn in_config(e: Error, config: &Path, host: &str, per_host: bool) -> Error {
    let key = if per_host {
        format!("credHelpers[\"{host}\"]")
    } else {
        "credsStore".to_string()
    };
    Error::NamedBy {
        key,
        config: config.to_path_buf(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("helm-ecr-mod-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn store_then_get_round_trips_through_the_file() {
        let d = dir("roundtrip");
        let p = d.join("config.json");
        fs::write(&p, r#"{"auths":{"o":{"auth":"eDp5"}},"x-unknown":{"k":1}}"#).unwrap();
        let a = Auth {
            username: "AWS".into(),
            password: "pw".into(),
        };
        store_credentials(&p, "h:5000", &a).unwrap();
        assert_eq!(get_credentials(&p, "h:5000").unwrap(), Some(a));
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("x-unknown") && text.contains("\"o\""),
            "{text}"
        );
        assert!(erase_credentials(&p, "h:5000").unwrap());
        assert!(!erase_credentials(&p, "h:5000").unwrap());
        assert_eq!(get_credentials(&p, "h:5000").unwrap(), None);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn own_helper_host_reads_as_none_and_keeps_no_secret() {
        let d = dir("own");
        let p = d.join("config.json");
        fs::write(&p, r#"{"auths":{"h":{"auth":"eDp5"}}}"#).unwrap();
        set_cred_helper(&p, "h").unwrap();
        assert_eq!(get_credentials(&p, "h").unwrap(), None);
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains("eDp5"), "{text}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let d = dir("missing");
        let p = d.join("config.json");
        fs::write(&p, r#"{"credsStore":"no-such-helper-xyz"}"#).unwrap();
        let e = get_credentials(&p, "h").unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-no-such-helper-xyz"),
            "{e}"
        );
        assert!(e.to_string().contains("credsStore"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }
}
