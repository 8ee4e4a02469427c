//! `helm ecr-push CHART... [oci://HOST[:PORT]/NAMESPACE]`
//!
//! Plan first (split arguments, pick the target), then per chart, in
//! parallel: package -> artifact -> push; results are printed in the order
//! the charts were given.

use super::fail;
use crate::aws;
use crate::chart::{self, Overrides};
use crate::cli::CommonArgs;
use crate::keychain::{self, EcrKeychain};
use crate::oci::{self, PushStatus, Remote};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Something that went wrong after the push landed (`--describe`).
    warning: Option<String>,
    /// `--describe` with `--output json`: ECR's imageDetail as it came.
    image: Option<serde_json::Value>,
}

/// Runs the command; returns the exit status.
pub fn run(args: Args) -> i32 {
    let on_disk = |a: &str| std::fs::symlink_metadata(a).is_ok();
    let (charts, remote) = match split_arguments(&args.charts, on_disk) {
        Ok(split) => split,
        Err(e) => return fail(&e),
    };
    if let Some(r) = &remote {
        if let Err(e) = check_public_remote(r, &args) {
            return fail(&e);
        }
    }
    let http = match crate::http::Http::new(args.common.http_options()) {
        Ok(h) => h,
        Err(e) => return fail(&e.to_string()),
    };
    let aws_http = match crate::http::Http::new(args.common.aws_http_options()) {
        Ok(h) => h,
        Err(e) => return fail(&e.to_string()),
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
            Err(e) => return fail(&e),
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
                    .map_err(oci::Error::new)
                    .and_then(|()| client.push(reference, artifact, false));
            }
        }
    }
    match result {
        Ok(status) => out.status = Some(status),
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

/// An ECR Public remote names the registry alias (`public.ecr.aws/ALIAS`),
/// and its repositories take none of the private-ECR settings: both said
/// before anything is packaged.
fn check_public_remote(remote: &Remote, args: &Args) -> Result<(), String> {
    if !aws::is_ecr_public_host(&remote.registry) {
        return Ok(());
    }
    if remote.namespace.is_empty() {
        return Err(format!(
            "oci://{}: name your ECR Public registry alias: oci://{}/ALIAS (see `aws ecr-public describe-registries --region us-east-1`)",
            remote.registry, remote.registry
        ));
    }
    let unsupported = aws::public::unsupported_settings(&repository_options(args));
    if !unsupported.is_empty() {
        return Err(format!(
            "ECR Public repositories have no tag mutability, scanning or KMS settings: drop {}",
            unsupported.join(", ")
        ));
    }
    Ok(())
}

/// ECR's registry answers, turned into what to do about them.
fn advice(e: &oci::Error, reference: &oci::Reference, keychain: &EcrKeychain) -> String {
    let repo = &reference.repository;
    if aws::is_ecr_public_host(&reference.registry) {
        return public_advice(e, reference);
    }
    let region = keychain
        .session_for(&reference.registry)
        .map(|s| s.region.clone())
        .unwrap_or_else(|_| "REGION".into());
    match e.kind() {
        oci::ErrorKind::NameUnknown => format!(
            "repository {repo} does not exist in {}: pass --create-repository, run `aws ecr create-repository --repository-name {repo} --region {region}`, or have ECR create repositories on push with a repository creation template (applied for CREATE_ON_PUSH, prefix {})",
            reference.registry,
            template_prefixes(repo)
        ),
        oci::ErrorKind::Denied => format!(
            "{}; a push needs ecr:BatchGetImage (it starts with a manifest HEAD), ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload and ecr:PutImage on {repo}, and ecr:GetAuthorizationToken: grant the identity what it lacks",
            e.message()
        ),
        _ => advice_common(e, reference),
    }
}

/// The creation-template prefixes that cover `repo`: ROOT (every
/// repository), and its namespace's when it has one.
fn template_prefixes(repo: &str) -> String {
    match repo.split_once('/') {
        Some((first, _)) => format!("ROOT or {first}/"),
        None => "ROOT".to_string(),
    }
}

/// As [`advice`], for ECR Public: its API names repositories without the
/// registry alias, and its IAM actions are `ecr-public:*`.
fn public_advice(e: &oci::Error, reference: &oci::Reference) -> String {
    let name = public_name(&reference.repository);
    match e.kind() {
        oci::ErrorKind::NameUnknown => format!(
            "repository {name} does not exist in your ECR Public registry ({}/{}): pass --create-repository, or run `aws ecr-public create-repository --repository-name {name} --region {}`",
            reference.registry,
            public_alias(&reference.repository),
            aws::PUBLIC_REGION
        ),
        oci::ErrorKind::Denied | oci::ErrorKind::Unauthorized => format!(
            "{}; a push to ECR Public needs ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken, and ecr-public:BatchCheckLayerAvailability, ecr-public:InitiateLayerUpload, ecr-public:UploadLayerPart, ecr-public:CompleteLayerUpload and ecr-public:PutImage on {name}: grant the identity what it lacks",
            e.message()
        ),
        _ => advice_common(e, reference),
    }
}

fn advice_common(e: &oci::Error, reference: &oci::Reference) -> String {
    match e.kind() {
        oci::ErrorKind::TagImmutable => format!(
            "tag {} already exists in {} with other content and the repository's tags are immutable: bump the chart version",
            reference.tag, reference.repository
        ),
        _ => e.to_string(),
    }
}

/// `ALIAS/NAME` -> `NAME`, the repository as the ECR Public API names it.
fn public_name(repository: &str) -> &str {
    aws::public::split_alias(repository).map_or(repository, |(_, name)| name)
}

fn public_alias(repository: &str) -> &str {
    aws::public::split_alias(repository).map_or("", |(alias, _)| alias)
}

/// The CreateRepository settings the flags ask for.
fn repository_options(args: &Args) -> aws::CreateRepositoryOptions {
    aws::CreateRepositoryOptions {
        registry_id: args.registry_id.clone(),
        image_tag_mutability: args.image_tag_mutability.clone(),
        scan_on_push: args.scan_on_push.then_some(true),
        encryption_type: None,
        kms_key: args.kms_key.clone(),
        tags: args.tags.clone(),
    }
}

fn create_repository(
    keychain: &EcrKeychain,
    reference: &oci::Reference,
    args: &Args,
) -> Result<(), String> {
    let session = keychain
        .session_for(&reference.registry)
        .map_err(|e| e.to_string())?;
    if aws::is_ecr_public_host(&reference.registry) {
        let name = public_name(&reference.repository);
        return session
            .create_public_repository(name, &repository_options(args))
            .map(|_| ())
            .map_err(|e| format!("creating ECR Public repository {name}: {e}"));
    }
    let mut options = repository_options(args);
    if let Some(h) = aws::parse_ecr_host(&reference.registry) {
        options.registry_id = Some(h.account);
    }
    session
        .create_repository(&reference.repository, &options)
        .map(|_| ())
        .map_err(|e| format!("creating repository {}: {e}", reference.repository))
}

/// ECR's DescribeImages for the pushed tag (ECR Public's for its hosts).
fn describe(
    keychain: &EcrKeychain,
    reference: &oci::Reference,
    args: &Args,
) -> Result<crate::aws::ImageDetail, String> {
    let session = keychain
        .session_for(&reference.registry)
        .map_err(|e| e.to_string())?;
    let found = if aws::is_ecr_public_host(&reference.registry) {
        session.describe_public_image(
            args.registry_id.as_deref(),
            public_name(&reference.repository),
            &reference.tag,
        )
    } else {
        let registry_id = aws::parse_ecr_host(&reference.registry).map(|h| h.account);
        session.describe_images_in(
            registry_id.as_deref(),
            &reference.repository,
            &reference.tag,
        )
    };
    found
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("ECR has no image tagged {}", reference.tag))
}

