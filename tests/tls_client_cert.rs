//! Client certificates (`--cert-file`/`--key-file`, as `helm push` has them)
//! through helm 3.10.1 and the installed plugin, against the lab's
//! distribution registry that requires a client certificate signed by the
//! lab's client CA (LAB_REGISTRY_MTLS). The push is read back by skopeo with
//! its own client certificate, and the chart in it by helm 3.10.1.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    base64_encode, ecr_push, path_str, run, unique_name, write, LogMark, Output, Sandbox,
};

/// skopeo's certificate directory: the lab CA (`*.crt`) and, with
/// `client`, the lab client pair (`*.cert` + `*.key`).
fn skopeo_certs(sb: &Sandbox, client: bool) -> PathBuf {
    let lab = sb.lab;
    let dir = sb
        .root()
        .join(if client { "certs-client" } else { "certs-ca" });
    common::copy_tree(&lab.ca_file, &dir.join("ca.crt"));
    if client {
        let m = lab.mtls();
        common::copy_tree(&m.client_cert, &dir.join("client.cert"));
        common::copy_tree(&m.client_key, &dir.join("client.key"));
    }
    dir
}

/// An auth file for skopeo (never --creds: command lines reach test logs).
fn skopeo_auth(sb: &Sandbox) -> PathBuf {
    let lab = sb.lab;
    let auth = sb.root().join("skopeo-mtls-auth.json");
    let token = base64_encode(format!("AWS:{}", lab.registry_password).as_bytes());
    write(
        &auth,
        &format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{token}\"}}}}}}",
            lab.mtls().registry
        ),
    );
    auth
}

fn sha256_file(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    out.assert_ok();
    format!("sha256:{}", &out.stdout[..64])
}

/// `Pushed: REF` / `Digest: D` -> (REF, D).
#[track_caller]
fn pushed(out: &Output) -> (String, String) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let reference = lines[0]
        .strip_prefix("Pushed: ")
        .unwrap_or_else(|| panic!("not `Pushed: REF`:\n{out}"));
    let digest = lines[1]
        .strip_prefix("Digest: ")
        .unwrap_or_else(|| panic!("not `Digest: D`:\n{out}"));
    (reference.to_string(), digest.to_string())
}

/// One error line from the plugin, exit status 1, no panic, nothing pushed.
#[track_caller]
fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stdout.trim().is_empty(), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    let lines = out.plugin_stderr_lines();
    assert_eq!(lines.len(), 1, "expected one error line:\n{out}");
    lines[0].to_string()
}

/// `helm ecr-push CHART oci://MTLS-REGISTRY/NS --ca-file LAB-CA`, with
/// `--cert-file CERT --key-file KEY` when `pair` is given.
fn push_mtls(sb: &Sandbox, chart: &Path, ns: &str, pair: Option<(&Path, &Path)>) -> Output {
    let remote = format!("oci://{}/{ns}", sb.lab.mtls().registry);
    let mut args = vec![
        path_str(chart),
        &remote,
        "--ca-file",
        path_str(&sb.lab.ca_file),
    ];
    if let Some((cert, key)) = pair {
        args.extend(["--cert-file", path_str(cert), "--key-file", path_str(key)]);
    }
    ecr_push(sb, &args)
}

#[test]
fn push_with_a_client_certificate_lands_and_reads_back() {
    let sb = Sandbox::new();
    let lab = sb.lab;
    let m = lab.mtls();
    let chart = sb.seed_chart("mtlschart");
    let ns = unique_name("mtls");

    let out = push_mtls(&sb, &chart, &ns, Some((&m.client_cert, &m.client_key)));
    out.assert_ok();
    let (reference, digest) = pushed(&out);
    assert_eq!(reference, format!("{}/{ns}/mtlschart:0.1.0", m.registry));

    // Read back by another client holding the client certificate.
    let copy = sb.root().join("copy");
    let auth = skopeo_auth(&sb);
    run(Command::new(&lab.skopeo)
        .arg("copy")
        .arg("--src-cert-dir")
        .arg(skopeo_certs(&sb, true))
        .arg("--src-authfile")
        .arg(&auth)
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", copy.display())))
    .assert_ok();
    assert_eq!(sha256_file(&copy.join("manifest.json")), digest);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(copy.join("manifest.json")).expect("read the copied manifest"),
    )
    .expect("manifest JSON");
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );
    let layer_digest = layer["digest"].as_str().expect("layer digest");
    let blob = copy.join(layer_digest.trim_start_matches("sha256:"));
    assert_eq!(sha256_file(&blob), layer_digest);
    let tgz = sb.root().join("mtlschart-0.1.0.tgz");
    std::fs::copy(&blob, &tgz).expect("copy the chart layer");
    let shown = sb.helm(&["show", "chart", path_str(&tgz)]);
    shown.assert_ok();
    assert!(shown.stdout.contains("name: mtlschart"), "{shown}");

    // The same reader without a client certificate is turned away: the
    // registry really requires one (so the push above proved it was sent).
    let refused = run(Command::new(&lab.skopeo)
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(skopeo_certs(&sb, false))
        .arg("--authfile")
        .arg(&auth)
        .arg(format!("docker://{reference}")));
    refused.assert_fail();
}

