//! The walking skeleton: both plugins installed into each real Helm CLI
//! (helm 3.10.1, the current Helm 3, the current Helm 4), `helm ecr-login` +
//! `helm ecr-push` against moto and distribution, and the chart read back by
//! the same Helm, by the other Helm major and by the Helm 4 SDK.
//!
//! Run through scripts/test.sh (it brings the lab up).

mod common;

use common::{path_str, HelmCli, LogMark, Sandbox};
use std::fs;

/// Logs the sandbox in to `registry` with the lab password the way a person
/// would with stock helm 3.10.1 (it needs --insecure for plain HTTP).
fn helm_registry_login(sb: &Sandbox, registry: &str) {
    common::run_with_stdin(
        sb.helm_cmd_as(HelmCli::V3_10).args([
            "registry",
            "login",
            registry,
            "--username",
            "AWS",
            "--password-stdin",
            "--insecure",
        ]),
        Some(sb.lab.registry_password.as_bytes()),
    )
    .assert_ok();
}

/// `cli` pulls `oci://REGISTRY/NS/NAME` VERSION into a fresh dir, renders
/// it, and renders it again straight from the registry; returns the
/// manifests (checked equal).
fn pull_and_template(sb: &Sandbox, cli: HelmCli, repo: &str, version: &str) -> String {
    let (tgz, _) = sb.pull(cli, repo, version, &[]);
    let reference = format!("oci://{repo}");
    let local = sb
        .helm_as(cli, &["template", "rel", path_str(&tgz)])
        .assert_ok()
        .stdout
        .clone();
    let mut args = vec!["template", "rel", &reference, "--version", version];
    args.extend(cli.plain_http());
    let remote = sb.helm_as(cli, &args);
    // helm 3.10 says "Pulled: ..." on stdout before the manifests.
    let rendered = remote
        .assert_ok()
        .stdout
        .find("---")
        .map(|i| &remote.stdout[i..]);
    assert_eq!(rendered, Some(local.as_str()), "{}: {remote}", cli.name());
    local
}

fn assert_seed_rendered(manifests: &str) {
    assert!(manifests.contains("kind: ConfigMap"), "{manifests}");
    assert!(manifests.contains("name: rel-configmap"), "{manifests}");
    assert!(
        manifests.contains("myvalue: \"Hello World\""),
        "{manifests}"
    );
}

#[test]
fn both_plugins_are_listed_by_every_helm() {
    for sb in Sandbox::every_helm() {
        let out = sb.helm(&["plugin", "list"]);
        out.assert_ok();
        let names: Vec<&str> = out
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(names.contains(&"ecr-push"), "{out}");
        assert!(names.contains(&"ecr-login"), "{out}");
        // Loaded cleanly: no warning about our plugin.yaml (Helm 4 warns
        // and skips a plugin it cannot load, and still exits 0).
        assert!(!out.stderr.contains("plugin"), "{}: {out}", sb.cli().name());
    }
}

/// The lab itself: a chart pushed by the Helm 4 SDK is read back by helm
/// 3.10.1, so the reference chain the other tests lean on works.
#[test]
fn lab_chain_helm4_push_helm3_pull() {
    let sb = Sandbox::bare();
    let lab = sb.lab;
    let chart = sb.seed_chart("mychart");
    let packaged = sb.helm4(&[
        "package",
        path_str(&chart),
        path_str(&sb.root().join("dist")),
    ]);
    let tgz = packaged.assert_ok().stdout.trim().to_string();
    assert!(tgz.ends_with("mychart-0.1.0.tgz"), "{packaged}");

    helm_registry_login(&sb, &lab.registry);
    let ns = format!("{}/{}", lab.registry, common::unique_name("h4"));
    let mark = LogMark::new(&lab.registry_log);
    let creds = sb.registry_config();
    sb.helm4(&[
        "push",
        &tgz,
        &format!("oci://{ns}"),
        "--plain-http",
        "--creds",
        path_str(&creds),
    ])
    .assert_ok();
    let repo = format!(
        "{}/mychart",
        ns.split_once('/').map(|x| x.1).unwrap_or_default()
    );
    let puts: Vec<String> = mark
        .requests_for(&repo)
        .into_iter()
        .filter(|r| r.method == "PUT" && r.status == 201)
        .map(|r| r.path)
        .collect();
    // Config blob and chart layer; Helm 4 then PUTs the manifest by digest and by tag.
    let blobs = puts
        .iter()
        .filter(|p| p.contains("/blobs/uploads/"))
        .count();
    assert_eq!(blobs, 2, "{puts:#?}");
    assert!(
        puts.iter().any(|p| p.ends_with("/manifests/0.1.0")),
        "{puts:#?}"
    );

    let manifests = pull_and_template(&sb, HelmCli::V3_10, &format!("{ns}/mychart"), "0.1.0");
    assert_seed_rendered(&manifests);

    // skopeo reaches the TLS registry through the lab CA and the password:
    // the only complaint left is the missing manifest.
    let missing = sb.skopeo_raw(&format!("{}/none/such:1", lab.registry_tls), false);
    missing.assert_fail();
    assert!(missing.stderr.contains("manifest unknown"), "{missing}");
}

