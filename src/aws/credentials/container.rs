//! Container credentials (ECS, EKS Pod Identity): a GET to the agent, with
//! an optional Authorization token.

use std::net::IpAddr;
use std::time::Duration;

use crate::aws::env::Env;
use crate::aws::transport::Call;
use crate::aws::Context;
use crate::aws::{Credentials, Error};

const ECS_HOST: &str = "http://169.254.170.2";

/// RELATIVE_URI (on the ECS agent) wins over FULL_URI, as in the SDKs.
pub fn url_from_env(env: &Env) -> Result<Option<String>, Error> {
    if let Some(rel) = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        let rel = rel.trim();
        let sep = if rel.starts_with('/') { "" } else { "/" };
        return Ok(Some(format!("{ECS_HOST}{sep}{rel}")));
    }
    match env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        Some(full) => {
            let full = full.trim();
            check_full_uri(full)?;
            Ok(Some(full.to_string()))
        }
        None => Ok(None),
    }
}

/// Plain HTTP only to the machine itself or the container agents'
/// link-local addresses: credentials must not cross a network in clear.
fn check_full_uri(url: &str) -> Result<(), Error> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Error::Credentials(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {url:?} must be an http:// or https:// URL"
        )));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let allowed = host.eq_ignore_ascii_case("localhost")
        || match host.parse::<IpAddr>() {
            Ok(ip) => {
                ip.is_loopback()
                    || ip == IpAddr::from([169, 254, 170, 2])
                    || ip == IpAddr::from([169, 254, 170, 23])
                    || ip == IpAddr::from([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23])
            }
            Err(_) => false,
        };
    if allowed {
        Ok(())
    } else {
        Err(Error::Credentials(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {url:?} uses plain HTTP to a host that is not loopback or a container agent address: use https://"
        )))
    }
}

fn auth_token(env: &Env) -> Result<Option<String>, Error> {
    let token = if let Some(file) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        let path = env.expand_home(file);
        std::fs::read_to_string(&path).map_err(|e| {
            Error::Credentials(format!(
                "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                path.display()
            ))
        })?
    } else if let Some(t) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
        t.to_string()
    } else {
        return Ok(None);
    };
    let token = token.trim().to_string();
    if token.contains(['\r', '\n']) {
        return Err(Error::Credentials(
            "the container authorization token holds a line break: fix AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)".into(),
        ));
    }
    Ok(Some(token))
}

/// The credentials and, when the agent says, whose they are: ECS names the
/// task role (`RoleArn`), EKS Pod Identity the account (`AccountId`).
pub fn resolve(ctx: &Context<'_>, url: &str) -> Result<(Credentials, Option<String>), Error> {
    let what = "container credentials";
    let mut c = Call::new("GET", url.to_string(), what, ctx.env);
    let scale = ctx.env.scale("HELM_ECR_TIMEOUT_SCALE");
    c.timeout = Duration::from_secs(5).mul_f64(scale);
    c.connect_timeout = Duration::from_secs(2).mul_f64(scale);
    c.direct = true;
    if let Some(t) = auth_token(ctx.env)? {
        c.headers.push(("authorization", t));
    }
    let reply = ctx.call(&c).map_err(|f| {
        let e = f.into_error(&format!("{what} from {url}"));
        Error::Credentials(format!("{}: check the container's task or pod role", e))
    })?;
    let v: serde_json::Value = serde_json::from_str(&reply.body)
        .map_err(|_| Error::Credentials(format!("{what} from {url}: the reply is not JSON")))?;
    let c = super::from_json(&v, "Token", what)?;
    Ok((c, super::reply_identity(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_rules() {
        for ok in [
            "https://example.com/creds",
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://169.254.170.2/v2",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1",
            "http://[::1]:9/x",
        ] {
            assert!(check_full_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/x",
            "http://example.com/x",
            "ftp://127.0.0.1/",
        ] {
            assert!(check_full_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_wins_and_token_file_wins() {
        let env = Env::from_pairs([
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x"),
        ]);
        assert_eq!(
            url_from_env(&env).unwrap().unwrap(),
            "http://169.254.170.2/v2/creds"
        );
        let dir = std::env::temp_dir().join(format!("helm-ecr-ct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t");
        std::fs::write(&file, "from-file\n").unwrap();
        let env = Env::from_pairs([
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-env"),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                file.to_str().unwrap(),
            ),
        ]);
        assert_eq!(auth_token(&env).unwrap().as_deref(), Some("from-file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
