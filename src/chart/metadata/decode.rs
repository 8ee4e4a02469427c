//! Chart.yaml decoded the way Go decodes it: sigs.k8s.io/yaml turns the
//! YAML into JSON, then `encoding/json` fills `chart.Metadata`
//! (case-insensitive keys, scalars converted to strings, unknown keys
//! ignored).

use super::super::gojson::format_float_g;
use super::{ChartMeta, Dependency, Error, Maintainer, Yaml};
use std::collections::BTreeMap;

/// A YAML value of the wrong shape for the field it sets (a list where a
/// string goes, say): what Go's JSON decoder would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// A YAML mapping's entries with keys as Go's YAML-to-JSON conversion
/// names them, in the order Go's JSON decoder sees them (sorted bytes).
pub(super) fn entries(v: &Yaml, what: &str) -> Result<Vec<(String, Yaml)>, Mismatch> {
    let map = match v {
        Yaml::Map(m) => m,
        other => {
            return Err(Mismatch(format!(
                "{what} must be a mapping, not {}",
                kind(other)
            )))
        }
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = key_string(k)
            .ok_or_else(|| Mismatch(format!("{what} has a key that is not a scalar")))?;
        out.push((key, v.clone()));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Int(_) | Yaml::Uint(_) | Yaml::Float(_) => "a number",
        Yaml::Str(_) => "a string",
        Yaml::Seq(_) => "a list",
        Yaml::Map(_) => "a mapping",
    }
}

/// A scalar as sigs.k8s.io/yaml turns it into a string field: ints in
/// decimal, floats with `FormatFloat(f, 'g', -1, 32)`, bools as
/// `true`/`false`. `None` for null and collections.
pub(super) fn scalar_string(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Str(s) => Some(s.clone()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Uint(u) => Some(u.to_string()),
        Yaml::Float(f) => Some(format_float_g(*f, true)),
        Yaml::Null | Yaml::Seq(_) | Yaml::Map(_) => None,
    }
}

/// A map key as sigs.k8s.io/yaml names it in JSON (floats as go-yaml
/// writes them: `.inf`, `.nan`).
pub(super) fn key_string(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Float(f) => Some(match format_float_g(*f, true).as_str() {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            other => other.into(),
        }),
        other => scalar_string(other),
    }
}

pub(super) fn set_string(dst: &mut String, v: &Yaml, field: &str) -> Result<(), Mismatch> {
    match v {
        Yaml::Null => Ok(()),
        Yaml::Seq(_) | Yaml::Map(_) => Err(Mismatch(format!(
            "{field} must be a string, not {}",
            kind(v)
        ))),
        _ => {
            *dst = scalar_string(v).unwrap_or_default();
            Ok(())
        }
    }
}

fn set_bool(dst: &mut bool, v: &Yaml, field: &str) -> Result<(), Mismatch> {
    match v {
        Yaml::Null => Ok(()),
        Yaml::Bool(b) => {
            *dst = *b;
            Ok(())
        }
        _ => Err(Mismatch(format!(
            "{field} must be true or false, not {}",
            kind(v)
        ))),
    }
}

fn set_strings(dst: &mut Vec<String>, v: &Yaml, field: &str) -> Result<(), Mismatch> {
    match v {
        Yaml::Null => {
            dst.clear();
            Ok(())
        }
        Yaml::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let mut s = String::new();
                set_string(&mut s, item, &format!("each item of {field}"))?;
                out.push(s);
            }
            *dst = out;
            Ok(())
        }
        _ => Err(Mismatch(format!(
            "{field} must be a list of strings, not {}",
            kind(v)
        ))),
    }
}

fn list<'a>(v: &'a Yaml, field: &str) -> Result<Option<&'a [Yaml]>, Mismatch> {
    match v {
        Yaml::Null => Ok(None),
        Yaml::Seq(items) => Ok(Some(items)),
        _ => Err(Mismatch(format!("{field} must be a list, not {}", kind(v)))),
    }
}

pub(super) fn is_null(v: &Yaml) -> bool {
    matches!(v, Yaml::Null)
}

/// Go's JSON decoder picks a struct field by exact name, else by a
/// case-insensitive match.
pub(super) fn field<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .find(|n| **n == key)
        .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(key)))
        .copied()
}

const META_FIELDS: &[&str] = &[
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
];

