//! `login_session` (the AWS CLI's `aws login`): its cached credentials, used
//! while valid. Refreshing them needs a DPoP proof we do not make, so an
//! expired session sends the user back to `aws login`.

use std::time::SystemTime;

use crate::aws::env::Env;
use crate::aws::{Credentials, Error};
use crate::clock::{parse_rfc3339, rfc3339_system};
use crate::codec::sha256_hex;

pub fn resolve(env: &Env, profile: &str, session: &str) -> Result<Credentials, Error> {
    let hint = format!("run `aws login --profile {profile}`");
    let dir = match env.get("AWS_LOGIN_CACHE_DIRECTORY") {
        Some(d) => env.expand_home(d),
        None => env
            .aws_dir()
            .ok_or_else(|| {
                Error::Credentials(format!("no home directory for the login cache: {hint}"))
            })?
            .join("login")
            .join("cache"),
    };
    let path = dir.join(format!("{}.json", sha256_hex(session.trim().as_bytes())));
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::Credentials(format!(
            "no `aws login` session for AWS profile {profile:?} ({} missing): {hint}",
            path.display()
        ))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        Error::Credentials(format!(
            "the login cache {} is unreadable: {hint}",
            path.display()
        ))
    })?;
    let t = v.get("accessToken").unwrap_or(&serde_json::Value::Null);
    let s = |k: &str| t.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    let (Some(id), Some(secret), Some(expires)) = (
        s("accessKeyId"),
        s("secretAccessKey"),
        s("expiresAt").and_then(parse_rfc3339),
    ) else {
        return Err(Error::Credentials(format!(
            "the login cache {} lacks credentials: {hint}",
            path.display()
        )));
    };
    if expires <= SystemTime::now() {
        return Err(Error::Credentials(format!(
            "the `aws login` session for AWS profile {profile:?} expired at {}: {hint}",
            rfc3339_system(expires)
        )));
    }
    Ok(Credentials {
        access_key_id: id.into(),
        secret_access_key: secret.into(),
        session_token: s("sessionToken").map(str::to_string),
        expires_at: Some(expires),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_valid_and_refuses_expired() {
        let dir = std::env::temp_dir().join(format!("helm-ecr-login-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = Env::from_pairs([("AWS_LOGIN_CACHE_DIRECTORY", dir.to_str().unwrap())]);
        let file = dir.join(format!("{}.json", sha256_hex(b"arn:aws:iam::1:user/u")));
        std::fs::write(&file, r#"{"accessToken":{"accessKeyId":"A","secretAccessKey":"S","sessionToken":"T","expiresAt":"2999-01-01T00:00:00Z"}}"#).unwrap();
        let c = resolve(&env, "p", "arn:aws:iam::1:user/u").unwrap();
        assert_eq!(c.access_key_id, "A");
        std::fs::write(&file, r#"{"accessToken":{"accessKeyId":"A","secretAccessKey":"S","expiresAt":"2015-01-01T00:00:00Z"}}"#).unwrap();
        let e = resolve(&env, "p", "arn:aws:iam::1:user/u").unwrap_err();
        assert!(
            e.to_string().contains("expired") && e.to_string().contains("aws login --profile p"),
            "{e}"
        );
        let e = resolve(&env, "p", "other").unwrap_err();
        assert!(e.to_string().contains("aws login"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
