//! `helm ecr-push CHART... [oci://HOST[:PORT]/NAMESPACE]`
//!
//! Plan first (split arguments, pick the target), then per chart, in
//! parallel: package -> artifact -> push; results are printed in the order
//! the charts were given.

use super::fail;
use crate::chart::{self, Overrides};
use crate::cli::CommonArgs;
use crate::keychain::EcrKeychain;
use crate::oci::{self, PushStatus, Remote};
use std::path::PathBuf;
use std::sync::Arc;

mod args;
mod ecr;
mod output;

use args::{parse_tag, split_arguments};
use ecr::*;
use output::report;

#[derive(clap::Args, Debug)]
#[command(
    override_usage = "helm ecr-push [OPTIONS] CHART... [oci://HOST[:PORT]/NAMESPACE]",
    after_help = PUSH_EXAMPLES
)]
pub struct Args {
    /// Chart directories or .tgz archives, and at most one oci:// remote
    /// (default remote: your account's ECR registry, repository = chart name).
    #[arg(value_name = "CHART", required = true)]
    pub charts: Vec<String>,
    /// Set the chart version before packaging (directories only).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Set the chart appVersion before packaging (directories only).
    #[arg(long, value_name = "VERSION")]
    pub app_version: Option<String>,
    /// Also keep the packaged NAME-VERSION.tgz in this directory.
    #[arg(long, value_name = "DIR")]
    pub destination: Option<PathBuf>,
    /// Package and compute digests and the target; write nothing remotely.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The account whose registry to use when the host is not an ECR name
    /// (VPC endpoint, proxy), or the default registry of another account.
    #[arg(long, value_name = "ACCOUNT")]
    pub registry_id: Option<String>,
    /// Create the ECR repository when the registry says it does not exist.
    #[arg(long)]
    pub create_repository: bool,
    /// With --create-repository: MUTABLE or IMMUTABLE tags.
    #[arg(long, value_name = "MUTABILITY", requires = "create_repository")]
    pub image_tag_mutability: Option<String>,
    /// With --create-repository: scan images on push.
    #[arg(long, requires = "create_repository")]
    pub scan_on_push: bool,
    /// With --create-repository: encrypt with this KMS key (id, ARN or alias).
    #[arg(long, value_name = "KEY", requires = "create_repository")]
    pub kms_key: Option<String>,
    /// With --create-repository: resource tags, KEY=VALUE (repeatable).
    #[arg(long = "tags", value_name = "KEY=VALUE", value_parser = parse_tag, requires = "create_repository")]
    pub tags: Vec<(String, String)>,
    /// After the push, print what ECR's DescribeImages says of the chart.
    #[arg(long)]
    pub describe: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

const PUSH_EXAMPLES: &str = "\
Examples:
  helm ecr-push ./mychart
  helm ecr-push ./a ./b dist/c-1.0.0.tgz oci://123456789012.dkr.ecr.eu-west-1.amazonaws.com/charts
  helm ecr-push ./mychart --dry-run --output json
  helm ecr-push ./mychart oci://public.ecr.aws/myalias --create-repository

Environment:
  AWS_PROFILE, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CA_BUNDLE,
  AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL, HTTPS_PROXY, NO_PROXY,
  SOURCE_DATE_EPOCH, HELM_REGISTRY_CONFIG, HELM_ECR_TOKEN_CACHE_DIR, HELM_ECR_NO_TOKEN_CACHE=1,
  HELM_ECR_RETRY_SCALE, HELM_ECR_TIMEOUT_SCALE, HELM_DEBUG (helm --debug)";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// What happened to one chart.
#[derive(Debug, Default)]
struct Outcome {
    chart: String,
    name: Option<String>,
    version: Option<String>,
    reference: Option<String>,
    digest: Option<String>,
    size: Option<u64>,
    status: Option<PushStatus>,
    error: Option<String>,
    /// `--describe`: what ECR says of the pushed image.
    description: Option<String>,
    /// Something that went wrong after the push landed (`--describe`), or
    /// that a dry run found would go wrong (a missing ECR repository).
    warning: Option<String>,
    /// `--describe` with `--output json`: ECR's imageDetail as it came.
    image: Option<serde_json::Value>,
}

/// Runs the command; returns the exit status.
pub fn run(args: Args) -> i32 {
    let on_disk = |a: &str| std::fs::symlink_metadata(a).is_ok();
    let (charts, remote) = match split_arguments(&args.charts, on_disk) {
        Ok(split) => split,
        Err(e) => return fail(e),
    };
    if let Some(r) = &remote {
        if let Err(e) = check_public_remote(r, &args) {
            return fail(e);
        }
    }
    let http = match crate::http::Http::new(args.common.http_options()) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let aws_http = match crate::http::Http::new(args.common.aws_http_options()) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let keychain = Arc::new(EcrKeychain::new(
        args.common.aws_options(),
        aws_http,
        crate::helm::registry_config_path(),
        args.registry_id.clone(),
    ));
    let defaulted = remote.is_none();
    let remote = match remote {
        Some(r) => r,
        None => match default_remote(&keychain) {
            Ok(r) => r,
            Err(e) => return fail(e),
        },
    };
    let client = oci::Client::new(http, keychain.clone());
    let overrides = Overrides {
        version: args.version.clone(),
        app_version: args.app_version.clone(),
    };
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map(crate::clock::rfc3339);
    let created = created.as_deref();

    // Package every chart first: two charts that would push other content
    // to one tag are refused before anything is pushed (at once, the tag
    // would end at either one, and both would be reported pushed).
    let mut prepared: Vec<(Outcome, Option<Ready>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = charts
            .iter()
            .map(|chart| {
                let (remote, overrides, args) = (&remote, &overrides, &args);
                scope.spawn(move || prepare(chart, remote, overrides, created, args))
            })
            .collect();
        handles
            .into_iter()
            .zip(&charts)
            .map(|(h, chart)| h.join().unwrap_or_else(|_| (panicked(chart), None)))
            .collect()
    });
    let targets: Vec<Option<(String, String)>> = prepared
        .iter()
        .map(|(o, ready)| match (ready, &o.reference, &o.digest) {
            (Some(_), Some(r), Some(d)) => Some((r.clone(), d.clone())),
            _ => None,
        })
        .collect();
    for (i, earlier) in conflicts(&targets).into_iter().enumerate() {
        if let (Some(j), Some((reference, _))) = (earlier, &targets[i]) {
            prepared[i].1 = None;
            prepared[i].0.error = Some(format!(
                "{reference} is also the target of {} in this call, with other content: push them separately or give them different versions",
                charts[j]
            ));
        }
    }

    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|(out, ready)| {
                let (client, keychain, args) = (&client, &*keychain, &args);
                scope.spawn(move || match ready {
                    // Refused while planning: nothing to push.
                    None => out,
                    Some(ready) => publish(out, &ready, client, keychain, args, defaulted),
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&charts)
            .map(|(h, chart)| h.join().unwrap_or_else(|_| panicked(chart)))
            .collect()
    });

