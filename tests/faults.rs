//! Faults between the client and the real lab registry, injected by an
//! in-process front: resets mid-upload, 503 storms, 429 with Retry-After,
//! stalls. A push either succeeds within the retry budget or fails with a
//! clear error and no manifest pointing at a missing blob.

mod common;
mod oci_support;

use helm_ecr::http::{Http, HttpOptions};
use helm_ecr::oci::{Artifact, Client, Error, ErrorKind, PushStatus, Reference};
use oci_support::*;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Back-off and timeouts at 5%: stall timeout 1.5 s, back-off from 12 ms.
fn fast_client() -> Client {
    std::env::set_var("HELM_ECR_RETRY_SCALE", "0.05");
    let http = Http::new(HttpOptions {
        plain_http: true,
        ..Default::default()
    })
    .unwrap();
    Client::new(http, StaticKeychain::lab())
}

fn base() -> String {
    format!("http://{}", lab("LAB_REGISTRY"))
}

fn is_blob_put(s: &Seen) -> bool {
    s.method == "PUT" && s.path.contains("/blobs/uploads/")
}

/// A front before the lab registry: a request `when` picks gets the action
/// `then` makes, any other goes through.
fn front_where(
    when: impl Fn(&Seen) -> bool + Send + Sync + 'static,
    then: impl Fn() -> Action + Send + Sync + 'static,
) -> Front {
    Front::start(&lab("LAB_REGISTRY"), move |s, _| {
        if when(s) {
            then()
        } else {
            forward()
        }
    })
}

/// `fast_client` pushes `a` as tag 1.0.0 of a new repository NAME through
/// the registry at `addr`: the outcome, how long it took, and the reference
/// at the lab registry behind a front (to read the push back).
fn push_via(
    addr: &str,
    name: &str,
    a: &Artifact,
) -> (Result<PushStatus, Error>, Duration, Reference) {
    let r = reference(addr, &unique(name), "1.0.0");
    let started = Instant::now();
    let outcome = fast_client().push(&r, a, false);
    let took = started.elapsed();
    (
        outcome,
        took,
        reference(&lab("LAB_REGISTRY"), &r.repository, &r.tag),
    )
}

fn is_manifest_put(s: &Seen) -> bool {
    s.method == "PUT" && s.path.contains("/manifests/")
}

#[test]
fn reset_mid_upload_restarts_the_session() {
    let resets = Arc::new(AtomicUsize::new(0));
    let r2 = resets.clone();
    let front = front_where(
        move |s| is_blob_put(s) && s.body_len > 100_000 && r2.fetch_add(1, Ordering::SeqCst) < 2,
        || Action::Reset {
            after_body_bytes: 50_000,
        },
    );
    let (layer, _tmp) = file_blob(LAYER_TYPE, &noise(400_000, 40));
    let a = artifact("reset", "1.0.0", vec![layer]);
    let (pushed, _, at_lab) = push_via(&front.addr, "reset", &a);
    assert_eq!(pushed.unwrap(), PushStatus::Pushed);
    assert_eq!(resets.load(Ordering::SeqCst), 3, "two resets then success");
    // Each retry opened a new upload session.
    let seen = front.seen();
    let posts = seen.iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 4, "config + 3 sessions for the layer: {seen:?}");
    assert_in_registry(&base(), &at_lab, &a);
}

#[test]
fn permanent_reset_fails_clearly_without_a_manifest() {
    let front = front_where(
        |s| is_blob_put(s) && s.body_len > 100_000,
        || Action::Reset {
            after_body_bytes: 10_000,
        },
    );
    let a = artifact(
        "dead",
        "1.0.0",
        vec![bytes_blob(LAYER_TYPE, noise(300_000, 41))],
    );
    let (pushed, _, at_lab) = push_via(&front.addr, "dead", &a);
    let e = pushed.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("gave up after 5 attempts"), "{msg}");
    assert!(msg.contains("the manifest was not pushed"), "{msg}");
    assert!(!msg.contains('\n'));
    assert!(!front.seen().iter().any(is_manifest_put));
    assert_manifest_absent(&base(), &at_lab);
}

#[test]
fn storm_of_503_is_ridden_out() {
    let counts: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    // The first two requests of each method fail: at worst one blob meets
    // four failures, within the five attempts.
    let front = front_where(
        move |s| {
            let mut c = counts.lock().unwrap();
            let n = c.entry(s.method.clone()).or_default();
            *n += 1;
            *n <= 2
        },
        || {
            respond(
                503,
                &[],
                r#"{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}"#,
            )
        },
    );
    let a = small_artifact("storm", "1.0.0", 42);
    let (pushed, _, at_lab) = push_via(&front.addr, "storm", &a);
    assert_eq!(pushed.unwrap(), PushStatus::Pushed);
    assert_in_registry(&base(), &at_lab, &a);
}

