//! The on-disk token cache, through a front before moto that counts
//! GetAuthorizationToken and moves moto's 2015 expiry 12 hours ahead: a
//! second session (a second push) within the token's life makes no call.

mod aws_support;
mod common;

use std::sync::atomic::Ordering;

use aws_support::{front, mode, Front, World};
use common::{Lab, TempDir};

fn cached_world(lab: &Lab, endpoint: String, cache: &TempDir) -> World {
    let mut w = World::new(lab);
    w.with_lab_keys(lab)
        .set("AWS_ENDPOINT_URL", endpoint)
        .unset("HELM_ECR_NO_TOKEN_CACHE")
        .set(
            "HELM_ECR_TOKEN_CACHE_DIR",
            cache.path().join("tokens").to_str().unwrap(),
        );
    w
}

/// A counting front before moto, a fresh cache directory, and a world
/// that uses both.
fn through_front(lab: &Lab) -> (Front, TempDir, World) {
    let f = front(&lab.ecr_endpoint);
    let cache = TempDir::new("token-cache");
    let w = cached_world(lab, f.stub.url(), &cache);
    (f, cache, w)
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn second_session_uses_the_cache_without_any_call() {
    let lab = Lab::get();
    let (f, cache, w) = through_front(lab);

    let first = w.session(None).unwrap();
    assert!(first.cached_token(None).is_none());
    let t = first.fetch_token(None).unwrap();
    assert_eq!(f.token_calls.load(Ordering::SeqCst), 1);

    let requests_before = f.stub.seen().len();
    let second = w.session(None).unwrap();
    let hit = second.cached_token(None).expect("cache hit");
    assert_eq!(hit.password, t.password);
    assert_eq!(hit.proxy_endpoint, t.proxy_endpoint);
    // Looked up by the account id the default token named: a hit as well.
    assert!(second.cached_token(Some(&lab.account)).is_some());
    assert_eq!(f.stub.seen().len(), requests_before, "no request at all");

    let dir = cache.path().join("tokens");
    assert_eq!(mode(&dir), 0o700);
    for file in files(&dir) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&lab.secret_access_key),
            "no AWS secret in the cache"
        );
    }

    // Another identity, region or registry misses.
    let mut other = cached_world(lab, f.stub.url(), &cache);
    other.set("AWS_REGION", "eu-west-1");
    assert!(other.session(None).unwrap().cached_token(None).is_none());
    other
        .set("AWS_REGION", &lab.region)
        .set("AWS_ACCESS_KEY_ID", "AKIAOTHEROTHEROTHER1");
    assert!(other.session(None).unwrap().cached_token(None).is_none());
    assert!(second.cached_token(Some("999999999999")).is_none());

    // Turned off: no hit even though the file is there.
    let mut off = cached_world(lab, f.stub.url(), &cache);
    off.set("HELM_ECR_NO_TOKEN_CACHE", "1");
    assert!(off.session(None).unwrap().cached_token(None).is_none());
}

#[test]
fn corrupt_cache_files_are_ignored_and_rewritten() {
    let lab = Lab::get();
    let (f, cache, w) = through_front(lab);
    w.session(None).unwrap().fetch_token(None).unwrap();
    let dir = cache.path().join("tokens");
    for file in files(&dir) {
        std::fs::write(&file, "{\"format\":1,\"key\":\"someone else\"}").unwrap();
    }
    let s = w.session(None).unwrap();
    assert!(s.cached_token(None).is_none());
    s.fetch_token(None).unwrap();
    assert!(w.session(None).unwrap().cached_token(None).is_some());
    assert_eq!(f.token_calls.load(Ordering::SeqCst), 2);
}

#[test]
fn motos_expired_token_is_never_cached() {
    let lab = Lab::get();
    let cache = TempDir::new("token-cache");
    let w = cached_world(lab, lab.ecr_endpoint.clone(), &cache);
    let s = w.session(None).unwrap();
    s.fetch_token(None).unwrap();
    assert!(s.cached_token(None).is_none());
    assert!(files(&cache.path().join("tokens")).is_empty());
}

/// Two roles behind one container-agent URL (or one IMDS endpoint) are two
/// identities: the second never gets the first one's token, and each finds
/// its own again. The agent here answers with the lab user's keys (so moto
/// accepts them) under the role it is told to play.
#[test]
fn two_roles_behind_one_credentials_url_never_share_a_token() {
    use std::sync::{Arc, Mutex};
    let lab = Lab::get();
    let (f, _cache, mut w) = through_front(lab);
    let role = Arc::new(Mutex::new("arn:aws:iam::123456789012:role/a".to_string()));
    let body = aws_support::creds_json(lab, "Token", None);
    let playing = role.clone();
    let agent = aws_support::serve(move |_| {
        let mut b = body.clone();
        b["RoleArn"] = playing.lock().unwrap().clone().into();
        aws_support::Resp::json(200, b)
    });
    w.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .set(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", agent.url()),
        );
    let a = w.session(None).unwrap();
    assert!(a.cached_token(None).is_none());
    a.fetch_token(None).unwrap();
    assert!(w.session(None).unwrap().cached_token(None).is_some());

    *role.lock().unwrap() = "arn:aws:iam::123456789012:role/b".into();
    let b = w.session(None).unwrap();
    assert!(b.cached_token(None).is_none(), "role b got role a's token");
    b.fetch_token(None).unwrap();
    assert_eq!(f.token_calls.load(Ordering::SeqCst), 2);

    *role.lock().unwrap() = "arn:aws:iam::123456789012:role/a".into();
    assert!(w.session(None).unwrap().cached_token(None).is_some());
    assert_eq!(f.token_calls.load(Ordering::SeqCst), 2);
    // A cache hit still makes no AWS call: only the agent was asked.
    assert_eq!(f.stub.seen().len(), 2);

    // The same for instance roles behind one IMDS endpoint.
    let instance_role = Arc::new(Mutex::new("role-a".to_string()));
    let body = aws_support::creds_json(lab, "Token", None);
    let current = instance_role.clone();
    let imds = aws_support::serve(move |req| {
        let name = current.lock().unwrap().clone();
        match (req.method.as_str(), req.path()) {
            ("PUT", "/latest/api/token") => aws_support::Resp::new(200, "t"),
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                aws_support::Resp::new(200, name)
            }
            ("GET", p) if p == format!("/latest/meta-data/iam/security-credentials/{name}") => {
                aws_support::Resp::json(200, body.clone())
            }
            _ => aws_support::Resp::new(404, "no"),
        }
    });
    let cache2 = TempDir::new("token-cache");
    let mut w = cached_world(lab, f.stub.url(), &cache2);
    w.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .unset("AWS_EC2_METADATA_DISABLED")
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
    w.session(None).unwrap().fetch_token(None).unwrap();
    assert!(w.session(None).unwrap().cached_token(None).is_some());
    *instance_role.lock().unwrap() = "role-b".into();
    assert!(
        w.session(None).unwrap().cached_token(None).is_none(),
        "instance role b got role a's token"
    );
}
