//! `credential_process`: run the command, read `{"Version":1,...}` on stdout.

use std::process::Command;

use crate::aws::env::Env;
use crate::aws::{Credentials, Error};
use crate::subprocess::{self, Limits};

/// Run it with bounded output and run time (HELM_ECR_TIMEOUT_SCALE scales
/// the 60 s limit): a process that prints forever or never exits is
/// stopped, with everything it started, and named in one line.
pub fn resolve(env: &Env, profile: &str, command: &str) -> Result<Credentials, Error> {
    resolve_with(
        profile,
        command,
        Limits::scaled(env.scale("HELM_ECR_TIMEOUT_SCALE")),
    )
}

fn resolve_with(profile: &str, command: &str, limits: Limits) -> Result<Credentials, Error> {
    let what = format!("credential_process of AWS profile {profile:?}");
    // The SDKs run it through the shell, so quoting works as users expect.
    let cmd = if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    };
    let output = subprocess::run_helper(
        cmd,
        None,
        limits,
        &what,
        "fix the command (it must print one JSON object and exit) or run it by hand to see why",
    )?;
    if !output.status.success() {
        let first = subprocess::first_line(&String::from_utf8_lossy(&output.stderr));
        return Err(Error::Credentials(format!(
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
        .map_err(|_| Error::Credentials(format!("{what} did not print JSON on stdout")))?;
    match v.get("Version").and_then(|x| x.as_i64()) {
        Some(1) => {}
        _ => {
            return Err(Error::Credentials(format!(
                "{what} printed JSON without \"Version\": 1"
            )))
        }
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
        assert!(e.to_string().contains("Version"));
        let e = parse(b"SECRET junk", "p").unwrap_err();
        assert!(!e.to_string().contains("SECRET"));
    }

    #[test]
    fn runs_through_the_shell_and_reports_failures() {
        let env = Env::default();
        let c = resolve(
            &env,
            "t",
            r#"printf '%s' '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}'"#,
        )
        .unwrap();
        assert_eq!(c.secret_access_key, "S");
        let e = resolve(&env, "t", "echo oops >&2; exit 3").unwrap_err();
        assert!(
            e.to_string().contains("oops") && e.to_string().contains("exit status: 3"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn endless_or_stuck_processes_are_stopped() {
        let limits = Limits {
            max_output: 1024 * 1024,
            timeout: std::time::Duration::from_millis(300),
        };
        let e = resolve_with(
            "chatty",
            "yes '{}'",
            Limits {
                timeout: std::time::Duration::from_secs(60),
                ..limits
            },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "credential_process of AWS profile \"chatty\" printed more than 1 MiB on stdout and was stopped: fix the command (it must print one JSON object and exit) or run it by hand to see why");
        let e = resolve_with("stuck", "sleep 1000", limits).unwrap_err();
        assert!(
            e.to_string().starts_with("credential_process of AWS profile \"stuck\" did not finish within 0.3 s and was stopped"),
            "{e}"
        );
    }
}
