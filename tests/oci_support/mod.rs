//! Shared by the oci_* and faults* tests: the lab's coordinates, a static
//! keychain, artifacts shaped like Helm's, a registry reader, and a small
//! scriptable HTTP front (fault injection, ECR-like answers, redirects).
//! Lab settings, names, temp dirs, base64 and access-log lines come from
//! the shared harness (`tests/common`): a test crate using this module
//! declares `mod common;` too.
#![allow(dead_code)]

pub use crate::common::base64_encode as b64;
use crate::common::{parse_access_line, path_str, unique_name, Lab, TempDir};

use crate::common::front::{self, Request, Response};
use helm_ecr::http::{Http, HttpOptions};
use helm_ecr::oci::{Artifact, Blob, BlobData, Client, Credential, Keychain, Reference};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A lab setting by the name of its LAB_* variable, read through
/// `common::Lab` (which says how to start the lab when it is not up).
pub fn lab(name: &str) -> String {
    let lab = Lab::get();
    match name {
        "LAB_REGISTRY" => lab.registry.clone(),
        "LAB_REGISTRY_TLS" => lab.registry_tls.clone(),
        "LAB_REGISTRY_LOG" => path_str(&lab.registry_log).to_string(),
        "LAB_REGISTRY_PASSWORD" => lab.registry_password.clone(),
        "LAB_CA_FILE" => path_str(&lab.ca_file).to_string(),
        "LAB_SKOPEO" => path_str(&lab.skopeo).to_string(),
        _ => panic!("oci_support::lab: {name} is not a lab setting it knows; add it here"),
    }
}

pub fn lab_credential() -> Credential {
    Credential {
        username: "AWS".into(),
        password: Lab::get().registry_password.clone().into(),
    }
}

/// Hands out `get` first and `refresh` after; counts both. Sends Basic
/// first, as the ECR keychain does for private ECR.
pub struct StaticKeychain {
    pub get: Option<Credential>,
    pub refresh: Option<Credential>,
    pub gets: AtomicUsize,
    pub refreshes: AtomicUsize,
}

impl StaticKeychain {
    pub fn new(get: Option<Credential>, refresh: Option<Credential>) -> Arc<StaticKeychain> {
        Arc::new(StaticKeychain {
            get,
            refresh,
            gets: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
        })
    }
    pub fn lab() -> Arc<StaticKeychain> {
        StaticKeychain::new(Some(lab_credential()), Some(lab_credential()))
    }
}

impl Keychain for StaticKeychain {
    fn get(&self, _: &str) -> Result<Option<Credential>, helm_ecr::oci::KeychainError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        Ok(self.get.clone())
    }
    fn refresh(&self, _: &str) -> Result<Option<Credential>, helm_ecr::oci::KeychainError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(self.refresh.clone())
    }
    /// As ECR's keychain: Basic on the first request, no challenge first.
    fn basic_first(&self, _: &str) -> bool {
        true
    }
}

pub fn plain_client(keychain: Arc<StaticKeychain>) -> Client {
    let http = Http::new(HttpOptions {
        plain_http: true,
        ..Default::default()
    })
    .expect("http client");
    Client::new(http, keychain)
}

pub fn sha256(data: &[u8]) -> String {
    let h = Sha256::digest(data);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// A repository path no other test, thread or run uses.
pub fn unique(name: &str) -> String {
    format!("oci-test/{}", unique_name(name))
}

pub fn reference(registry: &str, repository: &str, tag: &str) -> Reference {
    Reference {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.into(),
    }
}

/// Deterministic pseudo-random bytes (so big layers do not compress away
/// and differ per seed).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn bytes_blob(media_type: &str, data: Vec<u8>) -> Blob {
    Blob {
        media_type: media_type.into(),
        digest: sha256(&data),
        size: data.len() as u64,
        data: BlobData::Bytes(Arc::new(data)),
    }
}

/// A blob read from a file; the file lives as long as the returned dir.
pub fn file_blob(media_type: &str, data: &[u8]) -> (Blob, TempDir) {
    let dir = TempDir::new("oci-blob");
    let path = dir.path().join("blob");
    std::fs::write(&path, data).unwrap();
    let blob = Blob {
        media_type: media_type.into(),
        digest: sha256(data),
        size: data.len() as u64,
        data: BlobData::File(path),
    };
    (blob, dir)
}

pub const CONFIG_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// An artifact shaped like Helm's: config JSON, layers, an OCI manifest.
pub fn artifact(name: &str, version: &str, layers: Vec<Blob>) -> Artifact {
    let config = bytes_blob(
        CONFIG_TYPE,
        format!(r#"{{"name":"{name}","version":"{version}","apiVersion":"v2"}}"#).into_bytes(),
    );
    let desc = |b: &Blob| serde_json::json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": desc(&config),
        "layers": layers.iter().map(desc).collect::<Vec<_>>(),
        "annotations": {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version},
    }))
    .unwrap();
    Artifact {
        config,
        layers,
        manifest_digest: sha256(&manifest),
        manifest: Arc::new(manifest),
        manifest_media_type: MANIFEST_TYPE.into(),
    }
}

