//! `helm ecr-push` and TLS through helm: a CA file, --insecure, untrusted
//! certificates, and --plain-http against a TLS port.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod aws_support;
mod common;
mod push_support;

use common::{ecr_push, failure_line, path_str, push_chart, LogMark, Sandbox};
use push_support::*;
use std::sync::atomic::Ordering;

// ------------------------------------------------------------------ TLS through helm

#[test]
fn tls_registry_with_ca_file_insecure_and_untrusted() {
    let sb = Sandbox::new();
    let lab = sb.lab;
    let chart = sb.seed_chart("tlschart");
    let ns = common::unique_name("cli-tls");
    let remote = format!("oci://{}/{ns}", lab.registry_tls);
    let reference = format!("{}/{ns}/tlschart:0.1.0", lab.registry_tls);

    // Untrusted: one line that says what to do, nothing pushed.
    let mark = LogMark::new(&lab.registry_tls_log);
    let out = ecr_push(&sb, &[path_str(&chart), &remote]);
    let error = failure_line(&out, "");
    assert!(
        error.contains("--ca-file") && error.contains("--insecure"),
        "{out}"
    );
    assert!(
        mark.requests_for(&format!("{ns}/tlschart")).is_empty(),
        "no request completed over an unverified connection"
    );

    let out = push_chart(&sb, &chart, &remote, &["--ca-file", path_str(&lab.ca_file)]);
    out.assert_ok();
    let r = results(&out);
    assert_eq!(
        (r[0].verb.as_str(), r[0].reference.as_str()),
        ("Pushed", reference.as_str())
    );
    let raw = sb.skopeo_raw(&reference, false);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.assert_ok().stdout.as_bytes())),
        r[0].digest
    );

    // --insecure (helm 3.10 refuses --insecure-skip-tls-verify on plugins).
    let out = ecr_push(&sb, &[path_str(&chart), &remote, "--insecure"]);
    out.assert_ok();
    assert_eq!(results(&out)[0].verb, "Unchanged", "{out}");
}

// ------------------------------------------------------------------ --plain-http against TLS

/// A TLS port that resets plain-HTTP requests (as TLS terminators do, where
/// the lab's Go registry answers 400): a connection whose first byte opens
/// a TLS handshake is relayed to the lab's TLS registry, any other is read
/// a little and dropped with bytes unread, which makes the close a reset.
/// Returns the address and the count of plain connections.
fn tls_port_that_resets_plain_http(
    ip: &str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let plain = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (p, upstream) = (plain.clone(), common::Lab::get().registry_tls.clone());
    let addr = common::front::tcp_listen(ip, move |mut conn| {
        let mut first = [0u8; 1];
        if conn.read_exact(&mut first).is_err() {
            return;
        }
        if first[0] != 0x16 {
            p.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
            return;
        };
        if up.write_all(&first).is_err() {
            return;
        }
        let (Ok(c2), Ok(u2)) = (conn.try_clone(), up.try_clone()) else {
            return;
        };
        std::thread::spawn(move || common::front::pipe(u2, c2));
        common::front::pipe(conn, up);
    });
    (addr, plain)
}

#[test]
fn plain_http_to_a_tls_port_that_resets_says_drop_plain_http_without_retrying() {
    let (addr, plain) = tls_port_that_resets_plain_http("127.0.0.1");
    for cli in common::HelmCli::all() {
        let sb = Sandbox::with_helm(cli);
        let chart = sb.seed_chart("tlsport");
        let ns = common::unique_name("cli-tlsport");
        let remote = format!("oci://{addr}/{ns}");
        let before = plain.load(Ordering::SeqCst);
        let out = push_chart(&sb, &chart, &remote, &["--plain-http"]);
        let error = failure_line(&out, cli.name());
        assert!(
            error.contains("speaks HTTPS") && error.contains("drop --plain-http"),
            "{}: says what to do:\n{out}",
            cli.name()
        );
        assert_eq!(
            plain.load(Ordering::SeqCst) - before,
            1,
            "{}: a TLS port is not asked again in plain HTTP",
            cli.name()
        );

        // Without the flag the same port takes the push (its TLS is the lab
        // registry's).
        push_chart(
            &sb,
            &chart,
            &remote,
            &["--ca-file", path_str(&sb.lab.ca_file)],
        )
        .assert_ok();
    }
}

#[test]
fn a_certificate_for_another_name_with_ca_file_given_does_not_advise_ca_file() {
    // 127.0.0.2 is loopback too, and not in the lab certificate (which
    // names 127.0.0.1 and localhost): the CA is right, the name is not.
    let lab = common::Lab::get();
    let (addr, _) = tls_port_that_resets_plain_http("127.0.0.2");
    for cli in common::HelmCli::all() {
        let sb = Sandbox::with_helm(cli);
        let chart = sb.seed_chart("othername");
        let ns = common::unique_name("cli-othername");
        let mark = LogMark::new(&lab.registry_tls_log);
        let remote = format!("oci://{addr}/{ns}");
        let out = push_chart(&sb, &chart, &remote, &["--ca-file", path_str(&lab.ca_file)]);
        let error = failure_line(&out, cli.name());
        assert!(
            error.contains("not issued for 127.0.0.2")
                && error.contains("--insecure")
                && !error.contains("--ca-file"),
            "{}: names the mismatch, not the CA:\n{out}",
            cli.name()
        );
        assert!(mark.requests_for(&ns).is_empty(), "{}", cli.name());
    }
}
