//! One AWS API call over the shared HTTP client: sign each attempt afresh,
//! bound every request in time, retry throttling and server errors with
//! capped exponential back-off, and hand back the reply or a parsed failure.

use std::time::{Duration, Instant, SystemTime};

use super::env::Env;
use super::errors::{parse_error_body, ApiFailure};
use super::sign::{sign_headers, Signer};
use super::Error;

pub struct Call<'a> {
    pub method: &'a str,
    pub url: String,
    /// Sent, and signed when `signer` is set.
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
    pub signer: Option<Signer<'a>>,
    /// For messages and debug traces, e.g. "ECR GetAuthorizationToken".
    pub what: &'a str,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_attempts: u32,
    /// Link-local services (IMDS, the container agent) must not go through
    /// HTTPS_PROXY.
    pub direct: bool,
}

impl<'a> Call<'a> {
    pub fn new(method: &'a str, url: String, what: &'a str, env: &Env) -> Call<'a> {
        let scale = env.scale("HELM_ECR_TIMEOUT_SCALE");
        Call {
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
            signer: None,
            what,
            timeout: scaled(Duration::from_secs(30), scale),
            connect_timeout: scaled(Duration::from_secs(10), scale),
            max_attempts: 3,
            direct: false,
        }
    }
}

fn scaled(d: Duration, scale: f64) -> Duration {
    d.mul_f64(scale).max(Duration::from_millis(1))
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

pub enum Failure {
    /// No HTTP answer: refused, reset, timed out, DNS, TLS.
    Transport(String),
    Api(ApiFailure),
}

impl Failure {
    /// A failure with no AWS-specific meaning, as one line.
    pub fn into_error(self, what: &str) -> Error {
        match self {
            Failure::Transport(m) => Error(m),
            Failure::Api(f) => Error(format!(
                "{what} failed: {}{} (HTTP {})",
                f.code,
                if f.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", f.message)
                },
                f.status
            )),
        }
    }
}

const RETRYABLE_CODES: [&str; 14] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "InternalError",
    "ServiceUnavailable",
];

fn retryable(f: &Failure) -> bool {
    match f {
        Failure::Transport(_) => true,
        Failure::Api(a) => {
            a.status >= 500 || a.status == 429 || RETRYABLE_CODES.contains(&a.code.as_str())
        }
    }
}

/// Capped exponential back-off with jitter; HELM_ECR_RETRY_SCALE scales it
/// (tests set it near 0).
pub fn backoff(attempt: u32, scale: f64) -> Duration {
    let base = 0.25 * f64::from(1u32 << attempt.min(6));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = 0.5 + f64::from(nanos % 1000) / 2000.0;
    Duration::from_secs_f64((base * jitter).min(10.0) * scale)
}

/// Send with retries. Ok only for 2xx.
pub fn call(http: &crate::http::Http, env: &Env, c: &Call<'_>) -> Result<Reply, Failure> {
    let scale = env.scale("HELM_ECR_RETRY_SCALE");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = once(http, c);
        match result {
            Err(f) if attempt < c.max_attempts && retryable(&f) => {
                std::thread::sleep(backoff(attempt, scale));
            }
            Err(Failure::Api(mut a)) => {
                a.attempts = attempt;
                return Err(Failure::Api(a));
            }
            other => return other,
        }
    }
}

fn once(http: &crate::http::Http, c: &Call<'_>) -> Result<Reply, Failure> {
    let host = super::endpoint::url_host(&c.url);
    let mut builder = ureq::http::Request::builder().method(c.method).uri(&c.url);
    for (k, v) in &c.headers {
        builder = builder.header(*k, v.as_str());
    }
    if let Some(signer) = &c.signer {
        let pairs: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed = sign_headers(signer, c.method, &c.url, &pairs, &c.body, SystemTime::now())
            .map_err(|e| Failure::Transport(e.0))?;
        for (k, v) in signed {
            builder = builder.header(k, v);
        }
    }
    let request = builder
        .body(c.body.clone())
        .map_err(|e| Failure::Transport(format!("invalid request to {}: {e}", c.url)))?;
    // Per URL: NO_PROXY and loopback endpoints (the lab, VPC endpoints) go direct.
    let agent = http.agent_for(&c.url);
    let mut cfg = agent
        .configure_request(request)
        .http_status_as_error(false)
        .timeout_global(Some(c.timeout))
        .timeout_connect(Some(c.connect_timeout));
    if c.direct {
        cfg = cfg.proxy(None);
    }
    let request = cfg.build();
    let started = Instant::now();
    let response = agent.run(request);
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            trace(http, c, "failed", started);
            return Err(Failure::Transport(transport_message(c, host, &e)));
        }
    };
    let status = response.status().as_u16();
    trace(http, c, &status.to_string(), started);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let date = header("date");
    let error_type = header("x-amzn-errortype");
    let body = response
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| Failure::Transport(transport_message(c, host, &e)))?;
    if (200..300).contains(&status) {
        return Ok(Reply { status, body });
    }
    let (code, message) = parse_error_body(status, &body, error_type.as_deref());
    Err(Failure::Api(ApiFailure {
        status,
        code,
        message,
        server_date: date.as_deref().and_then(crate::clock::parse_http_date),
        attempts: 1,
    }))
}

fn transport_message(c: &Call<'_>, host: &str, e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!(
            "{} timed out talking to {host} after {:?}: check the network, proxy settings and the endpoint",
            c.what, c.timeout
        ),
        ureq::Error::ConnectionFailed | ureq::Error::Io(_) | ureq::Error::HostNotFound => format!(
            "{} cannot reach {host}: {e}: check the network, proxy settings and the endpoint",
            c.what
        ),
        _ => format!("{} failed talking to {host}: {e}", c.what),
    }
}

fn trace(http: &crate::http::Http, c: &Call<'_>, outcome: &str, started: Instant) {
    if http.options.debug {
        // URL, action and status only: headers and bodies carry secrets.
        eprintln!(
            "helm-ecr: aws: {} {} ({}) -> {outcome} in {} ms",
            c.method,
            c.url.split('?').next().unwrap_or(&c.url),
            c.what,
            started.elapsed().as_millis()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_scales() {
        assert!(backoff(1, 1.0) <= Duration::from_millis(500));
        assert!(backoff(1, 1.0) >= Duration::from_millis(250));
        assert!(backoff(3, 1.0) >= Duration::from_secs(1));
        assert!(backoff(30, 1.0) <= Duration::from_secs(10));
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn what_is_retried() {
        let api = |status, code: &str| {
            Failure::Api(ApiFailure {
                status,
                code: code.into(),
                message: String::new(),
                server_date: None,
                attempts: 1,
            })
        };
        assert!(retryable(&api(400, "ThrottlingException")));
        assert!(retryable(&api(503, "ServiceUnavailable")));
        assert!(retryable(&api(500, "")));
        assert!(retryable(&api(429, "")));
        assert!(retryable(&Failure::Transport("reset".into())));
        assert!(!retryable(&api(400, "AccessDeniedException")));
        assert!(!retryable(&api(403, "SignatureDoesNotMatch")));
    }
}
