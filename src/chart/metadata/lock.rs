//! Chart.lock and requirements.lock (Go's `chart.Lock`).

use super::super::gojson::JsonObject;
use super::super::Error;
use super::decode::{
    decode_dependencies, entries, field, is_null, scalar_string, set_string, Mismatch,
};
use super::encode::{dependencies_json, json_to_yaml};
use super::{parse_yaml, Dependency};

/// Chart.lock / requirements.lock (Go's `chart.Lock`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lock {
    /// RFC 3339 as Go re-formats it (`RFC3339Nano`).
    pub generated: String,
    pub digest: String,
    pub dependencies: Option<Vec<Option<Dependency>>>,
}

impl Lock {
    pub fn parse(text: &[u8], file: &str) -> Result<Lock, Error> {
        let doc = parse_yaml(text, file)?;
        let mut lock = Lock {
            generated: "0001-01-01T00:00:00Z".into(),
            ..Lock::default()
        };
        if is_null(&doc) {
            return Ok(lock);
        }
        let err = |e: Mismatch| Error::Decode {
            file: file.into(),
            source: e,
            hint: format!("fix {file} or run helm dependency update"),
        };
        for (key, v) in entries(&doc, "the document").map_err(err)? {
            match field(&key, &["generated", "digest", "dependencies"]) {
                Some("generated") if !is_null(&v) => {
                    let s = scalar_string(&v).unwrap_or_default();
                    lock.generated = normalize_time(&s).ok_or_else(|| {
                        err(Mismatch(format!("generated {s:?} is not an RFC 3339 time")))
                    })?;
                }
                Some("digest") => set_string(&mut lock.digest, &v, "digest").map_err(err)?,
                Some("dependencies") => {
                    lock.dependencies = if is_null(&v) {
                        None
                    } else {
                        Some(decode_dependencies(&v).map_err(err)?)
                    }
                }
                _ => {}
            }
        }
        Ok(lock)
    }

    pub fn to_yaml(&self) -> String {
        let mut o = JsonObject::default();
        o.always_str("generated", &self.generated);
        o.always_str("digest", &self.digest);
        match &self.dependencies {
            None => o.raw("dependencies", "null"),
            Some(d) => o.raw("dependencies", &dependencies_json(d)),
        }
        json_to_yaml(&o.finish())
    }
}

/// Parse RFC 3339 and format it as Go's `time.Time` JSON does
/// (`RFC3339Nano`: fraction without trailing zeros, `Z` for UTC).
fn normalize_time(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date_ok = digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    let time_ok =
        digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19);
    if !date_ok || !matches!(b[10], b'T' | b't') || !time_ok {
        return None;
    }
    let mut i = 19;
    let mut frac = String::new();
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = s[start..i.min(start + 9)].trim_end_matches('0').to_string();
    }
    let zone = &s[i..];
    let zone = match zone {
        "Z" | "z" => "Z".to_string(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':'
            && z[1..3].bytes().all(|c| c.is_ascii_digit())
            && z[4..6].bytes().all(|c| c.is_ascii_digit()) =>
        {
            if &z[1..3] == "00" && &z[4..6] == "00" {
                "Z".to_string()
            } else {
                z.to_string()
            }
        }
        _ => return None,
    };
    let mut out = format!("{}T{}", &s[..10], &s[11..19]);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out.push_str(&zone);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_round_trip() {
        let l = Lock::parse(
            b"dependencies:\n- name: sub\n  repository: file://x\n  version: 1.0.0\ndigest: sha256:ab\ngenerated: \"2023-01-18T12:34:56.120+00:00\"\n",
            "Chart.lock",
        )
        .expect("lock");
        assert_eq!(
            l.to_yaml(),
            "dependencies:\n- name: sub\n  repository: file://x\n  version: 1.0.0\ndigest: sha256:ab\ngenerated: \"2023-01-18T12:34:56.12Z\"\n"
        );
        assert!(Lock::parse(b"generated: yesterday\n", "Chart.lock").is_err());
    }
}
