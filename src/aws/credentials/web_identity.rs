//! Web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN from the
//! environment, or `web_identity_token_file` + `role_arn` in a profile.

use super::Source;
use crate::aws::env::Env;
use crate::aws::sts::{assume_role_with_web_identity, default_session_name};
use crate::aws::Context;
use crate::aws::{Credentials, Error};

pub fn from_env(env: &Env) -> Option<Source> {
    Some(Source::WebIdentity {
        token_file: env.get("AWS_WEB_IDENTITY_TOKEN_FILE")?.to_string(),
        role_arn: env.get("AWS_ROLE_ARN")?.to_string(),
    })
}

pub fn resolve_env(ctx: &Context<'_>) -> Result<Credentials, Error> {
    let (Some(file), Some(role)) = (
        ctx.env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
        ctx.env.get("AWS_ROLE_ARN"),
    ) else {
        return Err(Error::Credentials(
            "web identity needs both AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN".into(),
        ));
    };
    resolve(ctx, role, file, ctx.env.get("AWS_ROLE_SESSION_NAME"), None)
}

pub fn resolve(
    ctx: &Context<'_>,
    role_arn: &str,
    token_file: &str,
    session_name: Option<&str>,
    duration: Option<u32>,
) -> Result<Credentials, Error> {
    let path = ctx.env.expand_home(token_file);
    let token = std::fs::read_to_string(&path).map_err(|e| {
        Error::Credentials(format!(
            "cannot read the web identity token file {}: {e}",
            path.display()
        ))
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Credentials(format!(
            "the web identity token file {} is empty",
            path.display()
        )));
    }
    let session = session_name
        .map(str::to_string)
        .unwrap_or_else(default_session_name);
    assume_role_with_web_identity(ctx, role_arn, token, &session, duration)
}
