//! The credential chain against the lab's moto, which recomputes every SigV4
//! signature and enforces IAM: each provider must yield credentials that
//! moto accepts for GetAuthorizationToken. Container, IMDSv2 and the SSO
//! portal are loopback stubs (no real one can run here).

mod aws_support;
mod common;

use std::time::Instant;

use aws_support::{assert_says, creds_json, serve, Resp, World};
use common::Lab;

fn assert_token(w: &World, profile: Option<&str>) {
    let lab = Lab::get();
    let s = w
        .session(profile)
        .unwrap_or_else(|e| panic!("session: {e}"));
    let t = s
        .fetch_token(None)
        .unwrap_or_else(|e| panic!("fetch_token: {e}"));
    assert_eq!(t.username, "AWS");
    assert_eq!(t.password.expose(), lab.registry_password);
    assert!(
        t.proxy_endpoint.contains(&lab.account),
        "{}",
        t.proxy_endpoint
    );
}

/// A credentials-file section `[name]` holding the lab user's keys.
fn lab_keys(lab: &Lab, name: &str) -> String {
    format!(
        "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        lab.access_key_id, lab.secret_access_key
    )
}

#[test]
fn environment_keys() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    w.with_lab_keys(lab);
    assert_token(&w, None);
    assert!(w
        .session(None)
        .unwrap()
        .identity_description()
        .contains(&lab.access_key_id));
}

#[test]
fn environment_keys_with_a_session_token() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    w.write("credentials", "");
    w.write(
        ".aws/config",
        &format!(
            "[profile r]\nrole_arn = {}\ncredential_source = Environment\n",
            lab.role_arn
        ),
    );
    w.with_lab_keys(lab);
    let role = w.session(Some("r")).unwrap().credentials().unwrap();
    let token = role
        .session_token
        .clone()
        .expect("assumed role has a session token");
    let mut w2 = World::new(lab);
    w2.set("AWS_ACCESS_KEY_ID", role.access_key_id.clone())
        .set("AWS_SECRET_ACCESS_KEY", role.secret_access_key.clone())
        .set("AWS_SESSION_TOKEN", token);
    assert_token(&w2, None);
}

#[test]
fn profiles_files_and_precedence() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    // The credentials file wins over the config file for the same profile.
    w.write(
        ".aws/config",
        "[profile dev]\naws_access_key_id = AKIAWRONGWRONGWRONG1\naws_secret_access_key = wrong\nregion = us-east-1\n",
    );
    w.write(".aws/credentials", &lab_keys(lab, "dev"));
    assert_token(&w, Some("dev"));
    w.set("AWS_PROFILE", "dev");
    assert_token(&w, None);
    // Environment keys beat AWS_PROFILE but not --profile.
    w.set("AWS_ACCESS_KEY_ID", lab.access_key_id.clone())
        .set("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    assert_token(&w, Some("dev"));
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    assert!(e.to_string().contains("secret access key is wrong"), "{e}");
    // Files elsewhere, through AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE.
    let mut w = World::new(lab);
    let cfg = w.write("elsewhere/cfg", "[profile x]\nregion = us-east-1\n");
    let creds = w.write("elsewhere/creds", &lab_keys(lab, "x"));
    w.set("AWS_CONFIG_FILE", cfg.to_str().unwrap())
        .set("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap());
    assert_token(&w, Some("x"));
    let e = w.session(Some("missing")).unwrap_err();
    assert_says(&e, &["\"missing\"", "not found"]);
}

#[test]
fn region_from_profile_and_hint() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    w.unset("AWS_REGION");
    w.write(".aws/config", "[profile p]\nregion = eu-west-3\n");
    assert_eq!(w.session(Some("p")).unwrap().region, "eu-west-3");
    assert_eq!(
        w.session_with(Some("p"), Some("ap-south-1"))
            .unwrap()
            .region,
        "ap-south-1"
    );
    w.set("AWS_DEFAULT_REGION", "us-west-1");
    assert_eq!(w.session(Some("p")).unwrap().region, "us-west-1");
    w.set("AWS_REGION", "us-west-2");
    assert_eq!(w.session(Some("p")).unwrap().region, "us-west-2");
    let mut w = World::new(lab);
    w.unset("AWS_REGION");
    let e = w.session(None).unwrap_err();
    assert_says(&e, &["no AWS region", "--region"]);
}

