//! AWS error replies, from real AWS (JSON `__type`/`message`, the
//! `x-amzn-ErrorType` header) and moto (XML `<Error><Code>`), parsed once
//! into an [`AwsErrorCode`] and turned into one clear line that says what
//! to do; and the layer's [`Error`].

use std::time::SystemTime;

use crate::clock::{epoch_secs, rfc3339_system};

/// Everything the AWS layer can fail with. Each renders as one line: what
/// failed, why, and what to do. Where a cause is carried (`#[source]`), the
/// line already includes its text, so callers print `{e}` and stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AWS answered with an error; `message` is the explained line.
    #[error("{message}")]
    Api {
        code: AwsErrorCode,
        status: u16,
        message: String,
    },
    /// No usable answer: unreachable, timed out, untrusted, or a request
    /// that could not be built or signed.
    #[error("{0}")]
    Transport(String),
    /// AWS answered 2xx with something we cannot use.
    #[error("{0}")]
    Reply(String),
    /// An answer that is not the JSON it should be.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// A local file (profile, SSO cache, token file) could not be used.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Settings: region, profiles, endpoints, retry settings.
    #[error("{0}")]
    Config(String),
    /// The credential chain found no usable credentials.
    #[error("{0}")]
    Credentials(String),
    /// A `credential_process` that could not be started or was stopped.
    #[error(transparent)]
    Helper(#[from] crate::subprocess::Failed),
    /// A credential failure, kept and shared by every session of the
    /// command: the chain runs once per command, failures included (no
    /// second MFA prompt, no second wait on a dead endpoint).
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}

impl Error {
    /// The AWS error code, when AWS answered with one.
    pub fn code(&self) -> Option<&AwsErrorCode> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::Shared(e) => e.code(),
            _ => None,
        }
    }
}

macro_rules! aws_error_codes {
    ($($name:ident),* $(,)?) => {
        /// An AWS error code as sent (`__type`, `<Code>` or
        /// `x-amzn-ErrorType`, namespace and URL suffix removed). Named
        /// variants are the codes this crate acts on; the rest are kept as
        /// `Other`, and a reply that names none is its HTTP status.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum AwsErrorCode {
            $($name,)*
            /// No code in the reply: `HTTP 503`.
            Status(u16),
            Other(String),
        }

        impl AwsErrorCode {
            /// The code as AWS spells it (`HTTP N` for [`AwsErrorCode::Status`]).
            pub fn parse(code: &str) -> AwsErrorCode {
                match code {
                    $(stringify!($name) => AwsErrorCode::$name,)*
                    _ => AwsErrorCode::Other(code.to_string()),
                }
            }

            fn name(&self) -> Option<&'static str> {
                match self {
                    $(AwsErrorCode::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

aws_error_codes!(
    // Clock skew.
    RequestExpired,
    RequestTimeTooSkewed,
    RequestInTheFuture,
    // Expired session.
    ExpiredTokenException,
    ExpiredToken,
    TokenRefreshRequired,
    // Not allowed.
    AccessDeniedException,
    AccessDenied,
    UnauthorizedOperation,
    AuthorizationError,
    // Wrong secret.
    SignatureDoesNotMatch,
    InvalidSignatureException,
    IncompleteSignature,
    InvalidSignature,
    AuthFailure,
    // Unknown keys.
    UnrecognizedClientException,
    InvalidClientTokenId,
    InvalidAccessKeyId,
    MissingAuthenticationToken,
    // Throttling and transient (smithy-rs `aws-runtime` retry classifiers,
    // botocore `standard.py`).
    RequestTimeout,
    RequestTimeoutException,
    Throttling,
    ThrottlingException,
    ThrottledException,
    RequestThrottledException,
    TooManyRequestsException,
    ProvisionedThroughputExceededException,
    TransactionInProgressException,
    RequestLimitExceeded,
    BandwidthLimitExceeded,
    LimitExceededException,
    RequestThrottled,
    SlowDown,
    PriorRequestNotComplete,
    EC2ThrottledException,
    InternalError,
    ServiceUnavailable,
    // ECR.
    RepositoryNotFoundException,
    RepositoryAlreadyExistsException,
    ImageNotFoundException,
    // IAM Identity Center (SSO).
    UnauthorizedException,
    ForbiddenException,
);

impl std::fmt::Display for AwsErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AwsErrorCode::Status(s) => write!(f, "HTTP {s}"),
            AwsErrorCode::Other(s) => f.write_str(s),
            named => f.write_str(named.name().unwrap_or_default()),
        }
    }
}

impl From<&str> for AwsErrorCode {
    fn from(code: &str) -> AwsErrorCode {
        AwsErrorCode::parse(code)
    }
}

impl AwsErrorCode {
    pub fn is_clock_skew(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            RequestExpired | RequestTimeTooSkewed | RequestInTheFuture
        )
    }

    pub fn is_expired_token(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            ExpiredTokenException | ExpiredToken | TokenRefreshRequired
        )
    }

    pub fn is_access_denied(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            AccessDeniedException | AccessDenied | UnauthorizedOperation | AuthorizationError
        )
    }

    /// The secret does not match the key id.
    pub fn is_bad_signature(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            SignatureDoesNotMatch
                | InvalidSignatureException
                | IncompleteSignature
                | InvalidSignature
        )
    }

    /// A signature refusal, which a skewed clock also causes.
    fn is_signature_problem(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            InvalidSignatureException | SignatureDoesNotMatch | AuthFailure | InvalidSignature
        )
    }

    pub fn is_unknown_credentials(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            UnrecognizedClientException
                | InvalidClientTokenId
                | InvalidAccessKeyId
                | MissingAuthenticationToken
        )
    }

    /// Throttling, as the final message calls it.
    pub fn is_throttling(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            Throttling
                | ThrottlingException
                | ThrottledException
                | TooManyRequestsException
                | RequestLimitExceeded
                | SlowDown
        )
    }

    /// The SDKs' transient and throttling codes: worth another attempt.
    pub fn is_retryable(&self) -> bool {
        use AwsErrorCode::*;
        matches!(
            self,
            RequestTimeout
                | RequestTimeoutException
                | Throttling
                | ThrottlingException
                | ThrottledException
                | RequestThrottledException
                | TooManyRequestsException
                | ProvisionedThroughputExceededException
                | TransactionInProgressException
                | RequestLimitExceeded
                | BandwidthLimitExceeded
                | LimitExceededException
                | RequestThrottled
                | SlowDown
                | PriorRequestNotComplete
                | EC2ThrottledException
                | InternalError
                | ServiceUnavailable
        )
    }
}

