//! Dates, one name for each form we meet: RFC 3339 in UTC (manifest
//! `created`, token expiry, AWS JSON and XML), epoch seconds and
//! milliseconds, and the HTTP date (`Date`, `Retry-After`). The calendar and
//! the grammars are the `time` crate's (already in the tree through
//! aws-sigv4); what stays here is the tolerance AWS's files need. A leaf:
//! depends on nothing else in the crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (negative
/// allowed; clamped to the years -9999..=9999 `time` can hold, far past
/// anything a chart or a token carries).
pub fn rfc3339(epoch_secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(epoch_secs).unwrap_or(if epoch_secs < 0 {
        PrimitiveDateTime::MIN.assume_utc()
    } else {
        PrimitiveDateTime::MAX.assume_utc()
    });
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
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
/// fraction and `+hh:mm` offset; `T`, `t` or a space between date and time;
/// also the `...UTC` suffix older AWS CLI versions wrote into the SSO cache,
/// and no offset at all (UTC), as some `credential_process` tools write.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let body = s.strip_suffix("UTC").unwrap_or(s);
    // `time` accepts any separator byte (RFC 3339 section 5.6 allows it);
    // ISO 8601 and AWS only ever write these three.
    if !matches!(body.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let has_offset = body
        .get(19..)
        .is_some_and(|tail| tail.contains(['Z', 'z', '+', '-']));
    let t = if has_offset {
        OffsetDateTime::parse(body, &Rfc3339)
    } else {
        OffsetDateTime::parse(&format!("{body}Z"), &Rfc3339)
    };
    Some(t.ok()?.into())
}

/// The HTTP date (RFC 9110 section 5.6.7 IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`), as in `Date` and `Retry-After`.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    const IMF_FIXDATE: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!(
            "[weekday repr:short case_sensitive:false], [day] [month repr:short case_sensitive:false] [year] [hour]:[minute]:[second] GMT"
        );
    let t = PrimitiveDateTime::parse(s.trim(), IMF_FIXDATE).ok()?;
    Some(t.assume_utc().into())
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
        // Beyond the years `time` holds: clamped, never a panic.
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert!(rfc3339(i64::MIN).starts_with("-9999-01-01"));
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
        // The forms AWS tools write besides the strict one.
        for same in [
            "2015-01-01 00:00:00Z",
            "2015-01-01t00:00:00z",
            "2015-01-01T00:00:00",
            " 2015-01-01T00:00:00Z\n",
            "2014-12-31T19:00:00-05:00",
        ] {
            assert_eq!(parse_rfc3339(same), Some(at(1420070400)), "{same}");
        }
        assert_eq!(
            parse_rfc3339("2015-01-01T00:00:00.123456789123Z"),
            Some(UNIX_EPOCH + Duration::from_nanos(1_420_070_400_123_456_789))
        );
        for bad in [
            "",
            "2015-01-01",
            "2015-13-01T00:00:00Z",
            "2015-01-01T00:00:00X",
            "x015-01-01T00:00:00Z",
            "2015-01-01T24:00:00Z",
            "2015-01-01X00:00:00Z",
            "2015-01-01T00:00:00.Z",
            "2015-01-01T00:00:00+0200",
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
        assert_eq!(
            parse_http_date("sun, 06 NOV 1994 08:49:37 GMT"),
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
