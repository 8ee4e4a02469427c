//! YAML read the way Helm reads Chart.yaml, values.yaml and the lock files:
//! sigs.k8s.io/yaml over go-yaml v2, so plain scalars resolve by YAML 1.1
//! (`yes`/`on` are booleans, `010` is octal 8, `1_000` is 1000), a
//! duplicated key keeps its last value, `<<` merges, and only the first
//! document counts.
//!
//! Events come from libyaml-rs, the YAML organization's libyaml port that
//! yaml_serde is built on: yaml_serde's `Value` does not say whether a
//! scalar was quoted, and YAML 1.1 resolution depends on exactly that.
//!
//! Nesting is refused past [`MAX_DEPTH`] while the events arrive: libyaml's
//! scanner costs time proportional to the flow depth on every token, so a
//! file of `[[[[...` would otherwise take hours to reach a parse error.

pub mod emit;
mod events;
mod resolve;

use events::{Event, Parser, Props};
use resolve::scalar;
use std::collections::HashMap;
use std::rc::Rc;

/// Deeper nesting is refused. go-yaml stops at 10000; no chart comes near
/// this, and libyaml's scanner stays linear below it.
pub const MAX_DEPTH: usize = 128;

/// Why YAML text does not load: libyaml's message (with its line), or
/// what go-yaml refuses on top (nesting, aliases, merges, keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

/// A decoded YAML value, as go-yaml v2 decodes into `interface{}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    /// Entries in document order, each key once (a repeated key's last
    /// value, in its first position).
    Map(Vec<(Value, Value)>),
}

/// The first document of `text` (Null when there is none), as
/// `yaml.Unmarshal` reads it.
pub fn first_document(text: &[u8]) -> Result<Value, Error> {
    let mut docs = Documents::new(text);
    Ok(docs.next_document()?.unwrap_or(Value::Null))
}

/// Every document of `text`.
pub fn all_documents(text: &[u8]) -> Result<Vec<Value>, Error> {
    let mut docs = Documents::new(text);
    let mut out = Vec::new();
    while let Some(v) = docs.next_document()? {
        out.push(v);
    }
    Ok(out)
}

struct Documents<'a> {
    parser: Parser<'a>,
    done: bool,
}

impl<'a> Documents<'a> {
    fn new(text: &'a [u8]) -> Self {
        Documents {
            parser: Parser::new(text),
            done: false,
        }
    }

    fn next_document(&mut self) -> Result<Option<Value>, Error> {
        if self.done {
            return Ok(None);
        }
        let node = loop {
            match self.parser.next()? {
                Event::StreamStart | Event::DocumentEnd => continue,
                Event::StreamEnd => {
                    self.done = true;
                    return Ok(None);
                }
                Event::DocumentStart => break build(&mut self.parser)?,
                _ => return Err(Error("unexpected YAML event outside a document".into())),
            }
        };
        // go-yaml reads the document's end too: an error just after it
        // (before the next `---`) fails the file.
        match self.parser.next()? {
            Event::DocumentEnd => {}
            _ => {
                return Err(Error(
                    "unexpected YAML event at the end of a document".into(),
                ))
            }
        }
        Decoder::default().decode(&node, 0).map(Some)
    }
}

// ---------------------------------------------------------------------------
// Nodes (go-yaml's parser.go): the document as written, anchors resolved.

#[derive(Debug)]
enum Node {
    Scalar {
        tag: String,
        value: String,
        implicit: bool,
    },
    Seq(Vec<Rc<Node>>),
    Map(Vec<(Rc<Node>, Rc<Node>)>),
    Alias(Rc<Node>),
}

/// A collection being read, with the height of its tallest child so far.
enum Frame {
    Seq(Props, Vec<Rc<Node>>, usize),
    Map(Props, Vec<(Rc<Node>, Rc<Node>)>, Option<Rc<Node>>, usize),
}

