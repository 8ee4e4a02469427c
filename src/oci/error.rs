//! The OCI part's error: a kind the command can act on, and one line for
//! the user.

use crate::text::one_line;
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

/// Everything the OCI part can fail with. Each renders as one line: what
/// failed, why, and what to do. Where a cause is carried (`#[source]`), the
/// line already includes its text, so callers print `{e}` and stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry answered with a status the call did not expect.
    #[error("{message}")]
    Status {
        kind: ErrorKind,
        status: u16,
        /// The distribution error code (`NAME_UNKNOWN`, ...), or empty.
        code: String,
        message: String,
        /// Throttling or a server failure: another attempt may go better,
        /// after `retry_after` when the registry said so.
        retryable: bool,
        retry_after: Option<Duration>,
    },
    /// No usable answer: network, TLS, deadline (the HTTP layer's line).
    #[error(transparent)]
    Http(#[from] crate::http::Error),
    /// The keychain could not produce credentials.
    #[error("{context}: {source}")]
    Credentials {
        context: String,
        #[source]
        source: KeychainError,
    },
    /// Reading a blob from disk failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Retries spent (or a wait too long asked for): why we stopped, then
    /// the last failure.
    #[error("{context}: {source}")]
    GaveUp {
        context: String,
        #[source]
        source: Box<Error>,
    },
    /// Anything else: bad input, a refusal, a reply we cannot use.
    #[error("{message}")]
    Other { kind: ErrorKind, message: String },
}

/// Why the keychain has no credentials for a host: its own error, kept
/// whole (the ECR keychain's AWS error, with its cause).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct KeychainError(Box<dyn std::error::Error + Send + Sync>);

impl KeychainError {
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        KeychainError(e.into())
    }
}

/// The wait a retryable failure asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub after: Option<Duration>,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error::with_kind(ErrorKind::Other, msg)
    }

    pub fn with_kind(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error::Other {
            kind,
            message: msg.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Status { kind, .. } | Error::Other { kind, .. } => *kind,
            Error::Http(_) => ErrorKind::Transport,
            Error::Credentials { .. } => ErrorKind::Credentials,
            Error::Io { .. } => ErrorKind::Io,
            Error::GaveUp { source, .. } => source.kind(),
        }
    }

    /// The one line, as `Display` gives it.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Set on failures another attempt may cure.
    pub(crate) fn retry(&self) -> Option<Retry> {
        match self {
            Error::Status {
                retryable: true,
                retry_after,
                ..
            } => Some(Retry {
                after: *retry_after,
            }),
            Error::Http(e) if e.is_retryable() => Some(Retry { after: None }),
            _ => None,
        }
    }

    pub(crate) fn context(self, context: String) -> Self {
        Error::GaveUp {
            context,
            source: Box::new(self),
        }
    }
}

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

/// The registry's classification for the shared retry policy: statuses
/// that say "not now" rather than "no" (throttling, timeouts, server-side
/// failures).
pub fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
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
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 501] {
            assert!(!is_transient(s), "{s}");
        }
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
