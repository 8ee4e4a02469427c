//! The OCI client against the lab's real registry (CNCF distribution):
//! plain HTTP and TLS, the round-trip budget from its access log, unchanged
//! re-pushes, dry runs, and blobs streamed from disk.

mod common;
mod oci_support;

use helm_ecr::http::{Http, HttpOptions};
use helm_ecr::oci::{Artifact, Client, ErrorKind, PushStatus, Reference};
use oci_support::*;

fn base() -> String {
    format!("http://{}", lab("LAB_REGISTRY"))
}

/// The access log of the plain lab registry (method, path, status) for
/// `repository`.
fn plain_log(repository: &str) -> Vec<(String, String, u16)> {
    access_log(&lab("LAB_REGISTRY_LOG"), repository)
}

/// A small artifact NAME:TAG for a repository of its own on the plain lab
/// registry, and a plain-HTTP client with the lab's credentials.
struct Trial {
    repo: String,
    r: Reference,
    a: Artifact,
    client: Client,
}

impl Trial {
    fn new(name: &str, tag: &str, seed: u64) -> Trial {
        let repo = unique(name);
        Trial {
            r: reference(&lab("LAB_REGISTRY"), &repo, tag),
            a: small_artifact(name, tag, seed),
            client: plain_client(StaticKeychain::lab()),
            repo,
        }
    }

    /// Pushes the artifact (a dry run with `dry_run`), checks the client
    /// reports `want`, and returns the repository's access log since the
    /// start.
    #[track_caller]
    fn push(&self, dry_run: bool, want: PushStatus) -> Vec<(String, String, u16)> {
        assert_eq!(self.client.push(&self.r, &self.a, dry_run).unwrap(), want);
        plain_log(&self.repo)
    }
}

#[test]
fn new_chart_costs_at_most_seven_requests_and_no_401() {
    let t = Trial::new("budget", "0.1.0", 1);
    let log = t.push(false, PushStatus::Pushed);
    assert!(log.len() <= 7, "{} requests: {log:?}", log.len());
    assert!(
        log.iter().all(|(_, _, s)| *s != 401),
        "a 401 round trip: {log:?}"
    );
    assert!(
        !log.iter().any(|(m, _, _)| m == "PATCH"),
        "chunked upload: {log:?}"
    );
    // The manifest is the last write.
    let last_write = log
        .iter()
        .rev()
        .find(|(m, _, _)| m != "HEAD" && m != "GET")
        .unwrap();
    assert_eq!(
        (last_write.0.as_str(), last_write.1.as_str()),
        ("PUT", format!("/v2/{}/manifests/0.1.0", t.repo).as_str())
    );
    assert_in_registry(&base(), &t.r, &t.a);
    let log = plain_log(&t.repo);

    // Unchanged re-push: reads only, at most 3 requests.
    let after = t.push(false, PushStatus::Unchanged);
    let repush = &after[log.len()..];
    assert!(repush.len() <= 3, "{repush:?}");
    assert!(
        repush.iter().all(|(m, _, _)| m == "HEAD"),
        "re-push wrote: {repush:?}"
    );
}

#[test]
fn big_layer_is_probed_streamed_from_disk_and_skipped_when_present() {
    let registry = lab("LAB_REGISTRY");
    let repo = unique("big");
    let data = noise(3 << 20, 7);
    let (layer, _tmp) = file_blob(LAYER_TYPE, &data);
    let a1 = artifact("big", "1.0.0", vec![layer.clone()]);
    let client = plain_client(StaticKeychain::lab());
    let r1 = reference(&registry, &repo, "1.0.0");
    assert_eq!(client.push(&r1, &a1, false).unwrap(), PushStatus::Pushed);
    let log1 = plain_log(&repo);
    assert!(log1.len() <= 7, "{log1:?}");
    assert!(!log1.iter().any(|(m, _, _)| m == "PATCH"), "{log1:?}");
    assert_in_registry(&base(), &r1, &a1);
    let log1 = plain_log(&repo);
    assert!(
        log1.iter()
            .any(|(m, p, _)| m == "HEAD" && p.contains(&layer.digest)),
        "big layer not probed: {log1:?}"
    );

    // Same layer under a new version: the layer is not uploaded again.
    let a2 = artifact("big", "1.0.1", vec![layer.clone()]);
    let r2 = reference(&registry, &repo, "1.0.1");
    assert_eq!(client.push(&r2, &a2, false).unwrap(), PushStatus::Pushed);
    let log2 = plain_log(&repo);
    let second = &log2[log1.len()..];
    let blob_puts: Vec<_> = second
        .iter()
        .filter(|(m, p, _)| m == "PUT" && p.contains("/blobs/uploads/"))
        .collect();
    assert_eq!(
        blob_puts.len(),
        1,
        "only the new config is uploaded: {second:?}"
    );
    assert_in_registry(&base(), &r2, &a2);
}

#[test]
fn dry_run_only_reads() {
    let t = Trial::new("dry", "2.0.0", 3);
    let log = t.push(true, PushStatus::DryRun);
    assert!(
        !log.is_empty() && log.iter().all(|(m, _, _)| m == "HEAD"),
        "{log:?}"
    );
    assert_manifest_absent(&base(), &t.r);
    t.push(false, PushStatus::Pushed);
    t.push(true, PushStatus::Unchanged);
}