#[test]
fn login_then_push_then_pull_through_every_helm_and_the_other_major() {
    for sb in Sandbox::every_helm() {
        let cli = sb.cli();
        let lab = sb.lab;
        let chart = sb.seed_chart("mychart");

        let login = sb.helm(&["ecr-login", &lab.registry, "--region", &lab.region]);
        login.assert_ok();
        assert!(login.stdout.contains("Login Succeeded"), "{login}");
        let config =
            fs::read_to_string(sb.registry_config()).expect("ecr-login wrote the registry config");
        assert!(config.contains(&lab.registry), "{config}");

        let ns = common::unique_name("charts");
        let remote = format!("oci://{}/{ns}", lab.registry);
        let push = common::push_chart(
            &sb,
            &chart,
            &remote,
            &["--plain-http", "--region", &lab.region],
        );
        push.assert_ok();
        let lines: Vec<&str> = push.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{push}");
        assert_eq!(
            lines[0],
            format!("Pushed: {}/{ns}/mychart:0.1.0", lab.registry),
            "{push}"
        );
        let digest = lines[1]
            .strip_prefix("Digest: sha256:")
            .unwrap_or_else(|| panic!("{push}"));
        assert_eq!(digest.len(), 64, "{push}");
        assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{push}");

        // The digest printed is the manifest the registry serves for the tag.
        let resolved = sb.helm4(&[
            "resolve",
            &format!("oci://{}/{ns}/mychart:0.1.0", lab.registry),
            "--plain-http",
            "--creds",
            path_str(&sb.registry_config()),
        ]);
        assert!(
            resolved
                .assert_ok()
                .stdout
                .contains(&format!("sha256:{digest}")),
            "{resolved}"
        );

        // The config blob is byte for byte the one Helm 4 pushes for the same chart.
        let ours = sb.skopeo_raw(&format!("{}/{ns}/mychart:0.1.0", lab.registry), true);
        let tgz4 = sb.helm4(&[
            "package",
            path_str(&chart),
            path_str(&sb.root().join("dist4")),
        ]);
        let ns4 = common::unique_name("helm4");
        sb.helm4(&[
            "push",
            tgz4.assert_ok().stdout.trim(),
            &format!("oci://{}/{ns4}", lab.registry),
            "--plain-http",
            "--creds",
            path_str(&sb.registry_config()),
        ])
        .assert_ok();
        let theirs = sb.skopeo_raw(&format!("{}/{ns4}/mychart:0.1.0", lab.registry), true);
        assert_eq!(ours.assert_ok().stdout, theirs.assert_ok().stdout);
        assert!(ours.stdout.starts_with("{\"name\":\"mychart\""), "{ours}");

        // Read back by the Helm that pushed and by the other Helm major.
        for reader in [cli, cli.other_major()] {
            let manifests = pull_and_template(
                &sb,
                reader,
                &format!("{}/{ns}/mychart", lab.registry),
                "0.1.0",
            );
            assert_seed_rendered(&manifests);
        }

        let dest = sb.root().join("pulled4");
        let pulled = sb.helm4(&[
            "pull",
            &format!("oci://{}/{ns}/mychart", lab.registry),
            "0.1.0",
            path_str(&dest),
            "--plain-http",
            "--creds",
            path_str(&sb.registry_config()),
        ]);
        let tgz = pulled.assert_ok().stdout.trim().to_string();
        let shown = sb.helm4(&["show-chart", &tgz]);
        shown.assert_ok();
        assert!(
            shown.stdout.lines().any(|l| l == "name: mychart"),
            "{shown}"
        );
        assert!(
            shown.stdout.lines().any(|l| l == "version: 0.1.0"),
            "{shown}"
        );
    }
}

