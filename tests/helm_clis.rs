//! Living inside each Helm we support (helm 3.10.1, the current Helm 3, the
//! current Helm 4): Helm's global flags stay Helm's and reach us only as its
//! environment, `--debug` turns our trace on, errors are one line with our
//! exit status, and the TLS flags behave as each Helm lets them.

mod common;

use common::{path_str, HelmCli, Output, Sandbox};
use std::fs;

/// The secrets a sandbox run may know: none may appear in any output.
fn assert_no_secret(sb: &Sandbox, out: &Output) {
    for secret in [
        sb.lab.secret_access_key.as_str(),
        sb.lab.registry_password.as_str(),
    ] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret was printed:\n{out}"
        );
    }
    let basic = common::base64_encode(format!("AWS:{}", sb.lab.registry_password).as_bytes());
    assert!(
        !out.stderr.contains(&basic) && !out.stdout.contains(&basic),
        "{out}"
    );
}

#[test]
fn global_flags_stay_with_helm_and_reach_us_as_its_environment() {
    for mut sb in Sandbox::every_helm() {
        let cli = sb.cli();
        let lab = sb.lab;
        let custom = sb.root().join("elsewhere/registry.json");
        let custom = path_str(&custom).to_string();
        let kube = [
            "-n",
            "team-a",
            "--namespace",
            "team-b",
            "--kube-context",
            "nowhere",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ];

        // --registry-config is Helm's: the login lands in that file, not in the
        // default one, and none of Helm's flags upsets our parser.
        let login = [
            &[
                "ecr-login",
                lab.registry.as_str(),
                "--registry-config",
                &custom,
            ][..],
            &kube,
        ]
        .concat();
        let out = sb.helm(&login);
        out.assert_ok();
        assert!(
            out.stdout.contains("Login Succeeded"),
            "{}: {out}",
            cli.name()
        );
        let written = fs::read_to_string(&custom).expect("the login went to --registry-config");
        assert!(written.contains(&lab.registry), "{written}");
        assert!(
            !sb.registry_config().exists(),
            "{}: wrote the default registry config too",
            cli.name()
        );

        // The push takes its credentials from that file (auth rule step 2: no
        // token cache, AWS keys that would fail), so it reached us as
        // HELM_REGISTRY_CONFIG. --debug is Helm's too and turns on our trace.
        sb.set_env("HELM_ECR_NO_TOKEN_CACHE", "1").set_env(
            "AWS_SECRET_ACCESS_KEY",
            "wRoNgSeCrEt00000000000000000000000000000",
        );
        let chart = sb.seed_chart("globals");
        let ns = common::unique_name("globals");
        let remote = format!("oci://{}/{ns}", lab.registry);
        let push = [
            "ecr-push",
            path_str(&chart),
            &remote,
            "--plain-http",
            "--registry-config",
            &custom,
        ];
        let out = sb.helm(&[&["--debug"][..], &push, &kube].concat());
        out.assert_ok();
        assert_eq!(
            out.stdout.lines().next(),
            Some(format!("Pushed: {}/{ns}/globals:0.1.0", lab.registry).as_str()),
            "{}: {out}",
            cli.name()
        );
        assert!(
            out.stderr
                .contains(&format!("http://{}/v2/{ns}/globals/", lab.registry)),
            "{}: --debug shows no request trace:\n{out}",
            cli.name()
        );
        assert_no_secret(&sb, &out);

        // Without --debug: no trace at all.
        sb.set_env("AWS_SECRET_ACCESS_KEY", &lab.secret_access_key);
        let quiet = sb.helm(&push);
        quiet.assert_ok();
        assert_eq!(quiet.stderr, "", "{}: {quiet}", cli.name());
        assert!(quiet.stdout.starts_with("Unchanged: "), "{quiet}");
    }
}

#[test]
fn errors_are_one_line_with_our_exit_status_in_every_helm() {
    for sb in Sandbox::every_helm() {
        let cli = sb.cli();
        let cases: [(&[&str], i32, &str); 4] = [
            (&["ecr-push", "no-such-chart"], 1, "Error: no-such-chart: "),
            (
                &["ecr-push", "--bogus", "c"],
                2,
                "Error: unexpected argument '--bogus'",
            ),
            (&["ecr-push"], 2, "Error: the following required arguments"),
            (
                &["ecr-login", "--output", "x"],
                2,
                "Error: unexpected argument '--output'",
            ),
        ];
        for (args, code, start) in cases {
            let out = sb.helm(args);
            assert_eq!(out.status.code(), Some(code), "{}: {out}", cli.name());
            let lines = out.plugin_stderr_lines();
            assert_eq!(lines.len(), 1, "{}: one line:\n{out}", cli.name());
            assert!(lines[0].starts_with(start), "{}: {out}", cli.name());
            assert!(lines[0].contains("--help") || code == 1, "{out}");
            assert_eq!(out.stdout, "", "{out}");
        }
    }
}

/// `--insecure` passes through every Helm. `--insecure-skip-tls-verify`
/// reaches us from Helm 3.16+ and Helm 4; helm 3.10-3.15 claim that name
/// for Kubernetes and refuse it on a plugin command (helm/helm#12855), which
/// the README says.
#[test]
fn tls_flags_in_every_helm() {
    for sb in Sandbox::every_helm() {
        let lab = sb.lab;
        let chart = sb.seed_chart("tlsflags");
        let remote = format!("oci://{}/{}", lab.registry_tls, common::unique_name("tls"));
        let push =
            |flag: &str| common::push_chart(&sb, &chart, &remote, &[flag, "--region", &lab.region]);
        // Verified by default: the lab CA is not trusted.
        let out = common::push_chart(&sb, &chart, &remote, &[]);
        common::failure_line(&out, sb.cli().name());
        assert!(out.stderr.contains("--ca-file"), "{out}");

        push("--insecure").assert_ok();
        let out = push("--insecure-skip-tls-verify");
        if sb.cli() == HelmCli::V3_10 {
            out.assert_fail();
            assert!(
                out.stderr
                    .contains("unknown flag: --insecure-skip-tls-verify"),
                "{out}"
            );
        } else {
            out.assert_ok();
            assert!(out.stdout.starts_with("Unchanged: "), "{out}");
        }
    }
}
