//! Shared by the push_* tests (`helm ecr-push` end to end): output
//! parsers, registry readers, secrets and pulled charts. A test crate using
//! this module declares `mod common;` and `mod aws_support;` too.
#![allow(dead_code)]

use crate::aws_support;
use crate::common;
use crate::common::{path_str, write, Output, Request, Sandbox};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// One chart's result in the text output.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub verb: String,
    pub reference: String,
    pub digest: String,
}

/// Parses the text output strictly: nothing but `VERB: REF` / `Digest: D`
/// pairs may be on stdout.
#[track_caller]
pub fn results(out: &Output) -> Vec<Line> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len().is_multiple_of(2), "odd number of lines:\n{out}");
    lines
        .chunks(2)
        .map(|pair| {
            let (verb, reference) = pair[0]
                .split_once(": ")
                .unwrap_or_else(|| panic!("not `VERB: REF`: {:?}\n{out}", pair[0]));
            let digest = pair[1]
                .strip_prefix("Digest: ")
                .unwrap_or_else(|| panic!("not `Digest: ...`: {:?}\n{out}", pair[1]));
            assert!(is_digest(digest), "bad digest {digest:?}\n{out}");
            assert!(!reference.contains("oci://"), "REF carries oci://\n{out}");
            Line {
                verb: verb.to_string(),
                reference: reference.to_string(),
                digest: digest.to_string(),
            }
        })
        .collect()
}

pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Every stdout line is one JSON object; returns them.
#[track_caller]
pub fn json_lines(out: &Output) -> Vec<serde_json::Map<String, serde_json::Value>> {
    out.stdout
        .lines()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => panic!("stdout line is not a JSON object: {l:?}\n{out}"),
        })
        .collect()
}

#[track_caller]
pub fn assert_keys(o: &serde_json::Map<String, serde_json::Value>, failed: bool) {
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = vec!["chart", "digest", "ref", "size", "status", "version"];
    if failed {
        want.push("error");
        want.sort_unstable();
    }
    assert_eq!(keys, want, "{o:?}");
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A chart directory helm cannot load (no Chart.yaml).
pub fn broken_chart(sb: &Sandbox, name: &str) -> PathBuf {
    let dir = sb.work().join(name);
    write(&dir.join("values.yaml"), "replicaCount: 1\n");
    dir
}

/// A registry config of its own for `helm pull`, so the sandbox's own
/// (which the auth-rule tests control) stays as each test wants it.
pub fn pull_config(sb: &Sandbox) -> PathBuf {
    let path = sb.root().join("pull-registry-config.json");
    let auth = common::base64_encode(format!("AWS:{}", sb.lab.registry_password).as_bytes());
    write(
        &path,
        &format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            sb.lab.registry
        ),
    );
    path
}

/// The sandbox's Helm pulls `oci://REPO --version V`; returns the archive
/// and the digest helm reports.
pub fn helm_pull(sb: &Sandbox, repo: &str, version: &str) -> (PathBuf, String) {
    let config = pull_config(sb);
    let (tgz, out) = sb.pull(
        sb.cli(),
        repo,
        version,
        &["--registry-config", path_str(&config)],
    );
    let digest = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("helm pull printed no digest:\n{out}"))
        .trim()
        .to_string();
    (tgz, digest)
}

/// The registry's writes: what a dry run or an unchanged push must not do.
pub fn writes(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .collect()
}

/// GET with the lab's Basic credentials from a plain-HTTP lab registry.
pub fn registry_get(addr: &str, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let lab = common::Lab::get();
    let auth = common::base64_encode(format!("AWS:{}", lab.registry_password).as_bytes());
    let mut resp = agent
        .get(format!("http://{addr}{path}"))
        .header("Accept", accept)
        .header("Authorization", format!("Basic {auth}"))
        .call()
        .expect("GET from a lab registry");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().expect("read the body");
    (status, body)
}

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The manifest of `repo:tag` (status, bytes).
pub fn manifest(addr: &str, repo: &str, tag: &str) -> (u16, Vec<u8>) {
    registry_get(addr, &format!("/v2/{repo}/manifests/{tag}"), MANIFEST_TYPE)
}

/// The secrets of the lab, in every form that could leak.
pub fn secrets(sb: &Sandbox) -> Vec<String> {
    let lab = sb.lab;
    vec![
        lab.secret_access_key.clone(),
        lab.registry_password.clone(),
        common::base64_encode(format!("AWS:{}", lab.registry_password).as_bytes()),
        common::base64_encode(lab.registry_password.as_bytes()),
    ]
}

#[track_caller]
pub fn assert_no_secret(out: &Output, secrets: &[String]) {
    for s in secrets {
        assert!(
            !out.stdout.contains(s.as_str()) && !out.stderr.contains(s.as_str()),
            "a secret ({} chars) appears in the output of {}",
            s.len(),
            out.command
        );
    }
}

/// Helm's registry config holding `password` for `host`.
pub fn registry_config_with(sb: &Sandbox, host: &str, password: &str) {
    let auth = common::base64_encode(format!("AWS:{password}").as_bytes());
    write(
        &sb.registry_config(),
        &format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    );
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// A front before moto that counts GetAuthorizationToken and changes
/// nothing (moto's tokens stay expired, so none is ever cached).
pub fn counting_ecr_front() -> (
    aws_support::Stub,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, moto) = (calls.clone(), common::Lab::get().ecr_endpoint.clone());
    let stub = aws_support::serve(move |req| {
        if aws_support::is_token_call(req) {
            c.fetch_add(1, Ordering::SeqCst);
        }
        aws_support::forward(&moto, req)
    });
    (stub, calls)
}

/// `helm --debug ecr-push CHART REMOTE --plain-http` in the sandbox.
pub fn debug_push(sb: &Sandbox, chart: &Path, remote: &str) -> Output {
    sb.helm(&[
        "--debug",
        "ecr-push",
        path_str(chart),
        remote,
        "--plain-http",
    ])
}
