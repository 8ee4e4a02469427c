//! One AWS API call over the shared HTTP client: sign each attempt afresh,
//! bound every request in time, retry as the SDKs' standard mode does
//! (transient failures only, full-jitter back-off from the one
//! `http::RetryPolicy`, AWS_MAX_ATTEMPTS / `max_attempts`, each retry
//! drawn from the session's [`RetryQuota`]), re-sign once
//! with the server's clock after a clock-skew refusal, and hand back the
//! reply or a parsed failure.

use std::time::{Duration, Instant, SystemTime};

use super::env::Env;
use super::errors::{explain, parse_error_body, ApiFailure, Caller};
use super::sign::{sign_headers, Signer};
use super::Error;
use crate::http::retry::{Decision, RetryPolicy};
use std::cell::Cell;

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
            max_attempts: max_attempts(env).unwrap_or(DEFAULT_MAX_ATTEMPTS),
            direct: false,
        }
    }
}

/// The SDKs' default for the standard retry mode.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The standard retry mode's retry quota: a bucket of 500 that each retry
/// draws 5 from (10 after a timeout) and each success refills, by what its
/// last retry drew or by 1 when it needed none. While a service keeps
/// failing, a command's many calls stop retrying instead of multiplying
/// the load; the failure is then reported at once. One per session (the
/// SDKs keep one per client).
#[derive(Debug)]
pub struct RetryQuota {
    left: std::sync::Mutex<u32>,
}

impl RetryQuota {
    pub const CAPACITY: u32 = 500;
    pub const RETRY_COST: u32 = 5;
    pub const TIMEOUT_COST: u32 = 10;
    const NO_RETRY_INCREMENT: u32 = 1;

    pub fn new() -> RetryQuota {
        RetryQuota {
            left: std::sync::Mutex::new(Self::CAPACITY),
        }
    }

    /// Takes `cost` for one retry; false (nothing taken) when too little is left.
    pub fn acquire(&self, cost: u32) -> bool {
        let mut left = crate::sync::lock(&self.left);
        let ok = *left >= cost;
        if ok {
            *left -= cost;
        }
        ok
    }

    /// After a success: gives back what its last retry took, or the small
    /// reward of a call that needed none.
    pub fn release(&self, last_retry_cost: Option<u32>) {
        let mut left = crate::sync::lock(&self.left);
        let amount = last_retry_cost.unwrap_or(Self::NO_RETRY_INCREMENT);
        *left = (*left + amount).min(Self::CAPACITY);
    }

    pub fn left(&self) -> u32 {
        *crate::sync::lock(&self.left)
    }
}

impl Default for RetryQuota {
    fn default() -> RetryQuota {
        RetryQuota::new()
    }
}

/// AWS_MAX_ATTEMPTS (the session fills it from the profile's `max_attempts`
/// when the environment has none); None when unset. Invalid values are
/// refused when the session is made ([`check_retry_settings`]).
pub fn max_attempts(env: &Env) -> Option<u32> {
    env.get("AWS_MAX_ATTEMPTS")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
}

/// `max_attempts` must be a whole number from 1, and `retry_mode` one the
/// SDKs know (standard; legacy and adaptive are accepted and retried the
/// standard way).
pub fn check_retry_settings(
    attempts: Option<(&str, &str)>,
    mode: Option<(&str, &str)>,
) -> Result<(), Error> {
    if let Some((from, v)) = attempts {
        if !v.trim().parse::<u32>().is_ok_and(|n| n > 0) {
            return Err(Error::Config(format!(
                "{from} {v:?} is not a number of attempts: use a whole number from 1 (3 is the default)"
            )));
        }
    }
    if let Some((from, v)) = mode {
        let v = v.trim();
        if !["standard", "legacy", "adaptive"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(v))
        {
            return Err(Error::Config(format!(
                "{from} {v:?} is not a retry mode: use standard, adaptive or legacy"
            )));
        }
    }
    Ok(())
}

