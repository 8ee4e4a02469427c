//! AWS API retries as the SDKs' standard mode, through fronts before the
//! lab's moto that play documented AWS faults: throttling codes and
//! 500/502/503/504 are retried (3 attempts unless AWS_MAX_ATTEMPTS or the
//! profile's max_attempts say otherwise), a dropped connection too; other
//! refusals, DNS "not found" and untrusted certificates are not; after a
//! clock-skew refusal the request is signed again once with the server's
//! clock (its Date header).

mod aws_support;
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helm_ecr::aws::{AuthToken, Error};

use aws_support::{forward, is_token_call, serve, Resp, Stub, World};
use common::front::Front;
use common::{Lab, Sandbox};

/// Answers the first `fail` calls with `status`/`code`, then forwards.
fn faulty(fail: usize, status: u16, code: &'static str) -> Stub {
    let up = Lab::get().ecr_endpoint.clone();
    let n = Arc::new(AtomicUsize::new(0));
    serve(move |req| {
        if n.fetch_add(1, Ordering::SeqCst) < fail {
            let body = serde_json::json!({"__type": code, "message": "injected"});
            return Resp::json(status, body);
        }
        forward(&up, req)
    })
}

fn world(endpoint: &str) -> World {
    let lab = Lab::get();
    let mut w = World::new(lab);
    w.with_lab_keys(lab).set("AWS_ENDPOINT_URL", endpoint);
    w
}

/// One GetAuthorizationToken through `endpoint`, with the lab user's keys.
fn fetch_token(endpoint: &str) -> Result<AuthToken, Error> {
    world(endpoint).session(None).unwrap().fetch_token(None)
}

#[test]
fn throttling_and_server_errors_are_retried_up_to_max_attempts() {
    let lab = Lab::get();
    let f = faulty(2, 400, "ThrottlingException");
    let t = fetch_token(&f.url()).unwrap();
    assert_eq!(t.password.expose(), lab.registry_password);
    assert_eq!(f.seen().len(), 3, "3 attempts by default");

    let f = faulty(2, 400, "ThrottlingException");
    let mut w = world(&f.url());
    w.set("AWS_MAX_ATTEMPTS", "2");
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    aws_support::assert_says(&e, &["throttled", "after 2 attempts"]);
    assert_eq!(f.seen().len(), 2);

    // The profile's max_attempts, when the environment has none.
    let f = faulty(3, 503, "ServiceUnavailable");
    let w = world(&f.url());
    w.write(
        ".aws/config",
        "[default]\nmax_attempts = 4\nretry_mode = adaptive\n",
    );
    w.session(None).unwrap().fetch_token(None).unwrap();
    assert_eq!(f.seen().len(), 4);

    for status in [500, 502, 504] {
        let f = faulty(1, status, "InternalFailure");
        fetch_token(&f.url()).unwrap();
        assert_eq!(f.seen().len(), 2, "{status}");
    }
}

#[test]
fn other_failures_are_not_retried() {
    for (status, code) in [
        (501, "NotImplemented"),
        (400, "AccessDeniedException"),
        (400, "UnrecognizedClientException"),
    ] {
        let f = faulty(1, status, code);
        let e = fetch_token(&f.url()).unwrap_err();
        assert_eq!(f.seen().len(), 1, "{code}: {e}");
        assert!(!e.to_string().contains('\n'));
    }
}

#[test]
fn bad_retry_settings_are_one_line() {
    let mut w = world("http://127.0.0.1:1");
    w.set("AWS_MAX_ATTEMPTS", "0");
    let e = w.session(None).unwrap_err();
    assert!(e.to_string().contains("AWS_MAX_ATTEMPTS \"0\""), "{e}");
    let mut w = world("http://127.0.0.1:1");
    w.write(".aws/config", "[default]\nretry_mode = eager\n");
    let e = w.session(None).unwrap_err();
    aws_support::assert_says(
        &e,
        &[
            "retry_mode of AWS profile \"default\"",
            "standard, adaptive or legacy",
        ],
    );
    w.set("AWS_RETRY_MODE", "legacy");
    assert!(w.session(None).is_ok());
}