/// A non-2xx answer, parsed.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    /// e.g. `AccessDeniedException`; `HTTP 503` when the body names none.
    pub code: AwsErrorCode,
    pub message: String,
    /// The server's Date header, for clock-skew messages.
    pub server_date: Option<SystemTime>,
    pub attempts: u32,
}

/// `ns#Name:url` -> `Name`.
fn clean_code(raw: &str) -> String {
    let raw = raw.rsplit('#').next().unwrap_or(raw);
    one_line(raw.split(':').next().unwrap_or(raw), 100)
}

/// What AWS appends to a signature mismatch on some APIs (STS, S3): the
/// canonical request, which holds every signed header's value, the session
/// token among them. Nothing after these words is kept.
const ECHOES_REQUEST: [&str; 2] = ["The Canonical String", "The String-to-Sign"];

/// Messages go on one line, bounded, without the echoed request.
fn one_line(s: &str, max_chars: usize) -> String {
    let cut = ECHOES_REQUEST
        .iter()
        .filter_map(|m| s.find(m))
        .min()
        .unwrap_or(s.len());
    crate::text::one_line(&s[..cut], max_chars)
}

pub fn parse_error_body(
    status: u16,
    body: &str,
    error_type: Option<&str>,
) -> (AwsErrorCode, String) {
    let trimmed = body.trim_start();
    let (mut code, mut message) = (String::new(), String::new());
    if trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
            let field = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|n| v.get(*n).and_then(|x| x.as_str()))
                    .map(str::to_string)
            };
            code = field(&["__type", "code", "Code"])
                .map(|c| clean_code(&c))
                .unwrap_or_default();
            message = field(&["message", "Message", "errorMessage"]).unwrap_or_default();
        }
    } else if trimmed.starts_with('<') {
        code = super::xml::text(body, "Code")
            .map(|c| clean_code(&c))
            .unwrap_or_default();
        message = super::xml::text(body, "Message").unwrap_or_default();
    }
    if code.is_empty() {
        code = error_type.map(clean_code).unwrap_or_default();
    }
    let code = if code.is_empty() {
        AwsErrorCode::Status(status)
    } else {
        AwsErrorCode::parse(&code)
    };
    (code, one_line(&message, 300))
}

