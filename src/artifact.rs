//! Chart -> OCI artifact: Helm's media types, the config blob, the manifest
//! and its annotations.

use crate::chart::gojson::JsonObject;
use crate::chart::{Error, PackagedChart};
use crate::codec::sha256_digest;
use crate::oci::{Artifact, Blob, BlobData};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const PROVENANCE_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

const CREATED: &str = "org.opencontainers.image.created";

/// Build the artifact Helm would push for `chart`. `created` is the RFC 3339
/// time for the `org.opencontainers.image.created` annotation (only when
/// SOURCE_DATE_EPOCH is set).
pub fn build(chart: &PackagedChart, created: Option<&str>) -> Result<Artifact, Error> {
    let config_bytes = chart.metadata.config_json.clone();
    let config = Blob {
        media_type: CONFIG_MEDIA_TYPE.into(),
        digest: sha256_digest(&config_bytes),
        size: config_bytes.len() as u64,
        data: BlobData::Bytes(Arc::new(config_bytes)),
    };
    let mut layers = vec![Blob {
        media_type: CHART_LAYER_MEDIA_TYPE.into(),
        digest: chart.digest.clone(),
        size: chart.size,
        data: BlobData::File(chart.archive.clone()),
    }];
    if let Some(prov) = &chart.provenance {
        let (digest, size) = hash_file(prov)?;
        layers.push(Blob {
            media_type: PROVENANCE_LAYER_MEDIA_TYPE.into(),
            digest,
            size,
            data: BlobData::File(prov.clone()),
        });
    }
    // Helm (oras) sorts the layers by digest.
    layers.sort_by(|a, b| a.digest.cmp(&b.digest));

    let mut annotations = chart.metadata.annotations.clone();
    if let Some(c) = created.filter(|c| !c.trim().is_empty()) {
        // Helm adds `created` before copying the chart's annotations, so a
        // chart annotation of the same name wins.
        if !annotations.iter().any(|(k, _)| k == CREATED) {
            annotations.push((CREATED.into(), c.to_string()));
        }
    }
    let manifest = manifest_json(&config, &layers, &annotations).into_bytes();
    let manifest_digest = sha256_digest(&manifest);
    Ok(Artifact {
        config,
        layers,
        manifest: Arc::new(manifest),
        manifest_media_type: MANIFEST_MEDIA_TYPE.into(),
        manifest_digest,
    })
}

/// The image manifest: `schemaVersion`, `mediaType` (Helm leaves it out,
/// which breaks ECR re-tagging), `config`, `layers`, `annotations` (keys
/// sorted, as Go writes a map).
pub fn manifest_json(config: &Blob, layers: &[Blob], annotations: &[(String, String)]) -> String {
    let mut o = JsonObject::default();
    o.raw("schemaVersion", "2");
    o.always_str("mediaType", MANIFEST_MEDIA_TYPE);
    o.raw("config", &descriptor(config));
    let layers: Vec<String> = layers.iter().map(descriptor).collect();
    o.raw("layers", &format!("[{}]", layers.join(",")));
    let mut sorted: Vec<&(String, String)> = annotations.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    o.str_map("annotations", sorted.into_iter().map(|(k, v)| (k, v)));
    o.finish()
}

fn descriptor(b: &Blob) -> String {
    let mut o = JsonObject::default();
    o.always_str("mediaType", &b.media_type);
    o.always_str("digest", &b.digest);
    o.raw("size", &b.size.to_string());
    o.finish()
}

fn hash_file(path: &std::path::Path) -> Result<(String, u64), Error> {
    let unreadable = |e| {
        Error::io(
            format!("cannot read provenance file {}", path.display()),
            e,
            "",
        )
    };
    let mut f = std::fs::File::open(path).map_err(unreadable)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(unreadable)?;
    Ok((format!("sha256:{}", crate::codec::hex(&h.finalize())), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::Metadata;
    use std::path::PathBuf;

    fn chart(prov: Option<PathBuf>) -> PackagedChart {
        PackagedChart {
            metadata: Metadata {
                name: "app".into(),
                version: "1.0.0".into(),
                config_json: br#"{"name":"app","version":"1.0.0","apiVersion":"v2"}"#.to_vec(),
                annotations: vec![
                    ("org.opencontainers.image.title".into(), "app".into()),
                    ("org.opencontainers.image.version".into(), "1.0.0".into()),
                ],
            },
            archive: PathBuf::from("/nonexistent/app-1.0.0.tgz"),
            temporary: false,
            held: None,
            digest: "sha256:ffff".into(),
            size: 42,
            provenance: prov,
        }
    }

    #[test]
    fn manifest_shape_and_digest() {
        let a = build(&chart(None), None).expect("artifact");
        let m = String::from_utf8(a.manifest.to_vec()).expect("utf8");
        let config_digest = sha256_digest(br#"{"name":"app","version":"1.0.0","apiVersion":"v2"}"#);
        assert_eq!(
            m,
            format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
                 \"config\":{{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\",\"digest\":\"{config_digest}\",\"size\":50}},\
                 \"layers\":[{{\"mediaType\":\"application/vnd.cncf.helm.chart.content.v1.tar+gzip\",\"digest\":\"sha256:ffff\",\"size\":42}}],\
                 \"annotations\":{{\"org.opencontainers.image.title\":\"app\",\"org.opencontainers.image.version\":\"1.0.0\"}}}}"
            )
        );
        assert_eq!(a.manifest_digest, sha256_digest(m.as_bytes()));
        assert!(matches!(a.layers[0].data, BlobData::File(_)));
        assert_eq!(a.config.size, 50);
    }

    #[test]
    fn created_only_when_given() {
        let a = build(&chart(None), Some("2024-01-02T03:04:05Z")).expect("artifact");
        let m = String::from_utf8(a.manifest.to_vec()).expect("utf8");
        assert!(m.contains("\"org.opencontainers.image.created\":\"2024-01-02T03:04:05Z\""));
        let b = build(&chart(None), None).expect("artifact");
        assert!(!String::from_utf8(b.manifest.to_vec())
            .expect("utf8")
            .contains("created"));
        assert_ne!(a.manifest_digest, b.manifest_digest);
    }

    #[test]
    fn provenance_layer_sorted_by_digest() {
        let dir = std::env::temp_dir().join(format!("helm-ecr-art-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let prov = dir.join("app-1.0.0.tgz.prov");
        std::fs::write(&prov, b"signature").expect("write");
        let a = build(&chart(Some(prov.clone())), None).expect("artifact");
        assert_eq!(a.layers.len(), 2);
        assert!(a.layers[0].digest < a.layers[1].digest);
        let p = a
            .layers
            .iter()
            .find(|l| l.media_type == PROVENANCE_LAYER_MEDIA_TYPE)
            .expect("prov layer");
        assert_eq!(p.size, 9);
        assert_eq!(p.digest, sha256_digest(b"signature"));
        let _ = std::fs::remove_dir_all(dir);
        let missing = build(&chart(Some(PathBuf::from("/nonexistent.prov"))), None);
        assert!(missing.unwrap_err().to_string().contains("provenance"));
    }
}
