//! The partitions' `regionRegex` language, matched by backtracking.

use super::RuleError;

/// The partitions' `regionRegex` language: `^`, `$`, literals, `\` escapes
/// (`\w`, `\d`, `\-`), groups with `|`, and `+`, `*`, `?`. Enough for every
/// regionRegex AWS publishes; anything else is an error, not a wrong match.
pub(super) fn regex_match(re: &str, text: &str) -> Result<bool, RuleError> {
    matches(re, text).map_err(RuleError::Data)
}

fn matches(re: &str, text: &str) -> Result<bool, String> {
    let mut p = Parser {
        chars: re.chars().collect(),
        pos: 0,
        source: re,
    };
    let anchored = p.eat('^');
    let alts = p.alternation()?;
    let end_anchor = p.eat('$');
    if p.pos != p.chars.len() {
        return Err(format!("unsupported regionRegex {re:?}"));
    }
    let text: Vec<char> = text.chars().collect();
    let starts: Vec<usize> = if anchored {
        vec![0]
    } else {
        (0..=text.len()).collect()
    };
    Ok(starts.into_iter().any(|s| {
        let node = Node::Group(alts.clone());
        match_seq(&[(node, Quant::One)], &text, s, &|end| {
            !end_anchor || end == text.len()
        })
    }))
}

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Word,
    Digit,
    Any,
    Group(Vec<Vec<(Node, Quant)>>),
}

#[derive(Debug, Clone, Copy)]
enum Quant {
    One,
    Plus,
    Star,
    Opt,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn eat(&mut self, c: char) -> bool {
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Result<Vec<Vec<(Node, Quant)>>, String> {
        let mut alts = vec![self.sequence()?];
        while self.eat('|') {
            alts.push(self.sequence()?);
        }
        Ok(alts)
    }

    fn sequence(&mut self) -> Result<Vec<(Node, Quant)>, String> {
        let mut seq = Vec::new();
        while let Some(&c) = self.chars.get(self.pos) {
            let node = match c {
                '|' | ')' => break,
                '$' if self.pos + 1 == self.chars.len() => break,
                '(' => {
                    self.pos += 1;
                    let alts = self.alternation()?;
                    if !self.eat(')') {
                        return Err(format!("unbalanced group in regionRegex {:?}", self.source));
                    }
                    Node::Group(alts)
                }
                '\\' => {
                    self.pos += 2;
                    match self.chars.get(self.pos - 1) {
                        Some('w') => Node::Word,
                        Some('d') => Node::Digit,
                        Some(&x) if !x.is_ascii_alphanumeric() => Node::Char(x),
                        _ => {
                            return Err(format!(
                                "unsupported escape in regionRegex {:?}",
                                self.source
                            ))
                        }
                    }
                }
                '.' => {
                    self.pos += 1;
                    Node::Any
                }
                '[' | ']' | '{' | '}' | '^' | '$' | '*' | '+' | '?' => {
                    return Err(format!("unsupported regionRegex {:?}", self.source))
                }
                x => {
                    self.pos += 1;
                    Node::Char(x)
                }
            };
            let q = if self.eat('+') {
                Quant::Plus
            } else if self.eat('*') {
                Quant::Star
            } else if self.eat('?') {
                Quant::Opt
            } else {
                Quant::One
            };
            seq.push((node, q));
        }
        Ok(seq)
    }
}

/// Backtracking match of `seq` at `at`; `k` accepts the end position.
fn match_seq(seq: &[(Node, Quant)], text: &[char], at: usize, k: &dyn Fn(usize) -> bool) -> bool {
    let Some(((node, q), rest)) = seq.split_first() else {
        return k(at);
    };
    let (min, max) = match q {
        Quant::One => (1, 1),
        Quant::Plus => (1, usize::MAX),
        Quant::Star => (0, usize::MAX),
        Quant::Opt => (0, 1),
    };
    repeat(node, min, max, 0, rest, text, at, k)
}

#[allow(clippy::too_many_arguments)]
fn repeat(
    node: &Node,
    min: usize,
    max: usize,
    done: usize,
    rest: &[(Node, Quant)],
    text: &[char],
    at: usize,
    k: &dyn Fn(usize) -> bool,
) -> bool {
    // Greedy: one more repetition first, then stop here.
    if done < max
        && match_node(node, text, at, &|next| {
            next != at && repeat(node, min, max, done + 1, rest, text, next, k)
        })
    {
        return true;
    }
    done >= min && match_seq(rest, text, at, k)
}

fn match_node(node: &Node, text: &[char], at: usize, k: &dyn Fn(usize) -> bool) -> bool {
    let single = |ok: bool| ok && k(at + 1);
    match node {
        Node::Char(c) => single(text.get(at) == Some(c)),
        Node::Word => single(
            text.get(at)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_'),
        ),
        Node::Digit => single(text.get(at).is_some_and(char::is_ascii_digit)),
        Node::Any => single(text.get(at).is_some_and(|c| *c != '\n')),
        Node::Group(alts) => alts.iter().any(|seq| match_seq(seq, text, at, k)),
    }
}
