//! `helm ecr-login --credential-helper` leaves nothing to do by hand: with a
//! writable directory of the user's on PATH (~/.local/bin here), the
//! `docker-credential-helm-ecr` link goes there and Helm, with that PATH,
//! pushes and pulls through the helper at once; without one, the command
//! says exactly what to run, and links nothing into a system directory.

mod common;

use common::{path_str, HelmCli, Sandbox};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const HELPER: &str = "docker-credential-helm-ecr";

#[test]
fn the_helper_lands_in_a_writable_home_dir_on_path_and_helm_uses_it() {
    for cli in [HelmCli::V4, HelmCli::V3_10] {
        let mut sb = Sandbox::with_helm(cli);
        let local_bin = sb.home().join(".local/bin");
        fs::create_dir_all(&local_bin).unwrap();
        sb.add_to_path(&[&local_bin]);
        let registry = sb.lab.registry.clone();

        let out = sb.helm(&["ecr-login", &registry, "--credential-helper"]);
        out.assert_ok();
        let placed = local_bin.join(HELPER);
        assert!(
            out.stdout
                .contains(&format!("Linked {} (on PATH)", placed.display())),
            "{}: {out}",
            cli.name()
        );
        assert!(!out.stdout.contains("One step left"), "{out}");
        let meta = fs::symlink_metadata(&placed).unwrap();
        assert!(meta.file_type().is_symlink());
        assert!(placed.is_file(), "{} dangles", placed.display());

        // Helm finds the helper by itself now: a fresh token per request.
        sb.set_env("HELM_ECR_NO_TOKEN_CACHE", "1");
        let chart = sb.seed_chart("onpath");
        sb.helm(&["package", path_str(&chart), "-d", path_str(&sb.work())])
            .assert_ok();
        let remote = format!("oci://{registry}/{}", common::unique_name("onpath"));
        let mut push = vec!["push", "onpath-0.1.0.tgz", remote.as_str()];
        push.extend(cli.plain_http());
        sb.helm(&push).assert_ok();
        let config = fs::read_to_string(sb.registry_config()).unwrap();
        assert!(!config.contains("\"auth\""), "a token was stored: {config}");

        // Proof the push went through that link: without it Helm has no
        // credentials.
        fs::rename(&placed, local_bin.join("moved-away")).unwrap();
        let remote2 = format!("oci://{registry}/{}", common::unique_name("onpath"));
        let mut push = vec!["push", "onpath-0.1.0.tgz", remote2.as_str()];
        push.extend(cli.plain_http());
        sb.helm(&push).assert_fail();
        fs::rename(local_bin.join("moved-away"), &placed).unwrap();

        // Run again: the link is there and ours, nothing more to say.
        let again = sb.helm(&["ecr-login", &registry, "--credential-helper"]);
        again.assert_ok();
        assert!(!again.stdout.contains("Linked") && !again.stdout.contains("One step left"));
    }
}

#[test]
fn without_a_writable_home_dir_on_path_it_says_what_to_run() {
    let mut sb = Sandbox::new();
    // On PATH but not writable, and a directory outside home: neither used.
    let locked = sb.home().join("bin");
    fs::create_dir_all(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let outside = sb.root().join("elsewhere-bin");
    fs::create_dir_all(&outside).unwrap();
    sb.add_to_path(&[&locked, &outside]);
    let registry = sb.lab.registry.clone();
    let out = sb.helm(&["ecr-login", &registry, "--credential-helper"]);
    out.assert_ok();
    let plugin_bin = sb.data_home().join("plugins/ecr-login/bin");
    assert!(out.stdout.contains("One step left"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("export PATH=\"{}:$PATH\"", plugin_bin.display())),
        "{out}"
    );
    assert!(!locked.join(HELPER).exists() && !outside.join(HELPER).exists());
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
}
