//! The OCI artifact we build against what Helm 4 pushes for the same chart.
//!
//! Helm 4 (the 4.2.3 SDK) packages and pushes each chart to the lab
//! registry; we read back its manifest and config blob and compare: the
//! config blob byte for byte (same digest), the manifest annotations (all but
//! `created`), the media types. Helm 4 also pushes OUR archive, and must
//! derive exactly our config blob from it.

mod common;

use common::{Sandbox, TempDir};
use helm_ecr::artifact;
use helm_ecr::chart::{self, Overrides};
use helm_ecr::oci::Artifact;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn put(dir: &Path, rel: &str, contents: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, contents).expect("write");
}

struct Registry {
    host: String,
    auth: String,
    creds: PathBuf,
}

impl Registry {
    fn new(sb: &Sandbox, dir: &Path) -> Registry {
        let lab = sb.lab;
        let auth = common::base64_encode(format!("AWS:{}", lab.registry_password).as_bytes());
        let creds = dir.join("config.json");
        fs::write(
            &creds,
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                lab.registry
            ),
        )
        .expect("creds");
        Registry {
            host: lab.registry.clone(),
            auth: format!("Basic {auth}"),
            creds,
        }
    }

    fn get(&self, path: &str, accept: &str) -> Vec<u8> {
        let url = format!("http://{}/v2/{path}", self.host);
        let mut resp = ureq::get(&url)
            .header("Authorization", &self.auth)
            .header("Accept", accept)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        resp.body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// Helm 4 pushes `tgz` under `ns`; returns its manifest as JSON.
    fn helm4_push(
        &self,
        sb: &Sandbox,
        tgz: &Path,
        ns: &str,
        repo: &str,
        tag: &str,
    ) -> serde_json::Value {
        sb.helm4(&[
            "push",
            common::path_str(tgz),
            &format!("oci://{}/{ns}", self.host),
            "--plain-http",
            "--creds",
            common::path_str(&self.creds),
        ])
        .assert_ok();
        let body = self.get(
            &format!("{ns}/{repo}/manifests/{tag}"),
            "application/vnd.oci.image.manifest.v1+json",
        );
        serde_json::from_slice(&body).expect("manifest JSON")
    }
}

fn annotations_without_created(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.get("annotations")
        .and_then(|a| a.as_object())
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.as_str() != "org.opencontainers.image.created")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Our manifest for `art`, parsed; its annotations but `created` must be
/// those of Helm 4's manifest `theirs`.
#[track_caller]
fn manifest_annotated_as(
    art: &Artifact,
    theirs: &serde_json::Value,
    case: &str,
) -> serde_json::Value {
    let ours: serde_json::Value = serde_json::from_slice(&art.manifest).expect("our manifest");
    assert_eq!(
        annotations_without_created(&ours),
        annotations_without_created(theirs),
        "{case}: manifest annotations"
    );
    ours
}

fn charts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut add = |name: &str, files: &[(&str, &str)]| {
        let d = dir.join(name);
        for (rel, body) in files {
            put(&d, rel, body);
        }
        out.push(d);
    };
    add(
        "plain",
        &[(
            "Chart.yaml",
            "apiVersion: v2\nname: plain\nversion: 0.1.0\n",
        )],
    );
    add(
        "rich",
        &[
            (
                "Chart.yaml",
                concat!(
                    "apiVersion: v2\nname: rich\nversion: 1.2.3-rc.1+build.7\nappVersion: \"2.0\"\n",
                    "description: \"Escapes <b> & </b> and\\ttabs \\u2028 and a very long description to pass eighty columns of text\"\n",
                    "home: https://example.com/?a=1&b=2\nicon: https://example.com/i.png\n",
                    "sources: [https://src.example.com/a, https://src.example.com/b]\n",
                    "keywords: [a, b]\nkubeVersion: \">=1.20.0-0\"\ndeprecated: true\n",
                    "condition: c.enabled\ntags: t1,t2\ntype: application\n",
                    "maintainers:\n- name: Ann\n  email: ann@example.com\n  url: https://ann\n- name: Bob\n- email: only@example.com\n",
                    "annotations:\n  org.opencontainers.image.title: cannot-override\n  org.opencontainers.image.url: https://override\n  custom/key: \"<v>\"\n  number: 12\n",
                ),
            ),
            ("templates/a.yaml", "a: 1\n"),
        ],
    );
    add(
        "deps",
        &[
            (
                "Chart.yaml",
                concat!(
                    "apiVersion: v2\nname: deps\nversion: 1.0.0\n",
                    "dependencies:\n- name: sub\n  version: ^0.1\n  repository: file://charts/sub\n  alias: first\n",
                    "  condition: first.enabled\n  tags: [x]\n  enabled: true\n  import-values:\n  - data\n  - child: a\n    parent: b\n",
                    "- name: sub\n  alias: second\n",
                ),
            ),
            ("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
        ],
    );
    add(
        "legacy",
        &[
            ("Chart.yaml", "apiVersion: v1\nname: legacy\nversion: 0.3.0\n"),
            (
                "requirements.yaml",
                "dependencies:\n- name: sub\n  version: 0.1.0\n  repository: https://charts.example.com\n",
            ),
            ("charts/sub/Chart.yaml", "apiVersion: v1\nname: sub\nversion: 0.1.0\n"),
        ],
    );
    add(
        "floaty",
        &[(
            "Chart.yaml",
            "apiVersion: v2\nname: floaty\nversion: 1.0\nappVersion: 1.10\ndescription: \" \"\n",
        )],
    );
    add(
        "library",
        &[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: library\nversion: 0.0.1\ntype: library\nhome: \"\"\n",
            ),
            ("templates/_h.tpl", "{{- define \"x\" -}}{{- end -}}\n"),
        ],
    );
    out
}

