//! The credential chain, in the SDKs' order: environment keys, the profile,
//! web identity from the environment, the container agent, IMDSv2.
//!
//! Choosing the source is pure ([`select`]), so the token cache can key on
//! the identity without resolving anything; fetching is [`resolve`].

mod container;
mod env_keys;
pub(crate) mod imds;
mod login;
mod mfa;
mod process;
mod profile_chain;
mod sso;
mod web_identity;

use std::time::{Duration, SystemTime};

use super::env::Env;
use super::profile::{ProfileSet, Section};
use super::Context;
use super::{Credentials, Error};

/// Where credentials will come from, decided without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment {
        access_key_id: String,
    },
    Profile {
        name: String,
    },
    WebIdentity {
        role_arn: String,
        token_file: String,
    },
    Container {
        url: String,
    },
    Imds {
        endpoint: String,
    },
    /// Nothing applies; `tried` lists what was looked at.
    Nothing {
        tried: Vec<String>,
    },
}

/// Keys that make a profile a source of credentials (not just settings).
const CREDENTIAL_KEYS: [&str; 8] = [
    "aws_access_key_id",
    "role_arn",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "login_session",
    "credential_process",
];

fn has_credentials(p: &Section) -> bool {
    CREDENTIAL_KEYS.iter().any(|k| p.get(k).is_some()) || p.get("sso_account_id").is_some()
}

/// Pick the source. A profile named with `--profile` that holds credentials
/// is used even when environment keys are set (as the AWS CLI does);
/// AWS_PROFILE yields to them, and so does a profile with settings only.
pub fn select(
    env: &Env,
    profiles: &ProfileSet,
    cli_profile: Option<&str>,
) -> Result<Source, Error> {
    let (name, explicit) = super::profile::selected_profile(cli_profile, env);
    let from_cli = cli_profile.is_some_and(|p| !p.is_empty());
    let profile = profiles.profile(&name);
    if explicit && profile.is_none() {
        return Err(Error::Credentials(format!(
            "AWS profile {name:?} (from {}) not found in {}: check the name or create it with `aws configure --profile {name}`",
            if from_cli { "--profile" } else { "AWS_PROFILE" },
            profiles.describe_files()
        )));
    }
    let profile_has_credentials = profile.is_some_and(has_credentials);
    if from_cli && profile_has_credentials {
        return Ok(Source::Profile { name });
    }
    if let Some(keys) = env_keys::selected(env)? {
        return Ok(keys);
    }
    if profile_has_credentials {
        return Ok(Source::Profile { name });
    }
    let mut tried = vec![
        "environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset)".to_string(),
        match profile {
            Some(_) => format!("profile {name:?} (has no credentials)"),
            None => format!("profile {name:?} (not in {})", profiles.describe_files()),
        },
    ];
    if let Some(s) = web_identity::from_env(env) {
        return Ok(s);
    }
    tried.push("web identity (AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN unset)".into());
    if let Some(url) = container::url_from_env(env)? {
        return Ok(Source::Container { url });
    }
    tried.push(
        "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI unset)".into(),
    );
    if env.flag("AWS_EC2_METADATA_DISABLED") {
        tried.push("EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".into());
        return Ok(Source::Nothing { tried });
    }
    Ok(Source::Imds {
        endpoint: imds::endpoint(env, profile),
    })
}

/// The token cache key's identity part, decided without I/O where the
/// configuration names the identity (keys, profiles, roles). A container
/// or instance-metadata URL does not: many roles can sit behind one URL,
/// so those keys are completed from the answer ([`complete_identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKey {
    Known(String),
    /// Needs the resolved credentials: prefix, then what they say.
    AfterResolve(String),
}

