//! The ECR and ECR Public APIs (JSON 1.1, SigV4) and their replies.

use std::time::SystemTime;

use serde::Deserialize;

use super::errors::Caller;
use super::sign::Signer;
use super::transport::Call;
use super::Context;
use super::{AuthToken, AwsErrorCode, Credentials, Error};
use crate::clock::{from_epoch_f64, parse_rfc3339};
use crate::codec::base64_decode;

/// Which API: private ECR or ECR Public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Private,
    Public,
}

impl Flavor {
    fn target_prefix(self) -> &'static str {
        match self {
            Flavor::Private => "AmazonEC2ContainerRegistry_V20150921",
            Flavor::Public => "SpencerFrontendService",
        }
    }
    pub fn service(self) -> &'static str {
        match self {
            Flavor::Private => "ecr",
            Flavor::Public => "ecr-public",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Flavor::Private => "ECR",
            Flavor::Public => "ECR Public",
        }
    }
}

/// One ECR (or ECR Public) API endpoint, called in the session's context
/// with resolved credentials.
pub struct Api<'a> {
    pub ctx: &'a Context<'a>,
    pub url: &'a str,
    /// The signing region (us-east-1 for ECR Public).
    pub region: &'a str,
    pub flavor: Flavor,
    pub credentials: &'a Credentials,
}

impl Api<'_> {
    /// One call; a refusal comes back as [`Error::Api`] with its code, for
    /// callers that handle some codes.
    pub fn call(&self, op: &str, body: &serde_json::Value) -> Result<serde_json::Value, Error> {
        let what = format!("{} {op}", self.flavor.label());
        let iam_action = format!("{}:{op}", self.flavor.service());
        let mut c = Call::new("POST", format!("{}/", self.url), &what, self.ctx.env);
        c.headers
            .push(("content-type", "application/x-amz-json-1.1".into()));
        c.headers.push((
            "x-amz-target",
            format!("{}.{op}", self.flavor.target_prefix()),
        ));
        c.body = body.to_string().into_bytes();
        c.signer = Some(Signer {
            credentials: self.credentials,
            region: self.region,
            service: self.flavor.service(),
        });
        let reply = self.ctx.call(&c).map_err(|f| {
            f.explain(&Caller {
                what: &what,
                iam_action: &iam_action,
                key_id: Some(&self.credentials.access_key_id),
            })
        })?;
        serde_json::from_str(&reply.body).map_err(|e| Error::Json {
            context: format!("{what}: the reply (HTTP {}) is not JSON", reply.status),
            source: e,
        })
    }
}

/// The codes that mean "not allowed to create, but maybe it exists".
fn may_exist(e: &Error) -> bool {
    e.code().is_some_and(|c| {
        matches!(
            c,
            AwsErrorCode::AccessDeniedException | AwsErrorCode::AccessDenied
        )
    })
}

