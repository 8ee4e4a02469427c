//! One profile's credentials: role chains (`source_profile`,
//! `credential_source`), web identity, SSO, `login_session`,
//! `credential_process`, static keys — in the SDKs' order.

use super::Ctx;
use crate::aws::profile::Section;
use crate::aws::sts::{assume_role, default_session_name, AssumeRole};
use crate::aws::{Credentials, Error};

pub fn resolve(ctx: &Ctx<'_>, name: &str) -> Result<Credentials, Error> {
    let mut chain = Vec::new();
    resolve_in(ctx, name, &mut chain)
}

fn resolve_in(ctx: &Ctx<'_>, name: &str, chain: &mut Vec<String>) -> Result<Credentials, Error> {
    if chain.iter().any(|n| n == name) {
        chain.push(name.to_string());
        return Err(Error(format!(
            "AWS profile chain loops ({}): fix source_profile so it ends at a profile with credentials",
            chain.join(" -> ")
        )));
    }
    let referrer = chain.last().cloned();
    chain.push(name.to_string());
    let p = ctx.profiles.profile(name).ok_or_else(|| {
        Error(format!(
            "AWS profile {name:?}{} not found in {}",
            referrer
                .map(|r| format!(" (source_profile of {r:?})"))
                .unwrap_or_default(),
            ctx.profiles.describe_files()
        ))
    })?;
    if let Some(role_arn) = p.get("role_arn") {
        return role(ctx, name, p, role_arn, chain);
    }
    base(ctx, name, p)
}

fn role(
    ctx: &Ctx<'_>,
    name: &str,
    p: &Section,
    role_arn: &str,
    chain: &mut Vec<String>,
) -> Result<Credentials, Error> {
    let source_creds = match (p.get("source_profile"), p.get("credential_source")) {
        (Some(_), Some(_)) => {
            return Err(Error(format!(
                "AWS profile {name:?} sets both source_profile and credential_source: keep one"
            )))
        }
        (None, Some(cs)) => named_source(ctx, name, cs)?,
        // A profile may name itself as source_profile to use its own keys.
        (Some(src), None) if src == name && p.get("aws_access_key_id").is_some() => {
            static_keys(name, p)?
        }
        (Some(src), None) => resolve_in(ctx, src, chain)?,
        (None, None) => {
            if let Some(file) = p.get("web_identity_token_file") {
                return super::web_identity::resolve(
                    ctx,
                    role_arn,
                    file,
                    p.get("role_session_name"),
                    duration(name, p)?,
                );
            }
            return Err(Error(format!(
                "AWS profile {name:?} has role_arn but no source_profile, credential_source or web_identity_token_file: add one"
            )));
        }
    };
    let mfa = match p.get("mfa_serial") {
        Some(serial) => Some((serial, super::mfa::ask_code(name, serial)?)),
        None => None,
    };
    assume_role(
        ctx,
        &source_creds,
        &AssumeRole {
            role_arn,
            session_name: p
                .get("role_session_name")
                .map(str::to_string)
                .unwrap_or_else(default_session_name),
            duration_seconds: duration(name, p)?,
            external_id: p.get("external_id"),
            mfa,
        },
    )
}

fn duration(name: &str, p: &Section) -> Result<Option<u32>, Error> {
    p.get("duration_seconds")
        .map(|d| {
            d.trim().parse::<u32>().map_err(|_| {
                Error(format!(
                    "AWS profile {name:?}: duration_seconds {d:?} is not a whole number of seconds"
                ))
            })
        })
        .transpose()
}

fn named_source(ctx: &Ctx<'_>, name: &str, source: &str) -> Result<Credentials, Error> {
    match source {
        "Environment" => super::env_keys::resolve(ctx.env),
        "Ec2InstanceMetadata" => {
            super::imds::resolve(ctx, &super::imds::endpoint(ctx.env, ctx.profile))
        }
        "EcsContainer" => {
            let url = super::container::url_from_env(ctx.env)?.ok_or_else(|| {
                Error(format!(
                    "AWS profile {name:?} uses credential_source = EcsContainer but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI is unset"
                ))
            })?;
            super::container::resolve(ctx, &url)
        }
        other => Err(Error(format!(
            "AWS profile {name:?}: unknown credential_source {other:?}: use Environment, Ec2InstanceMetadata or EcsContainer"
        ))),
    }
}

fn base(ctx: &Ctx<'_>, name: &str, p: &Section) -> Result<Credentials, Error> {
    if let Some(cs) = p.get("credential_source") {
        return named_source(ctx, name, cs);
    }
    if p.get("sso_session").is_some()
        || p.get("sso_start_url").is_some()
        || p.get("sso_account_id").is_some()
    {
        return super::sso::resolve(ctx, name, p);
    }
    if let Some(session) = p.get("login_session") {
        return super::login::resolve(ctx.env, name, session);
    }
    if let Some(cmd) = p.get("credential_process") {
        return super::process::resolve(ctx.env, name, cmd);
    }
    if p.get("aws_access_key_id").is_some() {
        return static_keys(name, p);
    }
    Err(Error(format!(
        "AWS profile {name:?} has no credentials (no aws_access_key_id, role_arn, sso_session, credential_process or login_session): run `aws configure --profile {name}`"
    )))
}

fn static_keys(name: &str, p: &Section) -> Result<Credentials, Error> {
    let id = p.get("aws_access_key_id").unwrap_or_default();
    let secret = p.get("aws_secret_access_key").ok_or_else(|| {
        Error(format!(
            "AWS profile {name:?} has aws_access_key_id but no aws_secret_access_key: add it (e.g. `aws configure --profile {name}`)"
        ))
    })?;
    Ok(Credentials {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
        session_token: p.get("aws_session_token").map(str::to_string),
        expires_at: None,
    })
}
