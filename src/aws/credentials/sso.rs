//! IAM Identity Center: the AWS CLI's cached access token (refreshed when
//! near expiry, for `sso-session` profiles), then GetRoleCredentials.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::aws::endpoint::{self, configured_endpoint, Service};
use crate::aws::profile::Section;
use crate::aws::transport::{Call, Failure};
use crate::aws::Context;
use crate::aws::{AwsErrorCode, Credentials, Error};
use crate::clock::{from_epoch_millis, parse_rfc3339, rfc3339_system};
use crate::codec::{hex, sha1};

/// Refresh this long before the token expires (the AWS CLI uses 15 min too).
const REFRESH_WINDOW: Duration = Duration::from_secs(15 * 60);

struct Config<'a> {
    start_url: &'a str,
    region: &'a str,
    account: &'a str,
    role: &'a str,
    /// sha1 input naming the cache file.
    cache_name: &'a str,
    refreshable: bool,
}

fn config<'a>(ctx: &'a Context<'_>, name: &str, p: &'a Section) -> Result<Config<'a>, Error> {
    let need = |sec: &'a Section, key: &str, whose: &str| {
        sec.get(key).ok_or_else(|| {
            Error::Credentials(format!(
                "{whose} lacks {key}: run `aws configure sso --profile {name}`"
            ))
        })
    };
    let whose = format!("AWS profile {name:?}");
    let account = need(p, "sso_account_id", &whose)?;
    let role = need(p, "sso_role_name", &whose)?;
    if let Some(session) = p.get("sso_session") {
        let s = ctx.profiles.sso_sessions.get(session).ok_or_else(|| {
            Error::Credentials(format!(
                "AWS profile {name:?} names sso_session {session:?}, but there is no [sso-session {session}] in {}",
                ctx.profiles.describe_files()
            ))
        })?;
        let whose = format!("[sso-session {session}]");
        Ok(Config {
            start_url: need(s, "sso_start_url", &whose)?,
            region: need(s, "sso_region", &whose)?,
            account,
            role,
            cache_name: session,
            refreshable: true,
        })
    } else {
        let start_url = need(p, "sso_start_url", &whose)?;
        Ok(Config {
            start_url,
            region: need(p, "sso_region", &whose)?,
            account,
            role,
            cache_name: start_url,
            refreshable: false,
        })
    }
}

fn cache_file(ctx: &Context<'_>, cache_name: &str) -> Option<PathBuf> {
    Some(
        ctx.env
            .aws_dir()?
            .join("sso")
            .join("cache")
            .join(format!("{}.json", hex(&sha1(cache_name.as_bytes())))),
    )
}

fn login_hint(name: &str) -> String {
    format!("run `aws sso login --profile {name}`")
}

pub fn resolve(ctx: &Context<'_>, name: &str, p: &Section) -> Result<Credentials, Error> {
    let cfg = config(ctx, name, p)?;
    let path = cache_file(ctx, cfg.cache_name).ok_or_else(|| {
        Error::Credentials(format!(
            "no home directory for the SSO cache: {}",
            login_hint(name)
        ))
    })?;
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::Credentials(format!(
            "no IAM Identity Center session for AWS profile {name:?} ({} missing): {}",
            path.display(),
            login_hint(name)
        ))
    })?;
    let mut cache: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        Error::Credentials(format!(
            "the SSO token cache {} is unreadable: {}",
            path.display(),
            login_hint(name)
        ))
    })?;
    let expires = cache
        .get("expiresAt")
        .and_then(|v| v.as_str())
        .and_then(parse_rfc3339);
    let now = SystemTime::now();
    let near = expires.is_none_or(|t| t <= now + REFRESH_WINDOW);
    if near && cfg.refreshable {
        // A failed refresh is not fatal while the old token still works.
        if let Ok(updated) = refresh(ctx, &cfg, &cache) {
            cache = updated;
            let _ = crate::aws::token_cache::write_private(&path, cache.to_string().as_bytes());
        }
    }
    let expires = cache
        .get("expiresAt")
        .and_then(|v| v.as_str())
        .and_then(parse_rfc3339);
    let token = cache.get("accessToken").and_then(|v| v.as_str());
    let (Some(token), Some(expires)) = (token, expires) else {
        return Err(Error::Credentials(format!(
            "the SSO token cache {} lacks accessToken/expiresAt: {}",
            path.display(),
            login_hint(name)
        )));
    };
    if expires <= now {
        return Err(Error::Credentials(format!(
            "the IAM Identity Center session for AWS profile {name:?} expired at {}: {}",
            rfc3339_system(expires),
            login_hint(name)
        )));
    }
    role_credentials(ctx, name, &cfg, token)
}

