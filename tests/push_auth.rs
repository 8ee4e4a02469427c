//! `helm ecr-push` and credentials: the default (ECR) remote, the auth rule
//! of CLI.md, one token per call, secrets kept out of every output, and an
//! ECR host name setting region and account.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod aws_support;
mod common;
mod push_support;

use common::front::forward;
use common::{
    ecr_api_front, ecr_push, failure_line, path_str, push_chart, write, LogMark, Sandbox,
};
use push_support::*;
use std::fs;
use std::sync::atomic::Ordering;

// ------------------------------------------------------------------ no remote

#[test]
fn no_remote_means_the_default_ecr_registry_and_fails_fast_when_unreachable() {
    // moto hands out the proxyEndpoint of real ECR, which this machine cannot
    // reach (no DNS, no internet): the push must end with one clear line.
    let mut sb = Sandbox::new();
    sb.set_env("HELM_ECR_RETRY_SCALE", "0.01")
        .set_env("HELM_ECR_TIMEOUT_SCALE", "0.01");
    sb.seed_chart("remoteless");
    let host = format!("{}.dkr.ecr.{}.amazonaws.com", sb.lab.account, sb.lab.region);
    for dry_run in [false, true] {
        let mut args = vec!["./remoteless"];
        if dry_run {
            args.push("--dry-run");
        }
        let out = ecr_push(&sb, &args);
        let error = failure_line(&out, "");
        assert!(out.stdout.is_empty(), "{out}");
        assert!(
            error.starts_with("Error: ./remoteless: ") && error.contains(&host),
            "names the chart and the default registry:\n{out}"
        );
        assert!(
            error.contains("oci://HOST/NAMESPACE"),
            "says how to push elsewhere:\n{out}"
        );

        // JSON shows the target the token named.
        args.extend(["--output", "json"]);
        let out = ecr_push(&sb, &args);
        assert_eq!(out.status.code(), Some(1), "{out}");
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 1, "{out}");
        assert_keys(&lines[0], true);
        assert_eq!(lines[0]["status"], "failed");
        assert_eq!(
            lines[0]["ref"],
            format!("{host}/remoteless:0.1.0").as_str(),
            "{out}"
        );
    }
}

// ------------------------------------------------------------------ the auth rule

/// A sandbox whose ECR API is `aws_support::front` before moto: it counts
/// token calls, and its tokens live long enough to be cached.
fn sandbox_behind_token_front() -> (Sandbox, aws_support::Front) {
    let ecr = aws_support::front(&common::Lab::get().ecr_endpoint);
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.stub.url());
    (sb, ecr)
}

#[test]
fn wrong_password_in_registry_config_gets_one_fresh_token() {
    let lab = common::Lab::get();
    let (sb, ecr) = sandbox_behind_token_front();
    let wrong = "not-the-password-0123";
    registry_config_with(&sb, &lab.registry, wrong);
    let config_before = fs::read(sb.registry_config()).unwrap();
    let chart = sb.seed_chart("authrule");
    let ns = common::unique_name("cli-auth");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let mark = LogMark::new(&lab.registry_log);

    let out = debug_push(&sb, &chart, &remote);
    out.assert_ok();
    assert_eq!(results(&out)[0].verb, "Pushed", "{out}");
    let seen = mark.requests_for(&format!("{ns}/authrule"));
    assert!(
        seen.first().is_some_and(|q| q.status == 401),
        "the registry config was tried first: {seen:?}"
    );
    assert_eq!(
        ecr.token_calls.load(Ordering::SeqCst),
        1,
        "one fresh token after the refusal"
    );
    assert_eq!(
        fs::read(sb.registry_config()).unwrap(),
        config_before,
        "a push does not rewrite Helm's registry config"
    );
    let mut all = secrets(&sb);
    all.push(wrong.to_string());
    all.push(common::base64_encode(format!("AWS:{wrong}").as_bytes()));
    assert_no_secret(&out, &all);

    // Rule 1 before rule 2: the token now cached wins over the (still
    // wrong) registry config: no 401, no token call.
    let other = sb.seed_chart("authrule2");
    let mark = LogMark::new(&lab.registry_log);
    let out = debug_push(&sb, &other, &remote);
    out.assert_ok();
    let seen = mark.requests_for(&format!("{ns}/authrule2"));
    assert!(
        !seen.is_empty() && seen.iter().all(|q| q.status != 401),
        "{seen:?}"
    );
    assert_eq!(ecr.token_calls.load(Ordering::SeqCst), 1, "cache hit");
    assert_no_secret(&out, &all);
}

