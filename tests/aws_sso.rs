//! IAM Identity Center profiles against a loopback stand-in for the SSO
//! portal and OIDC endpoints (neither exists in the lab); the role
//! credentials the portal hands out are the lab user's, so moto still checks
//! the final GetAuthorizationToken.

mod aws_support;
mod common;

use std::time::{Duration, SystemTime};

use aws_support::{mode, serve, Resp, Stub, World};
use common::Lab;
use helm_ecr::clock::rfc3339_system as format_rfc3339;
use helm_ecr::codec::{hex, sha1};

fn portal(lab: &Lab) -> Stub {
    let (id, secret) = (lab.access_key_id.clone(), lab.secret_access_key.clone());
    serve(move |req| match (req.method.as_str(), req.path()) {
        ("GET", "/federation/credentials") => {
            let ok_query = req.target.contains("account_id=123456789012")
                && req.target.contains("role_name=Dev");
            match req.header("x-amz-sso_bearer_token") {
                Some("valid-token") | Some("fresh-token") if ok_query => Resp::json(
                    200,
                    serde_json::json!({"roleCredentials": {
                        "accessKeyId": id, "secretAccessKey": secret,
                        "sessionToken": null, "expiration": 32503680000000u64}}),
                ),
                _ => Resp::json(
                    401,
                    serde_json::json!({"__type": "UnauthorizedException", "message": "Session token not found or invalid"}),
                ),
            }
        }
        ("POST", "/token") => {
            let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            if v["grantType"] == "refresh_token"
                && v["refreshToken"] == "rt-1"
                && v["clientSecret"] == "cs"
            {
                Resp::json(
                    200,
                    serde_json::json!({"accessToken": "fresh-token", "expiresIn": 3600, "refreshToken": "rt-2", "tokenType": "Bearer"}),
                )
            } else {
                Resp::json(400, serde_json::json!({"error": "invalid_grant"}))
            }
        }
        _ => Resp::new(404, ""),
    })
}

/// The portal, and a world whose SSO and OIDC endpoints are it: profile
/// `dev` (session `corp`) and the legacy profile `legacy`.
fn world(lab: &Lab) -> (Stub, World) {
    let stub = portal(lab);
    let mut w = World::new(lab);
    w.set("AWS_ENDPOINT_URL_SSO", stub.url())
        .set("AWS_ENDPOINT_URL_SSO_OIDC", stub.url());
    w.write(
        ".aws/config",
        "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n\
         [sso-session corp]\nsso_start_url = https://d-123.awsapps.com/start\nsso_region = us-east-1\n\
         [profile legacy]\nsso_start_url = https://d-456.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = Dev\n",
    );
    (stub, w)
}

fn cache_path(w: &World, name: &str) -> std::path::PathBuf {
    w.path(&format!(
        ".aws/sso/cache/{}.json",
        hex(&sha1(name.as_bytes()))
    ))
}

fn write_cache(w: &World, name: &str, token: &str, expires_in: i64, refresh: bool) {
    let at = if expires_in >= 0 {
        SystemTime::now() + Duration::from_secs(expires_in as u64)
    } else {
        SystemTime::now() - Duration::from_secs(expires_in.unsigned_abs())
    };
    let mut v = serde_json::json!({"startUrl": "x", "region": "us-east-1", "accessToken": token, "expiresAt": format_rfc3339(at)});
    if refresh {
        v["refreshToken"] = "rt-1".into();
        v["clientId"] = "cid".into();
        v["clientSecret"] = "cs".into();
        v["registrationExpiresAt"] = "2999-01-01T00:00:00Z".into();
    }
    let p = cache_path(w, name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, v.to_string()).unwrap();
}

/// Profile `dev`'s ECR token with `token` cached for `corp`, expiring in
/// `expires_in` seconds: the world, and the paths the portal was asked.
fn token_with_cached(lab: &Lab, token: &str, expires_in: i64) -> (World, Vec<String>) {
    let (portal, w) = world(lab);
    write_cache(&w, "corp", token, expires_in, true);
    let t = w.session(Some("dev")).unwrap().fetch_token(None).unwrap();
    assert_eq!(t.password.expose(), lab.registry_password);
    let paths = portal.seen().iter().map(|r| r.path().to_string()).collect();
    (w, paths)
}

#[test]
fn sso_session_with_a_valid_token() {
    let (_, paths) = token_with_cached(Lab::get(), "valid-token", 7200);
    assert_eq!(
        paths,
        ["/federation/credentials"],
        "no refresh while the token has life"
    );
}

#[test]
fn token_near_expiry_is_refreshed_and_written_back() {
    let (w, paths) = token_with_cached(Lab::get(), "old-token", 300);
    assert_eq!(paths, ["/token", "/federation/credentials"]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cache_path(&w, "corp")).unwrap()).unwrap();
    assert_eq!(v["accessToken"], "fresh-token");
    assert_eq!(v["refreshToken"], "rt-2");
    assert_eq!(v["clientId"], "cid", "other fields kept");
    assert_eq!(mode(&cache_path(&w, "corp")), 0o600);
}

#[test]
fn expired_or_missing_sessions_say_to_log_in() {
    let (_portal, w) = world(Lab::get());
    let e = w
        .session(Some("legacy"))
        .unwrap()
        .credentials()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("run `aws sso login --profile legacy`"),
        "{e}"
    );
    write_cache(
        &w,
        "https://d-456.awsapps.com/start",
        "valid-token",
        -60,
        false,
    );
    let e = w
        .session(Some("legacy"))
        .unwrap()
        .credentials()
        .unwrap_err();
    aws_support::assert_says(&e, &["expired", "aws sso login --profile legacy"]);
    assert!(
        !e.to_string().contains("valid-token"),
        "the token never shows"
    );
    // The portal no longer accepts a token the cache still thinks is valid.
    write_cache(&w, "corp", "revoked-token", 7200, false);
    let e = w.session(Some("dev")).unwrap().credentials().unwrap_err();
    aws_support::assert_says(&e, &["no longer valid", "aws sso login --profile dev"]);
    assert!(!e.to_string().contains("revoked-token"));
}
