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
use std::time::{Duration, Instant};

use common::{
    base64_encode, failure_line, path_str, push_chart, run, unique_name, write, LogMark, Output,
    Sandbox,
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

/// One test's seed chart CHART and namespace on the mTLS registry.
struct Case {
    sb: Sandbox,
    chart: PathBuf,
    ns: String,
}

impl Case {
    fn new(chart: &str) -> Case {
        let sb = Sandbox::new();
        let chart_dir = sb.seed_chart(chart);
        Case {
            sb,
            chart: chart_dir,
            ns: unique_name(&format!("mtls-{chart}")),
        }
    }

    /// `helm ecr-push CHART oci://MTLS-REGISTRY/NS --ca-file LAB-CA`, with
    /// `--cert-file CERT --key-file KEY` when `pair` is given.
    fn push(&self, pair: Option<(&Path, &Path)>) -> Output {
        let remote = format!("oci://{}/{}", self.sb.lab.mtls().registry, self.ns);
        let mut flags = vec!["--ca-file", path_str(&self.sb.lab.ca_file)];
        if let Some((cert, key)) = pair {
            flags.extend(["--cert-file", path_str(cert), "--key-file", path_str(key)]);
        }
        push_chart(&self.sb, &self.chart, &remote, &flags)
    }

    /// A push that must end before the registry sees it: exit status 1,
    /// one error line (returned), no panic, nothing on stdout, no request
    /// under NS. Also returns how long the push took.
    #[track_caller]
    fn refused(&self, pair: Option<(&Path, &Path)>) -> (Output, String, Duration) {
        let mark = LogMark::new(&self.sb.lab.mtls().log);
        let started = Instant::now();
        let out = self.push(pair);
        let took = started.elapsed();
        let line = failure_line(&out, "");
        assert!(out.stdout.trim().is_empty(), "{out}");
        assert!(!out.stderr.contains("panicked"), "{out}");
        assert!(mark.requests_for(&self.ns).is_empty(), "{out}");
        (out, line, took)
    }
}

#[test]
fn push_with_a_client_certificate_lands_and_reads_back() {
    let case = Case::new("mtlschart");
    let (sb, ns) = (&case.sb, &case.ns);
    let lab = sb.lab;
    let m = lab.mtls();

    let out = case.push(Some((&m.client_cert, &m.client_key)));
    out.assert_ok();
    let (reference, digest) = pushed(&out);
    assert_eq!(reference, format!("{}/{ns}/mtlschart:0.1.0", m.registry));

    // Read back by another client holding the client certificate.
    let copy = sb.root().join("copy");
    let auth = skopeo_auth(sb);
    run(Command::new(&lab.skopeo)
        .arg("copy")
        .arg("--src-cert-dir")
        .arg(skopeo_certs(sb, true))
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
        .arg(skopeo_certs(sb, false))
        .arg("--authfile")
        .arg(&auth)
        .arg(format!("docker://{reference}")));
    refused.assert_fail();
}

#[test]
fn without_a_client_certificate_one_line_says_what_to_pass() {
    let (out, line, took) = Case::new("nocert").refused(None);
    assert!(
        line.contains("--cert-file") && line.contains("--key-file"),
        "the error must say what to pass:\n{out}"
    );
    assert!(
        !line.contains("--ca-file"),
        "the CA is fine; the advice must not send the user there:\n{out}"
    );
    // A refusal is final: no retries with back-off (5 attempts took seconds).
    assert!(took < Duration::from_secs(5), "took {took:?}:\n{out}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_one_clear_line() {
    let case = Case::new("wrongkey");
    let sb = &case.sb;
    let m = sb.lab.mtls();
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
    let (out, line, _) = case.refused(Some((&m.client_cert, &other)));
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
}

#[test]
fn a_strangers_ed25519_key_in_pkcs8_v1_form_is_one_clear_line_not_a_panic() {
    // OpenSSL writes Ed25519 keys as PKCS#8 v1 (no public half): telling
    // the pair apart takes deriving the public key, which only rustls did,
    // inside ureq, by panicking. The certificate is the key's own, made
    // here; the key given is another one.
    let case = Case::new("edkey");
    let sb = &case.sb;
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
    let (out, line, _) = case.refused(Some((&cert, &other)));
    assert!(
        line.contains(path_str(&other)) && line.contains("not the private key of the certificate"),
        "the error must name the key file and the mismatch:\n{out}"
    );
    assert!(!out.stderr.to_lowercase().contains("panic"), "{out}");
}