/// Build one document's node tree, refusing nesting past [`MAX_DEPTH`]
/// as soon as it opens. Heights count through aliases too, so no later
/// walk of the tree (decoding, dropping) recurses deeper than that.
fn build(parser: &mut Parser) -> Result<Rc<Node>, Error> {
    let mut anchors: HashMap<Vec<u8>, (Rc<Node>, usize)> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let ev = parser.next()?;
        let (node, height, anchor) = match ev {
            Event::SequenceStart(_) | Event::MappingStart(_) if stack.len() >= MAX_DEPTH => {
                return Err(Error(too_deep(parser.line)));
            }
            Event::SequenceStart(props) => {
                stack.push(Frame::Seq(props, Vec::new(), 0));
                continue;
            }
            Event::MappingStart(props) => {
                stack.push(Frame::Map(props, Vec::new(), None, 0));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(props, items, h)) => {
                    (Rc::new(Node::Seq(items)), h + 1, props.anchor)
                }
                Some(Frame::Map(props, entries, _, h)) => {
                    (Rc::new(Node::Map(entries)), h + 1, props.anchor)
                }
                None => return Err(Error("unbalanced YAML collection".into())),
            },
            Event::Scalar(s) => (
                Rc::new(Node::Scalar {
                    tag: s.props.tag,
                    value: s.value,
                    implicit: s.implicit,
                }),
                0,
                s.props.anchor,
            ),
            Event::Alias(name) => match anchors.get(&name) {
                Some((target, h)) => (Rc::new(Node::Alias(Rc::clone(target))), *h, None),
                None => {
                    return Err(Error(format!(
                        "unknown anchor '{}' referenced",
                        String::from_utf8_lossy(&name)
                    )))
                }
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {
                return Err(Error("unexpected YAML event inside a document".into()))
            }
        };
        if height + stack.len() > MAX_DEPTH {
            return Err(Error(too_deep(parser.line)));
        }
        if let Some(a) = anchor {
            anchors.insert(a, (Rc::clone(&node), height));
        }
        match stack.last_mut() {
            None => return Ok(node),
            Some(Frame::Seq(_, items, h)) => {
                items.push(node);
                *h = (*h).max(height);
            }
            Some(Frame::Map(_, entries, key, h)) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
                *h = (*h).max(height);
            }
        }
    }
}

fn too_deep(line: u64) -> String {
    format!(
        "the YAML nests collections more than {MAX_DEPTH} deep (at line {}); go-yaml and Helm stop at 10000 and no chart needs this: flatten it",
        line + 1
    )
}

// ---------------------------------------------------------------------------
// Decoding (go-yaml v2's decode.go into interface{}).

#[derive(Default)]
struct Decoder {
    decode_count: u64,
    alias_count: u64,
    alias_depth: u32,
}

/// go-yaml v2's limit on alias expansion ("billion laughs").
fn allowed_alias_ratio(decode_count: u64) -> f64 {
    const LOW: u64 = 400_000;
    const HIGH: u64 = 4_000_000;
    if decode_count <= LOW {
        0.99
    } else if decode_count >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((decode_count - LOW) as f64 / (HIGH - LOW) as f64)
    }
}

impl Decoder {
    fn decode(&mut self, n: &Node, depth: usize) -> Result<Value, Error> {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100
            && self.decode_count > 1000
            && self.alias_count as f64 / self.decode_count as f64
                > allowed_alias_ratio(self.decode_count)
        {
            return Err(Error("document contains excessive aliasing".into()));
        }
        // Aliases can nest what the parser saw as shallow.
        if depth > MAX_DEPTH {
            return Err(Error(format!(
                "the YAML nests collections more than {MAX_DEPTH} deep through aliases; flatten it"
            )));
        }
        match n {
            Node::Scalar {
                tag,
                value,
                implicit,
            } => scalar(tag, value, *implicit),
            Node::Alias(target) => {
                self.alias_depth += 1;
                let v = self.decode(target, depth);
                self.alias_depth -= 1;
                v
            }
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.decode(i, depth + 1)?);
                }
                Ok(Value::Seq(out))
            }
            Node::Map(entries) => {
                let mut map = MapBuilder::default();
                for (k, v) in entries {
                    if is_merge(k) {
                        self.merge(v, &mut map, depth)?;
                        continue;
                    }
                    let key = self.decode(k, depth + 1)?;
                    let value = self.decode(v, depth + 1)?;
                    map.insert(key, value)?;
                }
                Ok(Value::Map(map.entries))
            }
        }
    }

    fn merge(&mut self, n: &Node, map: &mut MapBuilder, depth: usize) -> Result<(), Error> {
        let want_map = || "map merge requires map or sequence of maps as the value".to_string();
        match n {
            Node::Map(_) => self.merge_one(n, map, depth),
            Node::Alias(target) if matches!(**target, Node::Map(_)) => {
                self.alias_depth += 1;
                let r = self.merge_one(target, map, depth);
                self.alias_depth -= 1;
                r
            }
            Node::Seq(items) => {
                // go-yaml v2 applies the list from its end, so earlier maps win.
                for item in items.iter().rev() {
                    match &**item {
                        Node::Map(_) => self.merge_one(item, map, depth)?,
                        Node::Alias(t) if matches!(**t, Node::Map(_)) => {
                            self.alias_depth += 1;
                            let r = self.merge_one(t, map, depth);
                            self.alias_depth -= 1;
                            r?
                        }
                        _ => return Err(Error(want_map())),
                    }
                }
                Ok(())
            }
            _ => Err(Error(want_map())),
        }
    }

    fn merge_one(&mut self, n: &Node, map: &mut MapBuilder, depth: usize) -> Result<(), Error> {
        match self.decode(n, depth)? {
            Value::Map(entries) => {
                for (k, v) in entries {
                    map.insert(k, v)?;
                }
                Ok(())
            }
            _ => Err(Error(
                "map merge requires map or sequence of maps as the value".into(),
            )),
        }
    }
}