pub fn identity_key(source: &Source, profiles: &ProfileSet) -> Option<IdentityKey> {
    Some(match source {
        Source::Environment { access_key_id } => IdentityKey::Known(format!("env:{access_key_id}")),
        Source::Profile { name } => {
            let mut out = String::new();
            let mut seen = Vec::new();
            fingerprint(profiles, name, &mut seen, &mut out);
            // A chain that assumes a role names it; one that stops at a
            // credential_source (container, IMDS) names only a URL.
            match profile_chain::chain(profiles, name) {
                Ok(c)
                    if c.roles.is_empty()
                        && matches!(c.base, profile_chain::Base::NamedSource { .. }) =>
                {
                    IdentityKey::AfterResolve(out)
                }
                _ => IdentityKey::Known(out),
            }
        }
        Source::WebIdentity { role_arn, .. } => {
            IdentityKey::Known(format!("web-identity:{role_arn}"))
        }
        Source::Container { url } => IdentityKey::AfterResolve(format!("container:{url}")),
        Source::Imds { endpoint } => IdentityKey::AfterResolve(format!("imds:{endpoint}")),
        Source::Nothing { .. } => return None,
    })
}

/// Finish an [`IdentityKey::AfterResolve`] key with who the credentials
/// belong to: the role or account the provider named, else the access key
/// id (one key id is one identity, never shared between roles).
pub fn complete_identity(prefix: &str, creds: &Credentials, named: Option<&str>) -> String {
    match named {
        Some(who) => format!("{prefix}|{who}"),
        None => format!("{prefix}|key:{}", creds.access_key_id),
    }
}

/// `RoleArn` (ECS) or `AccountId` (EKS Pod Identity, extended IMDS) in a
/// credentials reply.
fn reply_identity(v: &serde_json::Value) -> Option<String> {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    s("RoleArn")
        .map(|r| format!("role-arn:{r}"))
        .or_else(|| s("AccountId").map(|a| format!("account:{a}")))
}

const SECRET_KEYS: [&str; 2] = ["aws_secret_access_key", "aws_session_token"];

fn fingerprint(profiles: &ProfileSet, name: &str, seen: &mut Vec<String>, out: &mut String) {
    if seen.iter().any(|s| s == name) {
        return;
    }
    seen.push(name.to_string());
    out.push_str("profile:");
    out.push_str(name);
    out.push('{');
    if let Some(p) = profiles.profile(name) {
        for (k, v) in &p.props {
            if !SECRET_KEYS.contains(&k.as_str()) {
                out.push_str(&format!("{k}={v};"));
            }
        }
        out.push('}');
        if let Some(src) = p.get("source_profile") {
            fingerprint(profiles, src, seen, out);
        }
    } else {
        out.push('}');
    }
}

/// For messages: where the credentials come from.
pub fn describe(source: &Source) -> String {
    match source {
        Source::Environment { access_key_id } => {
            format!("environment credentials (AWS_ACCESS_KEY_ID {access_key_id})")
        }
        Source::Profile { name } => format!("AWS profile {name:?}"),
        Source::WebIdentity { role_arn, .. } => format!("web identity for role {role_arn}"),
        Source::Container { url } => format!("container credentials from {url}"),
        Source::Imds { endpoint } => format!("EC2 instance metadata at {endpoint}"),
        Source::Nothing { .. } => "no credentials".into(),
    }
}

/// Fetch credentials from the chosen source, with whose they are where the
/// provider says (container and instance metadata).
pub fn resolve(ctx: &Context<'_>, source: &Source) -> Result<(Credentials, Option<String>), Error> {
    match source {
        Source::Environment { .. } => env_keys::resolve(ctx.env).map(|c| (c, None)),
        Source::Profile { name } => profile_chain::resolve(ctx, name).map(|c| (c, None)),
        Source::WebIdentity { .. } => web_identity::resolve_env(ctx).map(|c| (c, None)),
        Source::Container { url } => container::resolve(ctx, url),
        Source::Imds { endpoint } => imds::resolve(ctx, endpoint).map_err(|e| {
            Error::Credentials(format!(
                "no AWS credentials found: tried environment, profiles in {}, web identity, container and EC2 instance metadata ({}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or run `aws configure`",
                ctx.profiles.describe_files(),
                e
            ))
        }),
        Source::Nothing { tried } => Err(Error::Credentials(format!(
            "no AWS credentials found: tried {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or run `aws configure`",
            tried.join(", ")
        ))),
    }
}

/// Credentials that expire within `margin` are treated as expired.
pub fn fresh(c: &Credentials, margin: Duration) -> bool {
    c.expires_at.is_none_or(|t| t > SystemTime::now() + margin)
}

