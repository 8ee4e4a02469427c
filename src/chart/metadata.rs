//! Chart.yaml as Helm models it (Go's `chart.Metadata`): reading it with
//! Go's rules (case-insensitive keys, scalars converted to strings, unknown
//! keys ignored), validating and sanitising it like `Metadata.Validate`,
//! and writing it back as Helm does: the config blob JSON (Go field order,
//! omitempty, Go escaping) and the re-serialised Chart.yaml.

use super::gofmt::{format_float_g, format_json_float, is_lenient_semver, json_string, sanitize};
use super::goyaml::Value as Yaml;
use super::yaml_out;
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
pub fn parse_yaml(text: &[u8], file: &str) -> Result<Yaml, String> {
    utf8(text, file)?;
    super::goyaml::first_document(text).map_err(|e| yaml_error(file, &e))
}

/// Every document of a YAML file (values.yaml may hold several).
pub fn parse_yaml_documents(text: &[u8], file: &str) -> Result<Vec<Yaml>, String> {
    utf8(text, file)?;
    super::goyaml::all_documents(text).map_err(|e| yaml_error(file, &e))
}

fn utf8(text: &[u8], file: &str) -> Result<(), String> {
    std::str::from_utf8(text)
        .map(|_| ())
        .map_err(|_| format!("cannot load {file}: it is not UTF-8 text; save it as UTF-8"))
}

fn yaml_error(file: &str, e: &str) -> String {
    format!("cannot load {file}: {}; fix the YAML", one_line(e))
}

fn one_line(s: &str) -> String {
    crate::text::one_line(s, usize::MAX)
}

/// sigs.k8s.io/yaml turns the YAML into JSON before decoding it: an
/// infinity or NaN that no string field takes, or a null key, fails there.
/// Helm 4 first reads Chart.yaml into a struct that holds only apiVersion,
/// so such a value anywhere but in that field fails Helm 4; refused here
/// too, or Helm 4 could not load what we push.
pub fn check_json_convertible(v: &Yaml, file: &str, exempt: Option<&str>) -> Result<(), String> {
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
    walk(v, exempt).map_err(|e| format!("cannot load {file}: {e}"))
}

