//! The OCI part's error: a kind the command can act on, and one line for
//! the user.

use crate::text::one_line;
use std::fmt;
use std::time::Duration;

/// What went wrong, coarse enough for a caller to give advice on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad reference, tag or remote (the user's input).
    InvalidReference,
    /// The repository does not exist (ECR: create it first).
    NameUnknown,
    /// The tag exists and the repository's tags are immutable.
    TagImmutable,
    /// Credentials were refused, even after one refresh.
    Unauthorized,
    /// Authenticated, but not allowed.
    Denied,
    /// The keychain could not produce credentials.
    Credentials,
    /// Throttled beyond the retry budget.
    Throttled,
    /// Network, TLS, timeouts, or a registry failing with 5xx beyond the
    /// retry budget.
    Transport,
    /// The registry refused what we sent (digest or manifest invalid, ...).
    Rejected,
    /// Reading a blob from disk failed.
    Io,
    Other,
}

#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    msg: String,
    /// Set on failures another attempt may cure.
    pub(crate) retry: Option<Retry>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub after: Option<Duration>,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error::with_kind(ErrorKind::Other, msg)
    }

    pub fn with_kind(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
            retry: None,
        }
    }

    pub(crate) fn retryable(mut self, after: Option<Duration>) -> Self {
        self.retry = Some(Retry { after });
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    pub(crate) fn context(mut self, prefix: &str) -> Self {
        self.msg = format!("{prefix}: {}", self.msg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// The first error of a registry's `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryError {
    pub code: String,
    pub message: String,
}

/// Both fields come from the server and go into one-line errors: line
/// breaks and runs of spaces become one space, and length is bounded.
pub fn parse_registry_error(body: &[u8]) -> Option<RegistryError> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = v.get("errors")?.as_array()?.first()?;
    let s =
        |k: &str, max: usize| one_line(first.get(k).and_then(|x| x.as_str()).unwrap_or(""), max);
    Some(RegistryError {
        code: s("code", 64),
        message: s("message", 300),
    })
}

/// The kind for a refusal, from the registry's error code and the status.
pub fn classify(status: u16, code: &str, message: &str) -> ErrorKind {
    match code {
        "NAME_UNKNOWN" => return ErrorKind::NameUnknown,
        "TAG_INVALID" if message.contains("immutable") => return ErrorKind::TagImmutable,
        "DENIED" => return ErrorKind::Denied,
        "UNAUTHORIZED" => return ErrorKind::Unauthorized,
        "TOOMANYREQUESTS" => return ErrorKind::Throttled,
        "" => {}
        _ if (400..500).contains(&status) && status != 401 && status != 403 && status != 429 => {
            return ErrorKind::Rejected
        }
        _ => {}
    }
    match status {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Denied,
        429 => ErrorKind::Throttled,
        500..=599 => ErrorKind::Transport,
        400..=499 => ErrorKind::Rejected,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distribution_errors() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}"#;
        let e = parse_registry_error(body).unwrap();
        assert_eq!(e.code, "NAME_UNKNOWN");
        assert_eq!(e.message, "repository name not known to registry");
        assert_eq!(parse_registry_error(b"<html>"), None);
        let body = format!(
            r#"{{"errors":[{{"code":"DENIED\n","message":"line one\r\nline two {}"}}]}}"#,
            "x".repeat(5000)
        );
        let e = parse_registry_error(body.as_bytes()).unwrap();
        assert_eq!(e.code, "DENIED");
        assert!(
            e.message.starts_with("line one line two x"),
            "{}",
            e.message
        );
        assert!(!e.message.contains(['\n', '\r']) && e.message.len() < 320);
        assert_eq!(parse_registry_error(br#"{"errors":[]}"#), None);
    }

    #[test]
    fn classification() {
        assert_eq!(classify(404, "NAME_UNKNOWN", ""), ErrorKind::NameUnknown);
        assert_eq!(
            classify(400, "TAG_INVALID", "The image tag '1.0' already exists in the 'x' repository and cannot be overwritten because the tag is immutable."),
            ErrorKind::TagImmutable
        );
        assert_eq!(classify(400, "TAG_INVALID", "bad tag"), ErrorKind::Rejected);
        assert_eq!(classify(400, "MANIFEST_INVALID", ""), ErrorKind::Rejected);
        assert_eq!(classify(403, "", ""), ErrorKind::Denied);
        assert_eq!(classify(401, "", ""), ErrorKind::Unauthorized);
        assert_eq!(classify(503, "", ""), ErrorKind::Transport);
        assert_eq!(classify(429, "TOOMANYREQUESTS", ""), ErrorKind::Throttled);
    }
}
