//! Chart.yaml's metadata written back as Helm writes it: the config blob
//! (`json.Marshal(chart.Metadata)`: Go field order, omitempty, Go
//! escaping) and the re-serialised Chart.yaml (that JSON through the
//! go-yaml emitter).

use super::super::gojson::{go_json_value, JsonObject};
use super::super::goyaml::emit;
use super::{ChartMeta, Dependency, API_V1};

impl ChartMeta {
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
            let maintainers = objects(&self.maintainers, |mo, m| {
                mo.str("name", &m.name);
                mo.str("email", &m.email);
                mo.str("url", &m.url);
            });
            o.raw("maintainers", &maintainers);
        }
        o.str("icon", &self.icon);
        o.str("apiVersion", &self.api_version);
        o.str("condition", &self.condition);
        o.str("tags", &self.tags);
        o.str("appVersion", &self.app_version);
        o.bool("deprecated", self.deprecated);
        o.str_map("annotations", &self.annotations);
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
}

pub fn json_to_yaml(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => emit::to_yaml(&v),
        Err(_) => String::new(),
    }
}

pub(super) fn dependencies_json(deps: &[Option<Dependency>]) -> String {
    objects(deps, |o, d| {
        o.always_str("name", &d.name);
        o.str("version", &d.version);
        o.always_str("repository", &d.repository);
        o.str("condition", &d.condition);
        o.strs("tags", &d.tags);
        o.bool("enabled", d.enabled);
        if !d.import_values.is_empty() {
            let vals: Vec<String> = d.import_values.iter().map(go_json_value).collect();
            o.raw("import-values", &format!("[{}]", vals.join(",")));
        }
        o.str("alias", &d.alias);
    })
}

/// A JSON array of objects that `write` fills, an empty entry as `null`
/// (Go writes a nil pointer in a slice so).
fn objects<T>(items: &[Option<T>], write: impl Fn(&mut JsonObject, &T)) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|item| match item {
            None => "null".to_string(),
            Some(x) => {
                let mut o = JsonObject::default();
                write(&mut o, x);
                o.finish()
            }
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::super::tests::meta;

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
}