/// A YAML mapping's entries with keys as Go's YAML-to-JSON conversion
/// names them, in the order Go's JSON decoder sees them (sorted bytes).
fn entries(v: &Yaml, what: &str) -> Result<Vec<(String, Yaml)>, String> {
    let map = match v {
        Yaml::Map(m) => m,
        other => return Err(format!("{what} must be a mapping, not {}", kind(other))),
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = key_string(k).ok_or_else(|| format!("{what} has a key that is not a scalar"))?;
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
fn scalar_string(v: &Yaml) -> Option<String> {
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
fn key_string(v: &Yaml) -> Option<String> {
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

fn set_string(dst: &mut String, v: &Yaml, field: &str) -> Result<(), String> {
    match v {
        Yaml::Null => Ok(()),
        Yaml::Seq(_) | Yaml::Map(_) => Err(format!("{field} must be a string, not {}", kind(v))),
        _ => {
            *dst = scalar_string(v).unwrap_or_default();
            Ok(())
        }
    }
}

fn set_bool(dst: &mut bool, v: &Yaml, field: &str) -> Result<(), String> {
    match v {
        Yaml::Null => Ok(()),
        Yaml::Bool(b) => {
            *dst = *b;
            Ok(())
        }
        _ => Err(format!("{field} must be true or false, not {}", kind(v))),
    }
}

fn set_strings(dst: &mut Vec<String>, v: &Yaml, field: &str) -> Result<(), String> {
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
        _ => Err(format!(
            "{field} must be a list of strings, not {}",
            kind(v)
        )),
    }
}

fn list<'a>(v: &'a Yaml, field: &str) -> Result<Option<&'a [Yaml]>, String> {
    match v {
        Yaml::Null => Ok(None),
        Yaml::Seq(items) => Ok(Some(items)),
        _ => Err(format!("{field} must be a list, not {}", kind(v))),
    }
}

fn is_null(v: &Yaml) -> bool {
    matches!(v, Yaml::Null)
}

/// Go's JSON decoder picks a struct field by exact name, else by a
/// case-insensitive match.
fn field<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
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
    pub fn apply(&mut self, doc: &Yaml, file: &str) -> Result<(), String> {
        if is_null(doc) {
            return Ok(());
        }
        let err = |e: String| format!("cannot load {file}: {e}; fix {file}");
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

    /// Helm's `Metadata.Validate`: sanitise, then check. Errors name the
    /// field and say what to do.
    pub fn validate(&mut self) -> Result<(), String> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        if self.api_version.is_empty() {
            return Err("Chart.yaml: apiVersion is required; set apiVersion: v2".into());
        }
        if self.name.is_empty() {
            return Err("Chart.yaml: name is required; set name to the chart's name".into());
        }
        if self.name != base_name(&self.name) {
            return Err(format!(
                "Chart.yaml: name {:?} is invalid: it must be a plain name without '/'",
                self.name
            ));
        }
        if self.version.is_empty() {
            return Err(
                "Chart.yaml: version is required; set version to a SemVer such as 1.0.0".into(),
            );
        }
        if !is_lenient_semver(&self.version) {
            return Err(format!(
                "Chart.yaml: version {:?} is invalid: use a SemVer such as 1.0.0",
                self.version
            ));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return Err(format!(
                "Chart.yaml: type {:?} is invalid: it must be application or library",
                self.chart_type
            ));
        }
        for m in &mut self.maintainers {
            let Some(m) = m else {
                return Err(
                    "Chart.yaml: maintainers must not contain empty or null entries".into(),
                );
            };
            m.name = sanitize(&m.name);
            m.email = sanitize(&m.email);
            m.url = sanitize(&m.url);
        }
        let mut seen = std::collections::HashSet::new();
        for d in &mut self.dependencies {
            let Some(d) = d else {
                return Err(
                    "Chart.yaml: dependencies must not contain empty or null entries".into(),
                );
            };
            d.name = sanitize(&d.name);
            d.version = sanitize(&d.version);
            d.repository = sanitize(&d.repository);
            d.condition = sanitize(&d.condition);
            for t in &mut d.tags {
                *t = sanitize(t);
            }
            if !d.alias.is_empty()
                && !d
                    .alias
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "Chart.yaml: dependency {:?} has disallowed characters in the alias; use letters, digits, '-' and '_'",
                    d.name
                ));
            }
            let key = if d.alias.is_empty() {
                &d.name
            } else {
                &d.alias
            };
            if !seen.insert(key.clone()) {
                return Err(format!(
                    "Chart.yaml: more than one dependency with name or alias {key:?}; give them distinct aliases"
                ));
            }
        }
        Ok(())
    }

    /// The config blob: `json.Marshal(chart.Metadata)` byte for byte.
    pub fn to_json(&self) -> String {
        let mut o = JsonObject::default();
        o.str("name", &self.name);
        o.str("home", &self.home);
        o.strs("sources", &self.sources);
        o.str("version", &self.version);
        o.str("description", &self.description);
        o.strs("keywords", &self.keywords);
        if !self.maintainers.is_empty() {
            let items: Vec<String> = self
                .maintainers
                .iter()
                .map(|m| match m {
                    None => "null".to_string(),
                    Some(m) => {
                        let mut mo = JsonObject::default();
                        mo.str("name", &m.name);
                        mo.str("email", &m.email);
                        mo.str("url", &m.url);
                        mo.finish()
                    }
                })
                .collect();
            o.raw("maintainers", &format!("[{}]", items.join(",")));
        }
        o.str("icon", &self.icon);
        o.str("apiVersion", &self.api_version);
        o.str("condition", &self.condition);
        o.str("tags", &self.tags);
        o.str("appVersion", &self.app_version);
        if self.deprecated {
            o.raw("deprecated", "true");
        }
        if !self.annotations.is_empty() {
            let mut ao = JsonObject::default();
            for (k, v) in &self.annotations {
                ao.always_str(k, v);
            }
            o.raw("annotations", &ao.finish());
        }
        o.str("kubeVersion", &self.kube_version);
        if !self.dependencies.is_empty() {
            o.raw("dependencies", &dependencies_json(&self.dependencies));
        }
        o.str("type", &self.chart_type);
        o.finish()
    }

    /// Chart.yaml as Helm writes it into the archive. A v1 chart's
    /// dependencies live in requirements.yaml, so Helm leaves them out here.
    pub fn to_chart_yaml(&self) -> String {
        let json = if self.api_version == API_V1 {
            let mut copy = self.clone();
            copy.dependencies.clear();
            copy.to_json()
        } else {
            self.to_json()
        };
        json_to_yaml(&json)
    }

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

