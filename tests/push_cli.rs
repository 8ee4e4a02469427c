//! `helm ecr-push` end to end through the real helm 3.10.1 against the lab:
//! many charts in one call, text and JSON output, dry runs, the request
//! budget read from the registry's access log, the default (ECR) remote,
//! the auth rule of CLI.md, secrets kept out of every output, and
//! SOURCE_DATE_EPOCH.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod aws_support;
mod common;

use common::{path_str, write, LogMark, Output, PrivateRegistry, Request, Sandbox};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

// ------------------------------------------------------------------ helpers

/// `helm ecr-push ARGS...` in the sandbox (cwd = its work dir).
fn ecr_push(sb: &Sandbox, args: &[&str]) -> Output {
    let mut all = vec!["ecr-push"];
    all.extend_from_slice(args);
    sb.helm(&all)
}

/// One chart's result in the text output.
#[derive(Debug, PartialEq, Eq)]
struct Line {
    verb: String,
    reference: String,
    digest: String,
}

/// Parses the text output strictly: nothing but `VERB: REF` / `Digest: D`
/// pairs may be on stdout.
#[track_caller]
fn results(out: &Output) -> Vec<Line> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len().is_multiple_of(2), "odd number of lines:\n{out}");
    lines
        .chunks(2)
        .map(|pair| {
            let (verb, reference) = pair[0]
                .split_once(": ")
                .unwrap_or_else(|| panic!("not `VERB: REF`: {:?}\n{out}", pair[0]));
            let digest = pair[1]
                .strip_prefix("Digest: ")
                .unwrap_or_else(|| panic!("not `Digest: ...`: {:?}\n{out}", pair[1]));
            assert!(is_digest(digest), "bad digest {digest:?}\n{out}");
            assert!(!reference.contains("oci://"), "REF carries oci://\n{out}");
            Line {
                verb: verb.to_string(),
                reference: reference.to_string(),
                digest: digest.to_string(),
            }
        })
        .collect()
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Every stdout line is one JSON object; returns them.
#[track_caller]
fn json_lines(out: &Output) -> Vec<serde_json::Map<String, serde_json::Value>> {
    out.stdout
        .lines()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => panic!("stdout line is not a JSON object: {l:?}\n{out}"),
        })
        .collect()
}

#[track_caller]
fn assert_keys(o: &serde_json::Map<String, serde_json::Value>, failed: bool) {
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = vec!["chart", "digest", "ref", "size", "status", "version"];
    if failed {
        want.push("error");
        want.sort_unstable();
    }
    assert_eq!(keys, want, "{o:?}");
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A chart directory helm cannot load (no Chart.yaml).
fn broken_chart(sb: &Sandbox, name: &str) -> PathBuf {
    let dir = sb.work().join(name);
    write(&dir.join("values.yaml"), "replicaCount: 1\n");
    dir
}

/// A registry config of its own for `helm pull`, so the sandbox's own
/// (which the auth-rule tests control) stays as each test wants it.
fn pull_config(sb: &Sandbox) -> PathBuf {
    let path = sb.root().join("pull-registry-config.json");
    let auth = common::base64_encode(format!("AWS:{}", sb.lab.registry_password).as_bytes());
    write(
        &path,
        &format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            sb.lab.registry
        ),
    );
    path
}

/// helm 3.10.1 pulls `oci://REPO --version V`; returns the archive and the
/// digest helm reports.
fn helm_pull(sb: &Sandbox, repo: &str, version: &str) -> (PathBuf, String) {
    let dest = sb.root().join(common::unique_name("pulled"));
    fs::create_dir_all(&dest).expect("create pull dir");
    let config = pull_config(sb);
    let reference = format!("oci://{repo}");
    let mut args = vec![
        "pull",
        &reference,
        "--version",
        version,
        "-d",
        path_str(&dest),
        "--registry-config",
        path_str(&config),
    ];
    args.extend(sb.cli().plain_http());
    let out = sb.helm(&args);
    out.assert_ok();
    let digest = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("helm pull printed no digest:\n{out}"))
        .trim()
        .to_string();
    let name = repo.rsplit('/').next().expect("repo has a name");
    let tgz = dest.join(format!("{name}-{version}.tgz"));
    assert!(tgz.is_file(), "helm pull left no {}\n{out}", tgz.display());
    (tgz, digest)
}

/// The registry's writes: what a dry run or an unchanged push must not do.
fn writes(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .collect()
}