#[test]
fn no_cache_and_no_config_entry_fetches_a_token_every_time() {
    let lab = common::Lab::get();
    let (mut sb, ecr) = sandbox_behind_token_front();
    sb.set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
    let chart = sb.seed_chart("nocache");
    let ns = common::unique_name("cli-nocache");
    let remote = format!("oci://{}/{ns}", lab.registry);
    for (i, verb) in [(1, "Pushed"), (2, "Unchanged")] {
        let mark = LogMark::new(&lab.registry_log);
        let out = debug_push(&sb, &chart, &remote);
        out.assert_ok();
        assert_eq!(results(&out)[0].verb, verb, "{out}");
        assert_eq!(ecr.token_calls.load(Ordering::SeqCst), i, "{out}");
        let seen = mark.requests_for(&format!("{ns}/nocache"));
        assert!(
            !seen.is_empty() && seen.iter().all(|q| q.status != 401),
            "{seen:?}"
        );
        assert_no_secret(&out, &secrets(&sb));
    }
    assert!(
        files_in(&sb.token_cache_dir()).is_empty(),
        "HELM_ECR_NO_TOKEN_CACHE=1 writes no cache"
    );
    assert!(!sb.registry_config().exists(), "no registry config written");
}

#[test]
fn secrets_stay_out_of_debug_output_on_failure_too() {
    // A refused token (the registry rejects even the fresh one) takes the
    // error paths: they must not print what was sent either.
    let lab = common::Lab::get();
    let mut sb = Sandbox::new();
    sb.set_env("HELM_ECR_RETRY_SCALE", "0.01");
    let chart = sb.seed_chart("refused");
    let front = ecr_api_front("GetAuthorizationToken", |req, moto| {
        let mut resp = forward(moto, req);
        // A token the registry does not accept.
        if resp.status == 200 {
            let mut v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            v["authorizationData"][0]["authorizationToken"] =
                common::base64_encode(b"AWS:refused-token-secret").into();
            resp.body = v.to_string().into_bytes();
        }
        resp
    });
    sb.set_env("AWS_ENDPOINT_URL_ECR", front.url());
    let remote = format!(
        "oci://{}/{}",
        lab.registry,
        common::unique_name("cli-refused")
    );
    let out = debug_push(&sb, &chart, &remote);
    assert_eq!(out.status.code(), Some(1), "{out}");
    let errors = out.plugin_errors();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].starts_with(&format!("Error: {}: ", path_str(&chart))),
        "{out}"
    );
    let mut all = secrets(&sb);
    all.push("refused-token-secret".into());
    all.push(common::base64_encode(b"AWS:refused-token-secret"));
    assert_no_secret(&out, &all);
}

// ------------------------------------------------------------------ rule 2, and one token per call

#[test]
fn registry_config_credentials_are_used_when_no_token_is_cached() {
    let lab = common::Lab::get();
    let (ecr, calls) = counting_ecr_front();
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.url());
    registry_config_with(&sb, &lab.registry, &lab.registry_password);
    let chart = sb.seed_chart("fromconfig");
    let ns = common::unique_name("cli-config");
    let mark = LogMark::new(&lab.registry_log);
    let remote = format!("oci://{}/{ns}", lab.registry);
    let out = push_chart(&sb, &chart, &remote, &["--plain-http"]);
    out.assert_ok();
    assert_eq!(results(&out)[0].verb, "Pushed", "{out}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no token: the config had one"
    );
    let seen = mark.requests_for(&format!("{ns}/fromconfig"));
    assert!(
        !seen.is_empty() && seen.iter().all(|q| q.status != 401),
        "{seen:?}"
    );
}

#[test]
fn many_charts_refused_stale_credentials_share_one_fresh_token() {
    // Every chart's first request is refused at about the same time; one
    // fresh token must serve them all.
    let lab = common::Lab::get();
    let (ecr, calls) = counting_ecr_front();
    let names = ["one", "two", "three", "four"];
    // Then no stale credentials, no cache: still one token for the whole
    // call (the second one the front has seen).
    for (stale, tokens) in [(Some("stale-token"), 1), (None, 2)] {
        let mut sb = Sandbox::new();
        sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.url());
        if let Some(password) = stale {
            registry_config_with(&sb, &lab.registry, password);
        }
        for n in names {
            sb.seed_chart(n);
        }
        let ns = common::unique_name("cli-one-token");
        let remote = format!("oci://{}/{ns}", lab.registry);
        let mut args: Vec<&str> = names.to_vec();
        args.extend([remote.as_str(), "--plain-http"]);
        let out = ecr_push(&sb, &args);
        out.assert_ok();
        let r = results(&out);
        assert_eq!(r.len(), names.len(), "{out}");
        assert!(r.iter().all(|l| l.verb == "Pushed"), "{out}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            tokens,
            "one token for all (stale: {stale:?}):\n{out}"
        );
    }
}

// ------------------------------------------------------------------ an ECR host name

