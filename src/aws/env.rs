//! A snapshot of the process environment, so the pure parts (profile choice,
//! endpoints, cache keys) can be unit-tested without touching the real one.

use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for Env {
    // Values may hold secrets (AWS_SECRET_ACCESS_KEY): show names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Fill a setting the environment lacks from a lower-precedence source
    /// (the profile), so later readers see one answer.
    pub fn set_if_unset(&mut self, name: &str, value: &str) {
        if self.get(name).is_none() {
            self.vars.insert(name.to_string(), value.to_string());
        }
    }

    /// The value, with empty values treated as unset (as the SDKs do).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
    }

    /// The user's home: HOME, then the platform's notion of it.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME")
            .map(PathBuf::from)
            .or_else(|| self.get("USERPROFILE").map(PathBuf::from))
            .or_else(dirs::home_dir)
    }

    /// Expand a leading `~/` the way the AWS CLI does in file settings.
    pub fn expand_home(&self, path: &str) -> PathBuf {
        if let Some(rest) = path.strip_prefix("~/") {
            if let Some(home) = self.home() {
                return home.join(rest);
            }
        }
        PathBuf::from(path)
    }

    pub fn aws_dir(&self) -> Option<PathBuf> {
        self.home().map(|h| h.join(".aws"))
    }

    pub fn config_file(&self) -> Option<PathBuf> {
        match self.get("AWS_CONFIG_FILE") {
            Some(p) => Some(self.expand_home(p)),
            None => self.aws_dir().map(|d| d.join("config")),
        }
    }

    pub fn credentials_file(&self) -> Option<PathBuf> {
        match self.get("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => Some(self.expand_home(p)),
            None => self.aws_dir().map(|d| d.join("credentials")),
        }
    }

    /// A float knob such as HELM_ECR_RETRY_SCALE; 1.0 when unset or invalid.
    pub fn scale(&self, name: &str) -> f64 {
        self.get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_unset() {
        let env = Env::from_pairs([("AWS_REGION", ""), ("AWS_PROFILE", " x ")]);
        assert_eq!(env.get("AWS_REGION"), None);
        assert_eq!(env.get("AWS_PROFILE"), Some(" x "));
    }

    #[test]
    fn files_default_under_home_and_honour_overrides() {
        let env = Env::from_pairs([("HOME", "/h")]);
        assert_eq!(env.config_file(), Some(PathBuf::from("/h/.aws/config")));
        assert_eq!(
            env.credentials_file(),
            Some(PathBuf::from("/h/.aws/credentials"))
        );
        let env = Env::from_pairs([
            ("HOME", "/h"),
            ("AWS_CONFIG_FILE", "~/c"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/x/creds"),
        ]);
        assert_eq!(env.config_file(), Some(PathBuf::from("/h/c")));
        assert_eq!(env.credentials_file(), Some(PathBuf::from("/x/creds")));
    }

    #[test]
    fn debug_shows_no_values() {
        let env = Env::from_pairs([("AWS_SECRET_ACCESS_KEY", "s3cr3t")]);
        let s = format!("{env:?}");
        assert!(s.contains("AWS_SECRET_ACCESS_KEY") && !s.contains("s3cr3t"));
    }

    #[test]
    fn scale_parses_or_defaults() {
        let env = Env::from_pairs([("A", "0.01"), ("B", "x"), ("C", "-1")]);
        assert_eq!(env.scale("A"), 0.01);
        assert_eq!(env.scale("B"), 1.0);
        assert_eq!(env.scale("C"), 1.0);
        assert_eq!(env.scale("D"), 1.0);
    }
}
