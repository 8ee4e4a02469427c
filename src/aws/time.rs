//! The few date formats AWS speaks (RFC 3339 in JSON and XML, epoch seconds
//! and milliseconds, the HTTP Date header), without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn from_epoch_secs(secs: i64, nanos: u32) -> Option<SystemTime> {
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        UNIX_EPOCH.checked_sub(Duration::new(secs.unsigned_abs(), 0))
    }
}

pub fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Epoch seconds as JSON numbers carry them (ECR's `expiresAt` may be a float).
pub fn from_epoch_f64(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() {
        return None;
    }
    from_epoch_secs(secs.floor() as i64, ((secs - secs.floor()) * 1e9) as u32)
}

pub fn from_epoch_millis(ms: i64) -> Option<SystemTime> {
    from_epoch_secs(
        ms.div_euclid(1000),
        (ms.rem_euclid(1000) * 1_000_000) as u32,
    )
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
    let (y, mo, d) = (num(y)?, num(mo)?, num(d)?);
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (hms, mut tail) = rest.split_at(8);
    let mut hp = hms.split(':');
    let (h, mi, se) = (num(hp.next()?)?, num(hp.next()?)?, num(hp.next()?)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
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
    let secs = days_from_civil(i64::from(y), mo, d) * 86400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(se)
        - offset;
    from_epoch_secs(secs, nanos)
}

pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = epoch_secs(t);
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The HTTP Date header (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 7231 IMF-fixdate).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let mut it = s.split_whitespace();
    let _weekday = it.next()?;
    let d = num(it.next()?)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = it.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = num(it.next()?)?;
    let mut hms = it.next()?.split(':');
    let (h, mi, se) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    let secs = days_from_civil(i64::from(y), m, d) * 86400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(se);
    from_epoch_secs(secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        from_epoch_secs(secs, 0).unwrap()
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
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        for s in [0, 1420070400, 1709208000, 4102444800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(at(s))), Some(at(s)));
        }
        assert_eq!(format_rfc3339(at(1420070400)), "2015-01-01T00:00:00Z");
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784111777))
        );
        assert_eq!(parse_http_date("garbage"), None);
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
        assert_eq!(epoch_secs(at(42)), 42);
    }
}
