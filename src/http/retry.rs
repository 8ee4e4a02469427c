//! When to try a request again and how long to wait first: one policy and
//! one loop ([`RetryPolicy::run`]) for every protocol. Each protocol only
//! classifies its failures ([`Decision`]): the registry in `oci::error`, the
//! AWS APIs in `aws::transport`, transport failures in `http::failure`.

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

/// What a protocol makes of one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No other attempt will go better.
    Final,
    /// Worth another attempt after the back-off, or after the server's
    /// wish (already scaled) when it said one.
    Retry { after: Option<Duration> },
    /// Try again at once, outside the budget's back-off (a request re-signed
    /// with the server's clock); still counts as an attempt.
    AtOnce,
}

/// Why [`RetryPolicy::run`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The failure was final.
    Final,
    /// Every attempt the policy allows was made.
    Spent,
    /// The server asked to wait longer than the policy waits.
    WaitTooLong(Duration),
}

/// The last failure of [`RetryPolicy::run`], after `attempts` attempts.
#[derive(Debug)]
pub struct GaveUp<E> {
    pub error: E,
    pub attempts: u32,
    pub stop: Stop,
}

impl RetryPolicy {
    /// Run `attempt` until it succeeds, `decide` calls its failure final, or
    /// the policy gives up; `on_wait` hears of each back-off before it is
    /// slept.
    pub fn run<T, E>(
        &self,
        mut attempt: impl FnMut() -> Result<T, E>,
        mut decide: impl FnMut(&E) -> Decision,
        mut on_wait: impl FnMut(&E, u32, Duration),
    ) -> Result<T, GaveUp<E>> {
        let mut attempts = 1;
        loop {
            let error = match attempt() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let gave_up = |error, stop| GaveUp {
                error,
                attempts,
                stop,
            };
            let after = match decide(&error) {
                Decision::Final => return Err(gave_up(error, Stop::Final)),
                Decision::AtOnce => {
                    attempts += 1;
                    continue;
                }
                Decision::Retry { after } => after,
            };
            match self.next_delay(attempts, after, jitter()) {
                Some(delay) => {
                    on_wait(&error, attempts, delay);
                    std::thread::sleep(delay);
                    attempts += 1;
                }
                None => {
                    let stop = match after {
                        Some(a) if a > self.max_retry_after => Stop::WaitTooLong(a),
                        _ => Stop::Spent,
                    };
                    return Err(gave_up(error, stop));
                }
            }
        }
    }
}

pub fn scale_duration(d: Duration, scale: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * scale).unwrap_or(d)
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

    #[test]
    fn run_counts_attempts_and_says_why_it_stopped() {
        let p = RetryPolicy::scaled(0.0001);
        let mut n = 0;
        let spent = p.run(
            || -> Result<(), u32> {
                n += 1;
                Err(n)
            },
            |_| Decision::Retry { after: None },
            |_, _, _| {},
        );
        let g = spent.unwrap_err();
        assert_eq!((g.error, g.attempts, g.stop), (5, 5, Stop::Spent));
        let final_ = p.run(|| Err::<(), _>(()), |_| Decision::Final, |_, _, _| {});
        assert_eq!(final_.unwrap_err().stop, Stop::Final);
        let long = Duration::from_secs(3600);
        let wait = p.run(
            || Err::<(), _>(()),
            |_| Decision::Retry { after: Some(long) },
            |_, _, _| {},
        );
        let g = wait.unwrap_err();
        assert_eq!((g.attempts, g.stop), (1, Stop::WaitTooLong(long)));
        // At once: another attempt, counted, without waiting.
        let mut n = 0;
        let mut waits = 0;
        let ok = p.run(
            || {
                n += 1;
                if n < 3 {
                    Err(n)
                } else {
                    Ok(n)
                }
            },
            |_| Decision::AtOnce,
            |_, _, _| waits += 1,
        );
        assert_eq!((ok.unwrap(), waits), (3, 0));
    }
}
