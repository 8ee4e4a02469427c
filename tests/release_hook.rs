//! Installing the checkout (no bin/) through the install hook: helm 3.10.1
//! and the current Helm 3 fetch the release from a local release server,
//! a wrong checksum installs nothing, cargo builds only when the release
//! lacks the platform. actionlint checks the workflows. The release comes
//! from scripts/release.sh once per test run (release_support).

mod common;
mod release_support;

use common::{path_str, plugin_names, run, stage_checkout, HelmCli, Lab, Sandbox, REPO};
use release_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

// ------------------------------------------------------------ Helm 3 and the hook

fn hook_sandbox(cli: HelmCli, release_url: &str) -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::bare_with(cli);
    let tools = tools_dir(sb.root(), &hook_tools());
    sb.set_env("PATH", &tools)
        .set_env("HELM_ECR_RELEASE_URL", release_url)
        .set_env("HELM_BIN", cli.path());
    let stage = stage_checkout(&sb);
    (sb, stage)
}

/// helm 3.10.1 and the current Helm 3 (and Helm 4, which runs the same
/// legacy hook when installing a directory).
#[test]
fn every_helm_installs_a_checkout_through_the_hook_from_a_release_server() {
    let r = release();
    let server = FileServer::start(r.out.clone());
    for cli in [HelmCli::V3_10, HelmCli::V3, HelmCli::V4] {
        let (sb, stage) = hook_sandbox(cli, &server.url);
        let before = server.requests().len();
        let out = sb.helm(&["plugin", "install", path_str(&stage)]);
        out.assert_ok();
        assert!(
            out.stderr.contains("sha256 checked"),
            "{}: {out}",
            cli.name()
        );
        assert!(!out.stderr.contains("cargo"), "{}: {out}", cli.name());
        let asked = server.requests()[before..].to_vec();
        assert_eq!(
            asked,
            ["/checksums.txt".to_string(), format!("/{}", r.archive())],
            "{}",
            cli.name()
        );
        assert_eq!(
            plugin_names(&sb, cli),
            ["ecr-login", "ecr-push"],
            "{}",
            cli.name()
        );
        let release_binary = fs::read(&r.binary).unwrap();
        for bin in [
            stage.join("bin/helm-ecr"),
            stage.join("plugins/ecr-login/bin/helm-ecr"),
        ] {
            assert!(
                fs::read(&bin).unwrap() == release_binary,
                "{}",
                bin.display()
            );
        }
        let version = sb.helm(&["ecr-login", "--version"]);
        version.assert_ok();
        assert!(version.stdout.contains(VERSION), "{version}");
        let login = sb.helm(&["ecr-login", &sb.lab.registry, "--password-stdout"]);
        login.assert_ok();
        assert_eq!(login.stdout.trim(), sb.lab.registry_password);
    }
}