#[test]
fn credential_process() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    let script = w.write(
        "bin/creds.sh",
        &format!(
            "#!/bin/sh\nprintf '%s' '{}'\n",
            serde_json::json!({"Version": 1, "AccessKeyId": lab.access_key_id, "SecretAccessKey": lab.secret_access_key, "Expiration": "2999-01-01T00:00:00Z"})
        ),
    );
    w.write(
        ".aws/config",
        &format!(
            "[profile proc]\ncredential_process = sh \"{}\"\n",
            script.display()
        ),
    );
    assert_token(&w, Some("proc"));
    let fail = w.write(
        "bin/fail.sh",
        "#!/bin/sh\necho 'token expired, log in again' >&2\nexit 2\n",
    );
    w.write(
        ".aws/config",
        &format!(
            "[profile proc]\ncredential_process = sh {}\n",
            fail.display()
        ),
    );
    let e = w
        .session(Some("proc"))
        .unwrap()
        .fetch_token(None)
        .unwrap_err();
    assert_says(&e, &["credential_process", "token expired, log in again"]);
    w.set("AWS_PROFILE", "proc");
}

#[test]
fn assume_role_chain_through_sts() {
    let lab = Lab::get();
    let w = World::new(lab);
    w.write(".aws/credentials", &lab_keys(lab, "base"));
    w.write(
        ".aws/config",
        &format!(
            "[profile r1]\nrole_arn = {r}\nsource_profile = base\nrole_session_name = helm-ecr-test\n\
             [profile r2]\nrole_arn = {r}\nsource_profile = r1\nexternal_id = ext-1\nduration_seconds = 900\n",
            r = lab.role_arn
        ),
    );
    let s = w.session(Some("r2")).unwrap();
    let c = s.credentials().unwrap();
    assert_ne!(
        c.access_key_id, lab.access_key_id,
        "expected role credentials"
    );
    assert!(c.session_token.is_some() && c.expires_at.is_some());
    assert_token(&w, Some("r2"));
}

#[test]
fn source_profile_cycles_and_bad_roles_are_clear() {
    let lab = Lab::get();
    let w = World::new(lab);
    w.write(
        ".aws/config",
        &format!(
            "[profile a]\nrole_arn = {r}\nsource_profile = b\n[profile b]\nrole_arn = {r}\nsource_profile = a\n\
             [profile lonely]\nrole_arn = {r}\n[profile both]\nrole_arn = {r}\nsource_profile = a\ncredential_source = Environment\n",
            r = lab.role_arn
        ),
    );
    let e = w.session(Some("a")).unwrap().credentials().unwrap_err();
    assert!(e.to_string().contains("loops (a -> b -> a)"), "{e}");
    let e = w
        .session(Some("lonely"))
        .unwrap()
        .credentials()
        .unwrap_err();
    assert!(e.to_string().contains("no source_profile"), "{e}");
    let e = w.session(Some("both")).unwrap().credentials().unwrap_err();
    assert!(
        e.to_string()
            .contains("both source_profile and credential_source"),
        "{e}"
    );
}

#[test]
fn web_identity_from_environment_and_profile() {
    let lab = Lab::get();
    let mut w = World::new(lab);
    // moto with auth on refuses unsigned AssumeRoleWithWebIdentity: use the no-auth one.
    w.set("AWS_ENDPOINT_URL", lab.ecr_noauth_endpoint.clone());
    let token = w.write("token", "eyJhbGciOiJSUzI1NiJ9.e30.sig\n");
    w.set("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap())
        .set("AWS_ROLE_ARN", lab.role_arn.clone())
        .set("AWS_ROLE_SESSION_NAME", "ci-run");
    let s = w.session(None).unwrap();
    assert!(s.identity_description().contains("web identity"));
    let c = s.credentials().unwrap();
    assert!(c.session_token.is_some());
    assert!(s.fetch_token(None).is_ok());

    let mut w = World::new(lab);
    w.set("AWS_ENDPOINT_URL", lab.ecr_noauth_endpoint.clone());
    let token = w.write("token", "eyJhbGciOiJSUzI1NiJ9.e30.sig");
    w.write(
        ".aws/config",
        &format!(
            "[profile wi]\nrole_arn = {}\nweb_identity_token_file = {}\n",
            lab.role_arn,
            token.display()
        ),
    );
    assert!(w
        .session(Some("wi"))
        .unwrap()
        .credentials()
        .unwrap()
        .session_token
        .is_some());
    std::fs::remove_file(&token).unwrap();
    let e = w.session(Some("wi")).unwrap().credentials().unwrap_err();
    assert!(e.to_string().contains("web identity token file"), "{e}");
}

#[test]
fn container_credentials_with_token_file() {
    let lab = Lab::get();
    let body = creds_json(lab, "Token", None);
    let agent = serve(move |req| {
        if req.header("authorization") == Some("secret-agent-token") && req.path() == "/v1/creds" {
            Resp::json(200, body.clone())
        } else {
            Resp::json(
                401,
                serde_json::json!({"code": "Unauthorized", "message": "bad token"}),
            )
        }
    });
    let mut w = World::new(lab);
    let tok = w.write("agent-token", "secret-agent-token\n");
    w.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/v1/creds", agent.url()),
    )
    .set(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        tok.to_str().unwrap(),
    )
    .set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-when-file-set");
    assert_token(&w, None);
    assert_eq!(agent.seen().len(), 1);
    w.unset("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    let e = w.session(None).unwrap().credentials().unwrap_err();
    assert_says(&e, &["container credentials", "401"]);
    assert!(!e.to_string().contains("ignored-when-file-set"));
}

#[test]
fn imdsv2() {
    let lab = Lab::get();
    let imds = imds_front(lab, &lab.region, true);
    let mut w = World::new(lab);
    w.unset("AWS_EC2_METADATA_DISABLED")
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
    assert_token(&w, None);
    assert_eq!(
        seen_paths(&imds),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/lab-role"
        ]
    );
}

