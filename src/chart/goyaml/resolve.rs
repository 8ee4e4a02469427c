//! go-yaml v2's `resolve.go` and `d.scalar` for an `interface{}` target:
//! how a scalar's text and tag become a value under YAML 1.1.

use super::Value;

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(TAG_PREFIX) {
        Some(t) => format!("!!{t}"),
        None => tag.to_string(),
    }
}

/// A scalar node's value: quoted and untagged stays text; otherwise the
/// tag (or, plain and untagged, the text) decides, and a value that does
/// not fit its explicit tag is an error.
pub(super) fn scalar(tag: &str, value: &str, implicit: bool) -> Result<Value, String> {
    if tag.is_empty() && !implicit {
        return Ok(Value::Str(value.to_string()));
    }
    let resolvable = |t: &str| {
        t.is_empty()
            || t.strip_prefix(TAG_PREFIX)
                .is_some_and(|s| matches!(s, "str" | "bool" | "int" | "float" | "timestamp"))
    };
    if !resolvable(tag) {
        if tag == "tag:yaml.org,2002:binary" {
            return crate::codec::base64_decode(value)
                .map(|b| Value::Str(String::from_utf8_lossy(&b).into_owned()))
                .ok_or_else(|| "!!binary value contains invalid base64 data".to_string());
        }
        return Ok(Value::Str(value.to_string()));
    }
    let (rtag, out) = resolve(tag, value);
    let want = tag.strip_prefix(TAG_PREFIX).unwrap_or("");
    match (want, rtag) {
        ("", _) | (_, "timestamp") => Ok(out),
        (w, r) if w == r => Ok(out),
        ("str", _) => Ok(Value::Str(value.to_string())),
        ("float", "int") => Ok(match out {
            Value::Int(i) => Value::Float(i as f64),
            Value::Uint(u) => Value::Float(u as f64),
            other => other,
        }),
        _ => Err(format!(
            "cannot decode {} `{value}` as a {}",
            short_tag(&format!("{TAG_PREFIX}{rtag}")),
            short_tag(tag)
        )),
    }
}

/// Plain-scalar resolution (go-yaml v2 `resolve.go`): the tag found and
/// the value.
fn resolve(tag: &str, s: &str) -> (&'static str, Value) {
    let str_like = tag.ends_with(":str");
    let hint = match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(b'<') => b'M',
        Some(_) => 0,
    };
    if hint == 0 || str_like {
        return ("str", Value::Str(s.to_string()));
    }
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return ("bool", Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return ("bool", Value::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => return ("null", Value::Null),
        ".nan" | ".NaN" | ".NAN" => return ("float", Value::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return ("float", Value::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => return ("float", Value::Float(f64::NEG_INFINITY)),
        "<<" => return ("merge", Value::Str(s.to_string())),
        _ => {}
    }
    match hint {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return ("float", Value::Float(f));
            }
        }
        b'D' | b'S' => {
            if (tag.is_empty() || tag.ends_with(":timestamp")) && looks_like_timestamp(s) {
                // go-yaml v2 hands timestamps to interface{} as the string.
                return ("timestamp", Value::Str(s.to_string()));
            }
            let plain: String = s.chars().filter(|c| *c != '_').collect();
            if let Some(v) = go_parse_int(&plain) {
                return ("int", v);
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_parse_float(&plain) {
                    return ("float", Value::Float(f));
                }
            }
        }
        _ => {}
    }
    ("str", Value::Str(s.to_string()))
}

/// `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<Value> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(Value::Int((magnitude as i64).wrapping_neg()));
        }
        return None;
    }
    if magnitude <= i64::MAX as u64 {
        Some(Value::Int(magnitude as i64))
    } else if s.starts_with('+') {
        // ParseUint takes no sign.
        None
    } else {
        Some(Value::Uint(magnitude))
    }
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat(s, 64)` for decimal text: out of range is an error
/// in Go (so the scalar stays a string), not an infinity.
fn go_parse_float(s: &str) -> Option<f64> {
    let ok = s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// go-yaml v2's quick check before trying timestamp formats: four digits
/// and a dash. Such a scalar is never a number, and decodes to its text.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}