fn scaled(d: Duration, scale: f64) -> Duration {
    d.mul_f64(scale).max(Duration::from_millis(1))
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

pub enum Failure {
    /// No HTTP answer: refused, reset, timed out, DNS, TLS, or the request
    /// could not be built or signed. `transient`: worth another attempt.
    Transport {
        message: String,
        transient: bool,
        /// A timeout, which costs the retry quota more than other failures.
        timed_out: bool,
    },
    Api(ApiFailure),
}

impl Failure {
    fn permanent(message: String) -> Failure {
        Failure::Transport {
            message,
            transient: false,
            timed_out: false,
        }
    }

    fn transport(c: &Call<'_>, host: &str, e: &ureq::Error) -> Failure {
        Failure::Transport {
            message: transport_message(c, host, e),
            transient: crate::http::is_retryable_error(e),
            timed_out: matches!(e, ureq::Error::Timeout(_)),
        }
    }

    /// The one line for a failed call made by `caller`: an AWS refusal
    /// explained (what to do about it), anything else as it is.
    pub fn explain(self, caller: &Caller<'_>) -> Error {
        match self {
            Failure::Api(a) => explain(&a, caller, SystemTime::now()),
            other => other.into_error(caller.what),
        }
    }

    /// A failure with no AWS-specific meaning, as one line.
    pub fn into_error(self, what: &str) -> Error {
        match self {
            Failure::Transport { message, .. } => Error::Transport(message),
            Failure::Api(f) => Error::Api {
                message: format!(
                    "{what} failed: {}{} (HTTP {})",
                    f.code,
                    if f.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", f.message)
                    },
                    f.status
                ),
                code: f.code,
                status: f.status,
            },
        }
    }
}

/// The statuses the SDKs retry whatever the code.
const RETRYABLE_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// AWS's classification for the shared retry policy: throttling and
/// transient codes, 500/502/503/504, and transport failures the HTTP layer
/// calls transient (timeouts, resets; never DNS "not found", a TLS
/// certificate problem, or a request we could not sign).
fn retryable(f: &Failure) -> bool {
    match f {
        Failure::Transport { transient, .. } => *transient,
        Failure::Api(a) => RETRYABLE_STATUSES.contains(&a.status) || a.code.is_retryable(),
    }
}

/// After a clock-skew refusal, how far the server's clock is from ours
/// (seconds to add to ours). None when it is no skew or the server sent no
/// Date header.
fn skew_offset(f: &Failure, now: SystemTime) -> Option<i64> {
    let Failure::Api(a) = f else { return None };
    let server = a.server_date?;
    if !super::errors::is_clock_skew(a, now) {
        return None;
    }
    Some(crate::clock::epoch_secs(server) - crate::clock::epoch_secs(now))
}

fn shifted(now: SystemTime, offset: i64) -> SystemTime {
    let d = Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 {
        now + d
    } else {
        now.checked_sub(d).unwrap_or(now)
    }
}