/// What a stub was asked, as `METHOD /path` lines.
fn seen_paths(stub: &aws_support::Stub) -> Vec<String> {
    stub.seen()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect()
}

/// The request bodies a stub was sent.
fn seen_bodies(stub: &aws_support::Stub) -> Vec<String> {
    stub.seen()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// A loopback URL where nothing listens.
fn dead_url() -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", dead.local_addr().unwrap())
}

#[test]
fn nothing_found_lists_what_was_tried_quickly() {
    let lab = Lab::get();
    // A port that accepts nothing: IMDS must give up within its short timeout.
    let mut w = World::new(lab);
    w.unset("AWS_EC2_METADATA_DISABLED")
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", dead_url());
    let started = Instant::now();
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    assert!(started.elapsed().as_secs() < 5);
    assert!(
        e.to_string().starts_with("no AWS credentials found")
            && e.to_string().contains("EC2 instance metadata"),
        "{e}"
    );
    let w = World::new(lab);
    let e = w.session(None).unwrap().fetch_token(None).unwrap_err();
    for want in [
        "environment",
        "profile \"default\"",
        "web identity",
        "container",
        "AWS_EC2_METADATA_DISABLED",
        "aws configure",
    ] {
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

/// An IMDS front: IMDSv2 token, the instance's region, and (when `creds`)
/// an instance role whose credentials are the lab user's.
fn imds_front(lab: &Lab, region: &str, creds: bool) -> aws_support::Stub {
    let body = creds_json(lab, "Token", None);
    let region = region.to_string();
    serve(move |req| match (req.method.as_str(), req.path()) {
        ("PUT", "/latest/api/token")
            if req.header("x-aws-ec2-metadata-token-ttl-seconds").is_some() =>
        {
            Resp::new(200, "imds-session")
        }
        (_, p) if req.header("x-aws-ec2-metadata-token") != Some("imds-session") => {
            Resp::new(401, format!("no token for {p}"))
        }
        ("GET", "/latest/meta-data/placement/region") => Resp::new(200, region.clone()),
        ("GET", "/latest/meta-data/iam/security-credentials/") if creds => {
            Resp::new(200, "lab-role\n")
        }
        ("GET", "/latest/meta-data/iam/security-credentials/lab-role") if creds => {
            let mut b = body.clone();
            b["Code"] = "Success".into();
            Resp::json(200, b)
        }
        _ => Resp::new(404, "not found"),
    })
}

#[test]
fn region_from_imds_last() {
    let lab = Lab::get();
    let imds = imds_front(lab, "eu-north-1", false);
    let mut w = World::new(lab);
    w.unset("AWS_REGION")
        .unset("AWS_EC2_METADATA_DISABLED")
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
    w.with_lab_keys(lab);
    assert_eq!(w.session(None).unwrap().region, "eu-north-1");
    assert_eq!(
        seen_paths(&imds),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/placement/region"
        ]
    );
    // Anything configured wins, and IMDS is not asked.
    w.write(".aws/config", "[default]\nregion = ap-southeast-2\n");
    assert_eq!(w.session(None).unwrap().region, "ap-southeast-2");
    w.set("AWS_DEFAULT_REGION", "ca-central-1");
    assert_eq!(w.session(None).unwrap().region, "ca-central-1");
    assert_eq!(imds.seen().len(), 2);
    // IMDS off, or answering nothing: one line that says what to set.
    let mut w = World::new(lab);
    w.unset("AWS_REGION");
    let e = w.session(None).unwrap_err();
    assert_says(&e, &["no AWS region", "AWS_EC2_METADATA_DISABLED"]);
    let url = dead_url();
    w.unset("AWS_EC2_METADATA_DISABLED")
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.clone());
    let e = w.session(None).unwrap_err();
    assert!(
        e.to_string().contains("no AWS region")
            && e.to_string().contains(&url)
            && e.to_string().contains("--region"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));
}