/// Who asked and what for, to name them in messages.
pub struct Caller<'a> {
    /// "ECR GetAuthorizationToken"
    pub what: &'a str,
    /// "ecr:GetAuthorizationToken"
    pub iam_action: &'a str,
    pub key_id: Option<&'a str>,
}

pub(crate) fn is_clock_skew(f: &ApiFailure, now: SystemTime) -> bool {
    let m = f.message.to_ascii_lowercase();
    let by_code = f.code.is_clock_skew();
    let by_message = m.contains("signature expired") || m.contains("signature not yet current");
    let signature_problem = f.code.is_signature_problem();
    let skewed = f
        .server_date
        .is_some_and(|d| (epoch_secs(d) - epoch_secs(now)).abs() > 5 * 60);
    by_code || by_message || (signature_problem && skewed)
}

/// One line for a failed call, saying why and what to do.
pub fn explain(f: &ApiFailure, ctx: &Caller<'_>, now: SystemTime) -> Error {
    let key = ctx
        .key_id
        .map(|k| format!(" for key id {k}"))
        .unwrap_or_default();
    let said = if f.message.is_empty() {
        String::new()
    } else {
        format!(" (AWS said: {})", f.message)
    };
    let what = ctx.what;
    let code = &f.code;
    if is_clock_skew(f, now) {
        let server = f
            .server_date
            .map(rfc3339_system)
            .unwrap_or_else(|| "unknown".into());
        let off = f
            .server_date
            .map(|d| format!(", off by {} s", (epoch_secs(now) - epoch_secs(d)).abs()))
            .unwrap_or_default();
        return api_error(f, format!(
            "{what} was refused because this machine's clock is wrong (local time {}, AWS time {server}{off}): set the system clock (e.g. enable NTP) and retry",
            rfc3339_system(now)
        ));
    }
    let msg = match code {
        c if c.is_expired_token() => format!(
            "{what}: the AWS session token{key} has expired: get fresh credentials (renew the role session, run `aws sso login`, or refresh the environment) and retry"
        ),
        c if c.is_access_denied() => format!(
            "{what}: access denied: these credentials{key} may not call {}{said}: grant {} to this identity in IAM (or the repository policy)",
            ctx.iam_action, ctx.iam_action
        ),
        c if c.is_bad_signature() => format!(
            "{what}: the request signature does not match ({code}): the secret access key is wrong{key}: check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key"
        ),
        c if c.is_unknown_credentials() => format!(
            "{what}: AWS does not know these credentials ({code}){key}: the access key id or session token is wrong or revoked; check your AWS credentials"
        ),
        c if c.is_throttling() || f.status == 429 => format!(
            "{what} was throttled by AWS ({code}) after {} attempts: wait a moment and retry",
            f.attempts
        ),
        _ if f.status >= 500 => format!(
            "{what} failed with HTTP {} after {} attempts ({code}{}): AWS may be unavailable; retry later",
            f.status,
            f.attempts,
            if f.message.is_empty() { String::new() } else { format!(": {}", f.message) }
        ),
        _ => format!(
            "{what} failed: {code}{} (HTTP {})",
            if f.message.is_empty() { String::new() } else { format!(": {}", f.message) },
            f.status
        ),
    };
    api_error(f, msg)
}

