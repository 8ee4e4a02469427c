//! Dates without a date crate: RFC 3339 in UTC (manifest `created`, token
//! expiry, AWS JSON and XML), epoch seconds and milliseconds, and the HTTP
//! date (`Date`, `Retry-After`). A leaf: depends on nothing else in the crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (negative allowed).
pub fn rfc3339(epoch_secs: i64) -> String {
    let days = epoch_secs.div_euclid(86_400);
    let secs = epoch_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// [`rfc3339`] of a `SystemTime`, whole seconds.
pub fn rfc3339_system(t: SystemTime) -> String {
    rfc3339(epoch_secs(t))
}

/// Whole seconds since the Unix epoch, negative before it.
pub fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// None when the platform's `SystemTime` cannot hold the instant.
pub fn from_epoch_secs(secs: i64) -> Option<SystemTime> {
    at_epoch(secs, 0)
}

/// Epoch seconds as JSON numbers carry them (ECR's `expiresAt` may be a float).
pub fn from_epoch_f64(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() {
        return None;
    }
    at_epoch(secs.floor() as i64, ((secs - secs.floor()) * 1e9) as u32)
}

pub fn from_epoch_millis(ms: i64) -> Option<SystemTime> {
    at_epoch(
        ms.div_euclid(1000),
        (ms.rem_euclid(1000) * 1_000_000) as u32,
    )
}

/// `secs` whole seconds (floor, so negative for instants before the epoch)
/// plus `nanos` (< 1e9) forward from there.
fn at_epoch(secs: i64, nanos: u32) -> Option<SystemTime> {
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))?
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))?
    };
    whole.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// RFC 3339 / ISO 8601 timestamps: `2024-01-02T03:04:05Z`, with optional
/// fraction and `+hh:mm` offset; also the `...UTC` suffix older AWS CLI
/// versions wrote into the SSO cache.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if s.len() < 19 || !s.as_bytes()[..19].is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut parts = date.split('-');
    let (y, mo, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (hms, mut tail) = rest.split_at(8);
    let secs = civil_secs(num(y)?, num(mo)?, num(d)?, hms)?;
    let mut nanos = 0u32;
    if let Some(frac) = tail.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let digits = &frac[..end.min(9)];
        if digits.is_empty() {
            return None;
        }
        nanos = num(digits)? * 10u32.pow(9 - digits.len() as u32);
        tail = &frac[end..];
    }
    let offset: i64 = match tail {
        "Z" | "z" | "UTC" | "" => 0,
        _ => {
            let sign = match tail.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = tail[1..].split_once(':')?;
            sign * (i64::from(num(oh)?) * 3600 + i64::from(num(om)?) * 60)
        }
    };
    at_epoch(secs - offset, nanos)
}

/// The HTTP date (RFC 9110 section 5.6.7 IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`), as in `Date` and `Retry-After`.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut it = s.split_whitespace();
    let _weekday = it.next()?;
    let d = num(it.next()?)?;
    let mon = it.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = num(it.next()?)?;
    let hms = it.next()?;
    if it.next()? != "GMT" {
        return None;
    }
    at_epoch(civil_secs(y, m, d, hms)?, 0)
}

/// Seconds since the epoch for a UTC date and an `HH:MM:SS` time, None when
/// a field is out of range (a leap second, 60, is allowed).
fn civil_secs(y: u32, m: u32, d: u32, hms: &str) -> Option<i64> {
    let mut parts = hms.split(':');
    let (h, mi, se) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if parts.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    Some(
        days_from_civil(i64::from(y), m, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(se),
    )
}

/// Unsigned decimal digits only (no sign, no spaces).
fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        from_epoch_secs(secs).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339_system(at(1420070400)), "2015-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(at(0)));
        assert_eq!(parse_rfc3339("2015-01-01T00:00:00Z"), Some(at(1420070400)));
        assert_eq!(
            parse_rfc3339("2015-01-01T00:00:00UTC"),
            Some(at(1420070400))
        );
        assert_eq!(
            parse_rfc3339("2015-01-01T02:00:00+02:00"),
            Some(at(1420070400))
        );
        assert_eq!(
            parse_rfc3339("2015-01-01T00:00:00.5Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1420070400500))
        );
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(at(1709208000)));
        for bad in [
            "",
            "2015-01-01",
            "2015-13-01T00:00:00Z",
            "2015-01-01T00:00:00X",
            "x015-01-01T00:00:00Z",
            "2015-01-01T24:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        for s in [-86_401, 0, 1420070400, 1709208000, 4102444800] {
            assert_eq!(parse_rfc3339(&rfc3339_system(at(s))), Some(at(s)));
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784111777))
        );
        for bad in [
            "garbage",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn epochs() {
        assert_eq!(
            from_epoch_millis(1_500),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(
            from_epoch_f64(1.5),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(from_epoch_f64(f64::NAN), None);
        assert_eq!(epoch_secs(at(42)), 42);
        assert_eq!(epoch_secs(at(-42)), -42);
    }

    #[test]
    fn instants_before_the_epoch_keep_their_fraction() {
        assert_eq!(
            from_epoch_millis(-500),
            Some(UNIX_EPOCH - Duration::from_millis(500))
        );
        assert_eq!(
            from_epoch_f64(-1.5),
            Some(UNIX_EPOCH - Duration::from_millis(1500))
        );
    }
}
