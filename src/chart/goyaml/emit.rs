//! YAML output the way Helm writes Chart.yaml and Chart.lock: Go's
//! `sigs.k8s.io/yaml` turns the JSON form into yaml.v2 output (keys sorted
//! with yaml.v2's natural order, indentless sequences, 80-column folding,
//! YAML 1.1 quoting, literal blocks for multi-line strings).

use super::resolve::resolves_to_string;
use serde_json::Value;
use std::cmp::Ordering;

const BEST_INDENT: usize = 2;
const BEST_WIDTH: usize = 80;

/// Serialise a JSON value (an object at the top) as yaml.v2 would.
pub fn to_yaml(v: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
    };
    match v {
        Value::Object(m) if !m.is_empty() => e.mapping(m, 0),
        other => {
            e.node(other, 0, Context::Root);
        }
    }
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    MappingValue,
    SequenceItem,
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_str(&mut self, s: &str) {
        for c in s.chars() {
            self.put(c);
        }
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(
        &mut self,
        s: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.put_str(s);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn mapping(&mut self, m: &serde_json::Map<String, Value>, indent: usize) {
        let mut keys: Vec<&String> = m.keys().collect();
        sort_natural(&mut keys);
        for k in keys {
            self.write_indent(indent);
            self.scalar(k, indent, true);
            self.indicator(":", false, false, false);
            self.node(&m[k.as_str()], indent, Context::MappingValue);
        }
    }

    fn sequence(&mut self, items: &[Value], indent: usize) {
        for item in items {
            self.write_indent(indent);
            self.indicator("-", true, false, true);
            self.node(item, indent, Context::SequenceItem);
        }
    }

    /// Emit `v` as the value of a mapping at `indent` or an item of a
    /// sequence at `indent`.
    fn node(&mut self, v: &Value, indent: usize, ctx: Context) {
        match v {
            Value::Object(m) if m.is_empty() => self.indicator("{}", true, false, false),
            Value::Array(a) if a.is_empty() => self.indicator("[]", true, false, false),
            Value::Object(m) => {
                let inner = if ctx == Context::Root {
                    0
                } else {
                    indent + BEST_INDENT
                };
                self.mapping(m, inner);
            }
            Value::Array(a) => {
                // yaml.v2 does not indent a sequence that is a mapping value.
                let inner = match ctx {
                    Context::MappingValue | Context::Root => indent,
                    Context::SequenceItem => indent + BEST_INDENT,
                };
                self.sequence(a, inner);
            }
            Value::String(s) => self.scalar(s, indent, false),
            Value::Null => self.plain("null", indent, false),
            Value::Bool(b) => self.plain(if *b { "true" } else { "false" }, indent, false),
            Value::Number(n) => {
                let text = if let Some(i) = n.as_i64() {
                    i.to_string()
                } else if let Some(u) = n.as_u64() {
                    u.to_string()
                } else {
                    let f = n.as_f64().unwrap_or(0.0);
                    crate::chart::gojson::format_float_g(f, false)
                };
                self.plain(&text, indent, false);
            }
        }
    }

    /// A string scalar in the style yaml.v2 picks. `indent` is that of the
    /// enclosing collection; folded lines continue two columns deeper.
    fn scalar(&mut self, s: &str, indent: usize, simple_key: bool) {
        let a = analyze(s);
        let mut style = if !resolves_to_string(s) {
            Style::Double
        } else if s.contains('\n') {
            Style::Literal
        } else {
            Style::Plain
        };
        if style == Style::Plain
            && (!a.block_plain || (s.is_empty() && simple_key) || (a.multiline && simple_key))
        {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || simple_key) {
            style = Style::Double;
        }
        let scalar_indent = indent + BEST_INDENT;
        let breaks = !simple_key;
        match style {
            Style::Plain => self.plain(s, scalar_indent, breaks),
            Style::Single => self.single(s, scalar_indent, breaks),
            Style::Double => self.double(s, scalar_indent, breaks),
            Style::Literal => self.literal(s, scalar_indent),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        self.flow_text(s, indent, allow_breaks, Style::Plain);
        self.whitespace = false;
        self.indention = false;
    }

    fn single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        self.flow_text(s, indent, allow_breaks, Style::Single);
        self.indicator("'", false, false, false);
    }

    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        self.flow_text(s, indent, allow_breaks, Style::Double);
        self.indicator("\"", false, false, false);
    }

    /// The text of a plain, single- or double-quoted scalar, as libyaml's
    /// `yaml_emitter_write_plain`, `_single_quoted` and `_double_quoted`
    /// write it. Past the best width the first space of a run becomes a
    /// line break, but not where reading it back would lose a space: plain
    /// and single-quoted text keep a space that another space follows (the
    /// next line would start with it), quoted text keeps its first and last
    /// space, and double-quoted text escapes a space that starts a line.
    fn flow_text(&mut self, s: &str, indent: usize, allow_breaks: bool, style: Style) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                let inside = i != 0 && i != chars.len() - 1;
                let fold = allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && match style {
                        Style::Plain => !next_space,
                        Style::Single => inside && !next_space,
                        // Double (a literal block is written by `literal`).
                        _ => inside,
                    };
                if fold {
                    self.write_indent(indent);
                    if style == Style::Double && next_space {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
                continue;
            }
            match style {
                Style::Single => {
                    if c == '\'' {
                        self.put('\'');
                    }
                    self.put(c);
                    self.indention = false;
                }
                Style::Double if needs_escape(c) => self.escape(c),
                _ => self.put(c),
            }
            spaces = false;
        }
    }

    /// A character double quotes cannot hold as itself: a short escape
    /// where YAML has one, else `\xXX`, `\uXXXX` or `\UXXXXXXXX`.
    fn escape(&mut self, c: char) {
        self.put('\\');
        let short = match c {
            '\0' => Some('0'),
            '\u{7}' => Some('a'),
            '\u{8}' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\u{b}' => Some('v'),
            '\u{c}' => Some('f'),
            '\r' => Some('r'),
            '\u{1b}' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{a0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        match short {
            Some(e) => self.put(e),
            None => {
                let v = c as u32;
                let text = if v <= 0xFF {
                    format!("x{v:02X}")
                } else if v <= 0xFFFF {
                    format!("u{v:04X}")
                } else {
                    format!("U{v:08X}")
                };
                self.put_str(&text);
            }
        }
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.indicator("|", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|c| *c == ' ' || is_break(*c)) {
            self.put_str(&BEST_INDENT.to_string());
        }
        match chars.last() {
            Some(c) if !is_break(*c) => self.put('-'),
            Some(_) if chars.len() == 1 => self.put('+'),
            Some(_) if is_break(chars[chars.len() - 2]) => self.put('+'),
            _ => {}
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    multiline: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Written escaped in double quotes.
fn needs_escape(c: char) -> bool {
    !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\'
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || v == 0x85
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&v)
}

/// libyaml's `yaml_emitter_analyze_scalar` (block context, unicode on).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut special = false;
    let mut line_breaks = false;
    let (first, last) = (chars[0], chars[chars.len() - 1]);
    let (leading_space, leading_break) = (first == ' ', is_break(first));
    let (trailing_space, trailing_break) = (last == ' ', is_break(last));
    // A space right after a line break, and a line break right after a space.
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_ws => block_indicators = true,
                '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        let (space, line_break) = (c == ' ', is_break(c));
        line_breaks |= line_break;
        break_space |= space && previous_break;
        space_break |= line_break && previous_space;
        (previous_space, previous_break) = (space, line_break);
        preceded_by_ws = is_blankz(Some(c));
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_indicators {
        a.block_plain = false;
    }
    a
}

/// Sort keys with [`natural_cmp`]. Not `sort_by`: yaml.v2's order is not
/// transitive (`1` < `01` < `0a` < `1`), and std's sort panics when it
/// notices that, so Chart.yaml annotation keys could crash the packager.
/// A plain merge sort gives yaml.v2's order wherever that order is
/// consistent (Go's own output is random elsewhere: it sorts keys taken
/// from a map in random order) and never panics.
fn sort_natural(keys: &mut Vec<&String>) {
    let mut width = 1;
    let mut buf: Vec<&String> = Vec::with_capacity(keys.len());
    while width < keys.len() {
        buf.clear();
        for start in (0..keys.len()).step_by(2 * width) {
            let mid = (start + width).min(keys.len());
            let end = (start + 2 * width).min(keys.len());
            let (mut a, mut b) = (start, mid);
            while a < mid && b < end {
                if natural_cmp(keys[b], keys[a]) == Ordering::Less {
                    buf.push(keys[b]);
                    b += 1;
                } else {
                    buf.push(keys[a]);
                    a += 1;
                }
            }
            buf.extend_from_slice(&keys[a..mid]);
            buf.extend_from_slice(&keys[b..end]);
        }
        std::mem::swap(keys, &mut buf);
        width *= 2;
    }
}

/// yaml.v2's key order: letters after other characters, digit runs
/// compared by value.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_what_helm4_wrote() {
        // Bytes observed from Helm 4.2.3's packager for the same metadata.
        let v = json!({
            "name": "c", "version": "1", "appVersion": "1.1", "apiVersion": "v2",
            "description": "a <b> & c tab", "kubeVersion": ">=1.20", "deprecated": true,
            "keywords": ["b", "a"], "maintainers": [{"name": "Me", "email": "me@x"}],
            "annotations": {"z": "1", "a": "x"}
        });
        assert_eq!(
            to_yaml(&v),
            "annotations:\n  a: x\n  z: \"1\"\napiVersion: v2\nappVersion: \"1.1\"\ndeprecated: true\n\
             description: a <b> & c tab\nkeywords:\n- b\n- a\nkubeVersion: '>=1.20'\nmaintainers:\n\
             - email: me@x\n  name: Me\nname: c\nversion: \"1\"\n"
        );
    }

    #[test]
    fn quoting_folding_and_blocks_like_helm4() {
        let v = json!({
            "annotations": {"colon": "a: b", "ctrl": "a\u{1}b", "empty": "", "multi": "line1\nline2",
                "nul": "~", "num": "0x1F", "quote": "it's", "true": "on", "uni": "héllo ✓"},
            "apiVersion": "v2",
            "description": "this is a very long description that goes on and on and on past eighty characters for sure yes indeed",
            "home": "@x: y #z", "icon": "- a", "name": "c", "version": "1.0.0-rc.1+b.2"
        });
        assert_eq!(
            to_yaml(&v),
            "annotations:\n  colon: 'a: b'\n  ctrl: \"a\\x01b\"\n  empty: \"\"\n  multi: |-\n    line1\n    line2\n\
             \x20 nul: \"~\"\n  num: \"0x1F\"\n  quote: it's\n  \"true\": \"on\"\n  uni: héllo ✓\napiVersion: v2\n\
             description: this is a very long description that goes on and on and on past eighty\n  characters for sure yes indeed\n\
             home: '@x: y #z'\nicon: '- a'\nname: c\nversion: 1.0.0-rc.1+b.2\n"
        );
    }

    #[test]
    fn nested_sequences_and_empty_collections() {
        let v = json!({"dependencies": [{"import-values": ["a", {"child": "b", "parent": "c"}], "name": "sub", "repository": ""}], "e": [], "m": {}});
        assert_eq!(
            to_yaml(&v),
            "dependencies:\n- import-values:\n  - a\n  - child: b\n    parent: c\n  name: sub\n  repository: \"\"\ne: []\nm: {}\n"
        );
    }

    #[test]
    fn natural_key_order() {
        let mut keys = vec!["a10", "a2", "b", "A", "_x", "1"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, vec!["_x", "1", "A", "a2", "a10", "b"]);
    }

    #[test]
    fn intransitive_key_order_does_not_panic() {
        // `1` < `01` < `0a` < `1`: std's sort_by panics on such keys
        // ("does not correctly implement a total order") for some inputs.
        let alphabet = ["a", "0", "1", "9", "_"];
        let mut all = Vec::new();
        for x in alphabet {
            all.push(x.to_string());
            for y in alphabet {
                all.push(format!("{x}{y}"));
                for z in alphabet {
                    all.push(format!("{x}{y}{z}"));
                }
            }
        }
        let mut seed: u64 = 1;
        for round in 0..200 {
            let mut map = serde_json::Map::new();
            for _ in 0..(20 + round % 100) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let k = &all[(seed >> 33) as usize % all.len()];
                map.insert(k.clone(), Value::from(1));
            }
            let n = map.len();
            let out = to_yaml(&Value::Object(map));
            assert_eq!(out.lines().count(), n, "{out}");
        }
        // Where the order is consistent it is yaml.v2's.
        let v = json!({"a10": 1, "a2": 1, "b": 1, "A": 1, "_x": 1, "1": 1});
        assert_eq!(to_yaml(&v), "_x: 1\n\"1\": 1\nA: 1\na2: 1\na10: 1\nb: 1\n");
    }

    #[test]
    fn timestamps_and_numbers_are_quoted() {
        assert!(!resolves_to_string("2023-01-18T12:00:00.5Z"));
        assert!(!resolves_to_string("2023-01-18"));
        assert!(!resolves_to_string("1_000"));
        assert!(!resolves_to_string("1:30"));
        assert!(!resolves_to_string("-1.5e3"));
        assert!(resolves_to_string("1.2.3"));
        assert!(resolves_to_string("1e400"));
        assert!(resolves_to_string("v1"));
    }
}
