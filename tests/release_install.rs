//! Installing like a real Helm plugin, through the real CLIs: a release made
//! by scripts/release.sh (signed with a throwaway GPG key made here) is
//! installed by Helm 4 from its package files and from the lab registry
//! over OCI with verification on, a package changed after signing is
//! refused, and the installed plugins push a chart with no cargo, Go or
//! Python on PATH; helm 3.10.1 and the current Helm 3 install the checkout
//! (no bin/) through the install hook from a local release server, and a
//! wrong checksum installs nothing (release_hook.rs, with the actionlint
//! check of the workflows).
//!
//! The release is made once per test run, from the binary cargo built for
//! the tests (HELM_ECR_RELEASE_BIN): no second release build.

mod common;
mod release_support;

use common::{path_str, plugin_names, run, HelmCli, Lab, Output, Sandbox, BIN, REPO};
use release_support::*;
use std::fs;
use std::path::Path;
use std::process::Command;

// ------------------------------------------------------------ release.sh

#[test]
fn release_holds_archives_signed_v1_packages_and_checksums() {
    let r = release();
    let mut files: Vec<String> = fs::read_dir(&r.out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let want = [
        "checksums.txt".to_string(),
        format!("ecr-login-{VERSION}.tgz"),
        format!("ecr-login-{VERSION}.tgz.prov"),
        format!("ecr-push-{VERSION}.tgz"),
        format!("ecr-push-{VERSION}.tgz.prov"),
        r.archive(),
    ];
    assert_eq!(files, want, "{}", r.log);

    // checksums.txt covers every other file, in sha256sum's own format.
    let sums = fs::read_to_string(r.file("checksums.txt")).unwrap();
    let listed: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    assert_eq!(
        listed,
        want[1..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    run(Command::new("sha256sum")
        .args(["--check", "--strict", "checksums.txt"])
        .current_dir(&r.out))
    .assert_ok();

    // The archive: the binary alone, a regular executable file.
    let listing = tar_listing(&r.file(&r.archive()));
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert!(
        listing[0].starts_with("-rwxr-xr-x") && listing[0].ends_with(" helm-ecr"),
        "{listing:?}"
    );
    let unpacked = r.out.parent().unwrap().join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(r.file(&r.archive()))
        .arg("-C")
        .arg(&unpacked))
    .assert_ok();
    assert!(fs::read(unpacked.join("helm-ecr")).unwrap() == fs::read(&r.binary).unwrap());

    for (plugin, sub) in [("ecr-push", "ecr-push"), ("ecr-login", "ecr-login")] {
        let package = r.package(plugin);
        let listing = tar_listing(&package);
        // Helm's extractor takes regular files and directories only.
        for entry in &listing {
            assert!(
                entry.starts_with('-') || entry.starts_with('d'),
                "{plugin}: not a file or directory: {entry}"
            );
        }
        assert!(
            listing.iter().any(|e| e.starts_with("-rwx")
                && e.ends_with(&format!("{plugin}/bin/linux-amd64/helm-ecr"))),
            "{listing:?}"
        );
        let yaml = tar_file(&package, &format!("{plugin}/plugin.yaml"));
        let doc: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
        assert_eq!(doc["apiVersion"].as_str(), Some("v1"), "{yaml}");
        assert_eq!(doc["type"].as_str(), Some("cli/v1"), "{yaml}");
        assert_eq!(doc["runtime"].as_str(), Some("subprocess"), "{yaml}");
        assert_eq!(doc["name"].as_str(), Some(plugin), "{yaml}");
        assert_eq!(doc["version"].as_str(), Some(VERSION), "{yaml}");
        let legacy_path = if plugin == "ecr-push" {
            Path::new(REPO).join("plugin.yaml")
        } else {
            Path::new(REPO).join("plugins/ecr-login/plugin.yaml")
        };
        let legacy: yaml_serde::Value =
            yaml_serde::from_str(&fs::read_to_string(&legacy_path).unwrap()).unwrap();
        assert!(
            legacy.get("apiVersion").is_none(),
            "the repository keeps the legacy format"
        );
        assert_eq!(doc["config"]["shortHelp"], legacy["usage"], "{yaml}");
        assert_eq!(doc["config"]["longHelp"], legacy["description"], "{yaml}");
        let commands = doc["runtimeConfig"]["platformCommand"]
            .as_sequence()
            .unwrap();
        assert_eq!(commands.len(), 1, "{yaml}");
        assert_eq!(commands[0]["os"].as_str(), Some("linux"));
        assert_eq!(commands[0]["arch"].as_str(), Some("amd64"));
        assert_eq!(
            commands[0]["command"].as_str(),
            Some("${HELM_PLUGIN_DIR}/bin/linux-amd64/helm-ecr")
        );
        assert_eq!(commands[0]["args"][0].as_str(), Some(sub));

        // Helm 4 checks the signature against the throwaway public key.
        let sb = Sandbox::bare();
        let out = sb.helm(&[
            "plugin",
            "verify",
            path_str(&package),
            "--keyring",
            path_str(&r.pubring),
        ]);
        out.assert_ok();
        assert!(out.stdout.contains(SIGNER), "{out}");
    }
}

/// The release workflow's shape: binaries for several platforms, built
/// elsewhere (HELM_ECR_RELEASE_BIN=DIR), the key in a legacy secret keyring
/// file (HELM_ECR_KEYRING). One package carries every binary and Helm 4
/// runs the one for its platform.
#[test]
fn release_from_a_directory_of_binaries_packages_every_platform() {
    let r = release();
    let mut sb = Sandbox::bare();
    let bins = sb.root().join("bins");
    let platforms = ["darwin-arm64", "linux-amd64", "windows-amd64"];
    for p in platforms {
        let exe = if p.starts_with("windows") { ".exe" } else { "" };
        let to = bins.join(p).join(format!("helm-ecr{exe}"));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&r.binary, &to).unwrap();
    }
    let out_dir = sb.root().join("dist");
    let mut cmd = Command::new("sh");
    cmd.arg(Path::new(REPO).join("scripts/release.sh"))
        .arg(&out_dir)
        .env_clear()
        .envs(sb.env())
        .env("HELM_BIN", &sb.lab.helm_v4)
        .env("HELM_ECR_RELEASE_BIN", &bins)
        .env("HELM_ECR_SIGN_KEY", SIGN_KEY)
        .env("HELM_ECR_KEYRING", &r.secring)
        .env("GNUPGHOME", sb.root().join("no-gnupg"));
    run(&mut cmd).assert_ok();
    for p in platforms {
        assert!(out_dir
            .join(format!("helm-ecr-{VERSION}-{p}.tar.gz"))
            .is_file());
    }
    let package = out_dir.join(format!("ecr-login-{VERSION}.tgz"));
    let yaml = tar_file(&package, "ecr-login/plugin.yaml");
    let doc: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
    let commands: Vec<(String, String)> = doc["runtimeConfig"]["platformCommand"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{}-{}",
                    c["os"].as_str().unwrap(),
                    c["arch"].as_str().unwrap()
                ),
                c["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        commands,
        [
            (
                "darwin-arm64".into(),
                "${HELM_PLUGIN_DIR}/bin/darwin-arm64/helm-ecr".into()
            ),
            (
                "linux-amd64".into(),
                "${HELM_PLUGIN_DIR}/bin/linux-amd64/helm-ecr".into()
            ),
            (
                "windows-amd64".into(),
                "${HELM_PLUGIN_DIR}/bin/windows-amd64/helm-ecr.exe".into()
            ),
        ]
    );
    assert_installed_signed(&install_verified(&sb, path_str(&package), &r.pubring));
    sb.set_env("PATH", tools_dir(sb.root(), &["sh"]));
    let registry = sb.lab.registry.clone();
    let login = sb.helm(&["ecr-login", &registry, "--password-stdout"]);
    login.assert_ok();
    assert_eq!(login.stdout.trim(), sb.lab.registry_password);
}

#[test]
fn release_refuses_a_used_out_dir_and_a_helm_that_is_not_4() {
    let lab = Lab::get();
    let sb = Sandbox::bare();
    let script = Path::new(REPO).join("scripts/release.sh");
    let release_cmd = |out: &Path, helm: &Path| {
        let mut cmd = Command::new("sh");
        cmd.arg(&script)
            .arg(out)
            .env_clear()
            .envs(sb.env())
            .env("HELM_BIN", helm)
            .env("HELM_ECR_RELEASE_BIN", BIN);
        cmd
    };

    let used = sb.root().join("used");
    common::write(&used.join("old.txt"), "stale");
    let out = run(&mut release_cmd(&used, &lab.helm_v4));
    out.assert_fail();
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("is not empty"), "{out}");
    assert_eq!(fs::read_dir(&used).unwrap().count(), 1);

    for old in [HelmCli::V3, HelmCli::V3_10] {
        let fresh = sb
            .root()
            .join(format!("fresh-{}", old.name().replace(' ', "")));
        let out = run(&mut release_cmd(&fresh, old.path()));
        out.assert_fail();
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
        assert!(out.stderr.contains("needs Helm 4"), "{out}");
        assert!(!fresh.exists(), "{} was created", fresh.display());
    }
}

