//! One profile's credentials, built as the SDKs build them (smithy-rs
//! `aws-config/src/profile/credentials/repr.rs`, botocore alike): first a
//! pure walk from the selected profile to a *base* provider, collecting the
//! roles to assume on the way; then the base provider's credentials, and
//! each role assumed in turn, innermost first.
//!
//! The walk's rules:
//! - a profile with `role_arn` (and no `web_identity_token_file`) is a
//!   role step; its source is `source_profile` (the next profile),
//!   `credential_source`, or itself when `source_profile` names itself;
//! - `role_arn` + `web_identity_token_file` is a base provider, even beside
//!   `source_profile` (web identity profiles are never chained through);
//! - after the first profile, a profile's static keys win over its
//!   `role_arn`;
//! - a base profile: `credential_source` > web identity > SSO >
//!   `login_session` > `credential_process` > static keys.

use crate::aws::profile::{ProfileSet, Section};
use crate::aws::sts::{assume_role, default_session_name, AssumeRole};
use crate::aws::Context;
use crate::aws::{Credentials, Error};

/// Where a chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Static { profile: String },
    NamedSource { profile: String, source: String },
    WebIdentity { profile: String },
    Sso { profile: String },
    Login { profile: String, session: String },
    Process { profile: String, command: String },
}

/// The base, then the profiles whose roles are assumed, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub base: Base,
    pub roles: Vec<String>,
}

/// Walk from `name` to its base provider; no I/O.
pub fn chain(profiles: &ProfileSet, name: &str) -> Result<Chain, Error> {
    let mut visited: Vec<String> = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    let mut current = name.to_string();
    let base = loop {
        let p = profiles.profile(&current).ok_or_else(|| {
            Error::Credentials(format!(
                "AWS profile {current:?}{} not found in {}",
                visited
                    .last()
                    .map(|r| format!(" (source_profile of {r:?})"))
                    .unwrap_or_default(),
                profiles.describe_files()
            ))
        })?;
        if visited.contains(&current) {
            visited.push(current);
            return Err(Error::Credentials(format!(
                "AWS profile chain loops ({}): fix source_profile so it ends at a profile with credentials",
                visited.join(" -> ")
            )));
        }
        visited.push(current.clone());
        if visited.len() > 1 && has_static_keys(p) {
            break Base::Static { profile: current };
        }
        let is_role = p.get("role_arn").is_some() && p.get("web_identity_token_file").is_none();
        if !is_role {
            break base(&current, p, visited.len() == 1, visited.first())?;
        }
        roles.push(current.clone());
        match (p.get("source_profile"), p.get("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(Error::Credentials(format!(
                    "AWS profile {current:?} sets both source_profile and credential_source: keep one"
                )))
            }
            (None, None) => {
                return Err(Error::Credentials(format!(
                    "AWS profile {current:?} has role_arn but no source_profile, credential_source or web_identity_token_file: add one"
                )))
            }
            (None, Some(source)) => {
                break Base::NamedSource {
                    profile: current,
                    source: source.to_string(),
                }
            }
            // A profile naming itself uses its own base credentials.
            (Some(src), None) if src == current => {
                break base(&current, p, true, visited.first())?;
            }
            (Some(src), None) => current = src.to_string(),
        }
    };
    roles.reverse();
    Ok(Chain { base, roles })
}

fn has_static_keys(p: &Section) -> bool {
    p.get("aws_access_key_id").is_some() && p.get("aws_secret_access_key").is_some()
}

fn base(name: &str, p: &Section, first: bool, start: Option<&String>) -> Result<Base, Error> {
    let profile = name.to_string();
    if let Some(source) = p.get("credential_source") {
        return Ok(Base::NamedSource {
            profile,
            source: source.to_string(),
        });
    }
    if p.get("role_arn").is_some() && p.get("web_identity_token_file").is_some() {
        return Ok(Base::WebIdentity { profile });
    }
    if p.get("sso_session").is_some()
        || p.get("sso_start_url").is_some()
        || p.get("sso_account_id").is_some()
    {
        return Ok(Base::Sso { profile });
    }
    if let Some(session) = p.get("login_session") {
        return Ok(Base::Login {
            profile,
            session: session.to_string(),
        });
    }
    if let Some(command) = p.get("credential_process") {
        return Ok(Base::Process {
            profile,
            command: command.to_string(),
        });
    }
    if p.get("aws_access_key_id").is_some() {
        return Ok(Base::Static { profile });
    }
    Err(Error::Credentials(if first {
        format!(
            "AWS profile {name:?} has no credentials (no aws_access_key_id, role_arn, sso_session, credential_process or login_session): run `aws configure --profile {name}`"
        )
    } else {
        format!(
            "AWS profile {name:?} (source_profile in the chain of {:?}) has no credentials: give it aws_access_key_id/aws_secret_access_key, credential_process or SSO settings",
            start.map(String::as_str).unwrap_or(name)
        )
    }))
}