impl Api<'_> {
    /// Create the repository unless it exists; true when it was created.
    /// One call when allowed (CreateRepository, "already exists" = false);
    /// a caller without CreateRepository still passes when the repository
    /// exists (checked with DescribeRepositories).
    pub fn create_unless_present(
        &self,
        name: &str,
        options: &CreateRepositoryOptions,
    ) -> Result<bool, Error> {
        match self.call("CreateRepository", &create_repository_body(name, options)) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(&AwsErrorCode::RepositoryAlreadyExistsException) => {
                Ok(false)
            }
            Err(e) if may_exist(&e) => {
                match self.repository_exists(name, options.registry_id.as_deref()) {
                    Ok(true) => Ok(false),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// DescribeRepositories of `name` in `registry_id`'s registry (the
    /// caller's when None): false when ECR says it does not exist.
    pub fn repository_exists(&self, name: &str, registry_id: Option<&str>) -> Result<bool, Error> {
        let mut body = serde_json::json!({ "repositoryNames": [name] });
        if let Some(r) = registry_id {
            body["registryId"] = r.into();
        }
        match self.call("DescribeRepositories", &body) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(&AwsErrorCode::RepositoryNotFoundException) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// DescribeImages of `repository:tag`; None when the tag does not
    /// exist. A missing repository is `missing_repository`'s line.
    pub fn describe_image(
        &self,
        registry_id: Option<&str>,
        repository: &str,
        tag: &str,
        missing_repository: impl FnOnce() -> String,
    ) -> Result<Option<ImageDetail>, Error> {
        let mut body = serde_json::json!({
            "repositoryName": repository,
            "imageIds": [{ "imageTag": tag }],
        });
        if let Some(r) = registry_id {
            body["registryId"] = r.into();
        }
        match self.call("DescribeImages", &body) {
            Ok(v) => Ok(parse_image_details(&v)?.into_iter().next()),
            Err(e) => match e.code() {
                Some(AwsErrorCode::ImageNotFoundException) => Ok(None),
                Some(AwsErrorCode::RepositoryNotFoundException) => Err(Error::Api {
                    code: AwsErrorCode::RepositoryNotFoundException,
                    status: 400,
                    message: missing_repository(),
                }),
                _ => Err(e),
            },
        }
    }
}

fn timestamp(v: &serde_json::Value) -> Option<SystemTime> {
    match v {
        serde_json::Value::Number(n) => from_epoch_f64(n.as_f64()?),
        serde_json::Value::String(s) => {
            parse_rfc3339(s).or_else(|| from_epoch_f64(s.parse().ok()?))
        }
        _ => None,
    }
}

fn decode_token(b64: &str, what: &str) -> Result<(String, String), Error> {
    let raw = base64_decode(b64)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::Reply(format!(
                "{what}: the authorization token is not base64 text"
            ))
        })?;
    let (user, password) = raw.split_once(':').ok_or_else(|| {
        Error::Reply(format!(
            "{what}: the authorization token is not USER:PASSWORD"
        ))
    })?;
    Ok((user.to_string(), password.to_string()))
}

/// GetAuthorizationToken's reply: private ECR lists tokens, ECR Public has one.
pub fn parse_auth_reply(v: &serde_json::Value, flavor: Flavor) -> Result<AuthToken, Error> {
    let what = format!("{} GetAuthorizationToken", flavor.label());
    let data = match flavor {
        Flavor::Private => v.get("authorizationData").and_then(|d| d.get(0)),
        Flavor::Public => v.get("authorizationData"),
    }
    .ok_or_else(|| Error::Reply(format!("{what}: the reply holds no authorizationData")))?;
    let token = data
        .get("authorizationToken")
        .and_then(|t| t.as_str())
        .ok_or_else(|| Error::Reply(format!("{what}: the reply holds no authorizationToken")))?;
    let (username, password) = decode_token(token, &what)?;
    let expires_at = data
        .get("expiresAt")
        .and_then(timestamp)
        .ok_or_else(|| Error::Reply(format!("{what}: the reply holds no readable expiresAt")))?;
    let proxy_endpoint = match flavor {
        Flavor::Private => data
            .get("proxyEndpoint")
            .and_then(|p| p.as_str())
            .ok_or_else(|| Error::Reply(format!("{what}: the reply holds no proxyEndpoint")))?
            .to_string(),
        Flavor::Public => "https://public.ecr.aws".to_string(),
    };
    Ok(AuthToken {
        username,
        password: password.into(),
        expires_at,
        proxy_endpoint,
    })
}

/// The account in `https://ACCT.dkr.ecr.REGION.amazonaws.com`, if any.
pub fn proxy_account(proxy_endpoint: &str) -> Option<String> {
    super::endpoint::parse_ecr_host(&crate::http::authority_of(proxy_endpoint)).map(|h| h.account)
}

/// What CreateRepository sets on a new repository.
#[derive(Debug, Clone, Default)]
pub struct CreateRepositoryOptions {
    /// Another account's registry (cross-account), else the caller's own.
    pub registry_id: Option<String>,
    /// `MUTABLE` or `IMMUTABLE` (and ECR's `*_WITH_EXCLUSION` forms).
    pub image_tag_mutability: Option<String>,
    pub scan_on_push: Option<bool>,
    /// `AES256` or `KMS` (`KMS` implied by `kms_key`).
    pub encryption_type: Option<String>,
    pub kms_key: Option<String>,
    pub tags: Vec<(String, String)>,
}

pub fn create_repository_body(name: &str, o: &CreateRepositoryOptions) -> serde_json::Value {
    let mut body = serde_json::json!({ "repositoryName": name });
    if let Some(r) = &o.registry_id {
        body["registryId"] = r.as_str().into();
    }
    if let Some(m) = &o.image_tag_mutability {
        body["imageTagMutability"] = m.to_ascii_uppercase().into();
    }
    if let Some(s) = o.scan_on_push {
        body["imageScanningConfiguration"] = serde_json::json!({ "scanOnPush": s });
    }
    let enc_type = o
        .encryption_type
        .as_ref()
        .map(|t| t.to_ascii_uppercase())
        .or_else(|| o.kms_key.as_ref().map(|_| "KMS".to_string()));
    if let Some(t) = enc_type {
        let mut enc = serde_json::json!({ "encryptionType": t });
        if let Some(k) = &o.kms_key {
            enc["kmsKey"] = k.as_str().into();
        }
        body["encryptionConfiguration"] = enc;
    }
    if !o.tags.is_empty() {
        body["tags"] = o
            .tags
            .iter()
            .map(|(k, v)| serde_json::json!({ "Key": k, "Value": v }))
            .collect();
    }
    body
}

/// One DescribeImages entry; `raw` keeps every field ECR sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDetail {
    pub registry_id: Option<String>,
    pub repository_name: Option<String>,
    pub image_digest: Option<String>,
    #[serde(default)]
    pub image_tags: Vec<String>,
    pub image_size_in_bytes: Option<u64>,
    pub image_manifest_media_type: Option<String>,
    pub artifact_media_type: Option<String>,
    #[serde(skip)]
    pub image_pushed_at: Option<SystemTime>,
    #[serde(skip)]
    pub raw: serde_json::Value,
}

