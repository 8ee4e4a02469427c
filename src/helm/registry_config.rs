//! Helm's registry config (Docker's config.json format), as pure edits on a
//! JSON object so every key we do not know survives a rewrite untouched.
//!
//! Where credentials for a host live, in Helm's (Docker's) order:
//! `credHelpers[HOST]`, else `credsStore`, else `auths[HOST].auth`.

use super::{Auth, Error};
use crate::codec::{base64_decode, base64_encode};
use serde_json::{Map, Value};
use std::path::Path;

/// The registry config key for what a user typed: `https://` / `oci://` /
/// `http://` and any path dropped, leaving `HOST[:PORT]`.
pub fn host_key(registry: &str) -> String {
    let s = registry.trim();
    let s = ["oci://", "https://", "http://"]
        .iter()
        .find_map(|p| {
            s.get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| &s[p.len()..])
        })
        .unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_string()
}

/// Where credentials for one host are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// `docker-credential-NAME`, from `credHelpers[HOST]` (`per_host`) or `credsStore`.
    Helper { name: String, per_host: bool },
    /// `auths[HOST]` in the file itself.
    File,
}

/// Helm's registry config as a JSON object; knows the three keys that
/// matter and carries every other one through.
#[derive(Clone, Default, PartialEq)]
pub struct Config {
    doc: Map<String, Value>,
}

