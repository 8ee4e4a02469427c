//! The credential-helper mode against the lab: `helm ecr-login
//! --credential-helper` registers helm-ecr in `credHelpers`, and every Helm
//! (3.10, current 3, current 4) then pushes and pulls with tokens the helper fetches, with no token in
//! the registry config. Also the helper's side of the protocol, run as
//! `docker-credential-helm-ecr` (argv[0] is how it knows).

mod common;

use common::{run_with_stdin, Sandbox, BIN};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

fn helper_link(sb: &Sandbox) -> PathBuf {
    let dir = sb.root().join("helper-bin");
    fs::create_dir_all(&dir).unwrap();
    let link = dir.join("docker-credential-helm-ecr");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    link
}

#[test]
fn helm_pushes_and_pulls_through_the_helper_with_no_token_stored() {
    for mut sb in Sandbox::every_helm() {
        let cli = sb.cli();
        let plain = cli.plain_http();
        let registry = sb.lab.registry.clone();
        let out = sb.helm(&["ecr-login", &registry, "--credential-helper"]);
        out.assert_ok();
        assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);

        let bin_dir = sb.data_home().join("plugins/ecr-login/bin");
        let link = bin_dir.join("docker-credential-helm-ecr");
        assert!(link.exists(), "{} missing", link.display());
        assert!(
            out.stdout
                .contains(&format!("export PATH=\"{}:$PATH\"", bin_dir.display())),
            "the PATH step is not printed: {}",
            out.stdout
        );
        let text = fs::read_to_string(sb.registry_config()).unwrap();
        let config: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(config["credHelpers"][&registry], json!("helm-ecr"));
        assert!(!text.contains("\"auth\""), "a token was stored: {text}");

        let chart = sb.seed_chart("viahelper");
        sb.helm(&[
            "package",
            chart.to_str().unwrap(),
            "-d",
            sb.work().to_str().unwrap(),
        ])
        .assert_ok();
        let ns = common::unique_name("helper");
        let remote = format!("oci://{registry}/{ns}");

        // Without the helper on PATH Helm cannot get credentials: proof that
        // the next push and pull really go through it.
        let push = [&["push", "viahelper-0.1.0.tgz", remote.as_str()], plain].concat();
        let out = sb.helm(&push);
        out.assert_fail();

        // "A day later": no token cache, a fresh token for every request.
        sb.set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
        sb.add_to_path(&[&bin_dir]);
        sb.helm(&push).assert_ok();
        // Read back through the helper by this Helm and by the other major.
        let chart_repo = format!("{registry}/{ns}/viahelper");
        for reader in [cli, cli.other_major()] {
            sb.pull(reader, &chart_repo, "0.1.0", &[]);
        }
        let text = fs::read_to_string(sb.registry_config()).unwrap();
        assert!(!text.contains("\"auth\""), "a token was stored: {text}");

        // Logout unregisters the helper and forgets the host's settings.
        sb.helm(&["ecr-login", "--logout", &registry]).assert_ok();
        let config: Value =
            serde_json::from_str(&fs::read_to_string(sb.registry_config()).unwrap()).unwrap();
        assert_eq!(config["credHelpers"].get(&registry), None, "{config}");
    }
}

#[test]
fn helper_protocol_get_store_erase_list() {
    let mut sb = Sandbox::bare();
    let link = helper_link(&sb);
    let settings = sb.root().join("helper-settings.json");
    sb.set_env("HELM_ECR_HELPER_CONFIG", &settings);
    let registry = sb.lab.registry.clone();

    // An unregistered, non-ECR host is not ours: Docker's "not found".
    let out = run_with_stdin(
        sb.bin_cmd().arg0(&link).arg("get"),
        Some(registry.as_bytes()),
    );
    assert!(!out.success());
    assert_eq!(
        out.stdout.trim(),
        "credentials not found in native keychain"
    );

    common::write(
        &settings,
        &json!({"hosts": {registry.clone(): {"region": sb.lab.region}}}).to_string(),
    );
    let out = run_with_stdin(
        sb.bin_cmd().arg0(&link).arg("get"),
        Some(format!("{registry}\n").as_bytes()),
    );
    out.assert_ok();
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        answer,
        json!({"ServerURL": registry, "Username": "AWS", "Secret": sb.lab.registry_password})
    );

    let out = run_with_stdin(
        sb.bin_cmd().arg0(&link).arg("store"),
        Some(br#"{"ServerURL":"h","Username":"u","Secret":"s"}"#),
    );
    out.assert_ok();
    assert_eq!(out.stdout, "");
    run_with_stdin(sb.bin_cmd().arg0(&link).arg("erase"), Some(b"h")).assert_ok();
    let out = run_with_stdin(sb.bin_cmd().arg0(&link).arg("list"), None);
    out.assert_ok();
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({registry.clone(): "AWS"})
    );

    // Errors reach Docker and Helm on stdout, as one line.
    sb.set_env("AWS_SECRET_ACCESS_KEY", "Zq9-not-the-secret-Zq9");
    sb.set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
    let out = run_with_stdin(
        sb.bin_cmd().arg0(&link).arg("get"),
        Some(registry.as_bytes()),
    );
    assert!(!out.success());
    assert_eq!(out.stdout.trim().lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains(&registry), "{}", out.stdout);
    assert!(!out.stdout.contains("Zq9-not"), "{}", out.stdout);
}
