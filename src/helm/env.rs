//! The HELM_* environment: where Helm keeps its files. Resolution is a pure
//! function of a variable lookup so it is tested without touching the
//! process environment.

use std::path::PathBuf;

/// The OS default base for Helm's config (`dirs::config_dir()` is
/// `~/.config` on Linux, `~/Library/Application Support` on macOS, which is
/// NOT what Helm uses, so the macOS case is spelt out).
fn os_config_base() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        dirs::home_dir().map(|h| h.join("Library").join("Preferences"))
    } else {
        dirs::config_dir()
    }
}

/// Helm's config home: HELM_CONFIG_HOME, else XDG_CONFIG_HOME/helm, else
/// the OS default (`~/.config/helm`, `~/Library/Preferences/helm`,
/// `%APPDATA%\helm`).
pub fn config_home_from(var: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(home) = var("HELM_CONFIG_HOME") {
        return PathBuf::from(home);
    }
    if let Some(xdg) = var("XDG_CONFIG_HOME") {
        return PathBuf::from(xdg).join("helm");
    }
    // No home directory at all: a relative path still lets Helm and us agree
    // on *something* and the error on use names it.
    os_config_base()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("helm")
}

/// The registry config: HELM_REGISTRY_CONFIG, else CONFIG_HOME/registry/config.json.
pub fn registry_config_from(var: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = var("HELM_REGISTRY_CONFIG") {
        return PathBuf::from(p);
    }
    config_home_from(var).join("registry").join("config.json")
}

/// A non-empty environment variable (Helm treats empty as unset).
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn config_home() -> PathBuf {
    config_home_from(&var)
}

pub fn registry_config() -> PathBuf {
    registry_config_from(&var)
}

/// Where the credential-helper mode keeps per-host settings (region,
/// profile, registry id): beside Helm's own config, so the helper, started
/// by `helm pull` with the user's environment, finds the same file.
pub fn helper_settings_path() -> PathBuf {
    if let Some(p) = var("HELM_ECR_HELPER_CONFIG") {
        return PathBuf::from(p);
    }
    config_home()
        .join("helm-ecr")
        .join("credential-helper.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn registry_config_variable_wins() {
        let env = lookup(&[
            ("HELM_REGISTRY_CONFIG", "/a/reg.json"),
            ("HELM_CONFIG_HOME", "/b"),
            ("XDG_CONFIG_HOME", "/c"),
        ]);
        assert_eq!(registry_config_from(&env), PathBuf::from("/a/reg.json"));
    }

    #[test]
    fn helm_config_home_then_xdg() {
        let env = lookup(&[("HELM_CONFIG_HOME", "/b"), ("XDG_CONFIG_HOME", "/c")]);
        assert_eq!(
            registry_config_from(&env),
            PathBuf::from("/b/registry/config.json")
        );
        let env = lookup(&[("XDG_CONFIG_HOME", "/c")]);
        assert_eq!(
            registry_config_from(&env),
            PathBuf::from("/c/helm/registry/config.json")
        );
    }

    #[test]
    fn os_default_when_nothing_set() {
        let env = lookup(&[]);
        let path = registry_config_from(&env);
        assert!(path.ends_with("helm/registry/config.json"), "{path:?}");
        if cfg!(target_os = "macos") {
            assert!(path.to_string_lossy().contains("Library/Preferences/helm"));
        }
        if cfg!(target_os = "linux") {
            if let Some(home) = dirs::home_dir() {
                // dirs honours XDG_CONFIG_HOME itself; with it unset it is ~/.config.
                if std::env::var_os("XDG_CONFIG_HOME").is_none() {
                    assert_eq!(path, home.join(".config/helm/registry/config.json"));
                }
            }
        }
    }
}