/// GET with the lab's Basic credentials from a plain-HTTP lab registry.
fn registry_get(addr: &str, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let lab = common::Lab::get();
    let auth = common::base64_encode(format!("AWS:{}", lab.registry_password).as_bytes());
    let mut resp = agent
        .get(format!("http://{addr}{path}"))
        .header("Accept", accept)
        .header("Authorization", format!("Basic {auth}"))
        .call()
        .expect("GET from a lab registry");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().expect("read the body");
    (status, body)
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The manifest of `repo:tag` (status, bytes).
fn manifest(addr: &str, repo: &str, tag: &str) -> (u16, Vec<u8>) {
    registry_get(addr, &format!("/v2/{repo}/manifests/{tag}"), MANIFEST_TYPE)
}

/// The secrets of the lab, in every form that could leak.
fn secrets(sb: &Sandbox) -> Vec<String> {
    let lab = sb.lab;
    vec![
        lab.secret_access_key.clone(),
        lab.registry_password.clone(),
        common::base64_encode(format!("AWS:{}", lab.registry_password).as_bytes()),
        common::base64_encode(lab.registry_password.as_bytes()),
    ]
}

#[track_caller]
fn assert_no_secret(out: &Output, secrets: &[String]) {
    for s in secrets {
        assert!(
            !out.stdout.contains(s.as_str()) && !out.stderr.contains(s.as_str()),
            "a secret ({} chars) appears in the output of {}",
            s.len(),
            out.command
        );
    }
}

/// Helm's registry config holding `password` for `host`.
fn registry_config_with(sb: &Sandbox, host: &str, password: &str) {
    let auth = common::base64_encode(format!("AWS:{password}").as_bytes());
    write(
        &sb.registry_config(),
        &format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    );
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ 1. many charts

#[test]
fn many_charts_in_input_order_pulled_back_and_a_broken_one_fails_alone() {
    let sb = Sandbox::new();
    let lab = sb.lab;
    sb.seed_chart("alpha");
    sb.seed_chart("bravo");
    let charlie = sb.seed_chart("charlie");
    sb.helm(&["package", path_str(&charlie), "-d", path_str(&sb.work())])
        .assert_ok();
    fs::remove_dir_all(&charlie).expect("only the archive stays");
    let tgz = "charlie-0.1.0.tgz";
    let tgz_bytes = fs::read(sb.work().join(tgz)).expect("helm package wrote the archive");

    // All good: the remote first (it may come anywhere), relative paths.
    let ns = common::unique_name("cli-many");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let out = ecr_push(&sb, &[&remote, "alpha", "bravo", tgz, "--plain-http"]);
    out.assert_ok();
    assert!(out.plugin_stderr_lines().is_empty(), "{out}");
    let first = results(&out);
    let names = ["alpha", "bravo", "charlie"];
    assert_eq!(first.len(), 3, "{out}");
    for (line, name) in first.iter().zip(names) {
        assert_eq!(line.verb, "Pushed", "{out}");
        assert_eq!(
            line.reference,
            format!("{}/{ns}/{name}:0.1.0", lab.registry),
            "{out}"
        );
        let (pulled, digest) = helm_pull(&sb, &format!("{}/{ns}/{name}", lab.registry), "0.1.0");
        assert_eq!(digest, line.digest, "helm pull sees the digest we printed");
        if name == "charlie" {
            // A packaged chart is pushed as it is, byte for byte.
            assert_eq!(fs::read(&pulled).unwrap(), tgz_bytes);
        }
        let shown = sb.helm(&["show", "chart", path_str(&pulled)]);
        assert!(
            shown.assert_ok().stdout.contains(&format!("name: {name}")),
            "{shown}"
        );
    }

    // A broken chart in the middle fails alone; the others still land.
    broken_chart(&sb, "broken");
    let ns2 = common::unique_name("cli-many-broken");
    let remote2 = format!("oci://{}/{ns2}", lab.registry);
    let out = ecr_push(
        &sb,
        &["alpha", "broken", "bravo", &remote2, tgz, "--plain-http"],
    );
    out.assert_fail();
    assert_eq!(out.status.code(), Some(1), "{out}");
    let errors = out.plugin_stderr_lines();
    assert_eq!(errors.len(), 1, "one line for the one failure:\n{out}");
    assert!(
        errors[0].starts_with("Error: broken: ") && errors[0].contains("Chart.yaml"),
        "{out}"
    );
    let second = results(&out);
    assert_eq!(second.len(), 3, "{out}");
    for ((line, name), before) in second.iter().zip(names).zip(&first) {
        assert_eq!(line.verb, "Pushed", "{out}");
        assert_eq!(
            line.reference,
            format!("{}/{ns2}/{name}:0.1.0", lab.registry)
        );
        // Same chart, same artifact, wherever it goes.
        assert_eq!(line.digest, before.digest, "{name} is reproducible");
        let (_, digest) = helm_pull(&sb, &format!("{}/{ns2}/{name}", lab.registry), "0.1.0");
        assert_eq!(digest, line.digest);
    }
    // Nothing was pushed for the broken chart.
    let (status, _) = registry_get(
        &lab.registry,
        &format!("/v2/{ns2}/broken/tags/list"),
        "application/json",
    );
    assert_eq!(status, 404, "no repository for the broken chart");
}

// ------------------------------------------------------------------ 2. JSON and dry run

#[test]
fn json_lines_pushed_then_unchanged_then_dry_run_writes_nothing() {
    let reg = PrivateRegistry::start();
    let sb = Sandbox::new();
    let chart = sb.seed_chart("jchart");
    broken_chart(&sb, "jbroken");
    let ns = common::unique_name("cli-json");
    let remote = format!("oci://{}/{ns}", reg.addr);
    let repo = format!("{ns}/jchart");
    let reference = format!("{}/{repo}:0.1.0", reg.addr);
    let push = |extra: &[&str]| {
        let mut args = vec![
            path_str(&chart),
            &remote,
            "--plain-http",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        ecr_push(&sb, &args)
    };

    let out = push(&[]);
    out.assert_ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    let o = &lines[0];
    assert_keys(o, false);
    assert_eq!(o["status"], "pushed", "{out}");
    assert_eq!(o["ref"], reference.as_str());
    assert_eq!(o["chart"], "jchart");
    assert_eq!(o["version"], "0.1.0");
    // digest and size are what the registry holds.
    let (status, bytes) = manifest(&reg.addr, &repo, "0.1.0");
    assert_eq!(status, 200);
    assert_eq!(
        o["digest"],
        format!("sha256:{}", sha256_hex(&bytes)).as_str()
    );
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        o["size"], m["layers"][0]["size"],
        "size = the chart archive"
    );
    let digest = o["digest"].clone();

    let out = push(&[]);
    out.assert_ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert_keys(&lines[0], false);
    assert_eq!(lines[0]["status"], "unchanged", "{out}");
    assert_eq!(lines[0]["digest"], digest);

    // A dry run of a new version, with a broken chart alongside.
    let mark = reg.mark();
    let out = push(&["--dry-run", "--version", "0.2.0", "./jbroken"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "one object per chart:\n{out}");
    let dry = &lines[0];
    assert_keys(dry, false);
    assert_eq!(dry["status"], "dry-run", "{out}");
    assert_eq!(dry["ref"], format!("{}/{repo}:0.2.0", reg.addr).as_str());
    assert_eq!(dry["version"], "0.2.0");
    assert!(is_digest(dry["digest"].as_str().unwrap()), "{out}");
    assert_ne!(dry["digest"], digest, "a new version is a new artifact");
    let failed = &lines[1];
    assert_keys(failed, true);
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("Chart.yaml"),
        "{out}"
    );
    let seen = mark.requests();
    assert!(
        !seen.is_empty(),
        "the dry run asked whether the chart is there"
    );
    assert!(writes(&seen).is_empty(), "a dry run wrote: {seen:?}");
    assert_eq!(manifest(&reg.addr, &repo, "0.2.0").0, 404);

    // A dry run of what is there already says so.
    let out = push(&["--dry-run"]);
    out.assert_ok();
    assert_eq!(json_lines(&out)[0]["status"], "unchanged", "{out}");
}

// ------------------------------------------------------------------ 3. request budget

/// Pushes a new chart and re-pushes it, checking the request budget at the
/// registry: a new chart <= 7 requests and no 401, unchanged <= 3 and no
/// write.
fn push_within_budget(sb: &Sandbox, reg: &PrivateRegistry, name: &str) {
    let chart = sb.seed_chart(name);
    let ns = common::unique_name("cli-budget");
    let remote = format!("oci://{}/{ns}", reg.addr);
    let reference = format!("{}/{ns}/{name}:0.1.0", reg.addr);

    let mark = reg.mark();
    let out = ecr_push(sb, &[path_str(&chart), &remote, "--plain-http"]);
    out.assert_ok();
    let r = results(&out);
    assert_eq!(
        (r[0].verb.as_str(), r[0].reference.as_str()),
        ("Pushed", reference.as_str())
    );
    let seen = mark.requests();
    assert!(
        seen.len() <= 7,
        "{} requests for a new chart: {seen:?}",
        seen.len()
    );
    assert!(seen.iter().all(|q| q.status != 401), "a 401: {seen:?}");
    assert!(
        seen.iter()
            .any(|q| q.method == "PUT" && q.path.contains("/manifests/") && q.status == 201),
        "the manifest went in: {seen:?}"
    );

    let mark = reg.mark();
    let out = ecr_push(sb, &[path_str(&chart), &remote, "--plain-http"]);
    out.assert_ok();
    let again = results(&out);
    assert_eq!(again.len(), 1, "{out}");
    assert_eq!(again[0].verb, "Unchanged", "{out}");
    assert_eq!(again[0].reference, reference);
    assert_eq!(again[0].digest, r[0].digest);
    let seen = mark.requests();
    assert!(
        seen.len() <= 3,
        "{} requests for an unchanged chart: {seen:?}",
        seen.len()
    );
    assert!(!seen.is_empty(), "the registry was asked: {seen:?}");
    assert!(
        writes(&seen).is_empty(),
        "an unchanged push wrote: {seen:?}"
    );
    assert!(seen.iter().all(|q| q.status != 401), "a 401: {seen:?}");
}

#[test]
fn request_budget_with_a_cold_token() {
    // moto's tokens expired in 2015: never cached, so every push fetches one.
    let reg = PrivateRegistry::start();
    let sb = Sandbox::new();
    push_within_budget(&sb, &reg, "cold");
    assert!(
        files_in(&sb.token_cache_dir()).is_empty(),
        "an expired token was cached"
    );
}

#[test]
fn request_budget_with_a_warm_token_cache() {
    let reg = PrivateRegistry::start();
    // A front before moto gives tokens a 12-hour life and counts the calls.
    let ecr = aws_support::front(&common::Lab::get().ecr_endpoint);
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.stub.url());
    push_within_budget(&sb, &reg, "warmup");
    let fetched = ecr.token_calls.load(Ordering::SeqCst);
    assert_eq!(
        fetched, 1,
        "one token for two pushes (the second from the cache)"
    );
    push_within_budget(&sb, &reg, "warm");
    assert_eq!(
        ecr.token_calls.load(Ordering::SeqCst),
        fetched,
        "a warm cache makes no token call"
    );
}

// ------------------------------------------------------------------ 4. no remote

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
        assert_eq!(out.status.code(), Some(1), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
        let errors = out.plugin_stderr_lines();
        assert_eq!(errors.len(), 1, "one line:\n{out}");
        assert!(
            errors[0].starts_with("Error: ./remoteless: ") && errors[0].contains(&host),
            "names the chart and the default registry:\n{out}"
        );
        assert!(
            errors[0].contains("oci://HOST/NAMESPACE"),
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

// ------------------------------------------------------------------ 5. the auth rule

#[test]
fn wrong_password_in_registry_config_gets_one_fresh_token() {
    let lab = common::Lab::get();
    let ecr = aws_support::front(&lab.ecr_endpoint);
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.stub.url());
    let wrong = "not-the-password-0123";
    registry_config_with(&sb, &lab.registry, wrong);
    let config_before = fs::read(sb.registry_config()).unwrap();
    let chart = sb.seed_chart("authrule");
    let ns = common::unique_name("cli-auth");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let mark = LogMark::new(&lab.registry_log);

    let out = sb.helm(&[
        "--debug",
        "ecr-push",
        path_str(&chart),
        &remote,
        "--plain-http",
    ]);
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
    let out = sb.helm(&[
        "--debug",
        "ecr-push",
        path_str(&other),
        &remote,
        "--plain-http",
    ]);
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
    let ecr = aws_support::front(&lab.ecr_endpoint);
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.stub.url())
        .set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
    let chart = sb.seed_chart("nocache");
    let ns = common::unique_name("cli-nocache");
    let remote = format!("oci://{}/{ns}", lab.registry);
    for (i, verb) in [(1, "Pushed"), (2, "Unchanged")] {
        let mark = LogMark::new(&lab.registry_log);
        let out = sb.helm(&[
            "--debug",
            "ecr-push",
            path_str(&chart),
            &remote,
            "--plain-http",
        ]);
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
    let front = aws_support::serve({
        let upstream = lab.ecr_endpoint.clone();
        move |req| {
            let mut resp = aws_support::forward(&upstream, req);
            // A token the registry does not accept.
            if resp.status == 200
                && req
                    .header("x-amz-target")
                    .is_some_and(|t| t.ends_with(".GetAuthorizationToken"))
            {
                let mut v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
                v["authorizationData"][0]["authorizationToken"] =
                    common::base64_encode(b"AWS:refused-token-secret").into();
                resp.body = v.to_string().into_bytes();
            }
            resp
        }
    });
    sb.set_env("AWS_ENDPOINT_URL_ECR", front.url());
    let remote = format!(
        "oci://{}/{}",
        lab.registry,
        common::unique_name("cli-refused")
    );
    let out = sb.helm(&[
        "--debug",
        "ecr-push",
        path_str(&chart),
        &remote,
        "--plain-http",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    let errors: Vec<&str> = out
        .plugin_stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("Error:"))
        .collect();
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

// ------------------------------------------------------------------ 6. SOURCE_DATE_EPOCH

/// Sets the mtime of every file under `dir`.
fn touch_tree(dir: &Path, when: std::time::SystemTime) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            touch_tree(&path, when);
        } else {
            fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(when))
                .unwrap_or_else(|e| panic!("touch {}: {e}", path.display()));
        }
    }
}