    report(&outcomes, args.output)
}

fn panicked(chart: &str) -> Outcome {
    Outcome {
        chart: chart.to_string(),
        error: Some("internal error: the push thread panicked".into()),
        ..Outcome::default()
    }
}

/// A chart packaged and mapped to its artifact, ready to push. The package
/// is kept alive: the upload streams from its archive.
struct Ready {
    _packaged: chart::PackagedChart,
    reference: oci::Reference,
    artifact: oci::Artifact,
}

fn prepare(
    chart_arg: &str,
    remote: &Remote,
    overrides: &Overrides,
    created: Option<&str>,
    args: &Args,
) -> (Outcome, Option<Ready>) {
    let mut out = Outcome {
        chart: chart_arg.to_string(),
        ..Outcome::default()
    };
    let packaged = match chart::package(
        std::path::Path::new(chart_arg),
        overrides,
        args.destination.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            out.error = Some(e.to_string());
            return (out, None);
        }
    };
    out.name = Some(packaged.metadata.name.clone());
    out.version = Some(packaged.metadata.version.clone());
    out.size = Some(packaged.size);
    let reference = match remote.try_reference(&packaged.metadata.name, &packaged.metadata.version)
    {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e.to_string());
            return (out, None);
        }
    };
    out.reference = Some(reference.to_string());
    let artifact = match crate::artifact::build(&packaged, created) {
        Ok(a) => a,
        Err(e) => {
            out.error = Some(e.to_string());
            return (out, None);
        }
    };
    out.digest = Some(artifact.manifest_digest.clone());
    let ready = Ready {
        _packaged: packaged,
        reference,
        artifact,
    };
    (out, Some(ready))
}

/// For each chart, the earlier chart in the call that targets the same
/// reference with another digest (`targets[i]` = (reference, digest)).
/// The same artifact twice is no conflict.
fn conflicts(targets: &[Option<(String, String)>]) -> Vec<Option<usize>> {
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (reference, digest) = t.as_ref()?;
            targets[..i].iter().position(|earlier| {
                earlier
                    .as_ref()
                    .is_some_and(|(r, d)| r == reference && d != digest)
            })
        })
        .collect()
}

