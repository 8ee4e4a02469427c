//! The MFA prompt of `mfa_serial` assume-role profiles: helm 3.10.1 runs the
//! installed `ecr-login` on a pseudo-terminal, the test types the code at
//! the prompt, and a forwarding front before the lab's moto (STS with SigV4
//! and IAM enforced) records the `SerialNumber` and `TokenCode` AssumeRole
//! carried. moto then checks the ECR call signed with the assumed role's
//! credentials. Without a terminal: one clear line and no STS call.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod aws_support;
mod common;

use aws_support::{forward, is_token_call, serve, Req, Stub};
use common::{run_on_tty, run_without_tty, write, Lab, Output, Sandbox};

const SERIAL: &str = "arn:aws:iam::123456789012:mfa/user";
const PROMPT: &str = "Enter MFA code for arn:aws:iam::123456789012:mfa/user: ";

/// Decodes `application/x-www-form-urlencoded` (`+` and `%XX`).
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            let bytes = v.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                        out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    })
}

/// STS and ECR through a front that forwards every request unchanged (so
/// moto still verifies the signatures) and keeps a copy of each.
fn sts_front() -> Stub {
    let upstream = Lab::get().ecr_endpoint.clone();
    serve(move |req| forward(&upstream, req))
}

fn assume_role_calls(front: &Stub) -> Vec<Req> {
    front
        .seen()
        .into_iter()
        .filter(|r| form_field(&r.body, "Action").as_deref() == Some("AssumeRole"))
        .collect()
}

/// The STS and ECR front, and a sandbox whose only credentials are the
/// `mfa` profile's: it assumes the lab role from a `base` profile holding
/// the lab user's keys.
fn mfa_sandbox() -> (Stub, Sandbox) {
    let front = sts_front();
    let mut sb = Sandbox::new();
    let lab = sb.lab;
    write(
        &sb.home().join(".aws/config"),
        &format!(
            "[profile mfa]\nrole_arn = {}\nsource_profile = base\nmfa_serial = {SERIAL}\n\
             region = {}\n",
            lab.role_arn, lab.region
        ),
    );
    write(
        &sb.home().join(".aws/credentials"),
        &format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            lab.access_key_id, lab.secret_access_key
        ),
    );
    sb.unset_env("AWS_ACCESS_KEY_ID")
        .unset_env("AWS_SECRET_ACCESS_KEY")
        .set_env("AWS_ENDPOINT_URL_STS", front.url())
        .set_env("AWS_ENDPOINT_URL_ECR", front.url())
        .set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
    (front, sb)
}

/// What the terminal showed after the MFA prompt.
fn after_prompt(out: &Output) -> &str {
    out.stdout.split(PROMPT).nth(1).unwrap_or("")
}

/// The GetAuthorizationToken calls the front saw.
fn token_calls(front: &Stub) -> Vec<Req> {
    front.seen().into_iter().filter(is_token_call).collect()
}

fn login_cmd(sb: &Sandbox) -> std::process::Command {
    let mut cmd = sb.helm_cmd();
    cmd.args(["ecr-login", "--profile", "mfa", "--password-stdout"]);
    cmd
}

#[test]
fn the_code_typed_at_the_prompt_reaches_sts() {
    let (front, sb) = mfa_sandbox();
    let out = run_on_tty(&login_cmd(&sb), Some((PROMPT, "123456")));
    out.assert_ok();
    assert!(out.stdout.contains(PROMPT), "{out}");

    let calls = assume_role_calls(&front);
    assert_eq!(calls.len(), 1, "one AssumeRole: {:?}", front.seen());
    let body = &calls[0].body;
    assert_eq!(form_field(body, "SerialNumber").as_deref(), Some(SERIAL));
    assert_eq!(form_field(body, "TokenCode").as_deref(), Some("123456"));
    assert_eq!(
        form_field(body, "RoleArn").as_deref(),
        Some(sb.lab.role_arn.as_str())
    );
    // The assumed role's credentials then got the ECR token through moto's
    // signature and IAM checks: the password is on the terminal.
    let tail = after_prompt(&out);
    assert!(
        tail.lines()
            .any(|l| l.trim() == sb.lab.registry_password.as_str()),
        "the ECR password after the prompt:\n{out}"
    );
    assert_eq!(token_calls(&front).len(), 1);
}

/// One error line from the plugin, exit status 1, nothing on stdout.
#[track_caller]
fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stdout.trim().is_empty(), "{out}");
    let lines = out.plugin_stderr_lines();
    assert_eq!(lines.len(), 1, "expected one error line:\n{out}");
    lines[0].to_string()
}

#[test]
fn without_a_terminal_one_clear_line_and_no_sts_call() {
    let (front, sb) = mfa_sandbox();
    let started = std::time::Instant::now();
    let out = run_without_tty(&login_cmd(&sb));
    let line = one_error_line(&out);
    assert!(
        line.contains("\"mfa\"") && line.contains(SERIAL) && line.contains("no terminal"),
        "the error names the profile, the MFA device and the missing terminal:\n{out}"
    );
    assert!(
        line.contains("run in a terminal"),
        "the error says what to do:\n{out}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "it must not wait for input"
    );
    assert!(assume_role_calls(&front).is_empty(), "{:?}", front.seen());
}

#[test]
fn a_code_that_is_not_six_digits_is_refused_before_sts() {
    let (front, sb) = mfa_sandbox();
    let out = run_on_tty(&login_cmd(&sb), Some((PROMPT, "12ab")));
    assert_eq!(out.status.code(), Some(1), "{out}");
    let tail = after_prompt(&out);
    assert!(
        tail.contains("must be 6 digits") && tail.contains("run again"),
        "the error says what is wrong and what to do:\n{out}"
    );
    assert!(
        !tail.contains(sb.lab.registry_password.as_str()),
        "no password after a refused code:\n{out}"
    );
    assert!(assume_role_calls(&front).is_empty(), "{:?}", front.seen());
}

/// One command, two regions (two ECR registries): the chain runs once, so
/// the MFA code is asked once and STS sees one AssumeRole, while each
/// region gets its own token.
#[test]
fn one_prompt_however_many_regions() {
    let (front, sb) = mfa_sandbox();
    let acct = &sb.lab.account;
    let east = format!("{acct}.dkr.ecr.us-east-1.amazonaws.com");
    let west = format!("{acct}.dkr.ecr.eu-west-1.amazonaws.com");
    let mut cmd = sb.bin_cmd();
    cmd.args(["ecr-login", "--profile", "mfa", &east, &west]);
    let out = run_on_tty(&cmd, Some((PROMPT, "654321")));
    out.assert_ok();
    assert_eq!(out.stdout.matches(PROMPT).count(), 1, "{out}");
    assert_eq!(assume_role_calls(&front).len(), 1, "{:?}", front.seen());
    let regions: Vec<String> = token_calls(&front)
        .iter()
        .filter_map(|r| {
            let auth = r.header("authorization")?;
            Some(auth.split('/').nth(2)?.to_string())
        })
        .collect();
    let mut regions = regions;
    regions.sort();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
}