#[test]
fn wrong_secret_key_fails_with_one_line_and_leaves_registry_config_alone() {
    for mut sb in Sandbox::every_helm() {
        let lab = sb.lab;
        let chart = sb.seed_chart("mychart");
        // A config with an unrelated login and a key we do not know: both must survive.
        let before = format!(
            "{{\n\t\"auths\": {{\n\t\t\"{}\": {{\n\t\t\t\"auth\": \"QVdTOm9sZA==\"\n\t\t}}\n\t}},\n\t\"x-unknown\": true\n}}",
            lab.registry_tls
        );
        common::write(&sb.registry_config(), &before);
        let wrong = "wRoNgSeCrEtKeY0000000000000000000000000000";
        sb.set_env("AWS_SECRET_ACCESS_KEY", wrong);

        let remote = format!("oci://{}/{}", lab.registry, common::unique_name("charts"));
        let runs = [
            sb.helm(&["ecr-login", &lab.registry, "--region", &lab.region]),
            common::push_chart(
                &sb,
                &chart,
                &remote,
                &["--plain-http", "--region", &lab.region],
            ),
        ];
        for out in &runs {
            let line = common::failure_line(out, sb.cli().name());
            assert!(
                line.to_lowercase().contains("signature"),
                "names the signature problem:\n{out}"
            );
            assert!(!out.stdout.contains("Pushed"), "{out}");
            assert!(
                !out.stderr.contains(wrong) && !out.stdout.contains(wrong),
                "secret leaked:\n{out}"
            );
        }
        let after = fs::read_to_string(sb.registry_config()).expect("registry config still there");
        assert_eq!(after, before, "registry config changed");
    }
}

#[test]
fn harness_helpers() {
    let line = r#"127.0.0.1 - - [24/Nov/2026:09:15:23 +0000] "PUT /v2/charts/mychart/manifests/0.1.0 HTTP/1.1" 201 0 "" "helm/3.10.1""#;
    assert_eq!(
        common::parse_access_line(line),
        Some(common::Request {
            method: "PUT".into(),
            path: "/v2/charts/mychart/manifests/0.1.0".into(),
            status: 201
        })
    );
    assert_eq!(
        common::parse_access_line("time=\"x\" level=info msg=\"listening\""),
        None
    );
    assert_eq!(
        common::base64_encode(b"AWS:123456789012-auth-token"),
        "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"
    );
    assert_eq!(common::base64_encode(b"ab"), "YWI=");
    assert_eq!(common::base64_encode(b"a"), "YQ==");
    let a = common::unique_name("charts");
    assert_ne!(a, common::unique_name("charts"));
    assert!(a
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
}

/// A private registry counts exactly one client's requests: stock helm
/// 3.10.1 pushing a new chart makes the 10 requests LAB.md measured, the
/// baseline `helm ecr-push` is compared with.
#[test]
fn private_registry_counts_a_helm3_push() {
    let sb = Sandbox::bare_with(HelmCli::V3_10);
    let reg = common::PrivateRegistry::start();
    helm_registry_login(&sb, &reg.addr);
    let chart = sb.seed_chart("mychart");
    sb.helm(&["package", path_str(&chart)]).assert_ok();
    let mark = reg.mark();
    sb.helm(&[
        "push",
        "mychart-0.1.0.tgz",
        &format!("oci://{}/charts", reg.addr),
    ])
    .assert_ok();
    let requests = mark.requests();
    assert_eq!(requests.len(), 10, "{requests:#?}");
    assert_eq!(
        requests.iter().filter(|r| r.status == 401).count(),
        2,
        "{requests:#?}"
    );
}
