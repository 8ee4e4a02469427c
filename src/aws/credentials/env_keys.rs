//! AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.

use super::Source;
use crate::aws::env::Env;
use crate::aws::{Credentials, Error};

pub fn selected(env: &Env) -> Result<Option<Source>, Error> {
    match (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(_)) => Ok(Some(Source::Environment {
            access_key_id: id.trim().to_string(),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::Credentials(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or unset both to use a profile".into(),
        )),
        (None, Some(_)) => Err(Error::Credentials(
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or unset both to use a profile".into(),
        )),
    }
}

pub fn resolve(env: &Env) -> Result<Credentials, Error> {
    match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => Ok(Credentials {
            access_key_id: id.trim().to_string(),
            secret_access_key: secret.trim().to_string(),
            session_token: env.get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            expires_at: None,
        }),
        _ => Err(Error::Credentials(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set".into(),
        )),
    }
}