impl ChartMeta {
    /// Decode a YAML document onto `self`, as Go's `yaml.Unmarshal` into an
    /// existing struct does (present keys overwrite).
    pub fn apply(&mut self, doc: &Yaml, file: &str) -> Result<(), Error> {
        if is_null(doc) {
            return Ok(());
        }
        let err = |e: Mismatch| Error::Decode {
            file: file.into(),
            source: e,
            hint: format!("fix {file}"),
        };
        for (key, v) in entries(doc, "the document").map_err(err)? {
            let Some(f) = field(&key, META_FIELDS) else {
                continue;
            };
            let r = match f {
                "name" => set_string(&mut self.name, &v, f),
                "home" => set_string(&mut self.home, &v, f),
                "sources" => set_strings(&mut self.sources, &v, f),
                "version" => set_string(&mut self.version, &v, f),
                "description" => set_string(&mut self.description, &v, f),
                "keywords" => set_strings(&mut self.keywords, &v, f),
                "maintainers" => decode_maintainers(&v).map(|m| self.maintainers = m),
                "icon" => set_string(&mut self.icon, &v, f),
                "apiVersion" => set_string(&mut self.api_version, &v, f),
                "condition" => set_string(&mut self.condition, &v, f),
                "tags" => set_string(&mut self.tags, &v, f),
                "appVersion" => set_string(&mut self.app_version, &v, f),
                "deprecated" => set_bool(&mut self.deprecated, &v, f),
                "annotations" => decode_annotations(&mut self.annotations, &v),
                "kubeVersion" => set_string(&mut self.kube_version, &v, f),
                "dependencies" => decode_dependencies(&v).map(|d| self.dependencies = d),
                "type" => set_string(&mut self.chart_type, &v, f),
                _ => Ok(()),
            };
            r.map_err(err)?;
        }
        Ok(())
    }
}

/// A list of mappings decoded onto `T` item by item; a null item stays
/// `None` (validation rejects it, as Helm does).
fn list_of<T: Default>(
    v: &Yaml,
    name: &str,
    each: &str,
    mut set: impl FnMut(&mut T, &str, &Yaml) -> Result<(), Mismatch>,
) -> Result<Vec<Option<T>>, Mismatch> {
    let Some(items) = list(v, name)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if is_null(item) {
            out.push(None);
            continue;
        }
        let mut t = T::default();
        for (key, v) in entries(item, each)? {
            set(&mut t, &key, &v)?;
        }
        out.push(Some(t));
    }
    Ok(out)
}

fn decode_maintainers(v: &Yaml) -> Result<Vec<Option<Maintainer>>, Mismatch> {
    list_of(
        v,
        "maintainers",
        "each maintainer",
        |m: &mut Maintainer, key, v| match field(key, &["name", "email", "url"]) {
            Some("name") => set_string(&mut m.name, v, "maintainer name"),
            Some("email") => set_string(&mut m.email, v, "maintainer email"),
            Some("url") => set_string(&mut m.url, v, "maintainer url"),
            _ => Ok(()),
        },
    )
}

pub fn decode_dependencies(v: &Yaml) -> Result<Vec<Option<Dependency>>, Mismatch> {
    const FIELDS: &[&str] = &[
        "name",
        "version",
        "repository",
        "condition",
        "tags",
        "enabled",
        "import-values",
        "alias",
    ];
    list_of(
        v,
        "dependencies",
        "each dependency",
        |d: &mut Dependency, key, v| match field(key, FIELDS) {
            Some("name") => set_string(&mut d.name, v, "dependency name"),
            Some("version") => set_string(&mut d.version, v, "dependency version"),
            Some("repository") => set_string(&mut d.repository, v, "dependency repository"),
            Some("condition") => set_string(&mut d.condition, v, "dependency condition"),
            Some("tags") => set_strings(&mut d.tags, v, "dependency tags"),
            Some("enabled") => set_bool(&mut d.enabled, v, "dependency enabled"),
            Some("import-values") => {
                d.import_values = match list(v, "import-values")? {
                    None => Vec::new(),
                    Some(vals) => vals.iter().map(yaml_to_json).collect(),
                };
                Ok(())
            }
            Some("alias") => set_string(&mut d.alias, v, "dependency alias"),
            _ => Ok(()),
        },
    )
}

/// A free-form YAML value as JSON (keys as strings).
fn yaml_to_json(v: &Yaml) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Yaml::Null => J::Null,
        Yaml::Bool(b) => J::Bool(*b),
        Yaml::Int(i) => J::from(*i),
        Yaml::Uint(u) => J::from(*u),
        Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Yaml::Str(s) => J::String(s.clone()),
        Yaml::Seq(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                out.insert(key_string(k).unwrap_or_default(), yaml_to_json(v));
            }
            J::Object(out)
        }
    }
}

fn decode_annotations(dst: &mut BTreeMap<String, String>, v: &Yaml) -> Result<(), Mismatch> {
    if is_null(v) {
        dst.clear();
        return Ok(());
    }
    for (key, v) in entries(v, "annotations")? {
        let mut s = String::new();
        set_string(&mut s, &v, &format!("annotation {key:?}"))?;
        dst.insert(key, s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::meta;

    #[test]
    fn scalars_become_strings_like_go() {
        let m = meta("name: c\nversion: 1.0\nappVersion: 1.10\napiVersion: v2\nNAME: x\n");
        // "NAME" sorts before "name": the exact key is decoded last and wins.
        assert_eq!(m.name, "c");
        assert_eq!(m.version, "1");
        assert_eq!(m.app_version, "1.1");
        let m = meta("Name: only\n");
        assert_eq!(m.name, "only");
    }
}