/// `filepath.Base` on Unix.
fn base_name(s: &str) -> &str {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        return if s.is_empty() { "." } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
}

pub fn json_to_yaml(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => yaml_out::to_yaml(&v),
        Err(_) => String::new(),
    }
}

fn dependencies_json(deps: &[Option<Dependency>]) -> String {
    let items: Vec<String> = deps
        .iter()
        .map(|d| match d {
            None => "null".to_string(),
            Some(d) => {
                let mut o = JsonObject::default();
                o.always_str("name", &d.name);
                o.str("version", &d.version);
                o.always_str("repository", &d.repository);
                o.str("condition", &d.condition);
                o.strs("tags", &d.tags);
                if d.enabled {
                    o.raw("enabled", "true");
                }
                if !d.import_values.is_empty() {
                    let vals: Vec<String> = d.import_values.iter().map(go_json_value).collect();
                    o.raw("import-values", &format!("[{}]", vals.join(",")));
                }
                o.str("alias", &d.alias);
                o.finish()
            }
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// A generic value as Go marshals an `interface{}` decoded from JSON:
/// numbers are float64, maps have sorted keys.
pub fn go_json_value(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => format_json_float(n.as_f64().unwrap_or(0.0)),
        J::String(s) => {
            let mut out = String::new();
            json_string(&mut out, s);
            out
        }
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(go_json_value).collect::<Vec<_>>().join(",")
        ),
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut o = JsonObject::default();
            for k in keys {
                o.raw(k, &go_json_value(&m[k.as_str()]));
            }
            o.finish()
        }
    }
}

#[derive(Default)]
struct JsonObject {
    out: String,
}

impl JsonObject {
    fn raw(&mut self, key: &str, value: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        json_string(&mut self.out, key);
        self.out.push(':');
        self.out.push_str(value);
    }
    fn always_str(&mut self, key: &str, value: &str) {
        let mut v = String::new();
        json_string(&mut v, value);
        self.raw(key, &v);
    }
    /// omitempty string
    fn str(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.always_str(key, value);
        }
    }
    /// omitempty []string
    fn strs(&mut self, key: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let items: Vec<String> = values
            .iter()
            .map(|s| {
                let mut v = String::new();
                json_string(&mut v, s);
                v
            })
            .collect();
        self.raw(key, &format!("[{}]", items.join(",")));
    }
    fn finish(mut self) -> String {
        if self.out.is_empty() {
            return "{}".into();
        }
        self.out.push('}');
        self.out
    }
}

fn decode_maintainers(v: &Yaml) -> Result<Vec<Option<Maintainer>>, String> {
    let Some(items) = list(v, "maintainers")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if is_null(item) {
            out.push(None);
            continue;
        }
        let mut m = Maintainer::default();
        for (key, v) in entries(item, "each maintainer")? {
            match field(&key, &["name", "email", "url"]) {
                Some("name") => set_string(&mut m.name, &v, "maintainer name")?,
                Some("email") => set_string(&mut m.email, &v, "maintainer email")?,
                Some("url") => set_string(&mut m.url, &v, "maintainer url")?,
                _ => {}
            }
        }
        out.push(Some(m));
    }
    Ok(out)
}