/// `aws ecr describe-images`-style lines.
fn describe_lines(d: &crate::aws::ImageDetail) -> String {
    let mut lines = Vec::new();
    let mut field = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            lines.push(format!("{k}: {v}"));
        }
    };
    field("Repository", d.repository_name.clone());
    field(
        "Tags",
        Some(d.image_tags.join(", ")).filter(|t| !t.is_empty()),
    );
    field("Size", d.image_size_in_bytes.map(|n| n.to_string()));
    field(
        "Pushed at",
        d.image_pushed_at.map(crate::clock::rfc3339_system),
    );
    field("Manifest media type", d.image_manifest_media_type.clone());
    field("Artifact media type", d.artifact_media_type.clone());
    lines.join("\n")
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s}: a tag is KEY=VALUE")),
    }
}

/// The charts, and the one `oci://` remote if any (it may come anywhere).
/// An argument that reads as another kind of remote and is no path on disk
/// is refused, so a mistyped remote never sends a chart elsewhere.
fn split_arguments(
    args: &[String],
    on_disk: impl Fn(&str) -> bool,
) -> Result<(Vec<String>, Option<Remote>), String> {
    let mut charts = Vec::new();
    let mut remote = None;
    for a in args {
        if !a.starts_with("oci://") && looks_like_a_remote(a) && !on_disk(a) {
            return Err(format!(
                "{}: the remote must start with oci:// (oci://HOST[:PORT]/NAMESPACE); a chart \
                 is a directory or .tgz on disk",
                crate::http::redact_url(a)
            ));
        }
        if a.starts_with("oci://") {
            // Parsed before it is echoed: parse_remote refuses (and redacts)
            // credentials written into the URL.
            let parsed = oci::parse_remote(a).map_err(|e| e.to_string())?;
            if remote.is_some() {
                return Err(format!(
                    "oci://{}/{}: more than one oci:// remote given; push to one remote per call",
                    parsed.registry, parsed.namespace
                ));
            }
            remote = Some(parsed);
        } else {
            charts.push(a.clone());
        }
    }
    if charts.is_empty() {
        return Err("no chart given: pass a chart directory or .tgz".into());
    }
    Ok((charts, remote))
}