/// On EC2 with nothing configured: region and credentials both come from
/// the instance, and login works (the password moto hands out).
#[test]
fn login_on_an_instance_with_nothing_configured() {
    let lab = Lab::get();
    let imds = imds_front(lab, &lab.region, true);
    let mut sb = common::Sandbox::bare();
    sb.unset_env("AWS_REGION")
        .unset_env("AWS_ACCESS_KEY_ID")
        .unset_env("AWS_SECRET_ACCESS_KEY")
        .unset_env("AWS_EC2_METADATA_DISABLED")
        .set_env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
    let out = sb.bin(&["ecr-login", "--password-stdout"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), lab.registry_password);
    assert!(imds
        .seen()
        .iter()
        .any(|r| r.path() == "/latest/meta-data/placement/region"));
}

/// Profile chains as the SDKs build them, against moto's STS through a
/// recording front: after the first profile, static keys win over a
/// role_arn (one AssumeRole, not two); role_arn + web_identity_token_file
/// is a base provider even beside source_profile.
#[test]
fn profile_chains_as_the_sdks_build_them() {
    let lab = Lab::get();
    let up = lab.ecr_endpoint.clone();
    let sts = serve(move |req| aws_support::forward(&up, req));
    let mut w = World::new(lab);
    w.set("AWS_ENDPOINT_URL_STS", sts.url());
    w.write(
        ".aws/config",
        &format!(
            "[profile outer]\nrole_arn = {r}\nsource_profile = middle\n\
             [profile middle]\nrole_arn = arn:aws:iam::123456789012:role/never-assumed\n\
             source_profile = missing-profile\naws_access_key_id = {k}\naws_secret_access_key = {s}\n",
            r = lab.role_arn,
            k = lab.access_key_id,
            s = lab.secret_access_key
        ),
    );
    let c = w.session(Some("outer")).unwrap().credentials().unwrap();
    assert!(c.session_token.is_some(), "the outer role was assumed");
    let bodies = seen_bodies(&sts);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(
        bodies[0].contains("Action=AssumeRole") && !bodies[0].contains("never-assumed"),
        "{bodies:?}"
    );
    assert_token(&w, Some("outer"));

    // Web identity beside source_profile: the token file, not the source.
    let noauth = lab.ecr_noauth_endpoint.clone();
    let sts = serve(move |req| aws_support::forward(&noauth, req));
    let mut w = World::new(lab);
    w.set("AWS_ENDPOINT_URL_STS", sts.url());
    let token = w.write("token", "eyJhbGciOiJSUzI1NiJ9.e30.sig");
    w.write(
        ".aws/config",
        &format!(
            "[profile wi]\nrole_arn = {}\nweb_identity_token_file = {}\nsource_profile = missing-profile\n",
            lab.role_arn,
            token.display()
        ),
    );
    let c = w.session(Some("wi")).unwrap().credentials().unwrap();
    assert!(c.session_token.is_some());
    let bodies = seen_bodies(&sts);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(
        bodies[0].contains("Action=AssumeRoleWithWebIdentity"),
        "{bodies:?}"
    );
}

/// Credentials resolve once per command: `ecr-login` for three registries
/// in three regions runs the profile's credential_process once.
#[test]
fn credentials_resolve_once_per_command() {
    let lab = Lab::get();
    let mut sb = common::Sandbox::bare();
    let log = sb.root().join("process.log");
    let json = creds_json(lab, "SessionToken", None);
    let mut json = json;
    json["Version"] = 1.into();
    let script = sb.root().join("creds.sh");
    common::write(
        &script,
        &format!(
            "echo run >> '{}'\ncat <<'EOF'\n{}\nEOF\n",
            log.display(),
            json
        ),
    );
    common::write(
        &sb.home().join(".aws/config"),
        &format!(
            "[profile p]\ncredential_process = sh '{}'\n",
            script.display()
        ),
    );
    sb.unset_env("AWS_ACCESS_KEY_ID")
        .unset_env("AWS_SECRET_ACCESS_KEY")
        .set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
    let acct = &lab.account;
    let hosts: Vec<String> = ["us-east-1", "eu-west-1", "ap-south-1"]
        .iter()
        .map(|r| format!("{acct}.dkr.ecr.{r}.amazonaws.com"))
        .collect();
    let mut args = vec!["ecr-login", "--profile", "p"];
    args.extend(hosts.iter().map(String::as_str));
    sb.bin(&args).assert_ok();
    let runs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(runs.lines().count(), 1, "credential_process ran {runs:?}");
}