#[test]
fn source_date_epoch_sets_created_and_keeps_digests_reproducible() {
    let mut sb = Sandbox::new();
    let lab = sb.lab;
    let one = sb.seed_chart_in(&sb.work().join("one"), "sde");
    let two = sb.work().join("two/sde");
    common::copy_tree(&one, &two);
    touch_tree(
        &two,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
    );
    let push = |sb: &Sandbox, chart: &Path| -> (String, serde_json::Value) {
        let ns = common::unique_name("cli-sde");
        let out = ecr_push(
            sb,
            &[
                path_str(chart),
                &format!("oci://{}/{ns}", lab.registry),
                "--plain-http",
            ],
        );
        out.assert_ok();
        let digest = results(&out)[0].digest.clone();
        let raw = sb.skopeo_raw(&format!("{}/{ns}/sde:0.1.0", lab.registry), false);
        let m: serde_json::Value = serde_json::from_str(&raw.assert_ok().stdout).unwrap();
        assert_eq!(
            format!("sha256:{}", sha256_hex(raw.stdout.as_bytes())),
            digest,
            "the printed digest is the stored manifest's"
        );
        (digest, m)
    };

    sb.set_env("SOURCE_DATE_EPOCH", "1700000000");
    let (d1, m1) = push(&sb, &one);
    let (d2, _) = push(&sb, &two);
    assert_eq!(d1, d2, "different mtimes, same manifest");
    assert_eq!(
        m1["annotations"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z",
        "{m1}"
    );

    sb.unset_env("SOURCE_DATE_EPOCH");
    let (d3, m3) = push(&sb, &one);
    let (d4, _) = push(&sb, &two);
    assert_eq!(d3, d4, "reproducible without SOURCE_DATE_EPOCH too");
    assert_ne!(d1, d3);
    let annotations = m3["annotations"].as_object().expect("annotations");
    assert!(
        !annotations.contains_key("org.opencontainers.image.created"),
        "{m3}"
    );
    assert_eq!(annotations["org.opencontainers.image.title"], "sde");
}

// ------------------------------------------------------------------ one target, two charts

#[test]
fn two_charts_for_one_tag_with_different_content_are_refused_not_raced() {
    // `helm package` writes other bytes than we do, so the directory and its
    // helm-made archive are two artifacts for one tag: pushed at once, the
    // tag would end at either, and both would be reported pushed.
    let sb = Sandbox::new();
    let lab = sb.lab;
    let dir = sb.seed_chart("twin");
    sb.helm(&["package", path_str(&dir), "-d", path_str(&sb.work())])
        .assert_ok();
    let ns = common::unique_name("cli-twin");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let reference = format!("{}/{ns}/twin:0.1.0", lab.registry);

    let out = ecr_push(&sb, &["twin", "twin-0.1.0.tgz", &remote, "--plain-http"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    let pushed = results(&out);
    assert_eq!(pushed.len(), 1, "only the first chart is pushed:\n{out}");
    assert_eq!(pushed[0].reference, reference);
    let errors = out.plugin_stderr_lines();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].starts_with("Error: twin-0.1.0.tgz: ")
            && errors[0].contains(&reference)
            && errors[0].contains("twin"),
        "names the target and the other chart:\n{out}"
    );
    let (status, bytes) = manifest(&lab.registry, &format!("{ns}/twin"), "0.1.0");
    assert_eq!(status, 200);
    assert_eq!(format!("sha256:{}", sha256_hex(&bytes)), pushed[0].digest);

    // The same chart twice is no conflict: one artifact.
    let out = ecr_push(&sb, &["twin", "./twin", &remote, "--plain-http"]);
    out.assert_ok();
    let r = results(&out);
    assert_eq!(r.len(), 2, "{out}");
    assert!(r.iter().all(|l| l.digest == pushed[0].digest), "{out}");
}

// ------------------------------------------------------------------ rule 2, and one token per call

/// A front before moto that counts GetAuthorizationToken and changes
/// nothing (moto's tokens stay expired, so none is ever cached).
fn counting_ecr_front() -> (
    aws_support::Stub,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, moto) = (calls.clone(), common::Lab::get().ecr_endpoint.clone());
    let stub = aws_support::serve(move |req| {
        if req
            .header("x-amz-target")
            .is_some_and(|t| t.ends_with(".GetAuthorizationToken"))
        {
            c.fetch_add(1, Ordering::SeqCst);
        }
        aws_support::forward(&moto, req)
    });
    (stub, calls)
}

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
    let out = ecr_push(
        &sb,
        &[
            path_str(&chart),
            &format!("oci://{}/{ns}", lab.registry),
            "--plain-http",
        ],
    );
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
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.url());
    registry_config_with(&sb, &lab.registry, "stale-token");
    let names = ["one", "two", "three", "four"];
    for n in names {
        sb.seed_chart(n);
    }
    let ns = common::unique_name("cli-stale");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let mut args: Vec<&str> = names.to_vec();
    args.extend([remote.as_str(), "--plain-http"]);
    let out = ecr_push(&sb, &args);
    out.assert_ok();
    let r = results(&out);
    assert_eq!(r.len(), names.len(), "{out}");
    assert!(r.iter().all(|l| l.verb == "Pushed"), "{out}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one token for all:\n{out}");

    // No stale credentials, no cache: still one token for the whole call.
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.url());
    for n in names {
        sb.seed_chart(n);
    }
    let ns = common::unique_name("cli-one-token");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let mut args: Vec<&str> = names.to_vec();
    args.extend([remote.as_str(), "--plain-http"]);
    ecr_push(&sb, &args).assert_ok();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one more token for the second call"
    );
}

