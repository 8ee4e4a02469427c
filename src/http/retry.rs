//! When to try a request again and how long to wait first. Pure decisions:
//! the caller supplies the failure, the attempt number and the randomness.

use std::time::{Duration, SystemTime};

/// How the random part of a back-off is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// At least half the exponential step, plus a random rest (registry
    /// pushes: retries keep spreading out).
    Equal,
    /// Anywhere from zero to the step: the AWS SDKs' standard mode.
    Full,
}

/// Bounded exponential back-off with jitter: one policy for every protocol
/// (the registry and the AWS APIs); each protocol only says which failures
/// are transient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Back-off before the first retry (before jitter).
    pub base: Duration,
    /// Longest back-off between two attempts.
    pub cap: Duration,
    /// A Retry-After longer than this is not waited for: the caller gives up
    /// with a clear error instead of hanging for minutes.
    pub max_retry_after: Duration,
    pub jitter: Jitter,
}

impl RetryPolicy {
    /// The default policy with every duration multiplied by `scale`
    /// (HELM_ECR_RETRY_SCALE), so fault tests can run it in milliseconds.
    pub fn scaled(scale: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: scale_duration(Duration::from_millis(250), scale),
            cap: scale_duration(Duration::from_secs(8), scale),
            max_retry_after: scale_duration(Duration::from_secs(60), scale),
            jitter: Jitter::Equal,
        }
    }

    /// The AWS SDKs' standard retry mode: `max_attempts` in all (3 unless
    /// AWS_MAX_ATTEMPTS or the profile's `max_attempts` say otherwise),
    /// full-jitter back-off `rand * min(1 s * 2^n, 20 s)`, durations
    /// multiplied by `scale` (HELM_ECR_RETRY_SCALE).
    pub fn aws_standard(max_attempts: u32, scale: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base: scale_duration(Duration::from_secs(1), scale),
            cap: scale_duration(Duration::from_secs(20), scale),
            max_retry_after: Duration::ZERO,
            jitter: Jitter::Full,
        }
    }

    /// The wait before the attempt after `attempt` (1-based) failed, or None
    /// to give up. `retry_after` is the server's wish, already scaled;
    /// `jitter` is uniform in [0, 1).
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(wait) = retry_after {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        Some(match self.jitter {
            // At least half the step, so retries keep spreading out, and a
            // random rest so parallel clients do not march in lock step.
            Jitter::Equal => {
                let half = exp / 2;
                half + half.mul_f64(jitter)
            }
            Jitter::Full => exp.mul_f64(jitter),
        })
    }
}

pub fn scale_duration(d: Duration, scale: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * scale).unwrap_or(d)
}

/// Statuses that say "not now" rather than "no": throttling, timeouts and
/// server-side failures.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After`: delta seconds or an HTTP date (RFC 9110 section 10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = crate::clock::parse_http_date(value)?;
    // Whole seconds, as the header has them; a date already past means now.
    let wait = crate::clock::epoch_secs(at) - crate::clock::epoch_secs(now);
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// A number in [0, 1) for jitter. Not cryptographic: seeded per thread from
/// the clock, the process id and the thread id, which is all jitter needs.
pub fn jitter() -> f64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hash, Hasher};
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            SystemTime::now().hash(&mut h);
            std::process::id().hash(&mut h);
            std::thread::current().id().hash(&mut h);
            x = h.finish() | 1;
        }
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn policy() -> RetryPolicy {
        RetryPolicy::scaled(1.0)
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        assert_eq!(p.next_delay(1, None, 0.0), Some(Duration::from_millis(125)));
        let top = p.next_delay(1, None, 0.999_999).unwrap();
        assert!(top > Duration::from_micros(249_990) && top < Duration::from_millis(250));
        assert_eq!(p.next_delay(2, None, 0.0), Some(Duration::from_millis(250)));
        assert_eq!(p.next_delay(3, None, 0.0), Some(Duration::from_millis(500)));
        let capped = RetryPolicy {
            max_attempts: 40,
            ..p
        };
        assert_eq!(
            capped.next_delay(30, None, 0.0),
            Some(Duration::from_secs(4))
        );
        assert!(capped.next_delay(30, None, 0.99).unwrap() < Duration::from_secs(8));
    }

    #[test]
    fn aws_standard_is_full_jitter_capped_at_20_s() {
        let p = RetryPolicy::aws_standard(3, 1.0);
        assert_eq!(p.next_delay(1, None, 0.0), Some(Duration::ZERO));
        assert_eq!(p.next_delay(1, None, 0.5), Some(Duration::from_millis(500)));
        assert_eq!(p.next_delay(2, None, 0.5), Some(Duration::from_secs(1)));
        assert_eq!(p.next_delay(3, None, 0.5), None, "3 attempts in all");
        let many = RetryPolicy::aws_standard(40, 1.0);
        assert_eq!(many.next_delay(5, None, 1.0), Some(Duration::from_secs(16)));
        assert_eq!(many.next_delay(6, None, 1.0), Some(Duration::from_secs(20)));
        assert_eq!(
            many.next_delay(30, None, 0.5),
            Some(Duration::from_secs(10))
        );
        let scaled = RetryPolicy::aws_standard(3, 0.01);
        assert_eq!(
            scaled.next_delay(2, None, 0.5),
            Some(Duration::from_millis(10))
        );
        assert_eq!(RetryPolicy::aws_standard(0, 1.0).max_attempts, 1);
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let p = policy();
        assert!(p.next_delay(4, None, 0.5).is_some());
        assert_eq!(p.next_delay(5, None, 0.5), None);
    }

    #[test]
    fn honours_retry_after_within_bound() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(3)), 0.0),
            Some(Duration::from_secs(3))
        );
        assert_eq!(p.next_delay(1, Some(Duration::from_secs(61)), 0.0), None);
    }

    #[test]
    fn scale_shrinks_everything() {
        let p = RetryPolicy::scaled(0.01);
        assert_eq!(p.base, Duration::from_micros(2500));
        assert_eq!(p.max_retry_after, Duration::from_millis(600));
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 501] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                now + Duration::from_secs(60)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now),
            None
        );
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let xs: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }
}
