//! AWS error replies, from real AWS (JSON `__type`/`message`, the
//! `x-amzn-ErrorType` header) and moto (XML `<Error><Code>`), turned into one
//! clear line that says what to do.

use std::time::SystemTime;

use super::Error;
use crate::clock::{epoch_secs, rfc3339_system};

/// A non-2xx answer, parsed.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    /// e.g. `AccessDeniedException`; `HTTP 503` when the body names none.
    pub code: String,
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

pub fn parse_error_body(status: u16, body: &str, error_type: Option<&str>) -> (String, String) {
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
    if code.is_empty() {
        code = format!("HTTP {status}");
    }
    (code, one_line(&message, 300))
}

/// Who asked and what for, to name them in messages.
pub struct Ctx<'a> {
    /// "ECR GetAuthorizationToken"
    pub what: &'a str,
    /// "ecr:GetAuthorizationToken"
    pub iam_action: &'a str,
    pub key_id: Option<&'a str>,
}

pub(crate) fn is_clock_skew(f: &ApiFailure, now: SystemTime) -> bool {
    let m = f.message.to_ascii_lowercase();
    let by_code = matches!(
        f.code.as_str(),
        "RequestExpired" | "RequestTimeTooSkewed" | "RequestInTheFuture"
    );
    let by_message = m.contains("signature expired") || m.contains("signature not yet current");
    let signature_problem = matches!(
        f.code.as_str(),
        "InvalidSignatureException" | "SignatureDoesNotMatch" | "AuthFailure" | "InvalidSignature"
    );
    let skewed = f
        .server_date
        .is_some_and(|d| (epoch_secs(d) - epoch_secs(now)).abs() > 5 * 60);
    by_code || by_message || (signature_problem && skewed)
}

/// One line for a failed call, saying why and what to do.
pub fn explain(f: &ApiFailure, ctx: &Ctx<'_>, now: SystemTime) -> Error {
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
    let code = f.code.as_str();
    if is_clock_skew(f, now) {
        let server = f
            .server_date
            .map(rfc3339_system)
            .unwrap_or_else(|| "unknown".into());
        let off = f
            .server_date
            .map(|d| format!(", off by {} s", (epoch_secs(now) - epoch_secs(d)).abs()))
            .unwrap_or_default();
        return Error(format!(
            "{what} was refused because this machine's clock is wrong (local time {}, AWS time {server}{off}): set the system clock (e.g. enable NTP) and retry",
            rfc3339_system(now)
        ));
    }
    let msg = match code {
        "ExpiredTokenException" | "ExpiredToken" | "TokenRefreshRequired" => format!(
            "{what}: the AWS session token{key} has expired: get fresh credentials (renew the role session, run `aws sso login`, or refresh the environment) and retry"
        ),
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" | "AuthorizationError" => format!(
            "{what}: access denied: these credentials{key} may not call {}{said}: grant {} to this identity in IAM (or the repository policy)",
            ctx.iam_action, ctx.iam_action
        ),
        "SignatureDoesNotMatch" | "InvalidSignatureException" | "IncompleteSignature" | "InvalidSignature" => format!(
            "{what}: the request signature does not match ({code}): the secret access key is wrong{key}: check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key"
        ),
        "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidAccessKeyId" | "MissingAuthenticationToken" => format!(
            "{what}: AWS does not know these credentials ({code}){key}: the access key id or session token is wrong or revoked; check your AWS credentials"
        ),
        c if RETRY_SUMMARY_CODES.contains(&c) || f.status == 429 => format!(
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
    Error(msg)
}

const RETRY_SUMMARY_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];

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

    const CTX: Ctx<'static> = Ctx {
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
            ("RepositoryNotFoundException".into(), "nope".into())
        );
        assert_eq!(
            parse_error_body(
                400,
                r#"{"__type":"AccessDeniedException:http://internal.amazon.com/","Message":"m"}"#,
                None
            ),
            ("AccessDeniedException".into(), "m".into())
        );
        let xml = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>";
        assert_eq!(parse_error_body(403, xml, None).0, "SignatureDoesNotMatch");
        assert_eq!(
            parse_error_body(403, "", Some("AccessDeniedException:x")).0,
            "AccessDeniedException"
        );
        assert_eq!(
            parse_error_body(502, "<html>bad gateway", None).0,
            "HTTP 502"
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
        assert_eq!(code, "Signature DoesNotMatch");
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
            e.0.contains("clock")
                && e.0.contains("2023-11-14T22:13:20Z")
                && e.0.contains("2023-11-14T23:13:20Z"),
            "{e}"
        );
        assert!(e.0.contains("off by 3600 s"), "{e}");
        // A signature error with a far-off server clock is skew too.
        let f = failure(
            403,
            "<Error><Code>SignatureDoesNotMatch</Code></Error>",
            Some(server),
        );
        assert!(explain(&f, &CTX, now()).0.contains("clock"));
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
            e.0.contains("secret access key is wrong for key id AKIAEXAMPLE")
                && e.0.contains("SignatureDoesNotMatch"),
            "{e}"
        );
        let e = explain(&failure(403, "<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/u is not authorized to perform: ecr:GetAuthorizationToken</Message></Error>", None), &CTX, now());
        assert!(
            e.0.contains("access denied")
                && e.0.contains("grant ecr:GetAuthorizationToken")
                && e.0.contains("user/u"),
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
            e.0.contains("session token for key id AKIAEXAMPLE has expired"),
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
        assert!(e.0.contains("does not know these credentials"), "{e}");
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
            e.0.contains("throttled") && e.0.contains("3 attempts"),
            "{e}"
        );
        let e = explain(&failure(503, "", None), &CTX, now());
        assert!(e.0.contains("HTTP 503 after 3 attempts"), "{e}");
        let e = explain(
            &failure(
                400,
                r#"{"__type":"RepositoryNotFoundException","message":"The repository with name 'x' does not exist"}"#,
                None,
            ),
            &CTX,
            now(),
        );
        assert_eq!(e.0, "ECR GetAuthorizationToken failed: RepositoryNotFoundException: The repository with name 'x' does not exist (HTTP 400)");
        assert!(!e.0.contains('\n'));
    }
}