/// Send with retries (the shared policy, AWS's classification), each
/// retry drawn from `quota` when there is one. Ok only for 2xx.
pub fn call(
    http: &crate::http::Http,
    env: &Env,
    quota: Option<&RetryQuota>,
    c: &Call<'_>,
) -> Result<Reply, Failure> {
    let policy = RetryPolicy::aws_standard(c.max_attempts, env.scale("HELM_ECR_RETRY_SCALE"));
    // Seconds to add to our clock when signing; set once, from the server's
    // Date header, after a clock-skew refusal.
    let offset: Cell<Option<i64>> = Cell::new(None);
    let attempts = Cell::new(0u32);
    let last_cost: Cell<Option<u32>> = Cell::new(None);
    let attempt = || {
        attempts.set(attempts.get() + 1);
        once(http, c, offset.get().unwrap_or(0))
    };
    let decide = |failure: &Failure| {
        if offset.get().is_none() && c.signer.is_some() {
            if let Some(o) = skew_offset(failure, SystemTime::now()) {
                // As the SDKs: re-sign once with the server's time, at once.
                if http.options.debug {
                    eprintln!(
                        "helm-ecr: aws: {}: clock skew of {o} s; signing again with the server's time",
                        c.what
                    );
                }
                offset.set(Some(o));
                return Decision::AtOnce;
            }
        }
        if !retryable(failure) {
            return Decision::Final;
        }
        // The last attempt's failure stops the policy without a draw.
        if let (Some(quota), true) = (quota, attempts.get() < c.max_attempts) {
            let timed_out = matches!(
                failure,
                Failure::Transport {
                    timed_out: true,
                    ..
                }
            );
            let cost = if timed_out {
                RetryQuota::TIMEOUT_COST
            } else {
                RetryQuota::RETRY_COST
            };
            if !quota.acquire(cost) {
                if http.options.debug {
                    eprintln!(
                        "helm-ecr: aws: {}: retry quota spent ({} left); not retrying",
                        c.what,
                        quota.left()
                    );
                }
                return Decision::Final;
            }
            last_cost.set(Some(cost));
        }
        Decision::Retry { after: None }
    };
    let result = policy.run(attempt, decide, |_, _, _| {});
    if let (Some(quota), Ok(_)) = (quota, &result) {
        quota.release(last_cost.get());
    }
    result.map_err(|gave_up| match gave_up.error {
        Failure::Api(mut a) => {
            a.attempts = gave_up.attempts;
            Failure::Api(a)
        }
        other => other,
    })
}