pub fn decode_dependencies(v: &Yaml) -> Result<Vec<Option<Dependency>>, String> {
    let Some(items) = list(v, "dependencies")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if is_null(item) {
            out.push(None);
            continue;
        }
        let mut d = Dependency::default();
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
        for (key, v) in entries(item, "each dependency")? {
            match field(&key, FIELDS) {
                Some("name") => set_string(&mut d.name, &v, "dependency name")?,
                Some("version") => set_string(&mut d.version, &v, "dependency version")?,
                Some("repository") => set_string(&mut d.repository, &v, "dependency repository")?,
                Some("condition") => set_string(&mut d.condition, &v, "dependency condition")?,
                Some("tags") => set_strings(&mut d.tags, &v, "dependency tags")?,
                Some("enabled") => set_bool(&mut d.enabled, &v, "dependency enabled")?,
                Some("import-values") => {
                    d.import_values = match list(&v, "import-values")? {
                        None => Vec::new(),
                        Some(vals) => vals.iter().map(yaml_to_json).collect(),
                    }
                }
                Some("alias") => set_string(&mut d.alias, &v, "dependency alias")?,
                _ => {}
            }
        }
        out.push(Some(d));
    }
    Ok(out)
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

fn decode_annotations(dst: &mut BTreeMap<String, String>, v: &Yaml) -> Result<(), String> {
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

/// Chart.lock / requirements.lock (Go's `chart.Lock`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lock {
    /// RFC 3339 as Go re-formats it (`RFC3339Nano`).
    pub generated: String,
    pub digest: String,
    pub dependencies: Option<Vec<Option<Dependency>>>,
}

impl Lock {
    pub fn parse(text: &[u8], file: &str) -> Result<Lock, String> {
        let doc = parse_yaml(text, file)?;
        let mut lock = Lock {
            generated: "0001-01-01T00:00:00Z".into(),
            ..Lock::default()
        };
        if is_null(&doc) {
            return Ok(lock);
        }
        let err = |e: String| {
            format!("cannot load {file}: {e}; fix {file} or run helm dependency update")
        };
        for (key, v) in entries(&doc, "the document").map_err(err)? {
            match field(&key, &["generated", "digest", "dependencies"]) {
                Some("generated") if !is_null(&v) => {
                    let s = scalar_string(&v).unwrap_or_default();
                    lock.generated = normalize_time(&s)
                        .ok_or_else(|| err(format!("generated {s:?} is not an RFC 3339 time")))?;
                }
                Some("digest") => set_string(&mut lock.digest, &v, "digest").map_err(err)?,
                Some("dependencies") => {
                    lock.dependencies = if is_null(&v) {
                        None
                    } else {
                        Some(decode_dependencies(&v).map_err(err)?)
                    }
                }
                _ => {}
            }
        }
        Ok(lock)
    }

    pub fn to_yaml(&self) -> String {
        let mut o = JsonObject::default();
        o.always_str("generated", &self.generated);
        o.always_str("digest", &self.digest);
        match &self.dependencies {
            None => o.raw("dependencies", "null"),
            Some(d) => o.raw("dependencies", &dependencies_json(d)),
        }
        json_to_yaml(&o.finish())
    }
}