/// The JSON credential shapes (credential_process, container, IMDS) share
/// these names; each provider says which token field it uses.
pub(crate) fn from_json(
    v: &serde_json::Value,
    token_field: &str,
    what: &str,
) -> Result<Credentials, Error> {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    let (Some(id), Some(secret)) = (s("AccessKeyId"), s("SecretAccessKey")) else {
        return Err(Error::Credentials(format!(
            "{what} returned no AccessKeyId/SecretAccessKey"
        )));
    };
    let expires_at = match s("Expiration") {
        Some(t) => Some(crate::clock::parse_rfc3339(t).ok_or_else(|| {
            Error::Credentials(format!("{what} returned an unreadable Expiration {t:?}"))
        })?),
        None => None,
    };
    let c = Credentials {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
        session_token: s(token_field).map(str::to_string),
        expires_at,
    };
    if !fresh(&c, Duration::ZERO) {
        return Err(Error::Credentials(format!(
            "{what} returned credentials that already expired at {}",
            crate::clock::rfc3339_system(c.expires_at.unwrap_or(SystemTime::UNIX_EPOCH))
        )));
    }
    Ok(c)
}

/// The credential-reply parsers, for the fuzz targets (`crate::fuzzing`).
pub(crate) mod fuzz {
    pub(crate) use super::process::parse as process_output;
    pub(crate) use super::sso::parse_role_credentials as sso_role_credentials;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::profile::test_profiles as profiles;

