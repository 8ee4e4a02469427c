//! ECR Public repositories through the ECR Public API (us-east-1 only,
//! SigV4 service `ecr-public`, target `SpencerFrontendService`). The API
//! names a repository without the registry alias that the registry's paths
//! start with: `public.ecr.aws/ALIAS/NAME` is repository `NAME`.

use super::ecr::{CreateRepositoryOptions, Flavor};
use super::{Error, Session};

/// `ALIAS/NAME` (a path under public.ecr.aws) -> (`ALIAS`, `NAME`); None
/// when there is no alias before the name.
pub fn split_alias(path: &str) -> Option<(&str, &str)> {
    let (alias, name) = path.split_once('/')?;
    (!alias.is_empty() && !name.is_empty()).then_some((alias, name))
}

/// The CreateRepository settings ECR Public has no place for, by flag name.
pub fn unsupported_settings(o: &CreateRepositoryOptions) -> Vec<&'static str> {
    let mut out = Vec::new();
    if o.image_tag_mutability.is_some() {
        out.push("--image-tag-mutability");
    }
    if o.scan_on_push.is_some() {
        out.push("--scan-on-push");
    }
    if o.kms_key.is_some() || o.encryption_type.is_some() {
        out.push("--kms-key");
    }
    out
}

impl Session {
    /// ECR Public CreateRepository unless the repository exists; true when
    /// it was created. `name` carries no registry alias. As for private
    /// ECR, a caller without CreateRepository passes when the repository
    /// is there (DescribeRepositories).
    pub fn create_public_repository(
        &self,
        name: &str,
        options: &CreateRepositoryOptions,
    ) -> Result<bool, Error> {
        let unsupported = unsupported_settings(options);
        if !unsupported.is_empty() {
            return Err(Error::Config(format!(
                "ECR Public repositories have no tag mutability, scanning or KMS settings: drop {}",
                unsupported.join(", ")
            )));
        }
        self.with_api(Flavor::Public, |api| {
            api.create_unless_present(name, options)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_is_not_part_of_the_name() {
        assert_eq!(split_alias("myalias/chart"), Some(("myalias", "chart")));
        assert_eq!(
            split_alias("myalias/team/chart"),
            Some(("myalias", "team/chart"))
        );
        assert_eq!(split_alias("chart"), None);
        assert_eq!(split_alias("/chart"), None);
    }

    #[test]
    fn create_body_has_only_what_ecr_public_takes() {
        let o = CreateRepositoryOptions {
            registry_id: Some("123456789012".into()),
            tags: vec![("team".into(), "a".into())],
            ..Default::default()
        };
        // Once the unsupported settings are refused, ECR's body is ECR
        // Public's.
        assert!(unsupported_settings(&o).is_empty());
        assert_eq!(
            crate::aws::ecr::create_repository_body("chart", &o),
            serde_json::json!({
                "repositoryName": "chart",
                "registryId": "123456789012",
                "tags": [{"Key": "team", "Value": "a"}],
            })
        );
        let o = CreateRepositoryOptions {
            image_tag_mutability: Some("IMMUTABLE".into()),
            scan_on_push: Some(true),
            kms_key: Some("k".into()),
            ..Default::default()
        };
        assert_eq!(
            unsupported_settings(&o),
            ["--image-tag-mutability", "--scan-on-push", "--kms-key"]
        );
    }
}