#[test]
fn helm3_hook_with_a_wrong_checksum_installs_nothing() {
    let r = release();
    let sb_dir = common::TempDir::new("bad-release");
    let bad = sb_dir.path().to_path_buf();
    fs::copy(r.file(&r.archive()), bad.join(r.archive())).unwrap();
    let sums = fs::read_to_string(r.file("checksums.txt")).unwrap();
    let forged: String = sums
        .lines()
        .map(|l| {
            if l.ends_with(&r.archive()) {
                format!("{}{}\n", "0".repeat(64), &l[64..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(bad.join("checksums.txt"), forged).unwrap();
    let server = FileServer::start(bad);

    for cli in [HelmCli::V3_10, HelmCli::V3] {
        let (mut sb, stage) = hook_sandbox(cli, &server.url);
        let out = sb.helm(&["plugin", "install", path_str(&stage)]);
        out.assert_fail();
        // One line of ours, then Helm's "plugin install hook ... exited with error".
        let lines: Vec<&str> = out
            .stderr_lines()
            .into_iter()
            .filter(|l| !l.starts_with("helm-ecr: downloading "))
            .collect();
        assert_eq!(lines.len(), 2, "{}: {out}", cli.name());
        assert!(
            lines[0].starts_with("helm-ecr: error: checksum mismatch for helm-ecr-")
                && lines[0].ends_with("(nothing was installed: run the same 'helm plugin install' again once that is fixed)"),
            "{}: {out}",
            cli.name()
        );
        assert!(
            lines[1].contains("exited with error"),
            "{}: {out}",
            cli.name()
        );
        assert!(plugin_names(&sb, cli).is_empty(), "{}", cli.name());
        assert!(plugins_dir_entries(&sb).is_empty(), "{}", cli.name());
        assert!(!stage.join("bin").exists() && !stage.join("plugins/ecr-login/bin").exists());

        // Fixed (the right release), the same install then just works.
        let good = FileServer::start(r.out.clone());
        sb.set_env("HELM_ECR_RELEASE_URL", &good.url);
        sb.helm(&["plugin", "install", path_str(&stage)])
            .assert_ok();
        assert_eq!(plugin_names(&sb, cli), ["ecr-login", "ecr-push"]);
    }
}

#[test]
fn helm3_hook_without_a_release_or_cargo_says_so_and_installs_nothing() {
    let empty = common::TempDir::new("no-release");
    let server = FileServer::start(empty.path().to_path_buf());
    let (sb, stage) = hook_sandbox(HelmCli::V3_10, &server.url);
    let out = sb.helm(&["plugin", "install", path_str(&stage)]);
    out.assert_fail();
    let ours: Vec<&str> = out
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("helm-ecr: ") && !l.starts_with("helm-ecr: downloading "))
        .collect();
    assert_eq!(ours.len(), 1, "{out}");
    assert!(ours[0].starts_with("helm-ecr: error: "), "{out}");
    assert!(ours[0].contains("no release"), "{out}");
    assert!(ours[0].contains("cargo is not on PATH"), "{out}");
    assert!(plugins_dir_entries(&sb).is_empty());
}

// ------------------------------------------------------------ workflows

#[test]
fn actionlint_passes_on_every_workflow() {
    let lab = Lab::get();
    let dir = Path::new(REPO).join(".github/workflows");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"ci.yml".to_string()) && names.contains(&"release.yml".to_string()),
        "{names:?}"
    );
    let out = run(Command::new(&lab.actionlint)
        .arg("-no-color")
        .args(&files)
        .current_dir(REPO));
    out.assert_ok();
}

#[test]
fn helm3_hook_builds_with_cargo_only_when_the_release_lacks_the_platform() {
    // A release with a binary for another platform only.
    let r = release();
    let other = common::TempDir::new("other-platform");
    let sums = fs::read_to_string(r.file("checksums.txt")).unwrap();
    let line = sums.lines().find(|l| l.ends_with(&r.archive())).unwrap();
    let elsewhere = format!("helm-ecr-{VERSION}-darwin-arm64.tar.gz");
    fs::write(
        other.path().join("checksums.txt"),
        format!("{}  {elsewhere}\n", &line[..64]),
    )
    .unwrap();
    fs::copy(r.file(&r.archive()), other.path().join(&elsewhere)).unwrap();
    let server = FileServer::start(other.path().to_path_buf());

    let (mut sb, stage) = hook_sandbox(HelmCli::V3_10, &server.url);
    // A stand-in cargo that "builds" by copying the binary under test, and
    // records that it ran.
    let tools = sb.root().join("tools");
    let log = sb.root().join("cargo.log");
    common::fake_cargo(&tools, &log, "$*");
    let target = sb.root().join("target");
    sb.set_env("CARGO_TARGET_DIR", &target);

    let out = sb.helm(&["plugin", "install", path_str(&stage)]);
    out.assert_ok();
    assert!(
        out.stderr.contains(&format!(
            "no release binary to install (release {VERSION} has no binary for linux/amd64"
        )) && out.stderr.contains("building helm-ecr"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap().trim(),
        "build --release --locked"
    );
    assert_eq!(plugin_names(&sb, HelmCli::V3_10), ["ecr-login", "ecr-push"]);
    sb.helm(&["ecr-push", "--help"]).assert_ok();
    // The archive for another platform was never fetched.
    assert_eq!(server.requests(), ["/checksums.txt"]);
}