// ------------------------------------------------------------ Helm 4

/// `helm plugin install SOURCE [--plain-http] --keyring KEYRING` (Helm 4
/// verifies the signature against the keyring).
fn install_verified(sb: &Sandbox, source: &str, keyring: &Path) -> Output {
    let mut args = vec!["plugin", "install", source];
    if source.starts_with("oci://") {
        args.push("--plain-http");
    }
    args.extend(["--keyring", path_str(keyring)]);
    sb.helm(&args)
}

fn assert_installed_signed(out: &Output) {
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!("Signed by: {SIGNER}")),
        "{out}"
    );
}

/// Runs `helm ecr-push` with PATH holding only `sh`: no cargo, Go or Python.
fn push_without_toolchains(sb: &mut Sandbox) {
    let chart = sb.seed_chart("released");
    let tools = tools_dir(sb.root(), &["sh"]);
    sb.set_env("PATH", &tools);
    let ns = common::unique_name("release");
    let registry = sb.lab.registry.clone();
    let out = common::push_chart(
        sb,
        &chart,
        &format!("oci://{registry}/{ns}"),
        &["--plain-http"],
    );
    out.assert_ok();
    assert!(
        out.stdout
            .contains(&format!("Pushed: {registry}/{ns}/released:0.1.0")),
        "{out}"
    );
    let login = sb.helm(&["ecr-login", &registry, "--password-stdout"]);
    login.assert_ok();
    assert_eq!(login.stdout.trim(), sb.lab.registry_password);
}

