//! The one AWS context every AWS call is made in: the environment snapshot,
//! the profile files and the selected profile, the HTTP client, the region
//! and the endpoint variant. A [`super::Session`] owns these and lends a
//! `Context` to the credential providers, STS and the ECR APIs.

use super::endpoint::Variant;
use super::env::Env;
use super::profile::{ProfileSet, Section};
use super::transport::{Call, Failure, Reply, RetryQuota};

pub struct Context<'a> {
    /// The environment as the command saw it (with the profile's retry
    /// settings carried in).
    pub env: &'a Env,
    pub profiles: &'a ProfileSet,
    /// The selected profile's section, for endpoint settings.
    pub profile: Option<&'a Section>,
    pub http: &'a crate::http::Http,
    /// The session's region (STS, and SSO when the profile names none).
    pub region: &'a str,
    /// FIPS and dual-stack endpoint choice.
    pub variant: Variant,
    /// The session's retry quota, drawn from by every retry of its calls.
    pub retry_quota: &'a RetryQuota,
}

impl Context<'_> {
    /// One AWS call in this context (retries drawn from its quota).
    pub fn call(&self, c: &Call<'_>) -> Result<Reply, Failure> {
        super::transport::call(self.http, self.env, Some(self.retry_quota), c)
    }
}