/// `SCHEME://...` or `HOST:PORT[/...]`: what a registry address looks like.
fn looks_like_a_remote(arg: &str) -> bool {
    if let Some((scheme, _)) = arg.split_once("://") {
        return !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    }
    let authority = arg.split('/').next().unwrap_or(arg);
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'))
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
}

/// No remote given: the caller's own ECR registry, found from the token's
/// proxyEndpoint; the token is kept for the push itself.
fn default_remote(keychain: &EcrKeychain) -> Result<Remote, String> {
    let token = keychain
        .default_registry_token()
        .map_err(|e| e.to_string())?;
    let host = keychain::endpoint_host(&token.proxy_endpoint);
    keychain.remember(&host, &token);
    Ok(Remote {
        registry: host,
        namespace: String::new(),
    })
}

fn report(outcomes: &[Outcome], format: OutputFormat) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for o in outcomes {
        if let Some(err) = &o.error {
            failed = true;
            eprintln!("Error: {}: {}", o.chart, err);
        }
        if let Some(w) = &o.warning {
            eprintln!("Warning: {}: {}", o.chart, w);
        }
        let line = match format {
            OutputFormat::Json => json_line(o),
            OutputFormat::Text => match (o.status, &o.reference, &o.digest) {
                (Some(status), Some(r), Some(d)) => {
                    let verb = match status {
                        PushStatus::Pushed => "Pushed",
                        PushStatus::Unchanged => "Unchanged",
                        PushStatus::DryRun => "Would push",
                    };
                    match &o.description {
                        Some(desc) => format!("{verb}: {r}\nDigest: {d}\n{desc}"),
                        None => format!("{verb}: {r}\nDigest: {d}"),
                    }
                }
                _ => continue,
            },
        };
        // A closed stdout (`| head`) is not worth a panic.
        let _ = writeln!(out, "{line}");
    }
    i32::from(failed)
}

fn json_line(o: &Outcome) -> String {
    let status = match (o.status, &o.error) {
        (_, Some(_)) | (None, None) => "failed",
        (Some(PushStatus::Pushed), None) => "pushed",
        (Some(PushStatus::Unchanged), None) => "unchanged",
        (Some(PushStatus::DryRun), None) => "dry-run",
    };
    let mut v = serde_json::json!({
        "ref": o.reference,
        "digest": o.digest,
        "chart": o.name.clone().unwrap_or_else(|| o.chart.clone()),
        "version": o.version,
        "size": o.size,
        "status": status,
    });
    if let Some(e) = &o.error {
        v["error"] = serde_json::Value::String(e.clone());
    }
    if let Some(image) = &o.image {
        v["image"] = image.clone();
    }
    if let Some(w) = &o.warning {
        v["warning"] = serde_json::Value::String(w.clone());
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn split_arguments(args: &[String]) -> Result<(Vec<String>, Option<Remote>), String> {
        super::split_arguments(args, |_| false)
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
        assert_eq!(public_name("myalias/team/chart"), "team/chart");
        assert_eq!(public_alias("myalias/team/chart"), "myalias");
        assert_eq!(public_name("chart"), "chart");
        assert_eq!(template_prefixes("team/sub/chart"), "ROOT or team/");
        assert_eq!(template_prefixes("chart"), "ROOT");
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