#[test]
fn changed_chart_at_same_tag_is_pushed_again() {
    let t = Trial::new("changed", "1.0.0", 10);
    let b = small_artifact("changed", "1.0.0", 11);
    t.push(false, PushStatus::Pushed);
    assert_eq!(t.client.push(&t.r, &b, false).unwrap(), PushStatus::Pushed);
    assert_in_registry(&base(), &t.r, &b);
}

#[test]
fn concurrent_pushes_share_one_client() {
    let registry = lab("LAB_REGISTRY");
    let keychain = StaticKeychain::lab();
    let client = plain_client(keychain.clone());
    let repos: Vec<String> = (0..4).map(|i| unique(&format!("conc{i}"))).collect();
    std::thread::scope(|s| {
        for (i, repo) in repos.iter().enumerate() {
            let client = &client;
            let registry = &registry;
            s.spawn(move || {
                let r = reference(registry, repo, "0.0.1");
                let a = small_artifact("conc", "0.0.1", 100 + i as u64);
                assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
                assert_in_registry(&base(), &r, &a);
            });
        }
    });
    // Credentials are looked up once per host, not per request.
    assert_eq!(keychain.gets.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn wrong_credentials_are_refreshed_once() {
    let registry = lab("LAB_REGISTRY");
    let wrong = helm_ecr::oci::Credential {
        username: "AWS".into(),
        password: "stale-token".into(),
    };
    // Stale, then fresh: the push succeeds after one refresh.
    let keychain = StaticKeychain::new(Some(wrong.clone()), Some(lab_credential()));
    let client = plain_client(keychain.clone());
    let r = reference(&registry, &unique("refresh"), "0.1.0");
    let a = small_artifact("refresh", "0.1.0", 20);
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
    assert_eq!(
        keychain.refreshes.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_in_registry(&base(), &r, &a);

    // Stale twice: one refresh, then a clear error, nothing pushed.
    let keychain = StaticKeychain::new(Some(wrong.clone()), Some(wrong));
    let client = plain_client(keychain.clone());
    let r = reference(&registry, &unique("refused"), "0.1.0");
    let e = client
        .push(&r, &small_artifact("refused", "0.1.0", 21), false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(
        !e.to_string().contains("stale-token"),
        "secret in error: {e}"
    );
    assert_eq!(
        keychain.refreshes.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_manifest_absent(&base(), &r);
}

fn tls_client(options: HttpOptions) -> Client {
    Client::new(
        Http::new(options).expect("http client"),
        StaticKeychain::lab(),
    )
}

#[test]
fn tls_with_ca_file() {
    let registry = lab("LAB_REGISTRY_TLS");
    let client = tls_client(HttpOptions {
        ca_file: Some(lab("LAB_CA_FILE").into()),
        ..Default::default()
    });
    let r = reference(&registry, &unique("tls"), "0.1.0");
    let a = small_artifact("tls", "0.1.0", 30);
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
    // Read it back with an independent client.
    let out = std::process::Command::new(lab("LAB_SKOPEO"))
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &format!("AWS:{}", lab("LAB_REGISTRY_PASSWORD")),
            &format!("docker://{r}"),
        ])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, *a.manifest);
}

#[test]
fn tls_insecure_skips_verification() {
    let registry = lab("LAB_REGISTRY_TLS");
    let client = tls_client(HttpOptions {
        insecure: true,
        ..Default::default()
    });
    let r = reference(&registry, &unique("insecure"), "0.1.0");
    assert_eq!(
        client
            .push(&r, &small_artifact("insecure", "0.1.0", 31), false)
            .unwrap(),
        PushStatus::Pushed
    );
}

#[test]
fn tls_without_ca_fails_with_a_certificate_error() {
    let registry = lab("LAB_REGISTRY_TLS");
    let client = tls_client(HttpOptions::default());
    let r = reference(&registry, &unique("untrusted"), "0.1.0");
    let started = std::time::Instant::now();
    let e = client
        .push(&r, &small_artifact("untrusted", "0.1.0", 32), false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    let msg = e.to_string();
    assert!(
        msg.contains("--ca-file") && msg.contains("--insecure"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    // Not retried: a certificate does not get better by waiting.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn plain_http_against_tls_port_says_what_is_wrong() {
    let client = plain_client(StaticKeychain::lab());
    let r = reference(&lab("LAB_REGISTRY_TLS"), &unique("mismatch"), "0.1.0");
    let e = client
        .push(&r, &small_artifact("m", "0.1.0", 33), true)
        .unwrap_err();
    // distribution answers plain HTTP on a TLS port with a 400.
    assert!(e.to_string().contains("drop --plain-http"), "{e}");
}

#[test]
fn invalid_reference_fails_before_any_request() {
    let client = plain_client(StaticKeychain::lab());
    let r = reference("127.0.0.1:1", "Upper/Case", "0.1.0");
    let e = client
        .push(&r, &small_artifact("x", "0.1.0", 1), false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidReference);
    assert!(e.to_string().contains("lower case"), "{e}");
}