#[test]
fn helm4_installs_the_signed_packages_from_files_and_pushes_with_no_toolchain() {
    let r = release();
    let mut sb = Sandbox::bare();
    for plugin in ["ecr-push", "ecr-login"] {
        let out = install_verified(&sb, path_str(&r.package(plugin)), &r.pubring);
        assert_installed_signed(&out);
    }
    let list = sb.helm(&["plugin", "list"]);
    list.assert_ok();
    for plugin in ["ecr-push", "ecr-login"] {
        let row = list
            .stdout
            .lines()
            .find(|l| l.starts_with(plugin))
            .unwrap_or_else(|| panic!("{plugin} not listed: {list}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..5], [VERSION, "cli/v1", "v1", "signed"], "{row}");
    }
    // Copies of the binary, not links: the plugin stands on its own.
    let installed = sb
        .data_home()
        .join("plugins/ecr-push/bin/linux-amd64/helm-ecr");
    let meta = fs::symlink_metadata(&installed).unwrap();
    assert!(meta.file_type().is_file());
    push_without_toolchains(&mut sb);

    // Updating a package install is uninstall + install.
    sb.helm(&["plugin", "uninstall", "ecr-push", "ecr-login"])
        .assert_ok();
    assert!(plugin_names(&sb, HelmCli::V4).is_empty());
}

#[test]
fn helm4_installs_both_packages_from_an_oci_registry_with_verification() {
    let r = release();
    let mut sb = Sandbox::bare();
    let lab = sb.lab;
    let auth = registry_auth(&sb);
    let ns = common::unique_name("plugins");
    for plugin in ["ecr-push", "ecr-login"] {
        let reference = format!("{}/{ns}/{plugin}:{VERSION}", lab.registry);
        let tgz = format!("{plugin}-{VERSION}.tgz");
        let prov = format!("{tgz}.prov");
        // Relative names: oras titles each layer with the name it is given,
        // and Helm finds the package and its .prov by those titles.
        run(Command::new(&lab.oras)
            .args(["push", "--plain-http", "--registry-config"])
            .arg(&auth)
            .args([
                "--artifact-type",
                PLUGIN_ARTIFACT_TYPE,
                &reference,
                &tgz,
                &prov,
            ])
            .current_dir(&r.out))
        .assert_ok();
        let out = install_verified(&sb, &format!("oci://{reference}"), &r.pubring);
        assert_installed_signed(&out);
    }
    assert_eq!(plugin_names(&sb, HelmCli::V4), ["ecr-login", "ecr-push"]);
    push_without_toolchains(&mut sb);
}

#[test]
fn helm4_refuses_a_package_changed_after_signing_or_unsigned() {
    let r = release();
    let sb = Sandbox::bare();
    let tampered = sb.root().join("tampered");
    let unpacked = tampered.join("x");
    fs::create_dir_all(&unpacked).unwrap();
    let tgz = format!("ecr-push-{VERSION}.tgz");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(r.package("ecr-push"))
        .arg("-C")
        .arg(&unpacked))
    .assert_ok();
    // A changed command, as an attacker would make it.
    let yaml = unpacked.join("ecr-push/plugin.yaml");
    let text = fs::read_to_string(&yaml).unwrap();
    fs::write(
        &yaml,
        text.replace("${HELM_PLUGIN_DIR}/bin", "/tmp/evil/bin"),
    )
    .unwrap();
    run(Command::new("tar")
        .arg("-czf")
        .arg(tampered.join(&tgz))
        .arg("-C")
        .arg(&unpacked)
        .arg("ecr-push"))
    .assert_ok();
    fs::copy(
        r.file(&format!("{tgz}.prov")),
        tampered.join(format!("{tgz}.prov")),
    )
    .unwrap();

    // The real package without its .prov.
    let alone = sb.root().join("alone");
    fs::create_dir_all(&alone).unwrap();
    fs::copy(r.package("ecr-push"), alone.join(&tgz)).unwrap();

    // And the real one with a keyring that lacks the signer (an empty one).
    let other = sb.root().join("other-pubring.gpg");
    fs::write(&other, b"").unwrap();

    for (package, keyring, refusal) in [
        (tampered.join(&tgz), &r.pubring, "sha256 sum does not match"),
        (alone.join(&tgz), &r.pubring, "no provenance file"),
        (r.package("ecr-push"), &other, "unknown entity"),
    ] {
        let out = install_verified(&sb, path_str(&package), keyring);
        out.assert_fail();
        assert!(out.stderr.contains(refusal), "{out}");
        assert!(plugin_names(&sb, HelmCli::V4).is_empty());
        assert!(!sb.data_home().join("plugins/ecr-push").exists());
    }
}
