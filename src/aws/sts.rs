//! STS over its query protocol: AssumeRole (signed) and
//! AssumeRoleWithWebIdentity (unsigned), XML replies.

use std::time::SystemTime;

use super::endpoint::{configured_endpoint, resolve, Resolved, Service};
use super::errors::Caller;
use super::sign::Signer;
use super::transport::Call;
use super::Context;
use super::{Credentials, Error};

pub struct AssumeRole<'a> {
    pub role_arn: &'a str,
    pub session_name: String,
    pub duration_seconds: Option<u32>,
    pub external_id: Option<&'a str>,
    /// (serial number, code)
    pub mfa: Option<(&'a str, String)>,
}

/// STS's URL and signing region (its global endpoint signs for us-east-1).
pub fn endpoint(ctx: &Context<'_>) -> Result<Resolved, Error> {
    let configured = configured_endpoint(Service::Sts, ctx.env, ctx.profiles, ctx.profile);
    resolve(Service::Sts, ctx.region, ctx.variant, configured.as_deref())
}

/// A default session name, as the SDKs make one: unique enough per call.
pub fn default_session_name() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("helm-ecr-{ms}")
}

pub fn assume_role(
    ctx: &Context<'_>,
    base: &Credentials,
    req: &AssumeRole<'_>,
) -> Result<Credentials, Error> {
    let Resolved {
        url,
        signing_region,
    } = endpoint(ctx)?;
    let duration = req.duration_seconds.map(|d| d.to_string());
    let mut form: Vec<(&str, &str)> = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", req.role_arn),
        ("RoleSessionName", &req.session_name),
    ];
    if let Some(d) = &duration {
        form.push(("DurationSeconds", d));
    }
    if let Some(x) = req.external_id {
        form.push(("ExternalId", x));
    }
    if let Some((serial, code)) = &req.mfa {
        form.push(("SerialNumber", serial));
        form.push(("TokenCode", code));
    }
    let what = format!("STS AssumeRole of {}", req.role_arn);
    let mut c = Call::new("POST", format!("{url}/"), &what, ctx.env);
    c.headers.push((
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8".into(),
    ));
    c.body = super::form::form_encode(&form).into_bytes();
    c.signer = Some(Signer {
        credentials: base,
        region: &signing_region,
        service: "sts",
    });
    let reply = ctx.call(&c).map_err(|f| {
        f.explain(&Caller {
            what: &what,
            iam_action: "sts:AssumeRole",
            key_id: Some(&base.access_key_id),
        })
    })?;
    parse_credentials(&reply.body, &what)
}

pub fn assume_role_with_web_identity(
    ctx: &Context<'_>,
    role_arn: &str,
    token: &str,
    session_name: &str,
    duration_seconds: Option<u32>,
) -> Result<Credentials, Error> {
    let url = endpoint(ctx)?.url;
    let duration = duration_seconds.map(|d| d.to_string());
    let mut form: Vec<(&str, &str)> = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session_name),
        ("WebIdentityToken", token),
    ];
    if let Some(d) = &duration {
        form.push(("DurationSeconds", d));
    }
    let what = format!("STS AssumeRoleWithWebIdentity of {role_arn}");
    let mut c = Call::new("POST", format!("{url}/"), &what, ctx.env);
    c.headers.push((
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8".into(),
    ));
    c.body = super::form::form_encode(&form).into_bytes();
    let reply = ctx.call(&c).map_err(|f| {
        f.explain(&Caller {
            what: &what,
            iam_action: "sts:AssumeRoleWithWebIdentity",
            key_id: None,
        })
    })?;
    parse_credentials(&reply.body, &what)
}

/// `<Credentials><AccessKeyId/><SecretAccessKey/><SessionToken/><Expiration/>`.
pub fn parse_credentials(xml: &str, what: &str) -> Result<Credentials, Error> {
    let creds = super::xml::element(xml, "Credentials")
        .ok_or_else(|| Error::Reply(format!("{what}: the reply holds no credentials")))?;
    let field = |name: &str| {
        super::xml::text(creds, name)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Reply(format!("{what}: the reply lacks {name}")))
    };
    let expiration = field("Expiration")?;
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expires_at: Some(crate::clock::parse_rfc3339(&expiration).ok_or_else(|| {
            Error::Reply(format!("{what}: unreadable Expiration {expiration:?}"))
        })?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_assume_role_reply() {
        let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>
    <Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sec/+</SecretAccessKey>
      <SessionToken>tok&amp;en</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>
  </AssumeRoleResult></AssumeRoleResponse>"#;
        let c = parse_credentials(xml, "t").unwrap();
        assert_eq!(c.access_key_id, "ASIAX");
        assert_eq!(c.secret_access_key, "sec/+");
        assert_eq!(c.session_token.as_deref(), Some("tok&en"));
        assert!(c.expires_at.is_some());
        assert!(parse_credentials("<x/>", "t").is_err());
    }
}
