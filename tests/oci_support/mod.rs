//! Shared by the oci_* and faults* tests: the lab's coordinates, a static
//! keychain, artifacts shaped like Helm's, a registry reader, and a small
//! scriptable HTTP front (fault injection, ECR-like answers, redirects).
//! Lab settings, names, temp dirs, base64 and access-log lines come from
//! the shared harness (`tests/common`): a test crate using this module
//! declares `mod common;` too.
#![allow(dead_code)]

pub use crate::common::base64_encode as b64;
use crate::common::{parse_access_line, path_str, unique_name, Lab, TempDir};

use helm_ecr::http::{Http, HttpOptions};
use helm_ecr::oci::{Artifact, Blob, BlobData, Client, Credential, Keychain, Reference};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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
    fn get(&self, _: &str) -> Result<Option<Credential>, String> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        Ok(self.get.clone())
    }
    fn refresh(&self, _: &str) -> Result<Option<Credential>, String> {
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
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
    /// Read the request, then answer forever, slowly: a status line and
    /// header after header, one byte (or, `by_line`, one line) every
    /// `every`, until the client goes away. Every read sees data, so no
    /// stall timeout fires.
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

type Script = dyn Fn(&Seen, usize) -> Action + Send + Sync;

/// A one-request-per-connection HTTP front on 127.0.0.1 in front of an
/// upstream registry; `script(request, index)` decides each request's fate.
pub struct Front {
    pub addr: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Front {
    pub fn start(
        upstream: &str,
        script: impl Fn(&Seen, usize) -> Action + Send + Sync + 'static,
    ) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let upstream = upstream.to_string();
        let counter = Arc::new(AtomicUsize::new(0));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (script, seen, upstream, counter) = (
                    script.clone(),
                    s2.clone(),
                    upstream.clone(),
                    counter.clone(),
                );
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &*script, &seen, &counter);
                });
            }
        });
        Front { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_head(conn: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok((buf, rest));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn serve(
    mut conn: TcpStream,
    upstream: &str,
    script: &Script,
    seen: &Mutex<Vec<Seen>>,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, mut body) = read_head(&mut conn)?;
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")),
        "the client must never send a chunked body"
    );
    let mut info = Seen {
        method,
        path,
        headers,
        body_len: len,
    };
    let index = counter.fetch_add(1, Ordering::SeqCst);
    let action = script(&info, index);
    if let Action::Reset { after_body_bytes } = action {
        while body.len() < after_body_bytes.min(len) {
            let mut chunk = vec![0u8; 8192];
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        info.body_len = body.len();
        seen.lock().unwrap().push(info);
        // Unread bytes in the socket make the close a reset.
        return Ok(());
    }
    while body.len() < len {
        let mut chunk = vec![0u8; 65536];
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    seen.lock().unwrap().push(info.clone());
    match action {
        Action::Respond {
            status,
            headers,
            body: rbody,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                rbody.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            conn.write_all(out.as_bytes())?;
            if info.method != "HEAD" {
                conn.write_all(&rbody)?;
            }
        }
        Action::Stall(d) => std::thread::sleep(d),
        Action::Trickle { every, by_line } => {
            let mut next = b"HTTP/1.1 201 Created\r\n".to_vec();
            for n in 1u64.. {
                let pieces: Vec<&[u8]> = if by_line {
                    vec![&next]
                } else {
                    next.chunks(1).collect()
                };
                for piece in pieces {
                    conn.write_all(piece)?;
                    conn.flush()?;
                    std::thread::sleep(every);
                }
                next = format!("X-Trickle-{n}: .\r\n").into_bytes();
            }
        }
        Action::Forward { authorization } => {
            let mut up = TcpStream::connect(upstream)?;
            let mut out = format!("{} {} HTTP/1.1\r\n", info.method, info.path);
            for (k, v) in &info.headers {
                if k.eq_ignore_ascii_case("connection")
                    || (authorization.is_some() && k.eq_ignore_ascii_case("authorization"))
                {
                    continue;
                }
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            if let Some(a) = authorization {
                out.push_str(&format!("Authorization: {a}\r\n"));
            }
            out.push_str("Connection: close\r\n\r\n");
            up.write_all(out.as_bytes())?;
            up.write_all(&body)?;
            let mut resp = Vec::new();
            up.read_to_end(&mut resp)?;
            conn.write_all(&resp)?;
        }
        Action::Reset { .. } => unreachable!(),
    }
    conn.flush()
}