#[test]
fn config_blob_and_annotations_match_what_helm4_pushes() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("artifact-helm4");
    let reg = Registry::new(&sb, tmp.path());
    let ns = common::unique_name("artifact");
    for dir in charts(&tmp.path().join("src")) {
        let case = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let ours = chart::package_with_mtime(
            &dir,
            &Overrides::default(),
            Some(&tmp.path().join("ours").join(&case)),
            0,
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        let art = artifact::build(&ours, None).unwrap_or_else(|e| panic!("{case}: {e}"));
        let name = ours.metadata.name.clone();
        let tag = ours.metadata.version.replace('+', "_");

        // Helm 4's own package of the same chart, pushed by Helm 4.
        let h4_dest = tmp.path().join("helm4").join(&case);
        let out = sb.helm4(&[
            "package",
            common::path_str(&dir),
            common::path_str(&h4_dest),
        ]);
        out.assert_ok();
        let h4_tgz = PathBuf::from(out.stdout.trim());
        let m = reg.helm4_push(&sb, &h4_tgz, &format!("{ns}/helm4"), &name, &tag);
        let config_digest = m["config"]["digest"].as_str().expect("config digest");
        let helm_config = reg.get(&format!("{ns}/helm4/{name}/blobs/{config_digest}"), "*/*");
        assert_eq!(
            String::from_utf8_lossy(&ours.metadata.config_json),
            String::from_utf8_lossy(&helm_config),
            "{case}: config blob"
        );
        assert_eq!(art.config.digest, config_digest, "{case}: config digest");
        assert_eq!(
            m["config"]["mediaType"],
            artifact::CONFIG_MEDIA_TYPE,
            "{case}"
        );
        assert_eq!(
            m["layers"][0]["mediaType"],
            artifact::CHART_LAYER_MEDIA_TYPE,
            "{case}"
        );
        let ours_manifest = manifest_annotated_as(&art, &m, &case);
        assert_eq!(ours_manifest["schemaVersion"], 2);
        assert_eq!(ours_manifest["mediaType"], artifact::MANIFEST_MEDIA_TYPE);
        assert_eq!(ours_manifest["layers"][0]["digest"], ours.digest.as_str());
        assert_eq!(ours_manifest["layers"][0]["size"], ours.size);

        // Helm 4 pushing OUR archive derives exactly our config blob.
        let m2 = reg.helm4_push(&sb, &ours.archive, &format!("{ns}/ours"), &name, &tag);
        assert_eq!(
            m2["config"]["digest"],
            art.config.digest.as_str(),
            "{case}: Helm 4's config for our archive"
        );
        assert_eq!(
            m2["layers"][0]["digest"],
            ours.digest.as_str(),
            "{case}: layer is our archive"
        );

        // Helm 4's archive given to us pre-packaged: pushed byte for byte,
        // same config and annotations.
        let pre = chart::package(&h4_tgz, &Overrides::default(), None)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(!pre.temporary);
        assert_eq!(pre.archive, h4_tgz);
        assert_eq!(
            pre.digest,
            m["layers"][0]["digest"].as_str().expect("layer digest"),
            "{case}: pre-packaged digest"
        );
        assert_eq!(pre.size, fs::metadata(&h4_tgz).expect("stat").len());
        assert_eq!(
            pre.metadata.config_json, ours.metadata.config_json,
            "{case}: pre-packaged config"
        );
        let pre_art = artifact::build(&pre, None).expect("artifact");
        manifest_annotated_as(&pre_art, &m, &format!("{case}: pre-packaged"));
    }
}
