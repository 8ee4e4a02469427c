//! go-yaml v2's `resolve.go` and `d.scalar` for an `interface{}` target:
//! how a scalar's text and tag become a value under YAML 1.1.
//! The emitter asks the reverse question ([`resolves_to_string`]): would a
//! plain scalar come back as a string?

use super::{Error, Value};

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
pub(super) fn scalar(tag: &str, value: &str, implicit: bool) -> Result<Value, Error> {
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
                .ok_or_else(|| Error("!!binary value contains invalid base64 data".into()));
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
        _ => Err(Error(format!(
            "cannot decode {} `{value}` as a {}",
            short_tag(&format!("{TAG_PREFIX}{rtag}")),
            short_tag(tag)
        ))),
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

// What the emitter asks: would a plain scalar come back as a string?

/// Would yaml.v2 read `s`, written plain, back as a string? If not (a
/// number, bool, null, timestamp, base-60 float, merge key), it quotes it.
pub(super) fn resolves_to_string(s: &str) -> bool {
    const NON_STRINGS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if NON_STRINGS.contains(&s) {
        return false;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return true;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    // A float out of range (`1e400`) fails Go's ParseFloat: a string.
    let float = is_yaml_style_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite);
    !(is_go_int(&plain) || float || is_base60_float(s) || is_timestamp(s))
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` accepts it.
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h.to_string(), 16)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (b.to_string(), 2)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (o.to_string(), 8)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (lower[1..].to_string(), 8)
    } else {
        (lower, 10)
    };
    !digits.is_empty() && u128::from_str_radix(&digits, radix).is_ok_and(|v| v <= u64::MAX as u128)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    if b.first().is_none_or(|c| !c.is_ascii_digit()) {
        return false;
    }
    let mut i = 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &b[start..i];
        let ok = match g.len() {
            1 => true,
            2 => g[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// yaml.v2's timestamp forms: `2006-1-2`, optionally followed by `T`, `t`
/// or ` ` and `15:4:5[.frac]` (with a zone after `T`/`t`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, min: usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start >= min
    };
    let lit = |i: &mut usize, c: u8| {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    // Three numbers with `sep` between them, the first of `first` digits
    // (at least, at most), the others of one or two.
    let three = |i: &mut usize, first: (usize, usize), sep: u8| {
        num(i, first.0, first.1) && lit(i, sep) && num(i, 1, 2) && lit(i, sep) && num(i, 1, 2)
    };
    if !three(&mut i, (4, 4), b'-') {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    if !three(&mut i, (1, 2), b':') {
        return false;
    }
    if lit(&mut i, b'.') && !num(&mut i, 1, 9) {
        return false;
    }
    if sep == b' ' {
        return i == b.len();
    }
    if lit(&mut i, b'Z') {
        return i == b.len();
    }
    if matches!(b.get(i), Some(b'+') | Some(b'-')) {
        i += 1;
        return num(&mut i, 2, 2) && lit(&mut i, b':') && num(&mut i, 2, 2) && i == b.len();
    }
    false
}