pub fn resolve(ctx: &Context<'_>, name: &str) -> Result<Credentials, Error> {
    let c = chain(ctx.profiles, name)?;
    let mut creds = resolve_base(ctx, &c.base)?;
    for role_profile in &c.roles {
        let p = ctx.profiles.profile(role_profile).ok_or_else(|| {
            Error::Credentials(format!("AWS profile {role_profile:?} disappeared"))
        })?;
        creds = assume(ctx, role_profile, p, &creds)?;
    }
    Ok(creds)
}

fn section<'a>(ctx: &'a Context<'_>, name: &str) -> Result<&'a Section, Error> {
    ctx.profiles
        .profile(name)
        .ok_or_else(|| Error::Credentials(format!("AWS profile {name:?} not found")))
}

fn resolve_base(ctx: &Context<'_>, base: &Base) -> Result<Credentials, Error> {
    match base {
        Base::Static { profile } => static_keys(profile, section(ctx, profile)?),
        Base::NamedSource { profile, source } => named_source(ctx, profile, source),
        Base::WebIdentity { profile } => {
            let p = section(ctx, profile)?;
            let (Some(role_arn), Some(file)) =
                (p.get("role_arn"), p.get("web_identity_token_file"))
            else {
                return Err(Error::Credentials(format!(
                    "AWS profile {profile:?} needs role_arn and web_identity_token_file"
                )));
            };
            super::web_identity::resolve(
                ctx,
                role_arn,
                file,
                p.get("role_session_name"),
                duration(profile, p)?,
            )
        }
        Base::Sso { profile } => super::sso::resolve(ctx, profile, section(ctx, profile)?),
        Base::Login { profile, session } => super::login::resolve(ctx.env, profile, session),
        Base::Process { profile, command } => super::process::resolve(ctx.env, profile, command),
    }
}

fn assume(
    ctx: &Context<'_>,
    name: &str,
    p: &Section,
    source_creds: &Credentials,
) -> Result<Credentials, Error> {
    let role_arn = p.get("role_arn").unwrap_or_default();
    let mfa = match p.get("mfa_serial") {
        Some(serial) => Some((serial, super::mfa::ask_code(name, serial)?)),
        None => None,
    };
    assume_role(
        ctx,
        source_creds,
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
                Error::Credentials(format!(
                    "AWS profile {name:?}: duration_seconds {d:?} is not a whole number of seconds"
                ))
            })
        })
        .transpose()
}

/// The credentials of a `credential_source`. Whose the agent says they are
/// is dropped: this chain's cache key is completed from the access key id.
fn named_source(ctx: &Context<'_>, name: &str, source: &str) -> Result<Credentials, Error> {
    match source {
        "Environment" => super::env_keys::resolve(ctx.env),
        "Ec2InstanceMetadata" => {
            super::imds::resolve(ctx, &super::imds::endpoint(ctx.env, ctx.profile)).map(|(c, _)| c)
        }
        "EcsContainer" => {
            let url = super::container::url_from_env(ctx.env)?.ok_or_else(|| {
                Error::Credentials(format!(
                    "AWS profile {name:?} uses credential_source = EcsContainer but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI is unset"
                ))
            })?;
            super::container::resolve(ctx, &url).map(|(c, _)| c)
        }
        other => Err(Error::Credentials(format!(
            "AWS profile {name:?}: unknown credential_source {other:?}: use Environment, Ec2InstanceMetadata or EcsContainer"
        ))),
    }
}

