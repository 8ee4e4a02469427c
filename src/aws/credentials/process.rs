//! `credential_process`: run the command, read `{"Version":1,...}` on stdout.

use std::process::{Command, Stdio};

use crate::aws::{Credentials, Error};

pub fn resolve(profile: &str, command: &str) -> Result<Credentials, Error> {
    let what = format!("credential_process of AWS profile {profile:?}");
    // The SDKs run it through the shell, so quoting works as users expect.
    let output = if cfg!(windows) {
        Command::new("cmd")
            .args(["/C", command])
            .stdin(Stdio::null())
            .output()
    } else {
        Command::new("sh")
            .args(["-c", command])
            .stdin(Stdio::null())
            .output()
    }
    .map_err(|e| Error(format!("{what}: cannot run it: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let first: String = first.chars().take(200).collect();
        return Err(Error(format!(
            "{what} failed ({}){}: fix the command or run it by hand to see why",
            output.status,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {first}")
            }
        )));
    }
    parse(&output.stdout, &what)
}

/// Never quotes stdout in errors: it holds the secret.
pub fn parse(stdout: &[u8], what: &str) -> Result<Credentials, Error> {
    let v: serde_json::Value = serde_json::from_slice(stdout)
        .map_err(|_| Error(format!("{what} did not print JSON on stdout")))?;
    match v.get("Version").and_then(|x| x.as_i64()) {
        Some(1) => {}
        _ => return Err(Error(format!("{what} printed JSON without \"Version\": 1"))),
    }
    super::from_json(&v, "SessionToken", what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let c = parse(
            br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T"}"#,
            "p",
        )
        .unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("A", Some("T"))
        );
        let e = parse(
            br#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"S"}"#,
            "p",
        )
        .unwrap_err();
        assert!(e.0.contains("Version"));
        let e = parse(b"SECRET junk", "p").unwrap_err();
        assert!(!e.0.contains("SECRET"));
    }

    #[test]
    fn runs_through_the_shell_and_reports_failures() {
        let c = resolve(
            "t",
            r#"printf '%s' '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}'"#,
        )
        .unwrap();
        assert_eq!(c.secret_access_key, "S");
        let e = resolve("t", "echo oops >&2; exit 3").unwrap_err();
        assert!(
            e.0.contains("oops") && e.0.contains("exit status: 3"),
            "{e}"
        );
    }
}