// ------------------------------------------------------------------ TLS through helm

#[test]
fn tls_registry_with_ca_file_insecure_and_untrusted() {
    let sb = Sandbox::new();
    let lab = sb.lab;
    let chart = sb.seed_chart("tlschart");
    let ns = common::unique_name("cli-tls");
    let remote = format!("oci://{}/{ns}", lab.registry_tls);
    let reference = format!("{}/{ns}/tlschart:0.1.0", lab.registry_tls);

    // Untrusted: one line that says what to do, nothing pushed.
    let mark = LogMark::new(&lab.registry_tls_log);
    let out = ecr_push(&sb, &[path_str(&chart), &remote]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    let errors = out.plugin_stderr_lines();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].contains("--ca-file") && errors[0].contains("--insecure"),
        "{out}"
    );
    assert!(
        mark.requests_for(&format!("{ns}/tlschart")).is_empty(),
        "no request completed over an unverified connection"
    );

    let out = ecr_push(
        &sb,
        &[
            path_str(&chart),
            &remote,
            "--ca-file",
            path_str(&lab.ca_file),
        ],
    );
    out.assert_ok();
    let r = results(&out);
    assert_eq!(
        (r[0].verb.as_str(), r[0].reference.as_str()),
        ("Pushed", reference.as_str())
    );
    let raw = sb.skopeo_raw(&reference, false);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.assert_ok().stdout.as_bytes())),
        r[0].digest
    );

    // --insecure (helm 3.10 refuses --insecure-skip-tls-verify on plugins).
    let out = ecr_push(&sb, &[path_str(&chart), &remote, "--insecure"]);
    out.assert_ok();
    assert_eq!(results(&out)[0].verb, "Unchanged", "{out}");
}

