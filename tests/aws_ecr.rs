//! The ECR API against moto (signatures and IAM checked for real), and the
//! faults moto cannot produce (throttling, 5xx, clock skew, hangs, ECR
//! Public) from loopback stubs; every failure must read as one clear line.

mod aws_support;
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_support::{forward, serve, Resp, World};
use common::{unique_name, Lab};
use helm_ecr::aws::ecr::Flavor;
use helm_ecr::aws::CreateRepositoryOptions;
use helm_ecr::codec::base64_encode;

#[test]
fn wrong_secret_is_a_signature_error_naming_the_key() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    w.with_lab_keys(lab)
        .set("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    assert!(e.to_string().contains("signature does not match"), "{e}");
    assert!(
        e.to_string().contains(&format!(
            "secret access key is wrong for key id {}",
            lab.access_key_id
        )),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-secret"));
}

/// A moto of our own whose two free calls make a user with no policy.
struct PrivateMoto {
    child: Child,
    url: String,
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn private_moto(lab: &Lab) -> PrivateMoto {
    let port = common::free_port();
    let child = Command::new(lab.dir.join("venv/bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server from the lab venv");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "private moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    PrivateMoto { child, url }
}

fn iam(url: &str, form: &str) -> String {
    let http = aws_support::http();
    let agent = http.agent_for(url);
    let mut r = agent
        .post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        // moto routes by the credential scope; the free calls are not verified.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=bootstrap/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send(form)
        .unwrap();
    r.body_mut().read_to_string().unwrap()
}

fn xml_text(doc: &str, tag: &str) -> String {
    let start = doc.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = doc[start..].find(&format!("</{tag}>")).unwrap() + start;
    doc[start..end].to_string()
}

#[test]
fn user_without_the_policy_gets_access_denied_naming_the_action() {
    let lab = Lab::get();
    let moto = private_moto(lab);
    iam(
        &moto.url,
        "Action=CreateUser&UserName=nopolicy&Version=2010-05-08",
    );
    let key = iam(
        &moto.url,
        "Action=CreateAccessKey&UserName=nopolicy&Version=2010-05-08",
    );
    let mut w = World::new(lab);
    w.set("AWS_ENDPOINT_URL", moto.url.clone())
        .set("AWS_ACCESS_KEY_ID", xml_text(&key, "AccessKeyId"))
        .set("AWS_SECRET_ACCESS_KEY", xml_text(&key, "SecretAccessKey"));
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    aws_support::assert_says(&e, &["access denied", "grant ecr:GetAuthorizationToken"]);
    assert!(e.code().is_some_and(|c| c.is_access_denied()), "{e:?}");
    assert!(!e.to_string().contains('\n'));
}

fn lab_cli(lab: &Lab, args: &[&str]) -> serde_json::Value {
    let out = Command::new(&lab.aws)
        .args(args)
        .args(["--endpoint-url", &lab.ecr_endpoint, "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", &lab.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &lab.secret_access_key)
        .env("AWS_DEFAULT_REGION", &lab.region)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn create_repository_once_with_its_settings() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    w.with_lab_keys(lab);
    let s = w.session(None).unwrap();
    let name = format!("charts/{}", unique_name("repo"));
    let opts = CreateRepositoryOptions {
        image_tag_mutability: Some("IMMUTABLE".into()),
        scan_on_push: Some(true),
        tags: vec![("team".into(), "platform".into())],
        ..Default::default()
    };
    assert!(s.create_repository(&name, &opts).unwrap(), "created");
    assert!(!s.create_repository(&name, &opts).unwrap(), "already there");
    let v = lab_cli(
        lab,
        &["ecr", "describe-repositories", "--repository-names", &name],
    );
    let repo = &v["repositories"][0];
    assert_eq!(repo["imageTagMutability"], "IMMUTABLE");
    assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], true);
    let tags = lab_cli(
        lab,
        &[
            "ecr",
            "list-tags-for-resource",
            "--resource-arn",
            repo["repositoryArn"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        tags["tags"],
        serde_json::json!([{"Key": "team", "Value": "platform"}])
    );
    // A missing tag is None; a missing repository is a clear error.
    assert!(s
        .describe_image(Flavor::Private, None, &name, "1.0.0")
        .unwrap()
        .is_none());
    let e = s
        .describe_image(Flavor::Private, None, "no/such/repo", "1.0.0")
        .unwrap_err();
    assert!(
        e.to_string().contains("\"no/such/repo\" does not exist"),
        "{e}"
    );
    assert_eq!(
        e.code(),
        Some(&helm_ecr::aws::AwsErrorCode::RepositoryNotFoundException)
    );
}

#[test]
fn server_errors_are_retried_then_reported() {
    let lab = Lab::get();
    let n = Arc::new(AtomicUsize::new(0));
    let (n2, moto) = (n.clone(), lab.ecr_endpoint.clone());
    let flaky = serve(move |req| {
        if n2.fetch_add(1, Ordering::SeqCst) < 2 {
            Resp::json(
                503,
                serde_json::json!({"__type": "ServiceUnavailableException", "message": "try later"}),
            )
        } else {
            forward(&moto, req)
        }
    });
    let mut w = World::new(lab);
    w.with_lab_keys(lab).set("AWS_ENDPOINT_URL", flaky.url());
    let t = w.session(None).unwrap().fetch_token(None).unwrap();
    assert_eq!(t.password.expose(), lab.registry_password);
    assert_eq!(n.load(Ordering::SeqCst), 3);

    let down = serve(|_| Resp::new(503, "<html>down</html>"));
    w.set("AWS_ENDPOINT_URL", down.url());
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    assert!(e.to_string().contains("HTTP 503 after 3 attempts"), "{e}");
    assert_eq!(down.seen().len(), 3, "bounded");

    let throttled = serve(|_| {
        Resp::json(
            400,
            serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        )
    });
    w.set("AWS_ENDPOINT_URL", throttled.url());
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    aws_support::assert_says(&e, &["throttled", "3 attempts"]);
}

#[test]
fn clock_skew_shows_local_and_server_time() {
    let lab = Lab::get();
    let skewed = serve(|_| {
        Resp::json(403, serde_json::json!({"__type": "InvalidSignatureException", "message": "Signature expired: 20240101T000000Z is now earlier than 20240101T010000Z (20240101T011500Z - 15 min.)"}))
            .header("Date", "Mon, 01 Jan 2024 01:15:00 GMT")
    });
    let mut w = World::new(lab);
    w.with_lab_keys(lab).set("AWS_ENDPOINT_URL", skewed.url());
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    assert!(
        e.to_string().contains("clock is wrong")
            && e.to_string().contains("AWS time 2024-01-01T01:15:00Z")
            && e.to_string().contains("local time 20"),
        "{e}"
    );
}

#[test]
fn every_request_has_a_timeout() {
    let lab = Lab::get();
    let hang = serve(|_| {
        std::thread::sleep(Duration::from_secs(3));
        Resp::new(200, "{}")
    });
    let mut w = World::new(lab);
    w.with_lab_keys(lab)
        .set("AWS_ENDPOINT_URL", hang.url())
        .set("HELM_ECR_TIMEOUT_SCALE", "0.01");
    let started = Instant::now();
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn ecr_public_token_is_signed_for_ecr_public_in_us_east_1() {
    let lab = Lab::get();
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let public = serve(move |req| {
        let auth = req.header("authorization").unwrap_or("");
        let target = req.header("x-amz-target").unwrap_or("");
        if auth.contains("/us-east-1/ecr-public/aws4_request")
            && target == "SpencerFrontendService.GetAuthorizationToken"
        {
            Resp::json(
                200,
                serde_json::json!({"authorizationData": {"authorizationToken": base64_encode(b"AWS:public-pw"), "expiresAt": expires}}),
            )
        } else {
            Resp::json(
                400,
                serde_json::json!({"__type": "UnknownOperationException"}),
            )
        }
    });
    let mut w = World::new(lab);
    w.with_lab_keys(lab)
        .set("AWS_REGION", "eu-west-1")
        .set("AWS_ENDPOINT_URL_ECR_PUBLIC", public.url());
    let t = w.session(None).unwrap().fetch_public_token().unwrap();
    assert_eq!(
        (t.username.as_str(), t.password.expose()),
        ("AWS", "public-pw")
    );
    assert_eq!(t.proxy_endpoint, "https://public.ecr.aws");
    assert!(format!("{t:?}").contains("<redacted>") && !format!("{t:?}").contains("public-pw"));
}
