//! What `helm ecr-push` knows of ECR and ECR Public: the target a push
//! defaults to, repository creation and DescribeImages, and the advice a
//! refused push gets.

use super::Args;
use crate::aws;
use crate::commands::Error;
use crate::keychain::{self, EcrKeychain};
use crate::oci::{self, Remote};

/// An ECR Public remote names the registry alias (`public.ecr.aws/ALIAS`),
/// and its repositories take none of the private-ECR settings: both said
/// before anything is packaged.
pub(super) fn check_public_remote(remote: &Remote, args: &Args) -> Result<(), Error> {
    if !aws::is_ecr_public_host(&remote.registry) {
        return Ok(());
    }
    if remote.namespace.is_empty() {
        return Err(Error::usage(format!(
            "oci://{}: name your ECR Public registry alias: oci://{}/ALIAS (see `aws ecr-public describe-registries --region us-east-1`)",
            remote.registry, remote.registry
        )));
    }
    let unsupported = aws::public::unsupported_settings(&repository_options(args));
    if !unsupported.is_empty() {
        return Err(Error::usage(format!(
            "ECR Public repositories have no tag mutability, scanning or KMS settings: drop {}",
            unsupported.join(", ")
        )));
    }
    Ok(())
}

/// ECR's registry answers, turned into what to do about them.
pub(super) fn advice(e: &oci::Error, reference: &oci::Reference, keychain: &EcrKeychain) -> String {
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
pub(super) fn template_prefixes(repo: &str) -> String {
    match repo.split_once('/') {
        Some((first, _)) => format!("ROOT or {first}/"),
        None => "ROOT".to_string(),
    }
}

/// As [`advice`], for ECR Public: its API names repositories without the
/// registry alias, and its IAM actions are `ecr-public:*`.
pub(super) fn public_advice(e: &oci::Error, reference: &oci::Reference) -> String {
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

pub(super) fn advice_common(e: &oci::Error, reference: &oci::Reference) -> String {
    match e.kind() {
        oci::ErrorKind::TagImmutable => format!(
            "tag {} already exists in {} with other content and the repository's tags are immutable: bump the chart version",
            reference.tag, reference.repository
        ),
        _ => e.to_string(),
    }
}

/// `ALIAS/NAME` -> `NAME`, the repository as the ECR Public API names it.
pub(super) fn public_name(repository: &str) -> &str {
    aws::public::split_alias(repository).map_or(repository, |(_, name)| name)
}

pub(super) fn public_alias(repository: &str) -> &str {
    aws::public::split_alias(repository).map_or("", |(alias, _)| alias)
}

/// The CreateRepository settings the flags ask for.
pub(super) fn repository_options(args: &Args) -> aws::CreateRepositoryOptions {
    aws::CreateRepositoryOptions {
        registry_id: args.registry_id.clone(),
        image_tag_mutability: args.image_tag_mutability.clone(),
        scan_on_push: args.scan_on_push.then_some(true),
        encryption_type: None,
        kms_key: args.kms_key.clone(),
        tags: args.tags.clone(),
    }
}

pub(super) fn create_repository(
    keychain: &EcrKeychain,
    reference: &oci::Reference,
    args: &Args,
) -> Result<(), Error> {
    let session = keychain.session_for(&reference.registry)?;
    if aws::is_ecr_public_host(&reference.registry) {
        let name = public_name(&reference.repository);
        return session
            .create_public_repository(name, &repository_options(args))
            .map(|_| ())
            .map_err(|source| Error::AwsCall {
                what: format!("creating ECR Public repository {name}"),
                source,
            });
    }
    let mut options = repository_options(args);
    if let Some(h) = aws::parse_ecr_host(&reference.registry) {
        options.registry_id = Some(h.account);
    }
    session
        .create_repository(&reference.repository, &options)
        .map(|_| ())
        .map_err(|source| Error::AwsCall {
            what: format!("creating repository {}", reference.repository),
            source,
        })
}

/// For a dry run that would push to private ECR (an ECR host name, or
/// `--registry-id`): a warning when the repository does not exist, as ECR
/// answers the dry run's manifest HEAD in a missing repository with a bare
/// 404, which reads as "not pushed yet". None when it exists, and when the
/// look-up itself fails: a dry run's advice never fails it.
pub(super) fn missing_repository_warning(
    keychain: &EcrKeychain,
    reference: &oci::Reference,
    args: &Args,
) -> Option<String> {
    if aws::is_ecr_public_host(&reference.registry) {
        return None;
    }
    let registry_id = aws::parse_ecr_host(&reference.registry)
        .map(|h| h.account)
        .or_else(|| args.registry_id.clone())?;
    let session = keychain.session_for(&reference.registry).ok()?;
    match session.repository_exists(&reference.repository, Some(&registry_id)) {
        Ok(false) => Some(format!(
            "repository {} does not exist in ECR registry {registry_id}: the push would fail; pass --create-repository or create it first",
            reference.repository
        )),
        _ => None,
    }
}

/// ECR's DescribeImages for the pushed tag (ECR Public's for its hosts).
pub(super) fn describe(
    keychain: &EcrKeychain,
    reference: &oci::Reference,
    args: &Args,
) -> Result<crate::aws::ImageDetail, Error> {
    let session = keychain.session_for(&reference.registry)?;
    let found = if aws::is_ecr_public_host(&reference.registry) {
        session.describe_image(
            aws::ecr::Flavor::Public,
            args.registry_id.as_deref(),
            public_name(&reference.repository),
            &reference.tag,
        )
    } else {
        let registry_id = aws::parse_ecr_host(&reference.registry).map(|h| h.account);
        session.describe_image(
            aws::ecr::Flavor::Private,
            registry_id.as_deref(),
            &reference.repository,
            &reference.tag,
        )
    };
    // An empty answer for the tag just pushed: ECR's reply is of no use.
    Ok(found?
        .ok_or_else(|| aws::Error::Reply(format!("ECR has no image tagged {}", reference.tag)))?)
}

/// `aws ecr describe-images`-style lines.
pub(super) fn describe_lines(d: &crate::aws::ImageDetail) -> String {
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

/// No remote given: the caller's own ECR registry, found from the token's
/// proxyEndpoint; the token is kept for the push itself.
pub(super) fn default_remote(keychain: &EcrKeychain) -> Result<Remote, Error> {
    let token = keychain.default_registry_token()?;
    let host = keychain::endpoint_host(&token.proxy_endpoint);
    keychain.remember(&host, &token);
    Ok(Remote {
        registry: host,
        namespace: String::new(),
    })
}
