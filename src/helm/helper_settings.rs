//! Per-host settings of the credential-helper mode: what the helper needs to
//! fetch a token for a host whose name does not say it (VPC endpoint, lab,
//! proxy): region, registry id, AWS profile. No secret is ever kept here.
//!
//! File: `{"hosts": {"HOST": {"region": ..., "registryId": ..., "profile": ...}}}`.

use super::{atomic, Error};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

fn hosts(doc: &Map<String, Value>) -> Option<&Map<String, Value>> {
    doc.get("hosts")?.as_object()
}

pub fn lookup(doc: &Map<String, Value>, host: &str) -> Option<HostSettings> {
    serde_json::from_value(hosts(doc)?.get(host)?.clone()).ok()
}

pub fn set(doc: &mut Map<String, Value>, host: &str, settings: &HostSettings) {
    let slot = doc
        .entry("hosts")
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let (Value::Object(m), Ok(v)) = (slot, serde_json::to_value(settings)) {
        m.insert(host.to_string(), v);
    }
}

pub fn remove(doc: &mut Map<String, Value>, host: &str) -> bool {
    doc.get_mut("hosts")
        .and_then(Value::as_object_mut)
        .is_some_and(|m| m.remove(host).is_some())
}

pub fn host_names(doc: &Map<String, Value>) -> Vec<String> {
    hosts(doc)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Settings for `host`; None when the file or the entry is absent.
pub fn read(path: &Path, host: &str) -> Result<Option<HostSettings>, Error> {
    Ok(atomic::read(path)?.and_then(|doc| lookup(&doc, host)))
}

pub fn save(path: &Path, host: &str, settings: &HostSettings) -> Result<(), Error> {
    atomic::update(path, |doc| {
        set(doc, host, settings);
        Ok(())
    })
}

pub fn forget(path: &Path, host: &str) -> Result<(), Error> {
    if !path.exists() {
        return Ok(());
    }
    atomic::update(path, |doc| {
        remove(doc, host);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_lookup_remove() {
        let mut doc = Map::new();
        let s = HostSettings {
            region: Some("eu-west-1".into()),
            registry_id: Some("123".into()),
            profile: None,
        };
        set(&mut doc, "h:1", &s);
        assert_eq!(
            Value::Object(doc.clone()),
            serde_json::json!({"hosts": {"h:1": {"region": "eu-west-1", "registryId": "123"}}})
        );
        assert_eq!(lookup(&doc, "h:1"), Some(s));
        assert_eq!(host_names(&doc), ["h:1"]);
        assert!(remove(&mut doc, "h:1"));
        assert_eq!(lookup(&doc, "h:1"), None);
    }
}