fn api_error(f: &ApiFailure, message: String) -> Error {
    Error::Api {
        code: f.code.clone(),
        status: f.status,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn failure(status: u16, body: &str, date: Option<SystemTime>) -> ApiFailure {
        let (code, message) = parse_error_body(status, body, None);
        ApiFailure {
            status,
            code,
            message,
            server_date: date,
            attempts: 3,
        }
    }

    const CTX: Caller<'static> = Caller {
        what: "ECR GetAuthorizationToken",
        iam_action: "ecr:GetAuthorizationToken",
        key_id: Some("AKIAEXAMPLE"),
    };

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn parses_json_xml_and_header_forms() {
        assert_eq!(
            parse_error_body(
                400,
                r#"{"__type":"com.amazonaws.ecr#RepositoryNotFoundException","message":"nope"}"#,
                None
            ),
            (AwsErrorCode::RepositoryNotFoundException, "nope".into())
        );
        assert_eq!(
            parse_error_body(
                400,
                r#"{"__type":"AccessDeniedException:http://internal.amazon.com/","Message":"m"}"#,
                None
            ),
            (AwsErrorCode::AccessDeniedException, "m".into())
        );
        let xml = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            parse_error_body(403, xml, None).0,
            AwsErrorCode::SignatureDoesNotMatch
        );
        assert_eq!(
            parse_error_body(403, "", Some("AccessDeniedException:x")).0,
            AwsErrorCode::AccessDeniedException
        );
        assert_eq!(
            parse_error_body(502, "<html>bad gateway", None).0,
            AwsErrorCode::Status(502)
        );
        assert_eq!(AwsErrorCode::Status(502).to_string(), "HTTP 502");
        assert_eq!(
            AwsErrorCode::parse("ThrottlingException").to_string(),
            "ThrottlingException"
        );
    }

    #[test]
    fn echoed_canonical_request_and_line_breaks_are_dropped() {
        let xml = "<ErrorResponse><Error><Code>Signature\nDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'POST\n/\n\nhost:sts.amazonaws.com\nx-amz-security-token:SESSIONTOKEN\n'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256'</Message></Error></ErrorResponse>";
        let (code, message) = parse_error_body(403, xml, None);
        assert_eq!(
            message,
            "The request signature we calculated does not match the signature you provided."
        );
        assert_eq!(code, AwsErrorCode::Other("Signature DoesNotMatch".into()));
        let long = format!(r#"{{"__type":"X","message":"{}"}}"#, "a ".repeat(1000));
        let (_, message) = parse_error_body(400, &long, None);
        assert!(message.len() < 320 && message.ends_with("..."), "{message}");
    }

    #[test]
    fn clock_skew_names_both_times() {
        let server = now() + Duration::from_secs(3600);
        let f = failure(
            400,
            r#"{"__type":"InvalidSignatureException","message":"Signature expired: 20231114T221320Z is now earlier than ..."}"#,
            Some(server),
        );
        let e = explain(&f, &CTX, now());
        assert!(
            e.to_string().contains("clock")
                && e.to_string().contains("2023-11-14T22:13:20Z")
                && e.to_string().contains("2023-11-14T23:13:20Z"),
            "{e}"
        );
        assert!(e.to_string().contains("off by 3600 s"), "{e}");
        // A signature error with a far-off server clock is skew too.
        let f = failure(
            403,
            "<Error><Code>SignatureDoesNotMatch</Code></Error>",
            Some(server),
        );
        assert!(explain(&f, &CTX, now()).to_string().contains("clock"));
    }

    #[test]
    fn each_mapped_error() {
        let e = explain(
            &failure(
                403,
                "<Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>",
                Some(now()),
            ),
            &CTX,
            now(),
        );
        assert!(
            e.to_string()
                .contains("secret access key is wrong for key id AKIAEXAMPLE")
                && e.to_string().contains("SignatureDoesNotMatch"),
            "{e}"
        );
        let e = explain(&failure(403, "<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/u is not authorized to perform: ecr:GetAuthorizationToken</Message></Error>", None), &CTX, now());
        assert!(
            e.to_string().contains("access denied")
                && e.to_string().contains("grant ecr:GetAuthorizationToken")
                && e.to_string().contains("user/u"),
            "{e}"
        );
        let e = explain(
            &failure(
                400,
                r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#,
                None,
            ),
            &CTX,
            now(),
        );
        assert!(
            e.to_string()
                .contains("session token for key id AKIAEXAMPLE has expired"),
            "{e}"
        );
        let e = explain(
            &failure(
                400,
                r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
                None,
            ),
            &CTX,
            now(),
        );
        assert!(
            e.to_string().contains("does not know these credentials"),
            "{e}"
        );
        let e = explain(
            &failure(
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                None,
            ),
            &CTX,
            now(),
        );
        assert!(
            e.to_string().contains("throttled") && e.to_string().contains("3 attempts"),
            "{e}"
        );
        let e = explain(&failure(503, "", None), &CTX, now());
        assert!(e.to_string().contains("HTTP 503 after 3 attempts"), "{e}");
        let e = explain(
            &failure(
                400,
                r#"{"__type":"RepositoryNotFoundException","message":"The repository with name 'x' does not exist"}"#,
                None,
            ),
            &CTX,
            now(),
        );
        assert_eq!(e.to_string(), "ECR GetAuthorizationToken failed: RepositoryNotFoundException: The repository with name 'x' does not exist (HTTP 400)");
        assert!(!e.to_string().contains('\n'));
    }
}
