//! Chart.yaml as Helm models it (Go's `chart.Metadata`): reading it with
//! Go's rules (case-insensitive keys, scalars converted to strings, unknown
//! keys ignored), validating and sanitising it like `Metadata.Validate`,
//! and writing it back as Helm does: the config blob JSON (Go field order,
//! omitempty, Go escaping) and the re-serialised Chart.yaml.
//!
//! By concern: `decode` (Go's decoding rules), `validate`, `encode`
//! (the config JSON and Chart.yaml written back) and `lock` (Chart.lock,
//! requirements.lock).

mod decode;
mod encode;
mod lock;
mod validate;

pub use decode::{decode_dependencies, Mismatch};
pub use encode::json_to_yaml;
pub use lock::Lock;
pub use validate::{is_lenient_semver, sanitize};

use super::gojson::format_float_g;
use super::goyaml::Value as Yaml;
use super::Error;
use decode::key_string;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<serde_json::Value>,
    pub alias: String,
}

/// Go's `chart.Metadata` (Helm 4.2). `None` list items are YAML nulls,
/// which validation rejects as Helm does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartMeta {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Option<Maintainer>>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: BTreeMap<String, String>,
    pub kube_version: String,
    pub dependencies: Vec<Option<Dependency>>,
    pub chart_type: String,
}

pub const API_V1: &str = "v1";
pub const API_V2: &str = "v2";

/// Parse YAML text as `yaml.Unmarshal` does (first document, YAML 1.1
/// scalars); an empty document is `Null`.
pub fn parse_yaml(text: &[u8], file: &str) -> Result<Yaml, Error> {
    utf8(text, file)?;
    super::goyaml::first_document(text).map_err(|source| Error::Yaml {
        file: file.into(),
        source,
    })
}

/// Every document of a YAML file (values.yaml may hold several).
pub fn parse_yaml_documents(text: &[u8], file: &str) -> Result<Vec<Yaml>, Error> {
    utf8(text, file)?;
    super::goyaml::all_documents(text).map_err(|source| Error::Yaml {
        file: file.into(),
        source,
    })
}

fn utf8(text: &[u8], file: &str) -> Result<(), Error> {
    std::str::from_utf8(text).map(|_| ()).map_err(|_| {
        Error::invalid(format!(
            "cannot load {file}: it is not UTF-8 text; save it as UTF-8"
        ))
    })
}

/// sigs.k8s.io/yaml turns the YAML into JSON before decoding it: an
/// infinity or NaN that no string field takes, or a null key, fails there.
/// Helm 4 first reads Chart.yaml into a struct that holds only apiVersion,
/// so such a value anywhere but in that field fails Helm 4; refused here
/// too, or Helm 4 could not load what we push.
pub fn check_json_convertible(v: &Yaml, file: &str, exempt: Option<&str>) -> Result<(), Error> {
    fn walk(v: &Yaml, exempt: Option<&str>) -> Result<(), String> {
        match v {
            Yaml::Float(f) if !f.is_finite() => Err(format!(
                "error converting YAML to JSON: json: unsupported value: {}; quote the value",
                format_float_g(*f, false)
            )),
            Yaml::Seq(items) => items.iter().try_for_each(|i| walk(i, None)),
            Yaml::Map(entries) => {
                for (k, v) in entries {
                    let Some(key) = key_string(k) else {
                        return Err(
                            "error converting YAML to JSON: unsupported map key null; quote the key"
                                .into(),
                        );
                    };
                    let takes_string = exempt.is_some_and(|e| e.eq_ignore_ascii_case(&key));
                    if takes_string && !matches!(v, Yaml::Seq(_) | Yaml::Map(_)) {
                        continue;
                    }
                    walk(v, None)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(v, exempt).map_err(|e| Error::invalid(format!("cannot load {file}: {e}")))
}

impl ChartMeta {
    /// The OCI manifest annotations Helm derives from the chart (without
    /// `created`), then the chart's own annotations, which may override all
    /// but title and version.
    pub fn oci_annotations(&self) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        let mut add = |k: &str, v: &str| {
            if !v.trim().is_empty() {
                out.insert(k.to_string(), v.to_string());
            }
        };
        add("org.opencontainers.image.description", &self.description);
        add("org.opencontainers.image.title", &self.name);
        add("org.opencontainers.image.version", &self.version);
        add("org.opencontainers.image.url", &self.home);
        if let Some(s) = self.sources.first() {
            add("org.opencontainers.image.source", s);
        }
        if !self.maintainers.is_empty() {
            let authors: Vec<String> = self
                .maintainers
                .iter()
                .map(|m| {
                    let m = m.clone().unwrap_or_default();
                    let mut s = m.name.clone();
                    if !m.email.is_empty() {
                        s.push_str(&format!(" ({})", m.email));
                    }
                    s
                })
                .collect();
            add("org.opencontainers.image.authors", &authors.join(", "));
        }
        for (k, v) in &self.annotations {
            if k == "org.opencontainers.image.title" || k == "org.opencontainers.image.version" {
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::chart) fn meta(yaml: &str) -> ChartMeta {
        let mut m = ChartMeta::default();
        m.apply(
            &parse_yaml(yaml.as_bytes(), "Chart.yaml").expect("yaml"),
            "Chart.yaml",
        )
        .expect("apply");
        m
    }
    #[test]
    fn annotations_for_oci() {
        let mut m = meta(
            "apiVersion: v2\nname: a\nversion: 1.0.0\nhome: ' '\nsources: [s]\n\
             maintainers: [{name: A, email: a@x}, {name: B}]\n\
             annotations: {org.opencontainers.image.title: nope, org.opencontainers.image.url: u, x: z, v: y}\n",
        );
        m.validate().expect("valid");
        let a = m.oci_annotations();
        let get = |k: &str| a.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("org.opencontainers.image.title"), Some("a"));
        assert_eq!(get("org.opencontainers.image.url"), Some("u"));
        assert_eq!(get("org.opencontainers.image.authors"), Some("A (a@x), B"));
        assert_eq!(get("org.opencontainers.image.source"), Some("s"));
        assert_eq!(get("x"), Some("z"));
        // YAML 1.1, as go-yaml v2 reads it: a plain `y` is the boolean true.
        assert_eq!(get("v"), Some("true"));
        assert_eq!(get("org.opencontainers.image.description"), None);
    }

    #[test]
    fn hostile_yaml_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep_map = "a: ".repeat(50_000) + "1";
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            laughs.push_str(&format!(
                "{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        for (what, text) in [("deep", deep), ("deep map", deep_map), ("laughs", laughs)] {
            let mut m = ChartMeta::default();
            let r =
                parse_yaml(text.as_bytes(), "Chart.yaml").and_then(|v| m.apply(&v, "Chart.yaml"));
            let e = r.expect_err(what).to_string();
            assert!(
                e.starts_with("cannot load Chart.yaml: ") && !e.contains('\n'),
                "{what}: {e}"
            );
        }
    }
}
