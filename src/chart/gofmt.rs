//! Small pieces of Go's standard library whose exact output Helm's bytes
//! depend on: `encoding/json` string escaping, `strconv.FormatFloat` with
//! `'g'`, Helm's `sanitizeString`, and Masterminds/semver's lenient parse.

/// Append `s` as a JSON string the way Go's `encoding/json` writes it:
/// `<`, `>`, `&`, U+2028 and U+2029 escaped, `\b \f \n \r \t` short forms,
/// other control characters as `\u00xx`.
pub fn json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let v = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((v >> shift) & 0xF) as usize] as char);
                }
            }
            c if (c as u32) < 0x20 => {
                let v = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(v >> 4) as usize] as char);
                out.push(HEX[(v & 0xF) as usize] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `strconv.FormatFloat(f, 'g', -1, bits)` for bits 32 or 64.
pub fn format_float_g(f: f64, bits32: bool) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's -1.
    let sci = if bits32 {
        format!("{:e}", f as f32)
    } else {
        format!("{f:e}")
    };
    let (neg, sci) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, sci),
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if digits == "0" {
        out.push('0');
        return out;
    }
    // Shortest formatting decides with precision 6, as Go does.
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
        return out;
    }
    let nd = digits.len() as i32;
    let dp = exp + 1;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

/// Go's `encoding/json` float64 output (`'f'` unless the exponent is
/// below -6 or at least 21).
pub fn format_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Both lie outside 'g's fixed range, so 'g' gives the 'e' form; Go
        // then shortens e-07 to e-7.
        let mut s = format_float_g(f, false);
        if let Some(pos) = s.find("e-0") {
            s.remove(pos + 2);
        }
        return s;
    }
    format!("{f}")
}

/// Helm's `sanitizeString`: every Unicode space becomes ' ', characters that
/// are not printable are dropped.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if is_go_printable(c) {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

/// An approximation of Go's `unicode.IsPrint` without the full tables:
/// control, format, private-use and noncharacter code points are not
/// printable.
fn is_go_printable(c: char) -> bool {
    let v = c as u32;
    !(c.is_control()
        || v == 0xAD
        || (0x600..=0x605).contains(&v)
        || v == 0x61C
        || v == 0x6DD
        || v == 0x70F
        || v == 0x180E
        || (0x200B..=0x200F).contains(&v)
        || (0x202A..=0x202E).contains(&v)
        || (0x2060..=0x2064).contains(&v)
        || (0x2066..=0x206F).contains(&v)
        || v == 0xFEFF
        || (0xFFF9..=0xFFFB).contains(&v)
        || (0xE000..=0xF8FF).contains(&v)
        || (0xFDD0..=0xFDEF).contains(&v)
        || (v & 0xFFFE) == 0xFFFE
        || (0xE0000..=0xE007F).contains(&v)
        || v >= 0xF0000)
}

/// Masterminds/semver `NewVersion` (what Helm uses to accept a chart
/// version): an optional `v`, one to three numeric parts, an optional
/// pre-release and build metadata.
pub fn is_lenient_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (v, build) = match v.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match v.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return false;
    }
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u64>().is_err() {
            return false;
        }
    }
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if let Some(pre) = pre {
        if !ident_ok(pre) {
            return false;
        }
        // A numeric pre-release identifier may not have a leading zero.
        for id in pre.split('.') {
            if id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
        }
    }
    if let Some(build) = build {
        if !ident_ok(build) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(s: &str) -> String {
        let mut out = String::new();
        json_string(&mut out, s);
        out
    }

    #[test]
    fn json_escapes_like_go() {
        assert_eq!(js("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(js("q\"\\"), r#""q\"\\""#);
        assert_eq!(
            js("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
            r#""\n\r\t\b\f\u0001\u001f""#
        );
        assert_eq!(js("\u{2028}\u{2029}é✓\u{7f}"), "\"\\u2028\\u2029é✓\u{7f}\"");
    }

    #[test]
    fn float_g_like_go() {
        assert_eq!(format_float_g(1.10, true), "1.1");
        assert_eq!(format_float_g(1.0, true), "1");
        assert_eq!(format_float_g(1.234567891234, true), "1.2345679");
        assert_eq!(format_float_g(1.234567891234, false), "1.234567891234");
        assert_eq!(format_float_g(123456.0, false), "123456");
        assert_eq!(format_float_g(1234567.0, false), "1.234567e+06");
        assert_eq!(format_float_g(0.0001, false), "0.0001");
        assert_eq!(format_float_g(0.00001, false), "1e-05");
        assert_eq!(format_float_g(-2.5, false), "-2.5");
        assert_eq!(format_float_g(0.0, false), "0");
    }

    #[test]
    fn sanitize_like_helm() {
        assert_eq!(sanitize("a\tb\nc"), "a b c");
        assert_eq!(sanitize("a\u{1}b\u{200b}c"), "abc");
        assert_eq!(sanitize("héllo ✓"), "héllo ✓");
    }

    #[test]
    fn lenient_semver() {
        for ok in [
            "1.2.3",
            "v1.2.3",
            "1.2",
            "1",
            "01.2.3",
            "1.0.0-rc.1+b.2",
            "1.0.0+x-y",
            "1.0.0-0",
        ] {
            assert!(is_lenient_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "1.2.3.4",
            "a.b.c",
            "1.2.3-",
            "1.2.3+",
            "1.0.0-01",
            "1..2",
            "1.2.3-a..b",
            "latest",
        ] {
            assert!(!is_lenient_semver(bad), "{bad}");
        }
    }
}