    #[test]
    fn sources_in_the_sdks_order() {
        let dev = profiles("[profile dev]\naws_access_key_id = P\naws_secret_access_key = s\n");
        let settings_only = profiles("[default]\nregion = us-east-1\n");
        let keys_and_profile = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "E"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_PROFILE", "dev"),
        ]);
        let web_identity = Env::from_pairs([
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:r"),
        ]);
        let container = Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:9/creds",
        )]);
        let imds = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")]);
        let cases = [
            // Environment keys win over AWS_PROFILE, but not over --profile.
            (
                &keys_and_profile,
                &dev,
                None,
                Source::Environment {
                    access_key_id: "E".into(),
                },
            ),
            (
                &keys_and_profile,
                &dev,
                Some("dev"),
                Source::Profile { name: "dev".into() },
            ),
            // A profile of settings only: web identity, the container, IMDS.
            (
                &web_identity,
                &settings_only,
                None,
                Source::WebIdentity {
                    role_arn: "arn:r".into(),
                    token_file: "/t".into(),
                },
            ),
            (
                &container,
                &settings_only,
                None,
                Source::Container {
                    url: "http://127.0.0.1:9/creds".into(),
                },
            ),
            (
                &imds,
                &settings_only,
                None,
                Source::Imds {
                    endpoint: "http://127.0.0.1:9".into(),
                },
            ),
        ];
        for (env, ps, cli, want) in cases {
            assert_eq!(select(env, ps, cli).unwrap(), want, "{env:?} {cli:?}");
        }
        // IMDS off too: nothing, and each place looked at says why not.
        let env = Env::from_pairs([("AWS_EC2_METADATA_DISABLED", "true")]);
        assert_eq!(
            select(&env, &settings_only, None).unwrap(),
            Source::Nothing {
                tried: vec![
                    "environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset)".into(),
                    "profile \"default\" (has no credentials)".into(),
                    "web identity (AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN unset)".into(),
                    "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI unset)"
                        .into(),
                    "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".into(),
                ]
            }
        );
    }

    #[test]
    fn named_profile_must_exist() {
        let ps = profiles("[default]\nregion = us-east-1\n");
        let e = select(&Env::default(), &ps, Some("nope")).unwrap_err();
        assert!(
            e.to_string().contains("\"nope\"") && e.to_string().contains("--profile"),
            "{e}"
        );
        let env = Env::from_pairs([("AWS_PROFILE", "nope")]);
        assert!(select(&env, &ps, None)
            .unwrap_err()
            .to_string()
            .contains("AWS_PROFILE"));
    }

    #[test]
    fn half_set_env_keys_are_an_error() {
        let env = Env::from_pairs([("AWS_ACCESS_KEY_ID", "E")]);
        let e = select(&env, &ProfileSet::default(), None).unwrap_err();
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    }

    #[test]
    fn identity_keys_follow_the_chain_and_hide_secrets() {
        let ps = profiles(
            "[profile a]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = b\n[profile b]\naws_access_key_id = AKIAB\naws_secret_access_key = SECRET\n",
        );
        let Some(IdentityKey::Known(k)) = identity_key(&Source::Profile { name: "a".into() }, &ps)
        else {
            panic!("a role chain names its identity")
        };
        assert!(
            k.contains("role/r") && k.contains("AKIAB") && !k.contains("SECRET"),
            "{k}"
        );
        let ps2 = profiles(
            "[profile a]\nrole_arn = arn:aws:iam::1:role/other\nsource_profile = b\n[profile b]\naws_access_key_id = AKIAB\n",
        );
        assert_ne!(
            identity_key(&Source::Profile { name: "a".into() }, &ps2),
            Some(IdentityKey::Known(k))
        );
        // A cycle still yields a finite key.
        let ps3 = profiles("[profile a]\nsource_profile = b\nrole_arn=x\n[profile b]\nsource_profile = a\nrole_arn=y\n");
        assert!(identity_key(&Source::Profile { name: "a".into() }, &ps3).is_some());
        assert_eq!(identity_key(&Source::Nothing { tried: vec![] }, &ps), None);
    }

    #[test]
    fn a_credentials_url_is_never_the_whole_identity() {
        let ps = ProfileSet::default();
        let url = "http://127.0.0.1:9/creds";
        let Some(IdentityKey::AfterResolve(prefix)) =
            identity_key(&Source::Container { url: url.into() }, &ps)
        else {
            panic!("container keys need the answer")
        };
        let creds = |id: &str| Credentials {
            access_key_id: id.into(),
            secret_access_key: "s".into(),
            session_token: None,
            expires_at: None,
        };
        let a = complete_identity(
            &prefix,
            &creds("ASIA1"),
            Some("role-arn:arn:aws:iam::1:role/a"),
        );
        let b = complete_identity(
            &prefix,
            &creds("ASIA1"),
            Some("role-arn:arn:aws:iam::1:role/b"),
        );
        assert_ne!(a, b);
        assert_ne!(
            complete_identity(&prefix, &creds("ASIA1"), None),
            complete_identity(&prefix, &creds("ASIA2"), None)
        );
        assert!(matches!(
            identity_key(
                &Source::Imds {
                    endpoint: url.into()
                },
                &ps
            ),
            Some(IdentityKey::AfterResolve(_))
        ));
        // A profile whose chain stops at a credential_source is a URL too.
        let ps = profiles(
            "[profile c]
credential_source = EcsContainer
[profile r]
role_arn = R
credential_source = EcsContainer
",
        );
        assert!(matches!(
            identity_key(&Source::Profile { name: "c".into() }, &ps),
            Some(IdentityKey::AfterResolve(_))
        ));
        assert!(matches!(
            identity_key(&Source::Profile { name: "r".into() }, &ps),
            Some(IdentityKey::Known(_))
        ));
        let v = serde_json::json!({"RoleArn": "arn:r", "AccountId": "1"});
        assert_eq!(reply_identity(&v).as_deref(), Some("role-arn:arn:r"));
        let v = serde_json::json!({"AccountId": "1"});
        assert_eq!(reply_identity(&v).as_deref(), Some("account:1"));
    }

    #[test]
    fn json_credentials() {
        let v = serde_json::json!({"AccessKeyId": "A", "SecretAccessKey": "S", "Token": "T", "Expiration": "2999-01-01T00:00:00Z"});
        let c = from_json(&v, "Token", "x").unwrap();
        assert_eq!(c.session_token.as_deref(), Some("T"));
        let v = serde_json::json!({"AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "2015-01-01T00:00:00Z"});
        assert!(from_json(&v, "Token", "x")
            .unwrap_err()
            .to_string()
            .contains("expired"));
        let v = serde_json::json!({"AccessKeyId": "A"});
        assert!(from_json(&v, "Token", "x").is_err());
    }
}