fn publish(
    mut out: Outcome,
    ready: &Ready,
    client: &oci::Client,
    keychain: &EcrKeychain,
    args: &Args,
    defaulted: bool,
) -> Outcome {
    let (reference, artifact) = (&ready.reference, &ready.artifact);
    let mut result = client.push(reference, artifact, args.dry_run);
    if args.create_repository && !args.dry_run {
        if let Err(e) = &result {
            if e.kind() == oci::ErrorKind::NameUnknown {
                result = create_repository(keychain, reference, args)
                    .map_err(|e| oci::Error::new(e.to_string()))
                    .and_then(|()| client.push(reference, artifact, false));
            }
        }
    }
    match result {
        Ok(status) => {
            out.status = Some(status);
            if status == PushStatus::DryRun && !args.create_repository {
                out.warning = missing_repository_warning(keychain, reference, args);
            }
        }
        Err(e) => {
            let mut msg = advice(&e, reference, keychain);
            if defaulted && e.kind() == oci::ErrorKind::Transport {
                // No remote was given: the user may not know which host we chose.
                msg.push_str(&format!(
                    " ({} is your default ECR registry, named by the ECR token: check the network and HTTPS_PROXY, or pass oci://HOST/NAMESPACE to push elsewhere)",
                    reference.registry
                ));
            }
            out.error = Some(msg);
            return out;
        }
    }
    if args.describe && !args.dry_run {
        match describe(keychain, reference, args) {
            Ok(detail) => {
                out.description = Some(describe_lines(&detail));
                out.image = Some(detail.raw);
            }
            // The chart landed: a failed look-up afterwards is a warning, not
            // a failed push (a retry would find the chart `unchanged`).
            Err(e) => out.warning = Some(format!("pushed, but DescribeImages failed: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::output::json_line;
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// Split with nothing on disk; a refusal as its line.
    fn split_arguments(args: &[String]) -> Result<(Vec<String>, Option<Remote>), String> {
        super::split_arguments(args, |_| false).map_err(|e| e.to_string())
    }

    #[test]
    fn other_urls_are_refused_unless_they_are_paths_on_disk() {
        for url in [
            "http://127.0.0.1:44831/x",
            "https://reg.example/ns",
            "HTTPS://reg.example",
            "127.0.0.1:5000/ns",
            "reg.example:443",
            "localhost:5000/a/b",
            "[::1]:5000/ns",
        ] {
            let e = split_arguments(&s(&["./good", url])).unwrap_err();
            assert!(e.contains("must start with oci://"), "{url}: {e}");
        }
        for chart in [
            "./good",
            "good",
            "dist/c-1.0.0.tgz",
            "a:b/c",
            "C:\\charts\\x",
            "x:/y",
        ] {
            assert!(split_arguments(&s(&[chart])).is_ok(), "{chart}");
        }
        // A directory that happens to be named like a host and port is a chart.
        let (charts, _) = super::split_arguments(&s(&["h:5000/c"]), |a| a == "h:5000/c").unwrap();
        assert_eq!(charts, s(&["h:5000/c"]));
    }

    #[test]
    fn a_refused_url_is_not_echoed_with_its_password() {
        let e = split_arguments(&s(&["a", "https://u:hunter2@h/x"])).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn remote_may_come_anywhere() {
        let (charts, remote) = split_arguments(&s(&["oci://h:5000/ns", "a", "b.tgz"])).unwrap();
        assert_eq!(charts, s(&["a", "b.tgz"]));
        assert_eq!(remote.unwrap().registry, "h:5000");
        let (charts, remote) = split_arguments(&s(&["a", "oci://h/ns/sub", "b"])).unwrap();
        assert_eq!(charts, s(&["a", "b"]));
        assert_eq!(remote.unwrap().namespace, "ns/sub");
    }

    #[test]
    fn a_second_remote_is_not_echoed_with_its_password() {
        let err = split_arguments(&s(&["a", "oci://h/x", "oci://user:hunter2@h/y"])).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn two_remotes_or_no_chart_are_refused() {
        assert!(split_arguments(&s(&["a", "oci://h/x", "oci://h/y"]))
            .unwrap_err()
            .contains("more than one"));
        assert!(split_arguments(&s(&["oci://h/x"]))
            .unwrap_err()
            .contains("no chart"));
    }

    #[test]
    fn other_content_for_an_earlier_target_conflicts() {
        let t = |r: &str, d: &str| Some((r.to_string(), d.to_string()));
        let targets = vec![
            t("h/a:1", "sha256:1"),
            None,
            t("h/a:1", "sha256:1"),
            t("h/a:1", "sha256:2"),
            t("h/b:1", "sha256:2"),
            t("h/a:1", "sha256:3"),
        ];
        assert_eq!(
            conflicts(&targets),
            vec![None, None, None, Some(0), None, Some(0)]
        );
    }

    #[test]
    fn ecr_public_names_and_template_prefixes() {
        for (repository, alias, name) in [
            ("myalias/team/chart", "myalias", "team/chart"),
            ("chart", "", "chart"),
        ] {
            assert_eq!(public_alias(repository), alias, "{repository}");
            assert_eq!(public_name(repository), name, "{repository}");
        }
        for (repository, prefixes) in [("team/sub/chart", "ROOT or team/"), ("chart", "ROOT")] {
            assert_eq!(template_prefixes(repository), prefixes, "{repository}");
        }
    }

    #[test]
    fn failed_json_line_carries_the_error() {
        let o = Outcome {
            chart: "./bad".into(),
            error: Some("Chart.yaml file is missing".into()),
            ..Outcome::default()
        };
        let v: serde_json::Value = serde_json::from_str(&json_line(&o)).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["chart"], "./bad");
        assert_eq!(v["error"], "Chart.yaml file is missing");
    }
}
