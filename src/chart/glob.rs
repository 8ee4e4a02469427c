//! Go's `path/filepath.Match` on Unix, because `.helmignore` patterns are
//! exactly those globs: `*` and `?` never cross `/`, `[...]` classes with
//! `^` negation and ranges, `\` escapes, and the same rules for when a
//! pattern is malformed.

/// A malformed pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Does `name` match the glob `pattern` the way Go's `filepath.Match` does?
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` takes the rest of the name unless that holds a `/`.
            return Ok(!name.contains(&b'/'));
        }
        if let Some(t) = match_chunk(chunk, name)? {
            // The last chunk must use up the name, or a star could still help.
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        if star {
            // Let the star take 1, 2, ... bytes, never a `/`.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if !pattern.is_empty() || t.is_empty() {
                        name = t;
                        continue 'pattern;
                    }
                }
                i += 1;
            }
        }
        // No match: still report a malformed rest of the pattern, as Go does.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Split off leading stars and the literal chunk up to the next star outside
/// a class.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let [b'*', rest @ ..] = pattern {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Decode one UTF-8 character (Go's `utf8.DecodeRune`: an invalid byte is
/// one replacement character of width 1).
fn decode(s: &[u8]) -> (u32, usize) {
    let Some(&b0) = s.first() else {
        return (0xFFFD, 0);
    };
    let width = match b0 {
        0x00..=0x7F => return (b0 as u32, 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (0xFFFD, 1),
    };
    match s.get(..width).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(c) => (c.chars().next().map_or(0xFFFD, |c| c as u32), width),
        None => (0xFFFD, 1),
    }
}

/// Match one chunk at the start of `s`; `Ok(Some(rest))` on a match.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, BadPattern> {
    // After a failure keep walking the chunk so a malformed pattern is still
    // reported, as Go does.
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rr, n) = decode(s);
                    r = rr;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// One (possibly escaped) character of a class.
fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        _ => {}
    }
    let (r, n) = decode(chunk);
    if r == 0xFFFD && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> Result<bool, BadPattern> {
        matches(p, n)
    }

    // Cases from Go's own filepath.Match table.
    #[test]
    fn go_match_table() {
        let ok: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        for (p, n, want) in ok {
            assert_eq!(m(p, n), Ok(*want), "pattern {p:?} name {n:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("[]a]", "]"),
            ("[-]", "-"),
            ("[x-]", "x"),
            ("[x-]", "-"),
            ("[x-]", "z"),
            ("[-x]", "x"),
            ("[-x]", "-"),
            ("[-x]", "a"),
            ("\\", "a"),
            ("[a-b-c]", "a"),
            ("[", "a"),
            ("[^", "a"),
            ("[^bc", "a"),
            ("a[", "a"),
            ("a[", "ab"),
            ("a[", "x"),
            ("a/b[", "x"),
            ("*x[", "a"),
            ("[\\", "a"),
        ];
        for (p, n) in bad {
            assert_eq!(m(p, n), Err(BadPattern), "pattern {p:?} name {n:?}");
        }
    }

    #[test]
    fn helm_shaped_patterns() {
        assert_eq!(m("templates/.?*", "templates/.hidden"), Ok(true));
        assert_eq!(m("templates/.?*", "templates/."), Ok(false));
        assert_eq!(m("templates/.?*", "templates/sub/.x"), Ok(false));
        assert_eq!(m("*.txt", "a.txt"), Ok(true));
        assert_eq!(m(".*", ".git"), Ok(true));
        assert_eq!(m("*.tgz", "charts/a.tgz"), Ok(false));
    }
}
