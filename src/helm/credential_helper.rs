//! The Docker credential-helper protocol: the client side (run
//! `docker-credential-NAME get|store|erase`) and the message formats both
//! sides use.
//!
//! - `store`: stdin `{"ServerURL","Username","Secret"}`, no output.
//! - `get`: stdin the server URL, stdout `{"ServerURL","Username","Secret"}`;
//!   a miss is exit 1 with `credentials not found in native keychain` on stdout.
//! - `erase`: stdin the server URL.
//! - `list`: stdout `{"URL": "username", ...}`.
//!
//! Helpers print their errors on stdout (that is what Docker reads).

use super::{Auth, Error};
use crate::secret::Secret;
use crate::subprocess::{self, first_line, Limits};
use serde::{Deserialize, Serialize};
use std::process::Command;

/// What a helper prints for a miss; Docker matches this exact text.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The username Docker uses to mark an identity (OAuth refresh) token.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Debug never shows the secret.
#[derive(Debug, Serialize, Deserialize)]
pub struct Message {
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    #[serde(rename = "Username", default)]
    pub username: String,
    #[serde(rename = "Secret", default)]
    pub secret: Secret,
}

pub fn program(name: &str) -> String {
    format!("docker-credential-{name}")
}

pub fn format_message(server_url: &str, auth: &Auth) -> String {
    let m = Message {
        server_url: server_url.to_string(),
        username: auth.username.clone(),
        secret: auth.password.clone(),
    };
    // Three strings always serialise.
    serde_json::to_string(&m).unwrap_or_default()
}

/// A `get` answer: credentials, or None for an identity token (no use to
/// a registry that speaks Basic).
fn parse_get_response(stdout: &str) -> Result<Option<Auth>, String> {
    // serde's message may quote the value it choked on: the secret itself.
    let m: Message = serde_json::from_str(stdout.trim()).map_err(|_| {
        "answered something that is not credentials JSON ({\"ServerURL\",\"Username\",\"Secret\"}): run the helper by hand to see what it prints".to_string()
    })?;
    if m.username == IDENTITY_TOKEN_USER {
        return Ok(None);
    }
    Ok(Some(Auth {
        username: m.username,
        password: m.secret,
    }))
}

/// The server URL a `get`/`erase` request carries (one line on stdin).
pub fn parse_url_request(stdin: &str) -> String {
    stdin.trim().to_string()
}

fn is_not_found(out: &str) -> bool {
    out.trim().contains(NOT_FOUND)
}

struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

fn call(name: &str, verb: &str, input: &str) -> Result<Outcome, Error> {
    let scale = std::env::var("HELM_ECR_TIMEOUT_SCALE")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(1.0);
    call_with(name, verb, input, Limits::scaled(scale))
}

/// Bounded: a helper that prints forever or never exits is stopped (with
/// what it started) and named in one line.
fn call_with(name: &str, verb: &str, input: &str, limits: Limits) -> Result<Outcome, Error> {
    let prog = program(name);
    let mut cmd = Command::new(&prog);
    cmd.arg(verb);
    let fix = format!("fix or replace the helper (run `{prog} {verb}` by hand to see why)");
    let run = subprocess::run_helper(
        cmd,
        Some(input.as_bytes()),
        limits,
        &format!("credential helper {prog} {verb}"),
        &fix,
    );
    let out = run.map_err(|e| match e {
        subprocess::Failed::Start { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Error::Helper(format!(
                "credential helper {prog} is not on PATH: install it, or remove it from the registry config"
            ))
        }
        subprocess::Failed::Start { source, .. } => Error::Io {
            context: format!("cannot run credential helper {prog}"),
            source,
        },
        stopped => Error::Helper(stopped.to_string()),
    })?;
    Ok(Outcome {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn failure(name: &str, verb: &str, out: &Outcome) -> Error {
    let said = first_line(&out.stdout);
    let said = if said.is_empty() {
        first_line(&out.stderr)
    } else {
        said
    };
    Error::Helper(format!(
        "credential helper {} {verb} failed: {}",
        program(name),
        if said.is_empty() { "no message" } else { &said }
    ))
}

pub fn get(name: &str, server_url: &str) -> Result<Option<Auth>, Error> {
    let out = call(name, "get", server_url)?;
    if !out.success {
        if is_not_found(&out.stdout) {
            return Ok(None);
        }
        return Err(failure(name, "get", &out));
    }
    parse_get_response(&out.stdout)
        .map_err(|e| Error::Helper(format!("credential helper {} get {e}", program(name))))
}

pub fn store(name: &str, server_url: &str, auth: &Auth) -> Result<(), Error> {
    let out = call(name, "store", &format_message(server_url, auth))?;
    if out.success {
        Ok(())
    } else {
        Err(failure(name, "store", &out))
    }
}

pub fn erase(name: &str, server_url: &str) -> Result<(), Error> {
    let out = call(name, "erase", server_url)?;
    if out.success || is_not_found(&out.stdout) {
        Ok(())
    } else {
        Err(failure(name, "erase", &out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_message_uses_docker_field_names() {
        let a = Auth {
            username: "AWS".into(),
            password: "p\"w".into(),
        };
        let s = format_message("h:5000", &a);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ServerURL": "h:5000", "Username": "AWS", "Secret": "p\"w"})
        );
    }

    #[test]
    fn get_response_parsing() {
        let a = parse_get_response("{\"ServerURL\":\"h\",\"Username\":\"u\",\"Secret\":\"s\"}\n")
            .unwrap()
            .unwrap();
        assert_eq!((a.username.as_str(), a.password.expose()), ("u", "s"));
        assert_eq!(
            parse_get_response("{\"Username\":\"<token>\",\"Secret\":\"r\"}").unwrap(),
            None
        );
        assert!(parse_get_response("oops").is_err());
        // What the helper printed never reaches the message.
        for out in [r#""s3cr3t""#, r#"{"Secret": ["s3cr3t"]}"#, "s3cr3t"] {
            let e = parse_get_response(out).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn url_request_and_not_found() {
        assert_eq!(parse_url_request("h.example:5000\n"), "h.example:5000");
        assert!(is_not_found("credentials not found in native keychain\n"));
        assert!(!is_not_found("permission denied"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let m = Message {
            server_url: "h".into(),
            username: "u".into(),
            secret: "topsecret".into(),
        };
        assert!(!format!("{m:?}").contains("topsecret"));
    }

    #[test]
    fn failure_message_is_one_short_line() {
        let out = Outcome {
            success: false,
            stdout: format!("\n{}\nsecond line", "x".repeat(500)),
            stderr: String::new(),
        };
        let e = failure("n", "store", &out);
        assert!(!e.to_string().contains('\n'));
        assert!(e.to_string().len() < 300);
    }
}