#[test]
fn without_a_client_certificate_one_line_says_what_to_pass() {
    let sb = Sandbox::new();
    let lab = sb.lab;
    let m = lab.mtls();
    let chart = sb.seed_chart("nocert");
    let ns = unique_name("mtls-nocert");
    let mark = LogMark::new(&m.log);
    let started = std::time::Instant::now();
    let out = push_mtls(&sb, &chart, &ns, None);
    let line = one_error_line(&out);
    assert!(
        line.contains("--cert-file") && line.contains("--key-file"),
        "the error must say what to pass:\n{out}"
    );
    assert!(
        !line.contains("--ca-file"),
        "the CA is fine; the advice must not send the user there:\n{out}"
    );
    // A refusal is final: no retries with back-off (5 attempts took seconds).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}:\n{out}",
        started.elapsed()
    );
    assert!(mark.requests_for(&ns).is_empty());
}

#[test]
fn a_key_that_is_not_the_certificates_is_one_clear_line() {
    let sb = Sandbox::new();
    let lab = sb.lab;
    let m = lab.mtls();
    let chart = sb.seed_chart("wrongkey");
    let ns = unique_name("mtls-wrongkey");
    // A valid key, just not the one the lab's client certificate was made for.
    let other = sb.root().join("other.key");
    run(Command::new("openssl").args([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path_str(&other),
    ]))
    .assert_ok();
    let mark = LogMark::new(&m.log);
    let out = push_mtls(&sb, &chart, &ns, Some((&m.client_cert, &other)));
    let line = one_error_line(&out);
    assert!(
        line.contains(path_str(&other)) && line.contains("--key-file"),
        "the error must name the key file:\n{out}"
    );
    assert!(
        line.contains("not the private key of the certificate"),
        "the error must say the key and certificate do not belong together:\n{out}"
    );
    // The key file's contents never reach the message.
    let key_pem = std::fs::read_to_string(&other).expect("read the key");
    let key_body = key_pem.lines().nth(1).expect("a PEM body line");
    assert!(!out.stderr.contains(key_body), "{out}");
    assert!(mark.requests_for(&ns).is_empty());
}

#[test]
fn a_strangers_ed25519_key_in_pkcs8_v1_form_is_one_clear_line_not_a_panic() {
    // OpenSSL writes Ed25519 keys as PKCS#8 v1 (no public half): telling
    // the pair apart takes deriving the public key, which only rustls did,
    // inside ureq, by panicking. The certificate is the key's own, made
    // here; the key given is another one.
    let sb = Sandbox::new();
    let m = sb.lab.mtls();
    let chart = sb.seed_chart("edkey");
    let ns = unique_name("mtls-edkey");
    let (own, other, cert) = (
        sb.root().join("ed-own.key"),
        sb.root().join("ed-other.key"),
        sb.root().join("ed.pem"),
    );
    for key in [&own, &other] {
        run(Command::new("openssl").args([
            "genpkey",
            "-algorithm",
            "ED25519",
            "-out",
            path_str(key),
        ]))
        .assert_ok();
    }
    run(Command::new("openssl").args([
        "req",
        "-new",
        "-x509",
        "-key",
        path_str(&own),
        "-subj",
        "/CN=helm-ecr-test",
        "-days",
        "1",
        "-out",
        path_str(&cert),
    ]))
    .assert_ok();
    // The old form, as the case needs: PKCS#8 version 0.
    let asn1 = run(Command::new("openssl").args(["asn1parse", "-in", path_str(&other)]));
    asn1.assert_ok();
    assert!(
        asn1.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(":00")),
        "expected a PKCS#8 v1 key:\n{asn1}"
    );
    let mark = LogMark::new(&m.log);
    let out = push_mtls(&sb, &chart, &ns, Some((&cert, &other)));
    let line = one_error_line(&out);
    assert!(
        line.contains(path_str(&other)) && line.contains("not the private key of the certificate"),
        "the error must name the key file and the mismatch:\n{out}"
    );
    assert!(!out.stderr.to_lowercase().contains("panic"), "{out}");
    assert!(mark.requests_for(&ns).is_empty());
}
