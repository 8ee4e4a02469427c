//! What `helm ecr-push` says when ECR refuses, through every Helm, from a
//! front before the lab registry answering as ECR does:
//! - a denied push: ECR authorises the first request, a manifest HEAD, as
//!   ecr:BatchGetImage and refuses it with a bare 403; the advice names it
//!   with the other push actions;
//! - a missing repository (NAME_UNKNOWN): the advice names
//!   `--create-repository`, the AWS CLI command, and repository creation
//!   templates (create on push);
//! - a dry run into a repository the ECR API (the lab's moto) does not
//!   know: a warning, since the dry run's HEAD alone cannot tell.

mod common;
mod oci_support;

use common::{only_error, path_str, push_chart, HelmCli, Lab, Output, Sandbox};
use oci_support::*;

fn push(sb: &Sandbox, front: &str, ns: &str) -> Output {
    let chart = sb.seed_chart("advised");
    push_chart(
        sb,
        &chart,
        &format!("oci://{front}/{ns}"),
        &["--plain-http"],
    )
}

#[test]
fn a_denied_push_names_batch_get_image_and_the_other_push_actions() {
    let front = Front::start(&common::Lab::get().registry, |s, _| {
        if s.method == "HEAD" && s.path.contains("/manifests/") {
            respond(403, &[], "")
        } else {
            forward()
        }
    });
    for cli in HelmCli::all() {
        let sb = Sandbox::with_helm(cli);
        let ns = common::unique_name("denied");
        let e = only_error(&push(&sb, &front.addr, &ns));
        for action in [
            "ecr:BatchGetImage",
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
            "ecr:GetAuthorizationToken",
        ] {
            assert!(e.contains(action), "{}: no {action}: {e}", cli.name());
        }
        assert!(e.contains("403"), "{e}");
        assert!(e.contains(&format!("{ns}/advised")), "{e}");
    }
    assert!(
        front.seen().iter().all(|s| s.method == "HEAD"),
        "nothing was written after the refusal"
    );
}

#[test]
fn name_unknown_names_create_repository_and_creation_templates() {
    let front = Front::start(&common::Lab::get().registry, |s, _| {
        if s.method == "HEAD" {
            respond(404, &[], "")
        } else {
            respond(
                404,
                &[("Content-Type", "application/json; charset=utf-8")],
                r#"{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name 'x' does not exist in the registry with id '123456789012'"}]}"#,
            )
        }
    });
    for cli in HelmCli::all() {
        let sb = Sandbox::with_helm(cli);
        let ns = common::unique_name("unknown");
        let e = only_error(&push(&sb, &front.addr, &ns));
        let region = &sb.lab.region;
        for want in [
            "--create-repository".to_string(),
            format!("aws ecr create-repository --repository-name {ns}/advised --region {region}"),
            "repository creation template".into(),
            "CREATE_ON_PUSH".into(),
            format!("prefix ROOT or {ns}/"),
        ] {
            assert!(e.contains(&want), "{}: no {want:?}: {e}", cli.name());
        }
    }
}

/// `aws ecr create-repository` against the lab's moto, with the lab's keys.
fn create_in_moto(lab: &Lab, name: &str) {
    common::run(
        std::process::Command::new(&lab.aws)
            .args(["ecr", "create-repository", "--repository-name", name])
            .args(["--endpoint-url", &lab.ecr_endpoint, "--region", &lab.region])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", &lab.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &lab.secret_access_key),
    )
    .assert_ok();
}

#[test]
fn a_dry_run_warns_of_a_missing_ecr_repository_and_not_of_one_that_exists() {
    let lab = Lab::get();
    for sb in Sandbox::every_helm() {
        let ns = common::unique_name("planned");
        let chart = sb.seed_chart("planned");
        let remote = format!("oci://{}/{ns}", lab.registry);
        let dry_run = || {
            let flags = ["--plain-http", "--registry-id", &lab.account, "--dry-run"];
            let out = push_chart(&sb, &chart, &remote, &flags);
            out.assert_ok();
            assert!(
                out.stdout
                    .starts_with(&format!("Would push: {}/{ns}/planned:", lab.registry)),
                "{out}"
            );
            out
        };
        let out = dry_run();
        assert_eq!(
            out.stderr_lines(),
            [format!(
                "Warning: {}: repository {ns}/planned does not exist in ECR registry {}: \
                 the push would fail; pass --create-repository or create it first",
                path_str(&chart),
                lab.account
            )],
            "{out}"
        );
        create_in_moto(lab, &format!("{ns}/planned"));
        let out = dry_run();
        assert_eq!(
            out.stderr, "",
            "no warning once the repository exists: {out}"
        );
    }
}
