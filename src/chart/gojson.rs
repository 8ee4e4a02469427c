//! Go's `encoding/json` and `strconv` output, which Helm's bytes depend on:
//! JSON string escaping, float64 numbers, `interface{}` values and an
//! omitempty object builder; `strconv.FormatFloat` with `'g'`.

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

/// A generic value as Go marshals an `interface{}` decoded from JSON:
/// numbers are float64, maps have sorted keys.
pub fn go_json_value(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => format_json_float(n.as_f64().unwrap_or(0.0)),
        J::String(s) => {
            let mut out = String::new();
            json_string(&mut out, s);
            out
        }
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(go_json_value).collect::<Vec<_>>().join(",")
        ),
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut o = JsonObject::default();
            for k in keys {
                o.raw(k, &go_json_value(&m[k.as_str()]));
            }
            o.finish()
        }
    }
}

#[derive(Default)]
pub struct JsonObject {
    out: String,
}

impl JsonObject {
    pub fn raw(&mut self, key: &str, value: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        json_string(&mut self.out, key);
        self.out.push(':');
        self.out.push_str(value);
    }
    pub fn always_str(&mut self, key: &str, value: &str) {
        let mut v = String::new();
        json_string(&mut v, value);
        self.raw(key, &v);
    }
    /// omitempty string
    pub fn str(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.always_str(key, value);
        }
    }
    /// omitempty bool
    pub fn bool(&mut self, key: &str, value: bool) {
        if value {
            self.raw(key, "true");
        }
    }
    /// omitempty map[string]string, keys in the order given.
    pub fn str_map<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        key: &str,
        entries: impl IntoIterator<Item = (K, V)>,
    ) {
        let mut map = JsonObject::default();
        for (k, v) in entries {
            map.always_str(k.as_ref(), v.as_ref());
        }
        if !map.out.is_empty() {
            self.raw(key, &map.finish());
        }
    }
    /// omitempty []string
    pub fn strs(&mut self, key: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let items: Vec<String> = values
            .iter()
            .map(|s| {
                let mut v = String::new();
                json_string(&mut v, s);
                v
            })
            .collect();
        self.raw(key, &format!("[{}]", items.join(",")));
    }
    pub fn finish(mut self) -> String {
        if self.out.is_empty() {
            return "{}".into();
        }
        self.out.push('}');
        self.out
    }
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
    fn object_fields_are_omitted_when_empty_like_go() {
        let mut o = JsonObject::default();
        o.str("s", "");
        o.strs("l", &[]);
        o.bool("b", false);
        o.str_map("m", [] as [(&str, &str); 0]);
        assert_eq!(o.finish(), "{}");
        let mut o = JsonObject::default();
        o.str("s", "x");
        o.strs("l", &["y".to_string()]);
        o.bool("b", true);
        o.str_map("m", [("k", "<v>")]);
        o.always_str("e", "");
        assert_eq!(
            o.finish(),
            r#"{"s":"x","l":["y"],"b":true,"m":{"k":"\u003cv\u003e"},"e":""}"#
        );
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
}
