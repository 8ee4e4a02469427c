//! Helm's `Metadata.Validate`: sanitise, then check; and the Go pieces it
//! relies on (`sanitizeString`, Masterminds/semver's lenient parse).

use super::super::Error;
use super::ChartMeta;

impl ChartMeta {
    /// Helm's `Metadata.Validate`: sanitise, then check. Errors name the
    /// field and say what to do.
    pub fn validate(&mut self) -> Result<(), Error> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        if self.api_version.is_empty() {
            return Err(Error::invalid(
                "Chart.yaml: apiVersion is required; set apiVersion: v2",
            ));
        }
        if self.name.is_empty() {
            return Err(Error::invalid(
                "Chart.yaml: name is required; set name to the chart's name",
            ));
        }
        if self.name != base_name(&self.name) {
            return Err(Error::invalid(format!(
                "Chart.yaml: name {:?} is invalid: it must be a plain name without '/'",
                self.name
            )));
        }
        if self.version.is_empty() {
            return Err(Error::invalid(
                "Chart.yaml: version is required; set version to a SemVer such as 1.0.0",
            ));
        }
        if !is_lenient_semver(&self.version) {
            return Err(Error::invalid(format!(
                "Chart.yaml: version {:?} is invalid: use a SemVer such as 1.0.0",
                self.version
            )));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return Err(Error::invalid(format!(
                "Chart.yaml: type {:?} is invalid: it must be application or library",
                self.chart_type
            )));
        }
        for m in &mut self.maintainers {
            let m = present(m, "maintainers")?;
            for s in [&mut m.name, &mut m.email, &mut m.url] {
                *s = sanitize(s);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for d in &mut self.dependencies {
            let d = present(d, "dependencies")?;
            let fields = [
                &mut d.name,
                &mut d.version,
                &mut d.repository,
                &mut d.condition,
            ];
            for s in fields.into_iter().chain(&mut d.tags) {
                *s = sanitize(s);
            }
            if !d.alias.is_empty()
                && !d
                    .alias
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(Error::invalid(format!(
                    "Chart.yaml: dependency {:?} has disallowed characters in the alias; use letters, digits, '-' and '_'",
                    d.name
                )));
            }
            let key = if d.alias.is_empty() {
                &d.name
            } else {
                &d.alias
            };
            if !seen.insert(key.clone()) {
                return Err(Error::invalid(format!(
                    "Chart.yaml: more than one dependency with name or alias {key:?}; give them distinct aliases"
                )));
            }
        }
        Ok(())
    }
}

/// An entry of the list `name`, which Helm refuses to be empty or null.
fn present<'a, T>(entry: &'a mut Option<T>, name: &str) -> Result<&'a mut T, Error> {
    entry.as_mut().ok_or_else(|| {
        Error::invalid(format!(
            "Chart.yaml: {name} must not contain empty or null entries"
        ))
    })
}

/// `filepath.Base` on Unix.
fn base_name(s: &str) -> &str {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        return if s.is_empty() { "." } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
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
    use super::super::parse_yaml;
    use super::super::tests::meta;
    use super::*;

    #[test]
    fn validation_errors() {
        let cases = [
            ("name: a\nversion: 1.0.0\n", "apiVersion is required"),
            ("apiVersion: v2\nversion: 1.0.0\n", "name is required"),
            ("apiVersion: v2\nname: a/b\nversion: 1.0.0\n", "is invalid"),
            ("apiVersion: v2\nname: a\n", "version is required"),
            ("apiVersion: v2\nname: a\nversion: latest\n", "version \"latest\" is invalid"),
            ("apiVersion: v2\nname: a\nversion: 1.0.0\ntype: app\n", "application or library"),
            (
                "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: [{name: x}, {name: y, alias: x}]\n",
                "more than one dependency",
            ),
            (
                "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: [{name: x, alias: a.b}]\n",
                "alias",
            ),
            (
                "apiVersion: v2\nname: a\nversion: 1.0.0\nmaintainers: [~]\n",
                "maintainers must not contain empty or null entries",
            ),
            (
                "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: [{name: x}, ~]\n",
                "dependencies must not contain empty or null entries",
            ),
        ];
        for (yaml, want) in cases {
            let err = meta(yaml).validate().unwrap_err().to_string();
            assert!(err.contains(want), "{yaml:?}: {err}");
        }
        let mut m = ChartMeta::default();
        let e = m
            .apply(
                &parse_yaml(b"maintainers: foo\n", "Chart.yaml").expect("yaml"),
                "Chart.yaml",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("maintainers must be a list"), "{e}");
    }

    #[test]
    fn sanitises_like_helm() {
        let mut m =
            meta("apiVersion: v2\nname: a\nversion: 1.0.0\ndescription: \"a\\tb\\u0001\"\n");
        m.validate().expect("valid");
        assert_eq!(m.description, "a b");
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
