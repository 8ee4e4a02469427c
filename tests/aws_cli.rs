//! The AWS part through the real binary (`helm-ecr ecr-login`): one clear
//! error line, no secret even with HELM_DEBUG, and the token cache saving
//! the second process its GetAuthorizationToken call.

mod aws_support;
mod common;

use std::sync::atomic::Ordering;

use common::Sandbox;

#[test]
fn bad_credentials_are_one_line_without_secrets_even_in_debug() {
    let mut sb = Sandbox::bare();
    sb.set_env("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
        .set_env("HELM_DEBUG", "1")
        .set_env("HELM_ECR_RETRY_SCALE", "0.01");
    let check = |sb: &Sandbox, want: &str| {
        let out = sb.bin(&["ecr-login", "--password-stdout"]);
        out.assert_fail();
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("Error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", out.stderr);
        assert!(errors[0].contains(want), "{}", errors[0]);
        for secret in ["wrong-secret-value", "session-token-value"] {
            assert!(
                !out.stderr.contains(secret),
                "{secret} leaked: {}",
                out.stderr
            );
        }
        assert!(out.stdout.is_empty());
    };
    check(&sb, "the secret access key is wrong for key id");
    // A session token moto never issued: the credentials are unknown.
    sb.set_env("AWS_SESSION_TOKEN", "session-token-value");
    check(
        &sb,
        "AWS does not know these credentials (InvalidClientTokenId)",
    );
}

#[test]
fn second_login_within_the_token_life_makes_no_aws_call() {
    let lab = common::Lab::get();
    let front = aws_support::front(&lab.ecr_endpoint);
    let mut sb = Sandbox::bare();
    sb.set_env("AWS_ENDPOINT_URL_ECR", front.stub.url());
    for _ in 0..2 {
        let out = sb.bin(&["ecr-login", "--password-stdout"]);
        out.assert_ok();
        assert_eq!(out.stdout.trim(), lab.registry_password);
    }
    assert_eq!(front.token_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        front.stub.seen().len(),
        1,
        "the second process sent nothing"
    );
    // Off switch: every process asks again.
    sb.set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
    sb.bin(&["ecr-login", "--password-stdout"]).assert_ok();
    assert_eq!(front.token_calls.load(Ordering::SeqCst), 2);
}
