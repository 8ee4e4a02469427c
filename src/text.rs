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
}
