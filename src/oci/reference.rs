//! Remotes (`oci://HOST[:PORT]/NS`) and references (`HOST/REPO:TAG`), checked
//! against the OCI distribution grammar so a typo fails before any request.

use super::error::{Error, ErrorKind};
use crate::text::printable;
use std::fmt;

/// `oci://HOST[:PORT]/NAMESPACE`, the remote given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `HOST[:PORT]`
    pub registry: String,
    /// May be empty (`oci://HOST`).
    pub namespace: String,
}

/// `HOST[:PORT]/REPOSITORY:TAG`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// Distribution and most clients cap `HOST/NAME` at 255 characters.
const MAX_NAME: usize = 255;

/// Messages quote what was typed: control characters in it (a pasted
/// newline) are shown escaped, so an error stays one line.
fn invalid(msg: String) -> Error {
    Error::with_kind(ErrorKind::InvalidReference, printable(&msg))
}

/// `scheme://user:PASSWORD@host/...` with the password replaced, for
/// messages that quote what the user typed.
fn without_password(s: &str) -> std::borrow::Cow<'_, str> {
    let start = s.find("://").map_or(0, |i| i + 3);
    let authority_end = s[start..].find('/').map_or(s.len(), |i| start + i);
    let Some(at) = s[start..authority_end].rfind('@').map(|i| start + i) else {
        return s.into();
    };
    match s[start..at].find(':') {
        Some(colon) => format!("{}:<redacted>{}", &s[..start + colon], &s[at..]).into(),
        None => s.into(),
    }
}

/// Parse `oci://HOST[:PORT][/NAMESPACE]`.
pub fn parse_remote(s: &str) -> Result<Remote, Error> {
    let s = &*without_password(s);
    let rest = s.strip_prefix("oci://").ok_or_else(|| {
        invalid(format!(
            "{s}: a remote must look like oci://HOST[:PORT]/NAMESPACE"
        ))
    })?;
    if let Some(c) = rest.chars().find(|c| matches!(c, '?' | '#' | '@' | ' ')) {
        return Err(invalid(format!(
            "{s}: '{c}' is not allowed in a remote; use oci://HOST[:PORT]/NAMESPACE"
        )));
    }
    let rest = rest.trim_end_matches('/');
    let (registry, namespace) = rest.split_once('/').unwrap_or((rest, ""));
    validate_registry(registry).map_err(|m| invalid(format!("{s}: {m}")))?;
    if !namespace.is_empty() {
        if let Some((_, tag)) = namespace.rsplit_once(':') {
            return Err(invalid(format!(
                "{s}: a remote names a namespace, not a tag (':{tag}'); the tag comes from the chart version"
            )));
        }
        validate_repository(namespace).map_err(|m| invalid(format!("{s}: {m}")))?;
    }
    Ok(Remote {
        registry: registry.to_string(),
        namespace: namespace.to_string(),
    })
}

impl Remote {
    /// The reference `helm push` builds: `HOST/NS/NAME:TAG`, TAG = version with
    /// `+` replaced by `_`. Not checked: see [`Remote::try_reference`].
    pub fn reference(&self, name: &str, version: &str) -> Reference {
        let repository = if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}/{}", self.namespace, name)
        };
        Reference {
            registry: self.registry.clone(),
            repository,
            tag: version.replace('+', "_"),
        }
    }

    /// [`Remote::reference`], checked against the distribution grammar.
    pub fn try_reference(&self, name: &str, version: &str) -> Result<Reference, Error> {
        let r = self.reference(name, version);
        r.validate()?;
        Ok(r)
    }
}

impl Reference {
    pub fn validate(&self) -> Result<(), Error> {
        validate_registry(&self.registry).map_err(|m| invalid(format!("{self}: {m}")))?;
        validate_repository(&self.repository).map_err(|m| invalid(format!("{self}: {m}")))?;
        if self.registry.len() + 1 + self.repository.len() > MAX_NAME {
            return Err(invalid(format!(
                "{self}: HOST/REPOSITORY is longer than {MAX_NAME} characters"
            )));
        }
        validate_tag(&self.tag).map_err(|m| invalid(format!("{self}: {m}")))
    }
}

/// A registry host, repository name or tag that breaks the name grammar:
/// one line saying which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidName(String);

/// `HOST[:PORT]`: DNS labels or an IPv4 address or `[IPv6]`, optional port.
pub fn validate_registry(registry: &str) -> Result<(), InvalidName> {
    registry_problem(registry).map_err(|m| InvalidName(printable(&m).into_owned()))
}

fn registry_problem(registry: &str) -> Result<(), String> {
    if registry.is_empty() {
        return Err("no registry host".into());
    }
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry '{registry}': unclosed '['"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry '{registry}': not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("registry '{registry}': junk after ']'"))?,
                ),
            ),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!("'{host}' is not a valid registry host name"));
        }
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("'{port}' is not a valid port")),
        }
    }
    Ok(())
}