// ------------------------------------------------------------------ an ECR host name

/// An HTTPS_PROXY (CONNECT) that tunnels every host to `target`: makes an
/// ECR host name reach the lab's TLS registry.
fn connect_proxy(target: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address").to_string();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let (target, log) = (target.clone(), log.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
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
                let mut rest = reader.into_inner();
                let _ = std::io::copy(&mut rest, &mut up_w);
                let _ = up_w.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
                Ok(())
            });
        }
    });
    (addr, asked)
}

#[test]
fn an_ecr_host_name_sets_region_and_account_over_the_environment() {
    let lab = common::Lab::get();
    // Which region and registry the token was asked for.
    let asked: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let ecr = aws_support::serve({
        let (asked, moto) = (asked.clone(), lab.ecr_endpoint.clone());
        move |req| {
            if req
                .header("x-amz-target")
                .is_some_and(|t| t.ends_with(".GetAuthorizationToken"))
            {
                asked.lock().unwrap().push((
                    req.header("authorization").unwrap_or("").to_string(),
                    String::from_utf8_lossy(&req.body).into_owned(),
                ));
            }
            aws_support::forward(&moto, req)
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
    let out = ecr_push(
        &sb,
        &[
            path_str(&chart),
            &format!("oci://{host}/{ns}"),
            "--insecure",
        ],
    );
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

    let out = sb.helm(&["ecr-push", path_str(&chart), &remote, "--plain-http"]);
    out.assert_ok();
    assert_eq!(results(&out)[0].verb, "Pushed", "{out}");
    assert!(
        out.stderr.contains("Warning: ") && out.stderr.contains("helm-ecr-test-not-installed"),
        "the user is told the store was skipped: {out}"
    );
    assert_eq!(fs::read_to_string(sb.registry_config()).unwrap(), config);
}

// ------------------------------------------------------------------ a remote that is not oci://

#[test]
fn a_url_that_is_not_oci_is_refused_before_anything_is_packaged_or_pushed() {
    // Taken for a chart path, `http://...` once let `./good` go to the
    // account's default registry. Nothing may move: no token fetched, no
    // archive written, no request to the registry named.
    let lab = common::Lab::get();
    let (ecr, calls) = counting_ecr_front();
    for cli in common::HelmCli::all() {
        calls.store(0, Ordering::SeqCst);
        let mut sb = Sandbox::with_helm(cli);
        sb.set_env("AWS_ENDPOINT_URL_ECR", ecr.url());
        sb.seed_chart("good");
        let dest = sb.root().join("dest");
        fs::create_dir_all(&dest).expect("create the destination");
        let ns = common::unique_name("cli-notoci");
        let mark = LogMark::new(&lab.registry_log);
        for remote in [
            format!("http://{}/{ns}", lab.registry),
            format!("https://{}/{ns}", lab.registry),
            format!("{}/{ns}", lab.registry),
        ] {
            let out = ecr_push(&sb, &["./good", &remote, "--destination", path_str(&dest)]);
            assert_eq!(out.status.code(), Some(1), "{}: {out}", cli.name());
            assert!(out.stdout.is_empty(), "{}: {out}", cli.name());
            let errors = out.plugin_stderr_lines();
            assert_eq!(errors.len(), 1, "{}: one line:\n{out}", cli.name());
            assert!(
                errors[0].contains(&remote) && errors[0].contains("must start with oci://"),
                "{}: names the argument and what a remote is:\n{out}",
                cli.name()
            );
            assert!(
                files_in(&dest).is_empty(),
                "{}: nothing packaged",
                cli.name()
            );
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "{}: no token fetched",
            cli.name()
        );
        assert!(mark.requests_for(&ns).is_empty(), "{}", cli.name());

        // A directory named like HOST:PORT/NAME is a chart, as on disk.
        let odd = sb.work().join("127.0.0.1:5000");
        fs::create_dir_all(&odd).expect("create the odd directory");
        sb.seed_chart_in(&odd, "odd");
        let out = ecr_push(
            &sb,
            &[
                "127.0.0.1:5000/odd",
                &format!("oci://{}/{ns}", lab.registry),
                "--plain-http",
            ],
        );
        out.assert_ok();
        assert_eq!(
            results(&out)[0].reference,
            format!("{}/{ns}/odd:0.1.0", lab.registry),
            "{}: {out}",
            cli.name()
        );
    }
}

// ------------------------------------------------------------------ --plain-http against TLS

/// A TLS port that resets plain-HTTP requests (as TLS terminators do, where
/// the lab's Go registry answers 400): a connection whose first byte opens
/// a TLS handshake is relayed to the lab's TLS registry, any other is read
/// a little and dropped with bytes unread, which makes the close a reset.
/// Returns the address and the count of plain connections.
fn tls_port_that_resets_plain_http(
    ip: &str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind((ip, 0)).expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let plain = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (p, upstream) = (plain.clone(), common::Lab::get().registry_tls.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let (p, upstream) = (p.clone(), upstream.clone());
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                if conn.read_exact(&mut first).is_err() {
                    return;
                }
                if first[0] != 0x16 {
                    p.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
                    return;
                };
                if up.write_all(&first).is_err() {
                    return;
                }
                let (Ok(mut c2), Ok(mut u2)) = (conn.try_clone(), up.try_clone()) else {
                    return;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut conn, &mut up);
                let _ = up.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, plain)
}

#[test]
fn plain_http_to_a_tls_port_that_resets_says_drop_plain_http_without_retrying() {
    let (addr, plain) = tls_port_that_resets_plain_http("127.0.0.1");
    for cli in common::HelmCli::all() {
        let sb = Sandbox::with_helm(cli);
        let chart = sb.seed_chart("tlsport");
        let ns = common::unique_name("cli-tlsport");
        let before = plain.load(Ordering::SeqCst);
        let out = ecr_push(
            &sb,
            &[
                path_str(&chart),
                &format!("oci://{addr}/{ns}"),
                "--plain-http",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}: {out}", cli.name());
        let errors = out.plugin_stderr_lines();
        assert_eq!(errors.len(), 1, "{}: one line:\n{out}", cli.name());
        assert!(
            errors[0].contains("speaks HTTPS") && errors[0].contains("drop --plain-http"),
            "{}: says what to do:\n{out}",
            cli.name()
        );
        assert_eq!(
            plain.load(Ordering::SeqCst) - before,
            1,
            "{}: a TLS port is not asked again in plain HTTP",
            cli.name()
        );

        // Without the flag the same port takes the push (its TLS is the lab
        // registry's).
        let out = ecr_push(
            &sb,
            &[
                path_str(&chart),
                &format!("oci://{addr}/{ns}"),
                "--ca-file",
                path_str(&sb.lab.ca_file),
            ],
        );
        out.assert_ok();
    }
}

#[test]
fn a_certificate_for_another_name_with_ca_file_given_does_not_advise_ca_file() {
    // 127.0.0.2 is loopback too, and not in the lab certificate (which
    // names 127.0.0.1 and localhost): the CA is right, the name is not.
    let lab = common::Lab::get();
    let (addr, _) = tls_port_that_resets_plain_http("127.0.0.2");
    for cli in common::HelmCli::all() {
        let sb = Sandbox::with_helm(cli);
        let chart = sb.seed_chart("othername");
        let ns = common::unique_name("cli-othername");
        let mark = LogMark::new(&lab.registry_tls_log);
        let out = ecr_push(
            &sb,
            &[
                path_str(&chart),
                &format!("oci://{addr}/{ns}"),
                "--ca-file",
                path_str(&lab.ca_file),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}: {out}", cli.name());
        let errors = out.plugin_stderr_lines();
        assert_eq!(errors.len(), 1, "{}: one line:\n{out}", cli.name());
        assert!(
            errors[0].contains("not issued for 127.0.0.2")
                && errors[0].contains("--insecure")
                && !errors[0].contains("--ca-file"),
            "{}: names the mismatch, not the CA:\n{out}",
            cli.name()
        );
        assert!(mark.requests_for(&ns).is_empty(), "{}", cli.name());
    }
}

// ------------------------------------------------------------------ a full disk

/// A 256 KiB tmpfs, unmounted again whatever the test's outcome.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// None where this user cannot mount (not root, no tmpfs): there the
    /// case cannot be made, and the test says so.
    fn mount(at: PathBuf) -> Option<SmallDisk> {
        fs::create_dir_all(&at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_says_whether_it_is_the_destination_or_tmpdir() {
    let lab = common::Lab::get();
    for cli in common::HelmCli::all() {
        let mut sb = Sandbox::with_helm(cli);
        let Some(disk) = SmallDisk::mount(sb.root().join("small")) else {
            eprintln!("cannot mount a tmpfs here (not root?): nothing to test");
            return;
        };
        let chart = sb.seed_chart("big");
        // 1 MiB that does not compress: the archive cannot fit in 256 KiB.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let noise: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fs::write(chart.join("files.bin"), noise).expect("write the big file");
        let ns = common::unique_name("cli-full");
        let remote = format!("oci://{}/{ns}", lab.registry);
        let mark = LogMark::new(&lab.registry_log);

        let dest = disk.0.join("dest");
        let out = ecr_push(
            &sb,
            &[
                path_str(&chart),
                &remote,
                "--plain-http",
                "--destination",
                path_str(&dest),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}: {out}", cli.name());
        let errors = out.plugin_stderr_lines();
        assert_eq!(errors.len(), 1, "{}: one line:\n{out}", cli.name());
        assert!(
            errors[0].contains(&format!("--destination {}", dest.display()))
                && errors[0].contains("No space left")
                && !errors[0].contains("TMPDIR"),
            "{}: names --destination:\n{out}",
            cli.name()
        );
        assert!(files_in(&dest).is_empty(), "{}: nothing left", cli.name());

        let tmp = disk.0.join("tmp");
        fs::create_dir_all(&tmp).expect("create the small TMPDIR");
        sb.set_env("TMPDIR", &tmp);
        let out = ecr_push(&sb, &[path_str(&chart), &remote, "--plain-http"]);
        assert_eq!(out.status.code(), Some(1), "{}: {out}", cli.name());
        let errors = out.plugin_stderr_lines();
        assert_eq!(errors.len(), 1, "{}: one line:\n{out}", cli.name());
        assert!(
            errors[0].contains("TMPDIR")
                && errors[0].contains(&tmp.display().to_string())
                && errors[0].contains("No space left")
                && !errors[0].contains("--destination"),
            "{}: names TMPDIR:\n{out}",
            cli.name()
        );
        assert!(files_in(&tmp).is_empty(), "{}: nothing left", cli.name());
        assert!(
            mark.requests_for(&ns).is_empty(),
            "{}: nothing pushed",
            cli.name()
        );
    }
}
