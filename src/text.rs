//! Text for messages: everything we print about a failure is one line, and
//! what a server or a parser said is quoted bounded. A leaf: depends on
//! nothing else in the crate.

/// `s` with every run of whitespace (newlines too) made one space, cut
/// after `max_chars` characters with `...` (`usize::MAX`: no bound).
pub fn one_line(s: &str, max_chars: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// `s` with control characters escaped (`\n`, `\u{1b}`), so what a
/// message quotes (a file name, a pasted argument) cannot break it over
/// several lines.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_lines_and_bounds() {
        assert_eq!(one_line("  a\n\tb  c \r\n", usize::MAX), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc...");
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line("ééé é", 2), "éé...");
        assert_eq!(one_line("", 5), "");
    }

    #[test]
    fn escapes_control_characters_only() {
        for (input, want) in [
            ("plain é", "plain é"),
            ("a\nb", "a\\nb"),
            ("tab\there\r", "tab\\there\\r"),
            ("\u{1b}[31m", "\\u{1b}[31m"),
        ] {
            assert_eq!(printable(input), want, "{input:?}");
        }
        assert!(matches!(printable("a b"), std::borrow::Cow::Borrowed(_)));
    }
}
