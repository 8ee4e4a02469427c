//! Credentials go only to the registry's origin (scheme, host, port): a
//! hostile registry front that sends uploads to another listener, directly
//! (an upload Location naming it) or through a redirect chain that ends
//! there with a relative Location, never sees that listener receive our
//! Authorization. The binary is run as a user would (an ECR token from the
//! lab's moto); the fronts sit before the lab registry, and the other
//! listener writes there with its own credentials, so the push still lands.

mod common;
mod oci_support;

use common::{lab_basic, path_str, Lab, Sandbox};
use oci_support::*;
use std::sync::{Arc, OnceLock};

/// What "storage", another origin, does with a request: writes it to the
/// lab registry with its own credentials.
fn forward_as_storage() -> Action {
    Action::Forward {
        authorization: Some(lab_basic()),
    }
}

/// "Storage" on a listener of its own, recording what it was sent.
fn storage() -> Front {
    Front::start(&Lab::get().registry, |_, _| forward_as_storage())
}

/// An empty answer with `status` and a Location header.
fn located(status: u16, location: &str) -> Action {
    respond(status, &[("Location", location)], "")
}

/// Pushes the seed chart through `front` to a namespace of its own (named
/// after `prefix`), as a user would, and checks that it landed: the
/// manifest at the tag is the one the binary reported.
fn push_lands_through(front: &str, prefix: &str) {
    let sb = Sandbox::bare();
    let ns = common::unique_name(prefix);
    let chart = sb.seed_chart("hostile");
    let remote = format!("oci://{front}/{ns}");
    let out = sb.bin(&["ecr-push", path_str(&chart), &remote, "--plain-http"]);
    out.assert_ok();
    let digest = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no Digest line:\n{out}"));
    let (status, manifest) = registry_get(
        &format!("http://{}", Lab::get().registry),
        &format!("/v2/{ns}/hostile/manifests/0.1.0"),
        MANIFEST_TYPE,
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(sha256(&manifest), digest, "{out}");
}

fn authorized(s: &Seen) -> bool {
    s.header("authorization").is_some()
}

fn assert_no_authorization(at: &[Seen], what: &str) {
    assert!(
        !at.iter().any(authorized),
        "Authorization reached {what}: {at:?}"
    );
}

#[test]
fn an_upload_location_on_another_host_gets_no_credentials() {
    let lab = Lab::get();
    let storage = storage();
    let storage_addr = storage.addr.clone();
    let upstream = lab.registry.clone();
    // The front starts each upload at the registry itself, then names the
    // storage listener as the upload's Location.
    let front = Front::start(&lab.registry, move |s, _| {
        if s.method != "POST" || !s.path.contains("/blobs/uploads/") {
            return forward();
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .post(format!("http://{upstream}{}", s.path))
            .header("Authorization", lab_basic())
            .send_empty()
            .expect("POST to the lab registry");
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        // distribution's Location is absolute: keep its path and query.
        let path = location
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or(location);
        located(202, &format!("http://{storage_addr}{path}"))
    });
    push_lands_through(&front.addr, "hostile-location");
    let at_storage = storage.seen();
    assert!(
        at_storage.iter().filter(|s| s.method == "PUT").count() >= 2,
        "both blobs went to storage: {at_storage:?}"
    );
    assert_no_authorization(&at_storage, "the upload Location's host");
    // The registry's own origin did get credentials.
    let at_front = front.seen();
    assert!(at_front.iter().any(authorized), "{at_front:?}");
}

#[test]
fn a_redirect_chain_to_another_host_answering_relative_locations_gets_no_credentials() {
    let lab = Lab::get();
    // The other host first answers with a relative Location (resolved
    // against itself), then writes to the registry with its own credentials.
    let hop = Front::start(&lab.registry, |s, _| {
        if s.path.contains("hop=2") {
            forward_as_storage()
        } else {
            located(307, &format!("{}&hop=2", s.path))
        }
    });
    let hop_addr = hop.addr.clone();
    // The registry front sends each blob PUT to a second path on itself,
    // which redirects it to the other host.
    let front_addr: Arc<OnceLock<String>> = Arc::default();
    let fa = front_addr.clone();
    let front = Front::start(&lab.registry, move |s, _| {
        if s.method != "PUT" || !s.path.contains("/blobs/uploads/") {
            return forward();
        }
        if s.path.starts_with("/again") {
            let path = &s.path["/again".len()..];
            return located(307, &format!("http://{hop_addr}{path}"));
        }
        let me = fa.get().expect("front address");
        located(307, &format!("http://{me}/again{}", s.path))
    });
    front_addr.set(front.addr.clone()).expect("set once");
    push_lands_through(&front.addr, "hostile-redirect");
    let at_hop = hop.seen();
    assert!(
        at_hop.iter().filter(|s| s.path.contains("hop=2")).count() >= 2
            && at_hop.iter().filter(|s| !s.path.contains("hop=2")).count() >= 2,
        "each blob PUT reached the other host and followed its relative Location: {at_hop:?}"
    );
    assert_no_authorization(&at_hop, "the host a redirect chain led to");
    // The registry's own second path is its origin: credentials there are fine.
    let again: Vec<Seen> = front
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/again"))
        .collect();
    assert!(
        again.len() >= 2 && again.iter().all(authorized),
        "{again:?}"
    );
}
