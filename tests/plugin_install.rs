//! Both plugins in every Helm we support (helm 3.10.1, the current Helm 3,
//! the current Helm 4): scripts/install.sh from the checkout (re-runnable),
//! completion, help, the install hook building when no binary is there, and
//! uninstall leaving nothing behind.

mod common;

use common::{run, HelmCli, Output, Sandbox, REPO};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A command with the sandbox's environment (throwaway Helm dirs, HOME),
/// plus what cargo needs to find its toolchain despite that HOME.
fn sh(sb: &Sandbox, script: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg(script)
        .env_clear()
        .envs(sb.env())
        .env("HELM_BIN", sb.cli().path())
        .current_dir(sb.work());
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        let value = std::env::var_os(var).unwrap_or_else(|| home.join(default).into());
        cmd.env(var, value);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    cmd
}

fn assert_uninstall_leaves_nothing(sb: &Sandbox) {
    sb.helm(&["plugin", "uninstall", "ecr-push", "ecr-login"])
        .assert_ok();
    assert!(common::plugin_names(sb, sb.cli()).is_empty());
    let plugins = sb.data_home().join("plugins");
    let left: Vec<_> = fs::read_dir(&plugins)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", plugins.display());
}

fn completions(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn install_script_installs_both_plugins_reruns_and_uninstalls_cleanly() {
    for cli in HelmCli::all() {
        let sb = Sandbox::bare_with(cli);
        let script = Path::new(REPO).join("scripts/install.sh");
        let out = run(&mut sh(&sb, &script));
        out.assert_ok();
        assert_eq!(
            common::plugin_names(&sb, sb.cli()),
            ["ecr-login", "ecr-push"]
        );

        // Safe to re-run: the second run updates in place.
        let out = run(&mut sh(&sb, &script));
        out.assert_ok();
        assert!(out.stdout.contains("already installed"), "{}", out.stdout);
        assert_eq!(
            common::plugin_names(&sb, sb.cli()),
            ["ecr-login", "ecr-push"]
        );

        for (plugin, flags) in [
            (
                "ecr-push",
                &[
                    "--region",
                    "--profile",
                    "--dry-run",
                    "--output",
                    "--registry-id",
                    "--insecure",
                    "--plain-http",
                    "--ca-file",
                ][..],
            ),
            (
                "ecr-login",
                &[
                    "--credential-helper",
                    "--logout",
                    "--password-stdout",
                    "--registry-id",
                    "--region",
                ],
            ),
        ] {
            let out = sb.helm(&["__complete", plugin, "--"]);
            out.assert_ok();
            let completed = completions(&out);
            for flag in flags {
                assert!(
                    completed.iter().any(|c| c == flag),
                    "{plugin}: {flag} not completed: {completed:?}"
                );
            }
        }
        // Chart arguments: directories and .tgz files.
        let args = sb.helm(&["__complete", "ecr-push", ""]);
        assert!(args.stdout.lines().any(|l| l == "tgz"), "{}", args.stdout);
        assert!(args.stdout.contains(":8"), "{}", args.stdout);
        let values = sb.helm(&["__complete", "ecr-push", "--output", ""]);
        assert!(
            values.stdout.lines().any(|l| l == "json"),
            "{}",
            values.stdout
        );

        let help = sb.helm(&["ecr-login", "--help"]);
        help.assert_ok();
        assert!(help.stdout.contains("Examples:") && help.stdout.contains("HELM_REGISTRY_CONFIG"));
        let version = sb.helm(&["ecr-login", "--version"]);
        version.assert_ok();
        assert!(
            version.stdout.contains(env!("CARGO_PKG_VERSION")),
            "{}",
            version.stdout
        );

        assert_uninstall_leaves_nothing(&sb);
    }
}

/// Installing the repository with no binary in bin/ (as from a git URL):
/// the hook builds with cargo into CARGO_TARGET_DIR, puts the binary in
/// both plugins and installs ecr-login too. cargo here is a stand-in that
/// "builds" by copying the binary under test, so the hook's logic is tested
/// without a second real release build (scripts/install.sh does a real one).
#[test]
fn install_hook_builds_when_no_binary_and_brings_ecr_login_along() {
    let mut sb = Sandbox::bare();
    let stage = common::stage_checkout(&sb);
    let fake = sb.root().join("fake-cargo");
    let log = sb.root().join("cargo.log");
    common::fake_cargo(&fake, &log, "$PWD $*");
    let target = sb.root().join("custom-target");
    let helm3 = sb.lab.helm3.clone();
    sb.add_to_path(&[&fake])
        .set_env("CARGO_TARGET_DIR", &target)
        .set_env("HELM_ECR_BUILD_FROM_SOURCE", "1")
        .set_env("HELM_BIN", helm3);

    let out = sb.helm(&["plugin", "install", stage.to_str().unwrap()]);
    out.assert_ok();
    let calls = fs::read_to_string(&log).expect("cargo was not run");
    assert_eq!(calls.lines().count(), 1, "{calls}");
    assert!(calls.contains("build --release"), "{calls}");
    assert!(target.join("release/helm-ecr").is_file());
    for bin in [
        stage.join("bin/helm-ecr"),
        stage.join("plugins/ecr-login/bin/helm-ecr"),
    ] {
        assert!(bin.is_file(), "{} missing", bin.display());
    }
    assert_eq!(
        common::plugin_names(&sb, sb.cli()),
        ["ecr-login", "ecr-push"]
    );
    sb.helm(&["ecr-login", "--version"]).assert_ok();

    // Present binary: installing again does nothing (no second build).
    sb.helm(&["plugin", "uninstall", "ecr-login"]).assert_ok();
    sb.helm(&[
        "plugin",
        "install",
        stage.join("plugins/ecr-login").to_str().unwrap(),
    ])
    .assert_ok();
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 1);

    assert_uninstall_leaves_nothing(&sb);
}