#[test]
fn endless_503_gives_up_within_budget_and_pushes_nothing() {
    let front = front_where(|s| s.method == "POST", || respond(503, &[], ""));
    let (pushed, took, _) = push_via(&front.addr, "down", &small_artifact("down", "1.0.0", 43));
    let e = pushed.unwrap_err();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(e.to_string().contains("503"), "{e}");
    let posts = front.seen().iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 10, "5 attempts for each of 2 blobs");
    assert!(!front.seen().iter().any(is_manifest_put));
}

#[test]
fn throttling_honours_retry_after() {
    let throttled = Arc::new(AtomicUsize::new(0));
    let t2 = throttled.clone();
    let front = front_where(
        move |s| is_manifest_put(s) && t2.fetch_add(1, Ordering::SeqCst) == 0,
        || {
            // 20 s at scale 0.05 = 1 s.
            respond(
                429,
                &[("Retry-After", "20")],
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
            )
        },
    );
    let a = small_artifact("throttle", "1.0.0", 44);
    let (pushed, took, _) = push_via(&front.addr, "throttle", &a);
    assert_eq!(pushed.unwrap(), PushStatus::Pushed);
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    assert_eq!(throttled.load(Ordering::SeqCst), 2);
}

#[test]
fn retry_after_beyond_the_bound_is_not_waited_for() {
    let front = front_where(|_| true, || respond(429, &[("Retry-After", "3600")], ""));
    let (pushed, took, _) = push_via(&front.addr, "later", &small_artifact("later", "1.0.0", 45));
    let e = pushed.unwrap_err();
    assert!(took < Duration::from_secs(2));
    assert_eq!(e.kind(), ErrorKind::Throttled);
    assert!(e.to_string().contains("try again later"), "{e}");
}

#[test]
fn stalled_answer_times_out_and_is_retried() {
    let stalls = Arc::new(AtomicUsize::new(0));
    let s2 = stalls.clone();
    let front = front_where(
        move |s| {
            s.method == "HEAD"
                && s.path.contains("/manifests/")
                && s2.fetch_add(1, Ordering::SeqCst) == 0
        },
        || Action::Stall(Duration::from_secs(5)),
    );
    let a = small_artifact("stall", "1.0.0", 46);
    let (pushed, took, _) = push_via(&front.addr, "stall", &a);
    assert_eq!(pushed.unwrap(), PushStatus::Pushed);
    // The 1.5 s stall timeout fired; the 5 s stall was not waited out.
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(stalls.load(Ordering::SeqCst), 2);
}

#[test]
fn refused_connection_is_retried_then_reported() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = small_artifact("n", "1.0.0", 47);
    let (pushed, _, _) = push_via(&format!("127.0.0.1:{port}"), "nobody", &a);
    let e = pushed.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

/// A registry that answers a blob upload a byte (or a header line) at a
/// time, forever. Each read sees data, so only a deadline ends the push:
/// through helm, one line that says what to check, no manifest anywhere.
/// Deadline 120 s at HELM_ECR_TIMEOUT_SCALE 0.05 = 6 s; the stall timeout
/// stays at 30 s, far above the trickle's gaps.
#[test]
fn a_registry_that_trickles_its_answer_fails_the_push_by_the_deadline() {
    for by_line in [false, true] {
        let front = front_where(is_blob_put, move || Action::Trickle {
            every: Duration::from_millis(if by_line { 250 } else { 100 }),
            by_line,
        });
        let mut sb = common::Sandbox::new();
        sb.set_env("HELM_ECR_TIMEOUT_SCALE", "0.05");
        sb.seed_chart("trickle");
        let ns = unique("trickle");
        let out = common::push_chart(
            &sb,
            Path::new("./trickle"),
            &format!("oci://{}/{ns}", front.addr),
            &["--plain-http"],
        );
        let mode = if by_line {
            "line by line"
        } else {
            "byte by byte"
        };
        let error = common::failure_line(&out, mode);
        assert!(out.stdout.is_empty(), "{mode}: {out}");
        assert!(
            error.contains("deadline")
                && error.contains("check the network")
                && error.contains("the manifest was not pushed"),
            "{mode}: says what happened and what to check:\n{out}"
        );
        let seen = front.seen();
        // Past a deadline is final: each blob tried once, no manifest sent.
        assert_eq!(
            seen.iter().filter(|s| is_blob_put(s)).count(),
            2,
            "{mode}: {seen:?}"
        );
        assert!(!seen.iter().any(is_manifest_put), "{mode}: {seen:?}");
        assert_manifest_absent(
            &base(),
            &reference(&lab("LAB_REGISTRY"), &format!("{ns}/trickle"), "0.1.0"),
        );
    }
}