/// A server that drops the first connection after reading the request
/// (a reset to the client), then forwards to moto.
#[test]
fn a_dropped_connection_is_retried() {
    let lab = Lab::get();
    let up = lab.ecr_endpoint.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    let front = Front::start(move |mut ex| {
        seen.fetch_add(1, Ordering::SeqCst);
        let _ = ex.read_body();
        if ex.index == 0 {
            return Ok(());
        }
        let resp = forward(&up, &ex.request);
        ex.reply(
            &Resp::new(resp.status, resp.body).header("Content-Type", "application/x-amz-json-1.1"),
        )
    });
    let addr = &front.addr;
    let t = fetch_token(&format!("http://{addr}")).unwrap();
    assert_eq!(t.password.expose(), lab.registry_password);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

/// One attempt for a name that does not exist and for an endpoint whose
/// certificate is not trusted (the `--debug` trace shows each attempt).
#[test]
fn dns_not_found_and_untrusted_certificates_are_not_retried() {
    let lab = Lab::get();
    for (endpoint, want) in [
        (
            "http://helm-ecr-test.invalid".to_string(),
            "helm-ecr-test.invalid",
        ),
        (format!("https://{}", lab.registry_tls), "AWS_CA_BUNDLE"),
    ] {
        let mut sb = Sandbox::bare();
        sb.set_env("AWS_ENDPOINT_URL_ECR", &endpoint)
            .set_env("HELM_DEBUG", "true")
            .set_env("HELM_ECR_NO_TOKEN_CACHE", "1")
            .set_env("HELM_ECR_RETRY_SCALE", "0.01");
        let out = sb.bin(&["ecr-login", "--password-stdout"]);
        assert!(!out.success(), "{out}");
        let attempts = out
            .stderr
            .lines()
            .filter(|l| l.contains("(ECR GetAuthorizationToken) -> failed"))
            .count();
        assert_eq!(attempts, 1, "{out}");
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("Error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{out}");
        assert!(errors[0].contains(want), "{out}");
    }
}

fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let rfc = helm_ecr::clock::rfc3339(secs as i64); // 2026-12-01T14:00:00Z
    let (date, time) = rfc.trim_end_matches('Z').split_once('T').unwrap();
    let mut ymd = date.split('-');
    let (y, m, d) = (
        ymd.next().unwrap(),
        ymd.next().unwrap().parse::<usize>().unwrap(),
        ymd.next().unwrap(),
    );
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m - 1];
    format!("{weekday}, {d} {month} {y} {time} GMT")
}

/// `X-Amz-Date` (`20261201T140000Z`) as a time.
fn amz_date(v: &str) -> SystemTime {
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &v[0..4],
        &v[4..6],
        &v[6..8],
        &v[9..11],
        &v[11..13],
        &v[13..15]
    );
    helm_ecr::clock::parse_rfc3339(&iso).unwrap()
}

/// A server whose clock is an hour ahead: it refuses a request signed more
/// than 5 minutes off its own time ("Signature expired"), with its Date.
fn skewed_server(always_refuse: bool) -> Stub {
    serve(move |req| {
        let server_now = SystemTime::now() + Duration::from_secs(3600);
        let signed = req.header("x-amz-date").map(amz_date).unwrap_or(UNIX_EPOCH);
        let off = server_now
            .duration_since(signed)
            .unwrap_or_else(|e| e.duration());
        if always_refuse || off > Duration::from_secs(300) {
            let body = serde_json::json!({
                "__type": "InvalidSignatureException",
                "message": "Signature expired: is now earlier than (server time - 5 min.)",
            });
            return Resp::json(403, body).header("Date", &http_date(server_now));
        }
        let token = common::base64_encode(b"AWS:skew-ok");
        let body = serde_json::json!({"authorizationData": [{
            "authorizationToken": token,
            "expiresAt": 4_000_000_000u64,
            "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        }]});
        Resp::json(200, body)
    })
}

#[test]
fn clock_skew_is_corrected_once_from_the_servers_date() {
    let s = skewed_server(false);
    let t = fetch_token(&s.url()).unwrap();
    assert_eq!(t.password.expose(), "skew-ok");
    let seen = s.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(is_token_call));
    let first = amz_date(seen[0].header("x-amz-date").unwrap());
    let second = amz_date(seen[1].header("x-amz-date").unwrap());
    let moved = second.duration_since(first).unwrap();
    assert!(
        moved > Duration::from_secs(3500) && moved < Duration::from_secs(3700),
        "{moved:?}"
    );

    // Still refused after the correction: one line about the clock, and
    // no third try.
    let s = skewed_server(true);
    let e = fetch_token(&s.url()).unwrap_err();
    assert!(e.to_string().contains("clock"), "{e}");
    assert_eq!(s.seen().len(), 2);
}
