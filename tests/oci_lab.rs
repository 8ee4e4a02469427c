//! The OCI client against the lab's real registry (CNCF distribution):
//! plain HTTP and TLS, the round-trip budget from its access log, unchanged
//! re-pushes, dry runs, and blobs streamed from disk.

mod common;
mod oci_support;

use helm_ecr::http::{Http, HttpOptions};
use helm_ecr::oci::{Client, ErrorKind, PushStatus};
use oci_support::*;

fn base() -> String {
    format!("http://{}", lab("LAB_REGISTRY"))
}

#[test]
fn new_chart_costs_at_most_seven_requests_and_no_401() {
    let registry = lab("LAB_REGISTRY");
    let repo = unique("budget");
    let r = reference(&registry, &repo, "0.1.0");
    let a = small_artifact("budget", "0.1.0", 1);
    let client = plain_client(StaticKeychain::lab());
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
    let log = access_log(&lab("LAB_REGISTRY_LOG"), &repo);
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
        ("PUT", format!("/v2/{repo}/manifests/0.1.0").as_str())
    );
    assert_in_registry(&base(), &r, &a);
    let log = access_log(&lab("LAB_REGISTRY_LOG"), &repo);

    // Unchanged re-push: reads only, at most 3 requests.
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Unchanged);
    let after = access_log(&lab("LAB_REGISTRY_LOG"), &repo);
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
    let log1 = access_log(&lab("LAB_REGISTRY_LOG"), &repo);
    assert!(log1.len() <= 7, "{log1:?}");
    assert!(!log1.iter().any(|(m, _, _)| m == "PATCH"), "{log1:?}");
    assert_in_registry(&base(), &r1, &a1);
    let log1 = access_log(&lab("LAB_REGISTRY_LOG"), &repo);
    assert!(
        log1.iter()
            .any(|(m, p, _)| m == "HEAD" && p.contains(&layer.digest)),
        "big layer not probed: {log1:?}"
    );

    // Same layer under a new version: the layer is not uploaded again.
    let a2 = artifact("big", "1.0.1", vec![layer.clone()]);
    let r2 = reference(&registry, &repo, "1.0.1");
    assert_eq!(client.push(&r2, &a2, false).unwrap(), PushStatus::Pushed);
    let log2 = access_log(&lab("LAB_REGISTRY_LOG"), &repo);
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
    let registry = lab("LAB_REGISTRY");
    let repo = unique("dry");
    let r = reference(&registry, &repo, "2.0.0");
    let a = small_artifact("dry", "2.0.0", 3);
    let client = plain_client(StaticKeychain::lab());
    assert_eq!(client.push(&r, &a, true).unwrap(), PushStatus::DryRun);
    let log = access_log(&lab("LAB_REGISTRY_LOG"), &repo);
    assert!(
        !log.is_empty() && log.iter().all(|(m, _, _)| m == "HEAD"),
        "{log:?}"
    );
    assert_manifest_absent(&base(), &r);
    client.push(&r, &a, false).unwrap();
    assert_eq!(client.push(&r, &a, true).unwrap(), PushStatus::Unchanged);
}

#[test]
fn changed_chart_at_same_tag_is_pushed_again() {
    let registry = lab("LAB_REGISTRY");
    let repo = unique("changed");
    let r = reference(&registry, &repo, "1.0.0");
    let client = plain_client(StaticKeychain::lab());
    let a = small_artifact("changed", "1.0.0", 10);
    let b = small_artifact("changed", "1.0.0", 11);
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
    assert_eq!(client.push(&r, &b, false).unwrap(), PushStatus::Pushed);
    assert_in_registry(&base(), &r, &b);
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
