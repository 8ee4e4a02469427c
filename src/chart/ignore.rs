//! `.helmignore`, with Helm's semantics (not gitignore's): Go globs, the
//! first rule that decides wins, `!pat` ignores everything that does NOT
//! match `pat`, `/x` is anchored at the chart root, `x/` only concerns
//! directories, a pattern without `/` is matched against the base name, and
//! `**` is an error.

use super::glob;
use super::Error;

#[derive(Debug, Clone)]
struct Rule {
    /// The glob with `!`, a trailing `/` and a leading `/` removed.
    pattern: String,
    negate: bool,
    must_dir: bool,
    /// No `/` in the pattern: match the base name only.
    basename: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// What Helm always adds after the user's rules: dot files in `templates/`.
const DEFAULT_RULE: &str = "templates/.?*";

impl Rules {
    /// Parse a `.helmignore` file's text; the implicit default rule is appended.
    pub fn parse(text: &str) -> Result<Rules, Error> {
        let mut rules = Rules::default();
        for (i, line) in text.lines().enumerate() {
            rules
                .add(line)
                .map_err(|e| Error::invalid(format!(".helmignore line {}: {e}", i + 1)))?;
        }
        rules.add(DEFAULT_RULE)?;
        Ok(rules)
    }

    /// The rules for a chart without `.helmignore`.
    pub fn defaults() -> Rules {
        Rules::parse("").unwrap_or_default()
    }

    fn add(&mut self, line: &str) -> Result<(), Error> {
        // Go's bufio.Scanner drops a trailing \r; TrimSpace removes the rest.
        let rule = line.trim_matches(go_space);
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(Error::invalid(format!(
                "{rule:?}: double-star (**) syntax is not supported; list the paths with single-star globs"
            )));
        }
        // Helm checks the whole rule (with its `!` and `/`) as a glob first.
        if glob::matches(rule, "abc").is_err() {
            return Err(Error::invalid(format!(
                "{rule:?}: syntax error in pattern; fix the glob (Go filepath.Match syntax)"
            )));
        }
        let mut pattern = rule;
        let negate = pattern.starts_with('!');
        if negate {
            pattern = &pattern[1..];
        }
        let must_dir = pattern.ends_with('/');
        if must_dir {
            pattern = &pattern[..pattern.len() - 1];
        }
        let basename = !pattern.contains('/');
        let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
        self.rules.push(Rule {
            pattern: pattern.to_string(),
            negate,
            must_dir,
            basename,
        });
        Ok(())
    }

    /// Should `path` (relative to the chart root, `/`-separated, no trailing
    /// slash) be left out? `is_dir` says whether it is a directory (after
    /// following symlinks).
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for rule in &self.rules {
            if rule.negate {
                if rule.must_dir && !is_dir {
                    return true;
                }
                if !rule.matches(path) {
                    return true;
                }
                continue;
            }
            if rule.must_dir && !is_dir {
                continue;
            }
            if rule.matches(path) {
                return true;
            }
        }
        false
    }
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        let subject = if self.basename {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        glob::matches(&self.pattern, subject).unwrap_or(false)
    }
}

/// Go's `unicode.IsSpace`, which `strings.TrimSpace` uses.
fn go_space(c: char) -> bool {
    c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        Rules::parse(text).expect("valid rules")
    }

    /// `r` leaves out every path in `ignored` and keeps every one in
    /// `kept`; a trailing `/` marks a directory.
    #[track_caller]
    fn check(r: &Rules, ignored: &[&str], kept: &[&str]) {
        for (paths, want) in [(ignored, true), (kept, false)] {
            for p in paths {
                let (path, is_dir) = match p.strip_suffix('/') {
                    Some(dir) => (dir, true),
                    None => (*p, false),
                };
                assert_eq!(r.ignore(path, is_dir), want, "{p:?} with {r:?}");
            }
        }
    }

    #[test]
    fn basename_rules_match_at_any_depth() {
        check(
            &rules("*.txt\n"),
            &["a.txt", "docs/deep/b.txt"],
            &["a.yaml"],
        );
    }

    #[test]
    fn anchored_rules_match_from_the_root_only() {
        check(
            &rules("/secret.yaml\n"),
            &["secret.yaml"],
            &["templates/secret.yaml"],
        );
    }

    #[test]
    fn structural_rules_match_the_whole_path() {
        check(
            &rules("docs/*.md\n"),
            &["docs/a.md"],
            &["docs/x/a.md", "a.md"],
        );
    }

    #[test]
    fn directory_rules_skip_files() {
        check(&rules("build/\n"), &["build/", "x/build/"], &["build"]);
    }

    #[test]
    fn negation_ignores_everything_that_does_not_match() {
        // Helm's checked behaviour: with `*.txt` then `!important.txt`,
        // Chart.yaml itself is ignored by the `!` rule, and important.txt
        // by the first rule (the first rule that decides wins).
        let ignored = ["a.txt", "important.txt", "Chart.yaml"];
        check(&rules("*.txt\n!important.txt\n"), &ignored, &[]);
        check(&rules("!Chart.yaml\n"), &["values.yaml"], &["Chart.yaml"]);
    }

    #[test]
    fn negated_directory_rule_ignores_every_file() {
        check(&rules("!templates/\n"), &["Chart.yaml"], &["templates/"]);
    }

    #[test]
    fn comments_blank_lines_and_spaces() {
        check(
            &rules("# *.yaml\n\n   *.bak   \r\n"),
            &["a.bak"],
            &["a.yaml"],
        );
    }

    #[test]
    fn no_inline_comments() {
        check(&rules("*.bak # old\n"), &["a.bak # old"], &["a.bak"]);
    }

    #[test]
    fn default_rule_hides_template_dotfiles() {
        check(
            &Rules::defaults(),
            &["templates/.swp", "templates/.git/"],
            &["templates/a.yaml", ".hidden", "charts/sub/templates/.x"],
        );
    }

    #[test]
    fn rejects_double_star_and_bad_globs() {
        let e = Rules::parse("a\n**/x\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("double-star"), "{e}");
        let e = Rules::parse("[a\n").unwrap_err().to_string();
        assert!(e.contains("syntax error in pattern"), "{e}");
    }

    #[test]
    fn root_is_never_ignored() {
        let r = rules("*\n");
        assert!(!r.ignore("", true));
        assert!(!r.ignore(".", true));
        assert!(r.ignore("x", false));
    }
}
