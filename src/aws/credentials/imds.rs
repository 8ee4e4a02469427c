//! IMDSv2: a session token by PUT, then the instance role's credentials.
//! Short timeouts: off EC2 nothing answers and the chain must not hang.

use std::time::Duration;

use crate::aws::env::Env;
use crate::aws::profile::Section;
use crate::aws::transport::{call, Call};
use crate::aws::Context;
use crate::aws::{Credentials, Error};

pub fn endpoint(env: &Env, profile: Option<&Section>) -> String {
    if let Some(e) = env
        .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .or_else(|| profile.and_then(|p| p.get("ec2_metadata_service_endpoint")))
    {
        return e.trim().trim_end_matches('/').to_string();
    }
    let mode = env
        .get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
        .or_else(|| profile.and_then(|p| p.get("ec2_metadata_service_endpoint_mode")));
    if mode.is_some_and(|m| m.trim().eq_ignore_ascii_case("ipv6")) {
        "http://[fd00:ec2::254]".into()
    } else {
        "http://169.254.169.254".into()
    }
}

fn call_imds(
    ctx: &Context<'_>,
    method: &'static str,
    url: String,
    token: Option<&str>,
) -> Result<String, Error> {
    call_with(ctx.env, ctx.http, method, url, token)
}

fn call_with(
    env: &Env,
    http: &crate::http::Http,
    method: &'static str,
    url: String,
    token: Option<&str>,
) -> Result<String, Error> {
    let mut c = Call::new(method, url, "EC2 instance metadata", env);
    let t = Duration::from_secs(1).mul_f64(env.scale("HELM_ECR_TIMEOUT_SCALE"));
    c.timeout = t;
    c.connect_timeout = t;
    c.max_attempts = 1;
    c.direct = true;
    match token {
        Some(tok) => c
            .headers
            .push(("x-aws-ec2-metadata-token", tok.to_string())),
        None => c
            .headers
            .push(("x-aws-ec2-metadata-token-ttl-seconds", "21600".into())),
    }
    call(http, env, None, &c)
        .map(|r| r.body)
        .map_err(|f| f.into_error("EC2 instance metadata"))
}

/// The instance's region (`placement/region`), the last link of the SDKs'
/// region chain. One IMDSv2 session token, 1 s timeouts, no retries: off
/// EC2 nothing answers and the command must not hang.
pub fn region(env: &Env, http: &crate::http::Http, endpoint: &str) -> Result<String, Error> {
    let token = call_with(
        env,
        http,
        "PUT",
        format!("{endpoint}/latest/api/token"),
        None,
    )?;
    let region = call_with(
        env,
        http,
        "GET",
        format!("{endpoint}/latest/meta-data/placement/region"),
        Some(token.trim()),
    )?;
    let region = region.trim().to_string();
    crate::aws::endpoint::check_region(&region)
        .map_err(|_| Error::Credentials(format!("{endpoint} answered an invalid region")))?;
    Ok(region)
}

/// The credentials and whose they are: the instance role's name (and the
/// account, where IMDS says).
pub fn resolve(ctx: &Context<'_>, endpoint: &str) -> Result<(Credentials, Option<String>), Error> {
    let token = call_imds(ctx, "PUT", format!("{endpoint}/latest/api/token"), None)
        .map_err(|e| Error::Credentials(format!("no IMDSv2 token from {endpoint}: {}", e)))?;
    let token = token.trim();
    let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
    let roles = call_imds(ctx, "GET", base.clone(), Some(token)).map_err(|e| {
        Error::Credentials(format!(
            "this EC2 instance has no IAM role (instance profile) at {endpoint}: {}",
            e
        ))
    })?;
    let role = roles
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| {
            Error::Credentials(
                "this EC2 instance has no IAM role (instance profile): attach one".into(),
            )
        })?;
    let body = call_imds(ctx, "GET", format!("{base}{role}"), Some(token))?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
        Error::Credentials("EC2 instance metadata returned credentials that are not JSON".into())
    })?;
    if let Some(code) = v.get("Code").and_then(|c| c.as_str()) {
        if code != "Success" {
            return Err(Error::Credentials(format!(
                "EC2 instance metadata could not provide credentials for role {role}: {code}"
            )));
        }
    }
    let c = super::from_json(&v, "Token", "EC2 instance metadata")?;
    let who = match super::reply_identity(&v) {
        Some(account) => format!("{account}|role:{role}"),
        None => format!("role:{role}"),
    };
    Ok((c, Some(who)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_choice() {
        assert_eq!(endpoint(&Env::default(), None), "http://169.254.169.254");
        let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")]);
        assert_eq!(endpoint(&env, None), "http://[fd00:ec2::254]");
        let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/")]);
        assert_eq!(endpoint(&env, None), "http://127.0.0.1:1");
    }
}