pub fn parse_image_details(v: &serde_json::Value) -> Result<Vec<ImageDetail>, Error> {
    let items = v
        .get("imageDetails")
        .and_then(|d| d.as_array())
        .ok_or_else(|| {
            Error::Reply("ECR DescribeImages: the reply holds no imageDetails".into())
        })?;
    items
        .iter()
        .map(|item| {
            let mut d: ImageDetail = serde_json::from_value(item.clone())
                .map_err(|e| Error::Reply(format!("ECR DescribeImages: unexpected reply: {e}")))?;
            d.image_pushed_at = item.get("imagePushedAt").and_then(timestamp);
            d.raw = item.clone();
            Ok(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::epoch_secs;
    use crate::codec::base64_encode;

    #[test]
    fn private_and_public_auth_replies() {
        let tok = base64_encode(b"AWS:123456789012-auth-token");
        let v = serde_json::json!({"authorizationData": [{
            "authorizationToken": tok, "expiresAt": 1420070400.0,
            "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]});
        let t = parse_auth_reply(&v, Flavor::Private).unwrap();
        assert_eq!(
            (t.username.as_str(), t.password.expose()),
            ("AWS", "123456789012-auth-token")
        );
        assert_eq!(epoch_secs(t.expires_at), 1420070400);
        assert_eq!(
            proxy_account(&t.proxy_endpoint).as_deref(),
            Some("123456789012")
        );
        let v = serde_json::json!({"authorizationData": {"authorizationToken": tok, "expiresAt": "2030-01-01T00:00:00Z"}});
        let t = parse_auth_reply(&v, Flavor::Public).unwrap();
        assert_eq!(t.proxy_endpoint, "https://public.ecr.aws");
        assert!(parse_auth_reply(&serde_json::json!({}), Flavor::Private).is_err());
        let bad = serde_json::json!({"authorizationData": [{"authorizationToken": "!!", "expiresAt": 1, "proxyEndpoint": "x"}]});
        assert!(parse_auth_reply(&bad, Flavor::Private).is_err());
    }

    #[test]
    fn create_repository_bodies() {
        let b = create_repository_body("charts/app", &CreateRepositoryOptions::default());
        assert_eq!(b, serde_json::json!({"repositoryName": "charts/app"}));
        let b = create_repository_body(
            "a",
            &CreateRepositoryOptions {
                registry_id: Some("123456789012".into()),
                image_tag_mutability: Some("immutable".into()),
                scan_on_push: Some(true),
                encryption_type: None,
                kms_key: Some("arn:aws:kms:us-east-1:1:key/k".into()),
                tags: vec![("team".into(), "x".into())],
            },
        );
        assert_eq!(
            b,
            serde_json::json!({
                "repositoryName": "a", "registryId": "123456789012",
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": true},
                "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:1:key/k"},
                "tags": [{"Key": "team", "Value": "x"}]
            })
        );
    }

    #[test]
    fn image_details() {
        let v = serde_json::json!({"imageDetails": [{
            "registryId": "123456789012", "repositoryName": "app",
            "imageDigest": "sha256:ab", "imageTags": ["1.0.0"], "imageSizeInBytes": 1234,
            "imagePushedAt": 1.7e9,
            "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactMediaType": "application/vnd.cncf.helm.config.v1+json"}]});
        let d = parse_image_details(&v).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].artifact_media_type.as_deref(),
            Some("application/vnd.cncf.helm.config.v1+json")
        );
        assert_eq!(d[0].image_tags, ["1.0.0"]);
        assert_eq!(epoch_secs(d[0].image_pushed_at.unwrap()), 1_700_000_000);
        assert_eq!(d[0].raw["imageSizeInBytes"], 1234);
    }
}