fn once(http: &crate::http::Http, c: &Call<'_>, clock_offset: i64) -> Result<Reply, Failure> {
    let host = &crate::http::authority_of(&c.url);
    let mut builder = ureq::http::Request::builder().method(c.method).uri(&c.url);
    for (k, v) in &c.headers {
        builder = builder.header(*k, v.as_str());
    }
    if let Some(signer) = &c.signer {
        let pairs: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let time = shifted(SystemTime::now(), clock_offset);
        let signed = sign_headers(signer, c.method, &c.url, &pairs, &c.body, time)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        for (k, v) in signed {
            builder = builder.header(k, v);
        }
    }
    let request = builder
        .body(c.body.clone())
        .map_err(|e| Failure::permanent(format!("invalid request to {}: {e}", c.url)))?;
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
            return Err(Failure::transport(c, host, &e));
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
        .map_err(|e| Failure::transport(c, host, &e))?;
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
    let text = e.to_string();
    if matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || text.contains("certificate")
        || text.contains("UnknownIssuer")
    {
        return format!(
            "{} cannot trust {host}: {e}: set AWS_CA_BUNDLE to the CA that signed its certificate, or check the endpoint",
            c.what
        );
    }
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn retry_settings_are_checked() {
        assert!(
            check_retry_settings(Some(("AWS_MAX_ATTEMPTS", "5")), Some(("m", "Adaptive"))).is_ok()
        );
        assert!(check_retry_settings(None, Some(("m", "legacy"))).is_ok());
        let e = check_retry_settings(Some(("AWS_MAX_ATTEMPTS", "0")), None).unwrap_err();
        assert!(
            e.to_string().contains("AWS_MAX_ATTEMPTS \"0\"")
                && e.to_string().contains("whole number"),
            "{e}"
        );
        assert!(check_retry_settings(Some(("x", "three")), None).is_err());
        let e = check_retry_settings(None, Some(("AWS_RETRY_MODE", "eager"))).unwrap_err();
        assert!(
            e.to_string().contains("standard, adaptive or legacy"),
            "{e}"
        );
        assert_eq!(
            max_attempts(&Env::from_pairs([("AWS_MAX_ATTEMPTS", "7")])),
            Some(7)
        );
        assert_eq!(max_attempts(&Env::default()), None);
    }

    #[test]
    fn skew_offset_from_the_server_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let skew = |code: &str, date: Option<SystemTime>| {
            skew_offset(
                &Failure::Api(ApiFailure {
                    status: 403,
                    code: code.into(),
                    message: String::new(),
                    server_date: date,
                    attempts: 1,
                }),
                now,
            )
        };
        let later = now + Duration::from_secs(3600);
        assert_eq!(skew("RequestTimeTooSkewed", Some(later)), Some(3600));
        assert_eq!(
            skew(
                "InvalidSignatureException",
                Some(now - Duration::from_secs(900))
            ),
            Some(-900)
        );
        assert_eq!(skew("RequestTimeTooSkewed", None), None);
        assert_eq!(skew("AccessDeniedException", Some(later)), None);
        assert_eq!(shifted(now, -60), now - Duration::from_secs(60));
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
        assert!(retryable(&api(429, "TooManyRequestsException")));
        assert!(retryable(&api(400, "RequestTimeoutException")));
        for status in [500, 502, 503, 504] {
            assert!(retryable(&api(status, "")), "{status}");
        }
        assert!(!retryable(&api(501, "")));
        let transport = |transient| Failure::Transport {
            message: "x".into(),
            transient,
            timed_out: false,
        };
        assert!(retryable(&transport(true)));
        assert!(!retryable(&transport(false)));
        assert!(!retryable(&api(400, "AccessDeniedException")));
        assert!(!retryable(&api(403, "SignatureDoesNotMatch")));
        assert!(!retryable(&api(400, "ExpiredTokenException")));
    }

    #[test]
    fn the_quota_takes_per_retry_and_refills_per_success_up_to_its_capacity() {
        let q = RetryQuota::new();
        assert!(q.acquire(RetryQuota::TIMEOUT_COST));
        assert_eq!(q.left(), 490);
        q.release(Some(RetryQuota::TIMEOUT_COST));
        q.release(None);
        assert_eq!(q.left(), RetryQuota::CAPACITY);
        while q.acquire(RetryQuota::RETRY_COST) {}
        assert_eq!(q.left(), 0);
        q.release(None);
        q.release(None);
        assert_eq!(q.left(), 2);
        assert!(!q.acquire(RetryQuota::RETRY_COST));
        assert_eq!(q.left(), 2, "a refused draw takes nothing");
    }

    /// A server that answers every request with 503 and counts them.
    fn always_503() -> (String, Arc<AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&seen);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        (url, seen)
    }

    #[test]
    fn retries_draw_on_the_quota_and_a_spent_quota_stops_them() {
        let (url, seen) = always_503();
        let env = Env::from_pairs([("HELM_ECR_RETRY_SCALE", "0.001"), ("AWS_MAX_ATTEMPTS", "3")]);
        let http = crate::http::Http::new(crate::http::HttpOptions::default()).unwrap();
        let quota = RetryQuota::new();
        let c = Call::new("POST", url, "test call", &env);
        let attempts = |r: Result<Reply, Failure>| match r {
            Err(Failure::Api(a)) => (a.status, a.attempts),
            _ => panic!("expected a 503 refusal"),
        };
        // Three attempts, two retries drawn; the last failure draws nothing.
        assert_eq!(attempts(call(&http, &env, Some(&quota), &c)), (503, 3));
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(quota.left(), 500 - 2 * RetryQuota::RETRY_COST);
        // Too little left for one retry: one attempt, reported at once.
        while quota.left() >= RetryQuota::RETRY_COST {
            assert!(quota.acquire(1));
        }
        assert_eq!(attempts(call(&http, &env, Some(&quota), &c)), (503, 1));
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        // Without a quota (IMDS), the policy alone decides.
        assert_eq!(attempts(call(&http, &env, None, &c)), (503, 3));
        assert_eq!(seen.load(Ordering::SeqCst), 7);
    }
}