/// A small chart: config plus a layer under the probe threshold.
pub fn small_artifact(name: &str, version: &str, seed: u64) -> Artifact {
    artifact(
        name,
        version,
        vec![bytes_blob(LAYER_TYPE, noise(3000, seed))],
    )
}

/// GET from a lab registry with the lab's Basic credentials: (status, body).
pub fn registry_get(base: &str, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let c = lab_credential();
    let mut resp = agent
        .get(format!("{base}{path}"))
        .header("Accept", accept)
        .header(
            "Authorization",
            format!(
                "Basic {}",
                b64(format!("{}:{}", c.username, c.password.expose()).as_bytes())
            ),
        )
        .call()
        .expect("GET from the lab registry");
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    (status, body)
}

/// The pushed artifact is in the registry, byte for byte.
pub fn assert_in_registry(base: &str, r: &Reference, a: &Artifact) {
    let (s, m) = registry_get(
        base,
        &format!("/v2/{}/manifests/{}", r.repository, r.tag),
        MANIFEST_TYPE,
    );
    assert_eq!(s, 200, "manifest of {r}");
    assert_eq!(m, *a.manifest, "manifest bytes of {r}");
    for b in std::iter::once(&a.config).chain(&a.layers) {
        let (s, body) = registry_get(
            base,
            &format!("/v2/{}/blobs/{}", r.repository, b.digest),
            "*/*",
        );
        assert_eq!(s, 200, "blob {} of {r}", b.digest);
        assert_eq!(sha256(&body), b.digest, "blob bytes");
    }
}

pub fn assert_manifest_absent(base: &str, r: &Reference) {
    let (s, _) = registry_get(
        base,
        &format!("/v2/{}/manifests/{}", r.repository, r.tag),
        MANIFEST_TYPE,
    );
    assert_eq!(s, 404, "no manifest may exist at {r}");
}

/// Access-log lines (method, path, status) for requests under `repository`.
pub fn access_log(log: &str, repository: &str) -> Vec<(String, String, u16)> {
    let needle = format!("/v2/{repository}/");
    // distribution writes the line after the response: give it a moment.
    std::thread::sleep(Duration::from_millis(200));
    std::fs::read_to_string(log)
        .expect("registry access log")
        .lines()
        .filter_map(parse_access_line)
        .filter(|r| r.path.starts_with(&needle))
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

// ------------------------------------------------------------------ front

/// One request as the front saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        front::header_in(&self.headers, name)
    }

    fn of(r: &Request, body_len: usize) -> Seen {
        Seen {
            method: r.method.clone(),
            path: r.target.clone(),
            headers: r.headers.clone(),
            body_len,
        }
    }
}

/// What the front does with a request.
pub enum Action {
    /// Pass it on to the upstream registry (optionally with this
    /// Authorization instead of the client's).
    Forward { authorization: Option<String> },
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Read the headers and `n` body bytes, then drop the connection.
    Reset { after_body_bytes: usize },
    /// Say nothing for this long, then drop the connection.
    Stall(Duration),
    /// Read the request, then answer forever, slowly (see
    /// `common::front::Exchange::trickle`).
    Trickle { every: Duration, by_line: bool },
}

pub fn forward() -> Action {
    Action::Forward {
        authorization: None,
    }
}

pub fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Action {
    Action::Respond {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// The tests' one HTTP front (`common::front`) in front of an upstream
/// registry; `script(request, index)` decides each request's fate from its
/// head (`body_len` is its Content-Length).
pub struct Front {
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _front: front::Front,
}

impl Front {
    pub fn start(
        upstream: &str,
        script: impl Fn(&Seen, usize) -> Action + Send + Sync + 'static,
    ) -> Front {
        let upstream = upstream.to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let front = front::Front::start(move |mut ex| {
            let head = Seen::of(&ex.request, ex.request.content_length());
            assert!(
                !head
                    .header("transfer-encoding")
                    .is_some_and(|v| v.contains("chunked")),
                "the client must never send a chunked body"
            );
            let action = script(&head, ex.index);
            if let Action::Reset { after_body_bytes } = action {
                ex.read_body_upto(after_body_bytes)?;
                log.lock()
                    .unwrap()
                    .push(Seen::of(&ex.request, ex.request.body.len()));
                // Unread bytes in the socket make the close a reset.
                return Ok(());
            }
            // An early end still counts as seen; a read error does not.
            ex.read_body_upto(usize::MAX)?;
            log.lock().unwrap().push(head);
            match action {
                Action::Respond {
                    status,
                    headers,
                    body,
                } => ex.reply(&Response {
                    status,
                    headers,
                    body,
                }),
                Action::Stall(d) => {
                    ex.stall(d);
                    Ok(())
                }
                Action::Trickle { every, by_line } => ex.trickle(every, by_line),
                Action::Forward { authorization } => ex.relay(&upstream, authorization.as_deref()),
                Action::Reset { .. } => unreachable!(),
            }
        });
        Front {
            addr: front.addr.clone(),
            seen,
            _front: front,
        }
    }

    /// What the front saw; `body_len` is the Content-Length, or for a
    /// `Reset` the body bytes read before the drop.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
