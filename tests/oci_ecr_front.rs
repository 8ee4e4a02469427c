//! ECR's answers the lab registry cannot give, from a front before it:
//! NAME_UNKNOWN for a missing repository, TAG_INVALID for an immutable tag,
//! blob uploads redirected to another host (which must not see our
//! Authorization), and a Bearer token service (non-ECR registries).

mod common;
mod oci_support;

use helm_ecr::oci::{ErrorKind, PushStatus};
use oci_support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn base() -> String {
    format!("http://{}", lab("LAB_REGISTRY"))
}

#[test]
fn missing_repository_is_name_unknown() {
    let front = Front::start(&lab("LAB_REGISTRY"), |s, _| {
        // ECR: reads of a missing repository are bare 404s; writes name it.
        match s.method.as_str() {
            "HEAD" => respond(404, &[], ""),
            _ => respond(
                404,
                &[("Content-Type", "application/json; charset=utf-8")],
                r#"{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name 'team/missing' does not exist in the registry with id '123456789012'"}]}"#,
            ),
        }
    });
    let r = reference(&front.addr, "team/missing", "1.0.0");
    let e = plain_client(StaticKeychain::lab())
        .push(&r, &small_artifact("missing", "1.0.0", 50), false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NameUnknown, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("NAME_UNKNOWN") && msg.contains("team/missing"),
        "{msg}"
    );
    assert!(msg.contains("the manifest was not pushed"), "{msg}");
    // Not retried: a missing repository does not appear by waiting.
    let posts = front.seen().iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 2, "one POST per blob");
}

#[test]
fn immutable_tag_is_tag_immutable() {
    let front = Front::start(&lab("LAB_REGISTRY"), |s, _| {
        if s.method == "PUT" && s.path.contains("/manifests/") {
            respond(
                400,
                &[],
                r#"{"errors":[{"code":"TAG_INVALID","message":"The image tag '1.0.0' already exists in the 'imm' repository and cannot be overwritten because the tag is immutable."}]}"#,
            )
        } else {
            forward()
        }
    });
    let r = reference(&front.addr, &unique("imm"), "1.0.0");
    let e = plain_client(StaticKeychain::lab())
        .push(&r, &small_artifact("imm", "1.0.0", 51), false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TagImmutable, "{e}");
    assert!(e.to_string().contains("immutable"), "{e}");
    let manifest_puts = front
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/manifests/"))
        .count();
    assert_eq!(manifest_puts, 1, "not retried");
}

#[test]
fn redirect_to_another_host_drops_authorization() {
    // "Storage": another origin. It must not see our Authorization; it
    // writes to the registry with its own (like a pre-signed URL would).
    let registry = lab("LAB_REGISTRY");
    let own = common::lab_basic();
    let storage = Front::start(&registry, move |_, _| Action::Forward {
        authorization: Some(own.clone()),
    });
    let storage_addr = storage.addr.clone();
    let front = Front::start(&registry, move |s, _| {
        if s.method == "PUT" && s.path.contains("/blobs/uploads/") {
            respond(
                307,
                &[("Location", &format!("http://{storage_addr}{}", s.path))],
                "",
            )
        } else {
            forward()
        }
    });
    let (layer, _tmp) = file_blob(LAYER_TYPE, &noise(200_000, 52));
    let a = artifact("redir", "1.0.0", vec![layer]);
    let r = reference(&front.addr, &unique("redir"), "1.0.0");
    assert_eq!(
        plain_client(StaticKeychain::lab())
            .push(&r, &a, false)
            .unwrap(),
        PushStatus::Pushed
    );
    let at_storage = storage.seen();
    assert_eq!(
        at_storage.len(),
        2,
        "both blob PUTs were redirected: {at_storage:?}"
    );
    for s in &at_storage {
        assert!(
            s.header("authorization").is_none(),
            "Authorization leaked to storage: {s:?}"
        );
        assert_eq!(s.method, "PUT", "307 keeps the method");
        assert!(s.body_len > 0, "307 keeps the body");
    }
    // The registry's own host did get credentials.
    assert!(front
        .seen()
        .iter()
        .all(|s| s.header("authorization").is_some()));
    assert_in_registry(&base(), &reference(&registry, &r.repository, &r.tag), &a);
}

#[test]
fn bearer_token_flow() {
    let registry = lab("LAB_REGISTRY");
    let basic = common::lab_basic();
    let token_calls = Arc::new(AtomicUsize::new(0));
    let tc = token_calls.clone();
    let front_addr = Arc::new(std::sync::OnceLock::<String>::new());
    let fa = front_addr.clone();
    let front = Front::start(&registry, move |s, _| {
        let realm = format!("http://{}/token", fa.get().unwrap());
        if s.path.starts_with("/token") {
            tc.fetch_add(1, Ordering::SeqCst);
            let scoped = s.path.contains("scope=repository:") && s.path.contains(":pull,push");
            return if s.header("authorization") == Some(basic.as_str()) && scoped {
                respond(200, &[], r#"{"token":"tok-123","expires_in":300}"#)
            } else {
                respond(401, &[], "")
            };
        }
        if s.header("authorization") == Some("Bearer tok-123") {
            Action::Forward {
                authorization: Some(basic.clone()),
            }
        } else {
            respond(
                401,
                &[(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="{realm}",service="lab""#),
                )],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
        }
    });
    front_addr.set(front.addr.clone()).unwrap();
    let keychain = StaticKeychain::lab();
    let client = plain_client(keychain.clone());
    let r = reference(&front.addr, &unique("bearer"), "1.0.0");
    let a = small_artifact("bearer", "1.0.0", 53);
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
    assert_eq!(token_calls.load(Ordering::SeqCst), 1, "one token per scope");
    assert_eq!(keychain.refreshes.load(Ordering::SeqCst), 0);
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Unchanged);
    assert_eq!(token_calls.load(Ordering::SeqCst), 1, "token reused");
    assert_in_registry(&base(), &reference(&registry, &r.repository, &r.tag), &a);
}