/// Repository name: `/`-separated components, each
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn validate_repository(repo: &str) -> Result<(), InvalidName> {
    repository_problem(repo).map_err(|m| InvalidName(printable(&m).into_owned()))
}

fn repository_problem(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("empty repository name".into());
    }
    if repo.len() > MAX_NAME {
        return Err(format!(
            "repository name is longer than {MAX_NAME} characters"
        ));
    }
    for comp in repo.split('/') {
        if comp.is_empty() {
            return Err(format!(
                "repository '{repo}' has an empty path component ('//')"
            ));
        }
        if comp.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "repository '{repo}' has upper-case letters: OCI repository names are lower case"
            ));
        }
        if !component_ok(comp) {
            return Err(format!(
                "'{comp}' in repository '{repo}' is not a valid name component: use \
                 lower-case letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), InvalidName> {
    tag_problem(tag).map_err(|m| InvalidName(printable(&m).into_owned()))
}

fn tag_problem(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    if b.is_empty() {
        return Err("empty tag (the chart version)".into());
    }
    if b.len() > 128 {
        return Err(format!("tag '{tag}' is longer than 128 characters"));
    }
    if !word(b[0]) {
        return Err(format!(
            "tag '{tag}' must start with a letter, digit or '_'"
        ));
    }
    if let Some(c) = tag
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
    {
        return Err(format!(
            "tag '{tag}' contains '{c}': tags allow letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remotes() {
        let r = parse_remote("oci://123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/charts/")
            .unwrap();
        assert_eq!(r.registry, "123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(r.namespace, "team/charts");
        let r = parse_remote("oci://127.0.0.1:5000").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.namespace.as_str()),
            ("127.0.0.1:5000", "")
        );
        let r = parse_remote("oci://[::1]:5000/a").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
    }

    #[test]
    fn a_password_in_a_remote_is_never_quoted() {
        for input in [
            "oci://AWS:s3cr3t@reg/ns",
            "oci://u:s3cr3t@reg?x/ns",
            "https://u:s3cr3t@reg/ns",
        ] {
            let e = parse_remote(input).unwrap_err().to_string();
            assert!(!e.contains("s3cr3t") && e.contains("<redacted>"), "{e}");
        }
        assert_eq!(without_password("oci://reg/a@b:c"), "oci://reg/a@b:c");
    }

    #[test]
    fn rejects_bad_remotes_with_a_reason() {
        for (input, needle) in [
            ("https://reg/x", "oci://HOST"),
            ("oci://", "no registry host"),
            ("oci:///ns", "no registry host"),
            ("oci://reg:99999/ns", "not a valid port"),
            ("oci://reg:/ns", "not a valid port"),
            ("oci://re_g/ns", "not a valid registry host"),
            ("oci://reg/Team", "lower case"),
            ("oci://reg/a//b", "empty path component"),
            ("oci://reg/a-/b", "not a valid name component"),
            ("oci://reg/ns:1.0", "not a tag"),
            ("oci://user@reg/ns", "'@'"),
            ("oci://reg/ns?x=1", "'?'"),
        ] {
            let e = parse_remote(input).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidReference);
            assert!(e.to_string().contains(needle), "{input}: {e}");
            assert!(e.to_string().starts_with(input), "{input}: {e}");
        }
    }

    #[test]
    fn builds_references_like_helm() {
        let r = parse_remote("oci://reg:5000/ns").unwrap();
        let reference = r.try_reference("mychart", "1.2.3+build.5").unwrap();
        assert_eq!(reference.to_string(), "reg:5000/ns/mychart:1.2.3_build.5");
        let bare = parse_remote("oci://reg")
            .unwrap()
            .try_reference("c", "0.1.0")
            .unwrap();
        assert_eq!(bare.to_string(), "reg/c:0.1.0");
    }

    #[test]
    fn reference_validation() {
        let r = parse_remote("oci://reg/ns").unwrap();
        assert!(r
            .try_reference("My_Chart", "1.0.0")
            .unwrap_err()
            .to_string()
            .contains("lower case"));
        assert!(r.try_reference("c", "-1").is_err());
        assert!(r
            .try_reference("c", "1.0.0/x")
            .unwrap_err()
            .to_string()
            .contains("'/'"));
        assert!(r.try_reference("c", &"1".repeat(129)).is_err());
        assert!(r.try_reference(&"a".repeat(300), "1").is_err());
    }

    #[test]
    fn component_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "0x", "helm-charts"] {
            assert!(component_ok(ok), "{ok}");
        }
        for bad in ["_a", "a_", "a___b", "a._b", "a..b", "-a", "a.-b"] {
            assert!(!component_ok(bad), "{bad}");
        }
    }
}
