//! `helm ecr-push` end to end through the real helm against the lab: many
//! charts in one call, text and JSON output, dry runs, the request budget
//! read from the registry's access log, SOURCE_DATE_EPOCH, remotes that are
//! not oci:// and a full disk. The auth rule is in push_auth.rs, TLS in
//! push_tls.rs.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod aws_support;
mod common;
mod push_support;

use common::{ecr_push, failure_line, path_str, push_chart, LogMark, PrivateRegistry, Sandbox};
use push_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

// ------------------------------------------------------------------ many charts

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
    let error = failure_line(&out, "the one failure");
    assert!(
        error.starts_with("Error: broken: ") && error.contains("Chart.yaml"),
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

// ------------------------------------------------------------------ JSON and dry run

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
        let flags = [&["--plain-http", "--output", "json"][..], extra].concat();
        push_chart(&sb, &chart, &remote, &flags)
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

// ------------------------------------------------------------------ request budget

/// Pushes a new chart and re-pushes it, checking the request budget at the
/// registry: a new chart <= 7 requests and no 401, unchanged <= 3 and no
/// write.
fn push_within_budget(sb: &Sandbox, reg: &PrivateRegistry, name: &str) {
    let chart = sb.seed_chart(name);
    let ns = common::unique_name("cli-budget");
    let remote = format!("oci://{}/{ns}", reg.addr);
    let reference = format!("{}/{ns}/{name}:0.1.0", reg.addr);

    let mark = reg.mark();
    let out = push_chart(sb, &chart, &remote, &["--plain-http"]);
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
    let out = push_chart(sb, &chart, &remote, &["--plain-http"]);
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

// ------------------------------------------------------------------ SOURCE_DATE_EPOCH

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
        let out = push_chart(
            sb,
            chart,
            &format!("oci://{}/{ns}", lab.registry),
            &["--plain-http"],
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
    let error = failure_line(&out, "");
    let pushed = results(&out);
    assert_eq!(pushed.len(), 1, "only the first chart is pushed:\n{out}");
    assert_eq!(pushed[0].reference, reference);
    assert!(
        error.starts_with("Error: twin-0.1.0.tgz: ")
            && error.contains(&reference)
            && error.contains("twin"),
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
            let error = failure_line(&out, cli.name());
            assert!(out.stdout.is_empty(), "{}: {out}", cli.name());
            assert!(
                error.contains(&remote) && error.contains("must start with oci://"),
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
        let out = push_chart(
            &sb,
            Path::new("127.0.0.1:5000/odd"),
            &format!("oci://{}/{ns}", lab.registry),
            &["--plain-http"],
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
        let out = push_chart(
            &sb,
            &chart,
            &remote,
            &["--plain-http", "--destination", path_str(&dest)],
        );
        let error = failure_line(&out, cli.name());
        assert!(
            error.contains(&format!("--destination {}", dest.display()))
                && error.contains("No space left")
                && !error.contains("TMPDIR"),
            "{}: names --destination:\n{out}",
            cli.name()
        );
        assert!(files_in(&dest).is_empty(), "{}: nothing left", cli.name());

        let tmp = disk.0.join("tmp");
        fs::create_dir_all(&tmp).expect("create the small TMPDIR");
        sb.set_env("TMPDIR", &tmp);
        let out = push_chart(&sb, &chart, &remote, &["--plain-http"]);
        let error = failure_line(&out, cli.name());
        assert!(
            error.contains("TMPDIR")
                && error.contains(&tmp.display().to_string())
                && error.contains("No space left")
                && !error.contains("--destination"),
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