/// An HTTPS_PROXY (CONNECT) that tunnels every host to `target`: makes an
/// ECR host name reach the lab's TLS registry.
fn connect_proxy(target: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    let addr = common::front::tcp_listen("127.0.0.1", move |mut conn| {
        let mut tunnel = || -> std::io::Result<()> {
            let mut reader = BufReader::new(conn.try_clone()?);
            let mut line = String::new();
            reader.read_line(&mut line)?;
            log.lock().unwrap().push(line.trim().to_string());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let up = std::net::TcpStream::connect(&target)?;
            conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            let (mut up_r, mut up_w) = (up.try_clone()?, up);
            let mut conn_w = conn.try_clone()?;
            let t = std::thread::spawn(move || std::io::copy(&mut up_r, &mut conn_w));
            // Bytes the reader buffered past the headers belong upstream.
            up_w.write_all(reader.buffer())?;
            let rest = reader.into_inner();
            common::front::pipe(rest, up_w);
            let _ = t.join();
            Ok(())
        };
        let _ = tunnel();
    });
    (addr, asked)
}

#[test]
fn an_ecr_host_name_sets_region_and_account_over_the_environment() {
    let lab = common::Lab::get();
    // Which region and registry the token was asked for.
    let asked: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let ecr = ecr_api_front("GetAuthorizationToken", {
        let asked = asked.clone();
        move |req, moto| {
            asked.lock().unwrap().push((
                req.header("authorization").unwrap_or("").to_string(),
                String::from_utf8_lossy(&req.body).into_owned(),
            ));
            forward(moto, req)
        }
    });
    let (proxy, tunnels) = connect_proxy(lab.registry_tls.clone());
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.url())
        .set_env("AWS_REGION", "us-west-2")
        .set_env("HTTPS_PROXY", format!("http://{proxy}"))
        // A request the proxy misroutes must fail in a moment, not in minutes.
        .set_env("HELM_ECR_TIMEOUT_SCALE", "0.05")
        .set_env("HELM_ECR_RETRY_SCALE", "0.01");
    let chart = sb.seed_chart("ecrname");
    let host = format!("{}.dkr.ecr.eu-west-1.amazonaws.com", lab.account);
    let ns = common::unique_name("cli-ecrname");
    // The lab certificate names 127.0.0.1, not the ECR host: --insecure.
    let out = push_chart(&sb, &chart, &format!("oci://{host}/{ns}"), &["--insecure"]);
    // Loopback (the ECR API here) never goes through the proxy; the
    // registry, named by its ECR host name, does.
    let through_proxy = tunnels.lock().unwrap().clone();
    assert!(
        !through_proxy.is_empty()
            && through_proxy
                .iter()
                .all(|t| t.starts_with(&format!("CONNECT {host}:443 "))),
        "only the registry may go through HTTPS_PROXY, not the loopback ECR API: {through_proxy:?}\n{out}"
    );
    out.assert_ok();
    let r = results(&out);
    assert_eq!(
        r[0].reference,
        format!("{host}/{ns}/ecrname:0.1.0"),
        "{out}"
    );
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 1, "one token");
    assert!(
        asked[0].0.contains("/eu-west-1/ecr/aws4_request"),
        "signed for the host's region, not AWS_REGION: {}",
        asked[0].0.split("Signature=").next().unwrap_or("")
    );
    let body: serde_json::Value = serde_json::from_str(&asked[0].1).unwrap();
    assert_eq!(
        body["registryIds"][0],
        lab.account.as_str(),
        "the host's account"
    );
    let raw = sb.skopeo_raw(&format!("{}/{ns}/ecrname:0.1.0", lab.registry_tls), false);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.assert_ok().stdout.as_bytes())),
        r[0].digest
    );
}

/// Rule 2 must not block rule 3: a registry config naming a credential store
/// that is not installed gets a warning, and the push goes on with a fresh
/// ECR token, leaving the config as it was.
#[test]
fn a_missing_credential_store_falls_through_to_a_fresh_token() {
    let lab = common::Lab::get();
    let sb = Sandbox::new();
    let config = r#"{"auths":{},"credsStore":"helm-ecr-test-not-installed"}"#;
    write(&sb.registry_config(), config);
    let chart = sb.seed_chart("nostore");
    let ns = common::unique_name("cli-nostore");
    let remote = format!("oci://{}/{ns}", lab.registry);

    let out = push_chart(&sb, &chart, &remote, &["--plain-http"]);
    out.assert_ok();
    assert_eq!(results(&out)[0].verb, "Pushed", "{out}");
    assert!(
        out.stderr.contains("Warning: ") && out.stderr.contains("helm-ecr-test-not-installed"),
        "the user is told the store was skipped: {out}"
    );
    assert_eq!(fs::read_to_string(sb.registry_config()).unwrap(), config);
}