fn static_keys(name: &str, p: &Section) -> Result<Credentials, Error> {
    let id = p.get("aws_access_key_id").unwrap_or_default();
    let secret = p.get("aws_secret_access_key").ok_or_else(|| {
        Error::Credentials(format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::profile::test_profiles as profiles;

    fn walk(config: &str, name: &str) -> Result<Chain, Error> {
        chain(&profiles(config), name)
    }

    // Roles down to static keys.
    const ROLES_TO_KEYS: &str = "[profile a]\nrole_arn = A\nsource_profile = b\n[profile b]\nrole_arn = B\nsource_profile = c\n[profile c]\naws_access_key_id = K\naws_secret_access_key = S\n";
    // After the first profile, static keys win over role_arn.
    const KEYS_BESIDE_A_ROLE: &str = "[profile a]\nrole_arn = A\nsource_profile = b\n[profile b]\nrole_arn = B\nsource_profile = c\naws_access_key_id = K\naws_secret_access_key = S\n";
    // A profile that is its own source assumes its role with its own base.
    const OWN_KEYS: &str = "[profile b]\nrole_arn = B\nsource_profile = b\naws_access_key_id = K\naws_secret_access_key = S\n";
    const OWN_PROCESS: &str =
        "[profile s]\nrole_arn = R\nsource_profile = s\ncredential_process = x\n";
    // Web identity is a base even beside source_profile.
    const WEB_IDENTITY_SOURCE: &str = "[profile a]\nrole_arn = A\nsource_profile = w\n[profile w]\nrole_arn = W\nweb_identity_token_file = /t\nsource_profile = x\n";
    const WEB_IDENTITY_ITSELF: &str =
        "[profile w]\nrole_arn = W\nweb_identity_token_file = /t\nsource_profile = nowhere\n";
    const ENVIRONMENT: &str = "[profile e]\nrole_arn = R\ncredential_source = Environment\n";
    // Without a role_arn, credential_process wins over keys, SSO over both.
    const PROCESS_AND_KEYS: &str = "[profile p]\ncredential_process = x\naws_access_key_id = K\n";
    const SSO_AND_PROCESS: &str = "[profile p]\nsso_session = s\ncredential_process = x\n";

    #[test]
    fn chains_walk_to_their_base() {
        let p = |s: &str| s.to_string();
        let process = |profile: &str| Base::Process {
            profile: p(profile),
            command: p("x"),
        };
        let env = Base::NamedSource {
            profile: p("e"),
            source: p("Environment"),
        };
        let cases: [(&str, &str, Base, &[&str]); 9] = [
            (
                ROLES_TO_KEYS,
                "a",
                Base::Static { profile: p("c") },
                &["b", "a"],
            ),
            (
                KEYS_BESIDE_A_ROLE,
                "a",
                Base::Static { profile: p("b") },
                &["a"],
            ),
            (OWN_KEYS, "b", Base::Static { profile: p("b") }, &["b"]),
            (OWN_PROCESS, "s", process("s"), &["s"]),
            (
                WEB_IDENTITY_SOURCE,
                "a",
                Base::WebIdentity { profile: p("w") },
                &["a"],
            ),
            (
                WEB_IDENTITY_ITSELF,
                "w",
                Base::WebIdentity { profile: p("w") },
                &[],
            ),
            (ENVIRONMENT, "e", env, &["e"]),
            (PROCESS_AND_KEYS, "p", process("p"), &[]),
            (SSO_AND_PROCESS, "p", Base::Sso { profile: p("p") }, &[]),
        ];
        for (config, name, base, roles) in cases {
            let roles = roles.iter().map(|r| r.to_string()).collect();
            assert_eq!(
                walk(config, name).unwrap(),
                Chain { base, roles },
                "{name}: {config}"
            );
        }
    }

    #[test]
    fn errors_name_the_profile() {
        // The first profile's own role_arn wins over its keys: c is needed.
        let e = walk(KEYS_BESIDE_A_ROLE, "b").unwrap_err();
        assert!(e.to_string().contains("\"c\""), "{e}");
        let e = walk("[profile a]\nrole_arn = A\nsource_profile = b\n[profile b]\nsource_profile = a\nrole_arn = B\n", "a").unwrap_err();
        assert!(e.to_string().contains("a -> b -> a"), "{e}");
        let e = walk("[profile a]\nrole_arn = A\n", "a").unwrap_err();
        assert!(e.to_string().contains("no source_profile"), "{e}");
        let e = walk(
            "[profile a]\nrole_arn = A\nsource_profile = b\ncredential_source = Environment\n",
            "a",
        )
        .unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
        let e = walk(
            "[profile a]\nrole_arn = A\nsource_profile = b\n[profile b]\nregion = x\n",
            "a",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("\"b\"") && e.to_string().contains("chain of \"a\""),
            "{e}"
        );
        let e = walk("[profile a]\nregion = x\n", "a").unwrap_err();
        assert!(e.to_string().contains("aws configure --profile a"), "{e}");
    }
}