fn refresh(
    ctx: &Context<'_>,
    cfg: &Config<'_>,
    cache: &serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let s = |k: &str| {
        cache
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (Some(client_id), Some(client_secret), Some(refresh_token)) =
        (s("clientId"), s("clientSecret"), s("refreshToken"))
    else {
        return Err(Error::Credentials("no refresh token".into()));
    };
    if s("registrationExpiresAt")
        .and_then(parse_rfc3339)
        .is_some_and(|t| t <= SystemTime::now())
    {
        return Err(Error::Credentials("client registration expired".into()));
    }
    let configured = configured_endpoint(Service::SsoOidc, ctx.env, ctx.profiles, ctx.profile);
    let url = endpoint::resolve(
        Service::SsoOidc,
        cfg.region,
        ctx.variant,
        configured.as_deref(),
    )?
    .url;
    let body = serde_json::json!({
        "clientId": client_id,
        "clientSecret": client_secret,
        "grantType": "refresh_token",
        "refreshToken": refresh_token,
    });
    let mut c = Call::new(
        "POST",
        format!("{url}/token"),
        "SSO OIDC CreateToken",
        ctx.env,
    );
    c.headers.push(("content-type", "application/json".into()));
    c.body = body.to_string().into_bytes();
    let reply = ctx
        .call(&c)
        .map_err(|f| f.into_error("SSO OIDC CreateToken"))?;
    let v: serde_json::Value = serde_json::from_str(&reply.body)
        .map_err(|_| Error::Credentials("SSO OIDC CreateToken: reply is not JSON".into()))?;
    let access = v
        .get("accessToken")
        .and_then(|x| x.as_str())
        .ok_or_else(|| Error::Credentials("SSO OIDC CreateToken: no accessToken".into()))?;
    let expires_in = v.get("expiresIn").and_then(|x| x.as_u64()).unwrap_or(3600);
    let mut updated = cache.clone();
    updated["accessToken"] = access.into();
    updated["expiresAt"] =
        rfc3339_system(SystemTime::now() + Duration::from_secs(expires_in)).into();
    if let Some(rt) = v.get("refreshToken").and_then(|x| x.as_str()) {
        updated["refreshToken"] = rt.into();
    }
    Ok(updated)
}

fn role_credentials(
    ctx: &Context<'_>,
    name: &str,
    cfg: &Config<'_>,
    token: &str,
) -> Result<Credentials, Error> {
    let configured = configured_endpoint(Service::Sso, ctx.env, ctx.profiles, ctx.profile);
    let url = endpoint::resolve(Service::Sso, cfg.region, ctx.variant, configured.as_deref())?.url;
    let what = "IAM Identity Center GetRoleCredentials";
    let url = format!(
        "{url}/federation/credentials?account_id={}&role_name={}",
        crate::aws::form::form_encode(&[("", cfg.account)]).trim_start_matches('='),
        crate::aws::form::form_encode(&[("", cfg.role)]).trim_start_matches('='),
    );
    let mut c = Call::new("GET", url, what, ctx.env);
    c.headers
        .push(("x-amz-sso_bearer_token", token.to_string()));
    let reply = ctx.call(&c).map_err(|f| match f {
        Failure::Api(a) if a.status == 401 || a.code == AwsErrorCode::UnauthorizedException => Error::Credentials(format!(
            "the IAM Identity Center session for AWS profile {name:?} ({}) is no longer valid: {}",
            cfg.start_url,
            login_hint(name)
        )),
        Failure::Api(a) if a.status == 403 || a.code == AwsErrorCode::ForbiddenException => Error::Credentials(format!(
            "IAM Identity Center refuses role {} in account {} for AWS profile {name:?}: check sso_account_id and sso_role_name, or your assignments",
            cfg.role, cfg.account
        )),
        other => other.into_error(what),
    })?;
    parse_role_credentials(&reply.body)
}

pub(crate) fn parse_role_credentials(body: &str) -> Result<Credentials, Error> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| {
        Error::Credentials("IAM Identity Center GetRoleCredentials: reply is not JSON".into())
    })?;
    let rc = v.get("roleCredentials").ok_or_else(|| {
        Error::Credentials("IAM Identity Center GetRoleCredentials: no roleCredentials".into())
    })?;
    let s = |k: &str| rc.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    let (Some(id), Some(secret)) = (s("accessKeyId"), s("secretAccessKey")) else {
        return Err(Error::Credentials(
            "IAM Identity Center GetRoleCredentials: incomplete credentials".into(),
        ));
    };
    Ok(Credentials {
        access_key_id: id.into(),
        secret_access_key: secret.into(),
        session_token: s("sessionToken").map(str::to_string),
        expires_at: rc
            .get("expiration")
            .and_then(|x| x.as_i64())
            .and_then(from_epoch_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_role_credentials() {
        let c = parse_role_credentials(
            r#"{"roleCredentials":{"accessKeyId":"ASIA","secretAccessKey":"s","sessionToken":"t","expiration":1893456000000}}"#,
        )
        .unwrap();
        assert_eq!(c.access_key_id, "ASIA");
        assert_eq!(
            crate::clock::epoch_secs(c.expires_at.unwrap()),
            1_893_456_000
        );
        assert!(parse_role_credentials("{}").is_err());
    }
}