/// Parse RFC 3339 and format it as Go's `time.Time` JSON does
/// (`RFC3339Nano`: fraction without trailing zeros, `Z` for UTC).
fn normalize_time(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date_ok = digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    let time_ok =
        digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19);
    if !date_ok || !matches!(b[10], b'T' | b't') || !time_ok {
        return None;
    }
    let mut i = 19;
    let mut frac = String::new();
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = s[start..i.min(start + 9)].trim_end_matches('0').to_string();
    }
    let zone = &s[i..];
    let zone = match zone {
        "Z" | "z" => "Z".to_string(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':'
            && z[1..3].bytes().all(|c| c.is_ascii_digit())
            && z[4..6].bytes().all(|c| c.is_ascii_digit()) =>
        {
            if &z[1..3] == "00" && &z[4..6] == "00" {
                "Z".to_string()
            } else {
                z.to_string()
            }
        }
        _ => return None,
    };
    let mut out = format!("{}T{}", &s[..10], &s[11..19]);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out.push_str(&zone);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(yaml: &str) -> ChartMeta {
        let mut m = ChartMeta::default();
        m.apply(
            &parse_yaml(yaml.as_bytes(), "Chart.yaml").expect("yaml"),
            "Chart.yaml",
        )
        .expect("apply");
        m
    }

    #[test]
    fn config_json_is_go_field_order_with_escaping() {
        let mut m = meta(
            "type: application\nname: app\nversion: 1.2.3\napiVersion: v2\ndescription: \"<b> & c\"\n\
             annotations: {z: 1, a: x}\nmaintainers: [{name: Me, email: me@x}]\n\
             dependencies: [{name: sub, version: ^1}]\nsources: [s1]\nhome: h\n",
        );
        m.validate().expect("valid");
        assert_eq!(
            m.to_json(),
            r#"{"name":"app","home":"h","sources":["s1"],"version":"1.2.3","description":"\u003cb\u003e \u0026 c","maintainers":[{"name":"Me","email":"me@x"}],"apiVersion":"v2","annotations":{"a":"x","z":"1"},"dependencies":[{"name":"sub","version":"^1","repository":""}],"type":"application"}"#
        );
    }

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

    #[test]
    fn validation_errors() {
        let cases = [
            ("name: a\nversion: 1.0.0\n", "apiVersion is required"),
            ("apiVersion: v2\nversion: 1.0.0\n", "name is required"),
            ("apiVersion: v2\nname: a/b\nversion: 1.0.0\n", "is invalid"),
            ("apiVersion: v2\nname: a\n", "version is required"),
            ("apiVersion: v2\nname: a\nversion: latest\n", "version \"latest\" is invalid"),
            ("apiVersion: v2\nname: a\nversion: 1.0.0\ntype: app\n", "application or library"),
            (
                "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: [{name: x}, {name: y, alias: x}]\n",
                "more than one dependency",
            ),
            (
                "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: [{name: x, alias: a.b}]\n",
                "alias",
            ),
            ("apiVersion: v2\nname: a\nversion: 1.0.0\nmaintainers: [~]\n", "maintainers"),
        ];
        for (yaml, want) in cases {
            let err = meta(yaml).validate().unwrap_err();
            assert!(err.contains(want), "{yaml:?}: {err}");
        }
        let mut m = ChartMeta::default();
        let e = m
            .apply(
                &parse_yaml(b"maintainers: foo\n", "Chart.yaml").expect("yaml"),
                "Chart.yaml",
            )
            .unwrap_err();
        assert!(e.contains("maintainers must be a list"), "{e}");
    }

    #[test]
    fn sanitises_like_helm() {
        let mut m =
            meta("apiVersion: v2\nname: a\nversion: 1.0.0\ndescription: \"a\\tb\\u0001\"\n");
        m.validate().expect("valid");
        assert_eq!(m.description, "a b");
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
            let e = r.expect_err(what);
            assert!(
                e.starts_with("cannot load Chart.yaml: ") && !e.contains('\n'),
                "{what}: {e}"
            );
        }
    }

    #[test]
    fn lock_round_trip() {
        let l = Lock::parse(
            b"dependencies:\n- name: sub\n  repository: file://x\n  version: 1.0.0\ndigest: sha256:ab\ngenerated: \"2023-01-18T12:34:56.120+00:00\"\n",
            "Chart.lock",
        )
        .expect("lock");
        assert_eq!(
            l.to_yaml(),
            "dependencies:\n- name: sub\n  repository: file://x\n  version: 1.0.0\ndigest: sha256:ab\ngenerated: \"2023-01-18T12:34:56.12Z\"\n"
        );
        assert!(Lock::parse(b"generated: yesterday\n", "Chart.lock").is_err());
    }
}