/// `auths` holds base64 passwords: Debug names the hosts, never the entries.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auths: Vec<&String> = self.auths().map(|a| a.keys().collect()).unwrap_or_default();
        f.debug_struct("Config")
            .field("auths", &auths)
            .field("credHelpers", &self.doc.get("credHelpers"))
            .field("credsStore", &self.creds_store())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Check the shape of the keys we read; anything else is left alone.
    pub fn from_map(doc: Map<String, Value>, path: &Path) -> Result<Config, Error> {
        let bad = |what: &str| {
            Error::Config(format!(
                "{}: {what}: fix or remove that entry (the file was left unchanged)",
                path.display()
            ))
        };
        // Both map hosts to entries: auths to objects, credHelpers to names.
        for (key, entry_ok, entry_kind) in [
            ("auths", Value::is_object as fn(&Value) -> bool, "an object"),
            ("credHelpers", Value::is_string, "a string"),
        ] {
            match doc.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(hosts)) => {
                    if let Some((host, _)) = hosts.iter().find(|(_, v)| !entry_ok(v)) {
                        return Err(bad(&format!("{key}[{host:?}] is not {entry_kind}")));
                    }
                }
                Some(_) => return Err(bad(&format!("{key:?} is not an object"))),
            }
        }
        match doc.get("credsStore") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(bad("\"credsStore\" is not a string")),
        }
        Ok(Config { doc })
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.doc
    }

    pub fn cred_helper(&self, host: &str) -> Option<&str> {
        self.doc
            .get("credHelpers")?
            .get(host)?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    pub fn creds_store(&self) -> Option<&str> {
        self.doc
            .get("credsStore")?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    pub fn store_for(&self, host: &str) -> Store {
        if let Some(name) = self.cred_helper(host) {
            return Store::Helper {
                name: name.to_string(),
                per_host: true,
            };
        }
        if let Some(name) = self.creds_store() {
            return Store::Helper {
                name: name.to_string(),
                per_host: false,
            };
        }
        Store::File
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths")?.as_object()
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let slot = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(m) => m,
            _ => unreachable!("just made an object"),
        }
    }

    /// The `auths` key for `host`: the exact key, else one that names the
    /// same host with a scheme or path (Docker matches those too).
    fn auth_key(&self, host: &str) -> Option<String> {
        let auths = self.auths()?;
        if auths.contains_key(host) {
            return Some(host.to_string());
        }
        auths.keys().find(|k| host_key(k) == host).cloned()
    }

    /// The plain-file credentials for `host`, if any. `auth` (base64
    /// `user:pass`) wins over `username`/`password`, as in Docker; an
    /// identity token is an OAuth refresh token ECR cannot use.
    pub fn file_auth(&self, host: &str, path: &Path) -> Result<Option<Auth>, Error> {
        let Some(key) = self.auth_key(host) else {
            return Ok(None);
        };
        let Some(entry) = self.auths().and_then(|a| a.get(&key)) else {
            return Ok(None);
        };
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
        let encoded = field("auth");
        if !encoded.is_empty() {
            let bad = || {
                Error::Config(format!(
                    "{}: auths[{key:?}].auth is not base64 of USER:PASSWORD: log in again or remove that entry",
                    path.display()
                ))
            };
            let bytes = base64_decode(encoded).ok_or_else(bad)?;
            let text = String::from_utf8(bytes).map_err(|_| bad())?;
            let (user, pass) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Auth {
                username: user.to_string(),
                password: pass.into(),
            }));
        }
        if !field("username").is_empty() || !field("password").is_empty() {
            return Ok(Some(Auth {
                username: field("username").to_string(),
                password: field("password").into(),
            }));
        }
        Ok(None)
    }

    /// `auths[host] = {"auth": base64(user:pass)}`, keeping any other field
    /// of the entry (e.g. `email`) and dropping stale secret fields.
    pub fn set_file_auth(&mut self, host: &str, auth: &Auth) {
        let encoded =
            base64_encode(format!("{}:{}", auth.username, auth.password.expose()).as_bytes());
        let entry = self
            .auths_mut()
            .entry(host)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(e) = entry {
            for k in ["username", "password", "identitytoken", "registrytoken"] {
                e.remove(k);
            }
            e.insert("auth".into(), Value::String(encoded));
        }
    }

    /// Drop secrets from `auths[host]` (now kept by a helper), keeping the
    /// entry itself the way Docker does. Returns whether anything changed.
    pub fn clear_file_secret(&mut self, host: &str) -> bool {
        let Some(key) = self.auth_key(host) else {
            return false;
        };
        let mut changed = false;
        if let Some(Value::Object(e)) = self.auths_mut().get_mut(&key) {
            for k in [
                "auth",
                "username",
                "password",
                "identitytoken",
                "registrytoken",
            ] {
                changed |= e.remove(k).is_some();
            }
        }
        changed
    }

    /// Remove every `auths` entry naming `host`; whether there was one.
    pub fn remove_file_auth(&mut self, host: &str) -> bool {
        let Some(auths) = self.doc.get_mut("auths").and_then(Value::as_object_mut) else {
            return false;
        };
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| k.as_str() == host || host_key(k) == host)
            .cloned()
            .collect();
        for k in &keys {
            auths.remove(k);
        }
        !keys.is_empty()
    }

    pub fn set_cred_helper(&mut self, host: &str, name: &str) {
        let slot = self
            .doc
            .entry("credHelpers")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        if let Value::Object(m) = slot {
            m.insert(host.to_string(), Value::String(name.to_string()));
        }
    }

    pub fn remove_cred_helper(&mut self, host: &str) -> bool {
        self.doc
            .get_mut("credHelpers")
            .and_then(Value::as_object_mut)
            .is_some_and(|m| m.remove(host).is_some())
    }

    /// Hosts whose `credHelpers` entry names `helper`.
    pub fn hosts_with_helper(&self, helper: &str) -> Vec<String> {
        self.doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.as_str() == Some(helper))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_names_hosts_but_no_secret() {
        let doc = json!({"auths": {"h:1": {"auth": "QVdTOnMzY3IzdA==", "password": "s3cr3t", "identitytoken": "tok3n"}}, "credsStore": "pass"});
        let Value::Object(map) = doc else { panic!() };
        let d = format!("{:?}", Config::from_map(map, Path::new("c")).unwrap());
        assert!(d.contains("h:1") && d.contains("pass"), "{d}");
        for secret in ["QVdTOnMzY3IzdA", "s3cr3t", "tok3n"] {
            assert!(!d.contains(secret), "{d}");
        }
    }

    fn cfg(v: Value) -> Config {
        match v {
            Value::Object(m) => Config::from_map(m, Path::new("cfg.json")).unwrap(),
            _ => panic!("not an object"),
        }
    }

    fn auth(u: &str, p: &str) -> Auth {
        Auth {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn host_key_strips_scheme_and_path() {
        for (typed, key) in [
            ("oci://h.example:5000/charts/x", "h.example:5000"),
            ("https://h.example/", "h.example"),
            ("HTTPS://h.example", "h.example"),
            ("h.example", "h.example"),
            (" 127.0.0.1:5000 ", "127.0.0.1:5000"),
        ] {
            assert_eq!(host_key(typed), key, "{typed:?}");
        }
    }

    #[test]
    fn store_precedence_is_helpers_then_store_then_file() {
        let c = cfg(json!({"credsStore": "desktop", "credHelpers": {"a": "ecr-login"}}));
        assert_eq!(
            c.store_for("a"),
            Store::Helper {
                name: "ecr-login".into(),
                per_host: true
            }
        );
        assert_eq!(
            c.store_for("b"),
            Store::Helper {
                name: "desktop".into(),
                per_host: false
            }
        );
        assert_eq!(cfg(json!({"credsStore": ""})).store_for("b"), Store::File);
    }

    #[test]
    fn merge_keeps_other_hosts_and_unknown_keys_in_order() {
        let mut c = cfg(json!({
            "zzz": {"nested": [1, 2]},
            "auths": {"other.example": {"auth": "b3RoZXI6cHc="}, "h": {"email": "me@x"}},
            "credsStore": "desktop",
            "aaa": true
        }));
        c.set_file_auth("h", &auth("AWS", "tok:en"));
        c.set_file_auth("new", &auth("AWS", "x"));
        let doc = Value::Object(c.clone().into_map());
        assert_eq!(
            doc,
            json!({
                "zzz": {"nested": [1, 2]},
                "auths": {
                    "other.example": {"auth": "b3RoZXI6cHc="},
                    "h": {"email": "me@x", "auth": base64_encode(b"AWS:tok:en")},
                    "new": {"auth": base64_encode(b"AWS:x")}
                },
                "credsStore": "desktop",
                "aaa": true
            })
        );
        let keys: Vec<_> = c.clone().into_map().keys().cloned().collect();
        assert_eq!(keys, ["zzz", "auths", "credsStore", "aaa"]);
        // The password keeps its colon: only the first one separates.
        assert_eq!(
            c.file_auth("h", Path::new("x")).unwrap(),
            Some(auth("AWS", "tok:en"))
        );
    }

    #[test]
    fn file_auth_matches_scheme_prefixed_keys_and_plain_fields() {
        let c = cfg(json!({"auths": {
            "https://h.example": {"auth": base64_encode(b"u:p")},
            "plain": {"username": "u2", "password": "p2"},
            "token": {"identitytoken": "x"}
        }}));
        let p = Path::new("x");
        assert_eq!(c.file_auth("h.example", p).unwrap(), Some(auth("u", "p")));
        assert_eq!(c.file_auth("plain", p).unwrap(), Some(auth("u2", "p2")));
        assert_eq!(c.file_auth("token", p).unwrap(), None);
        assert_eq!(c.file_auth("absent", p).unwrap(), None);
    }

    #[test]
    fn bad_auth_field_is_a_clear_error() {
        let c = cfg(json!({"auths": {"h": {"auth": "!!!"}}}));
        let e = c.file_auth("h", Path::new("/x/config.json")).unwrap_err();
        assert!(
            e.to_string().contains("/x/config.json") && e.to_string().contains("auths[\"h\"]"),
            "{e}"
        );
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        for (bad, what) in [
            (json!({"auths": []}), r#""auths" is not an object"#),
            (
                json!({"auths": {"h": "x"}}),
                r#"auths["h"] is not an object"#,
            ),
            (
                json!({"credHelpers": []}),
                r#""credHelpers" is not an object"#,
            ),
            (
                json!({"credHelpers": {"h": 1}}),
                r#"credHelpers["h"] is not a string"#,
            ),
            (json!({"credsStore": 3}), r#""credsStore" is not a string"#),
        ] {
            let Value::Object(m) = bad else { panic!() };
            let e = Config::from_map(m, Path::new("c.json")).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("c.json: {what}: fix or remove that entry (the file was left unchanged)")
            );
        }
    }

    #[test]
    fn remove_and_clear() {
        let mut c = cfg(json!({"auths": {
            "h": {"auth": "eDp5", "email": "e"},
            "https://h/": {"auth": "eDp5"},
            "k": {"auth": "eDp5"}
        }}));
        assert!(c.clear_file_secret("k"));
        assert!(!c.clear_file_secret("k"));
        assert!(c.remove_file_auth("h"));
        assert!(!c.remove_file_auth("h"));
        assert_eq!(Value::Object(c.into_map()), json!({"auths": {"k": {}}}));
    }

    #[test]
    fn cred_helper_edits() {
        let mut c = cfg(json!({"credHelpers": {"x": "other"}}));
        c.set_cred_helper("h", "helm-ecr");
        assert_eq!(c.cred_helper("h"), Some("helm-ecr"));
        assert_eq!(c.hosts_with_helper("helm-ecr"), ["h"]);
        assert!(c.remove_cred_helper("h"));
        assert_eq!(
            Value::Object(c.into_map()),
            json!({"credHelpers": {"x": "other"}})
        );
    }
}