fn is_merge(n: &Node) -> bool {
    matches!(n, Node::Scalar { tag, value, implicit }
        if value == "<<" && (*implicit || tag == "tag:yaml.org,2002:merge"))
}

/// A Go `map[interface{}]interface{}` being filled: a repeated key
/// replaces the earlier value.
#[derive(Default)]
struct MapBuilder {
    entries: Vec<(Value, Value)>,
    index: HashMap<KeyId, usize>,
}

#[derive(Hash, PartialEq, Eq)]
enum KeyId {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    /// NaN never equals itself in Go: every NaN key is a new key.
    Float(u64),
    Str(String),
}

impl MapBuilder {
    fn insert(&mut self, key: Value, value: Value) -> Result<(), Error> {
        let id = match &key {
            Value::Null => KeyId::Null,
            Value::Bool(b) => KeyId::Bool(*b),
            Value::Int(i) => KeyId::Int(*i),
            Value::Uint(u) => KeyId::Uint(*u),
            Value::Float(f) if f.is_nan() => {
                self.entries.push((key, value));
                return Ok(());
            }
            Value::Float(f) => KeyId::Float((*f + 0.0).to_bits()),
            Value::Str(s) => KeyId::Str(s.clone()),
            Value::Seq(_) | Value::Map(_) => {
                return Err(Error(
                    "invalid map key: a list or mapping cannot be a key".into(),
                ))
            }
        };
        match self.index.get(&id) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(id, self.entries.len());
                self.entries.push((key, value));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        first_document(text.as_bytes()).expect("yaml")
    }

    fn scalar_of(text: &str) -> Value {
        match one(&format!("k: {text}\n")) {
            Value::Map(mut e) => e.remove(0).1,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn yaml_1_1_plain_scalars() {
        let cases: &[(&str, Value)] = &[
            ("01", Value::Int(1)),
            ("010", Value::Int(8)),
            ("08", Value::Float(8.0)),
            ("1_000", Value::Int(1000)),
            ("0x1F", Value::Int(31)),
            ("0o17", Value::Int(15)),
            ("0b101", Value::Int(5)),
            ("-0b101", Value::Int(-5)),
            ("+12", Value::Int(12)),
            ("yes", Value::Bool(true)),
            ("Off", Value::Bool(false)),
            ("y", Value::Bool(true)),
            ("1.0", Value::Float(1.0)),
            ("1e3", Value::Float(1000.0)),
            (".5", Value::Float(0.5)),
            ("1e400", Value::Str("1e400".into())),
            ("~", Value::Null),
            ("", Value::Null),
            ("'01'", Value::Str("01".into())),
            ("\"yes\"", Value::Str("yes".into())),
            ("!!str 010", Value::Str("010".into())),
            ("!!float 1", Value::Float(1.0)),
            ("! 010", Value::Str("010".into())),
            ("_1", Value::Str("_1".into())),
            ("1:20", Value::Str("1:20".into())),
            ("2001-12-14", Value::Str("2001-12-14".into())),
            ("18446744073709551615", Value::Uint(u64::MAX)),
            (
                "0x1FFFFFFFFFFFFFFFFF",
                Value::Str("0x1FFFFFFFFFFFFFFFFF".into()),
            ),
            (
                "12345678901234567890123",
                Value::Float(1.2345678901234568e22),
            ),
            ("-9223372036854775808", Value::Int(i64::MIN)),
        ];
        for (text, want) in cases {
            assert_eq!(&scalar_of(text), want, "{text}");
        }
        assert!(first_document(b"k: !!int abc\n").is_err());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_merges_apply() {
        assert_eq!(
            one("a: 1\nb: 2\na: 3\n"),
            Value::Map(vec![
                (Value::Str("a".into()), Value::Int(3)),
                (Value::Str("b".into()), Value::Int(2)),
            ])
        );
        assert_eq!(
            one("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"),
            one("base: {x: 1, y: 2}\nm: {x: 1, y: 3}\n")
        );
    }

    #[test]
    fn first_document_only_and_all_documents() {
        assert_eq!(one("a: 1\n---\n- x\n"), one("a: 1\n"));
        assert_eq!(all_documents(b"a: 1\n---\n- x\n").expect("docs").len(), 2);
        assert_eq!(one(""), Value::Null);
        assert_eq!(one("# only a comment\n"), Value::Null);
    }

    #[test]
    fn deep_and_aliased_input_is_refused_quickly() {
        let deep = "[".repeat(100_000);
        let e = first_document(deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("more than 128 deep"), "{e}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(first_document(ok.as_bytes()).is_ok());
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12u8 {
            let (p, c) = ((b'a' + i - 1) as char, (b'a' + i) as char);
            laughs.push_str(&format!(
                "{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            ));
        }
        let e = first_document(laughs.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("excessive aliasing"), "{e}");
        let e = first_document(b"a: *nope\n").unwrap_err().to_string();
        assert!(e.contains("unknown anchor"), "{e}");
        let e = first_document(b"a: [1\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
