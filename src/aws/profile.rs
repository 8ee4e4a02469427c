//! The shared config and credentials files (INI): profiles, `sso-session`
//! and `services` sections, with the credentials file winning on conflicts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::env::Env;
use super::Error;

/// Keys and values of one section; `sub` holds indented blocks such as
/// `ecr =\n  endpoint_url = ...` in a `services` section.
#[derive(Clone, Default, PartialEq)]
pub struct Section {
    pub props: BTreeMap<String, String>,
    pub sub: BTreeMap<String, BTreeMap<String, String>>,
}

impl std::fmt::Debug for Section {
    // Sections hold aws_secret_access_key and aws_session_token: keys only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Section")
            .field("keys", &self.props.keys().collect::<Vec<_>>())
            .field("sub", &self.sub.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn sub_get(&self, block: &str, key: &str) -> Option<&str> {
        self.sub
            .get(block)?
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    pub profiles: HashMap<String, Section>,
    pub sso_sessions: HashMap<String, Section>,
    pub services: HashMap<String, Section>,
    /// The files read, for messages.
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq)]
pub enum FileKind {
    Config,
    Credentials,
}

impl ProfileSet {
    /// Read both files (a missing file is empty, as for the AWS CLI).
    pub fn load(env: &Env) -> Result<ProfileSet, Error> {
        let mut set = ProfileSet::default();
        let files = [
            (env.config_file(), FileKind::Config),
            (env.credentials_file(), FileKind::Credentials),
        ];
        for (path, kind) in files {
            let Some(path) = path else { continue };
            match std::fs::read_to_string(&path) {
                Ok(text) => set.add(&path, &text, kind)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        context: format!("cannot read AWS file {}", path.display()),
                        source: e,
                    })
                }
            }
            set.files.push(path);
        }
        Ok(set)
    }

    pub fn profile(&self, name: &str) -> Option<&Section> {
        self.profiles.get(name)
    }

    /// The files, for "profile X not found in ..." messages.
    pub fn describe_files(&self) -> String {
        if self.files.is_empty() {
            return "the AWS config and credentials files (no home directory)".into();
        }
        self.files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// Merge one file's text. Later files win key by key, so load the config
    /// file first and the credentials file second.
    pub fn add(&mut self, path: &Path, text: &str, kind: FileKind) -> Result<(), Error> {
        let sections = parse_ini(text).map_err(|(line, why)| {
            Error::Config(format!(
                "AWS file {} line {line}: {why}: fix or remove that line",
                path.display()
            ))
        })?;
        // `[profile default]` beats `[default]` in the config file.
        let mut seen_profile_default = false;
        for (header, section) in sections {
            let header = header.trim();
            let (map, name) = match kind {
                FileKind::Credentials => (&mut self.profiles, header.to_string()),
                FileKind::Config => {
                    if header == "default" {
                        if seen_profile_default {
                            continue;
                        }
                        (&mut self.profiles, "default".to_string())
                    } else if let Some(n) = strip_kw(header, "profile") {
                        if n == "default" && !seen_profile_default {
                            seen_profile_default = true;
                            self.profiles.remove("default");
                        }
                        (&mut self.profiles, n.to_string())
                    } else if let Some(n) = strip_kw(header, "sso-session") {
                        (&mut self.sso_sessions, n.to_string())
                    } else if let Some(n) = strip_kw(header, "services") {
                        (&mut self.services, n.to_string())
                    } else {
                        // The AWS CLI ignores other sections (e.g. `[foo]`).
                        continue;
                    }
                }
            };
            let entry = map.entry(name).or_default();
            entry.props.extend(section.props);
            for (k, v) in section.sub {
                entry.sub.entry(k).or_default().extend(v);
            }
        }
        Ok(())
    }
}

fn strip_kw<'a>(header: &'a str, kw: &str) -> Option<&'a str> {
    let rest = header.strip_prefix(kw)?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let name = rest.trim();
    (!name.is_empty()).then_some(name)
}

fn strip_inline_comment(v: &str) -> &str {
    let mut cut = v.len();
    for pat in [" #", "\t#", " ;", "\t;"] {
        if let Some(i) = v.find(pat) {
            cut = cut.min(i);
        }
    }
    v[..cut].trim()
}

type Parsed = Vec<(String, Section)>;

/// INI as the AWS CLI reads it: `[header]`, `key = value`, `#`/`;` comments,
/// indented lines after `key =` forming a block of sub-keys, other indented
/// lines continuing the previous value.
fn parse_ini(text: &str) -> Result<Parsed, (usize, &'static str)> {
    let mut out: Parsed = Vec::new();
    let mut last_key: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if trimmed.starts_with('[') && !indented {
            let end = trimmed
                .find(']')
                .ok_or((lineno, "section header without `]`"))?;
            out.push((trimmed[1..end].to_string(), Section::default()));
            last_key = None;
            continue;
        }
        let Some((_, section)) = out.last_mut() else {
            return Err((lineno, "setting outside of any [section]"));
        };
        if indented {
            let Some(key) = &last_key else {
                return Err((lineno, "indented line without a setting above it"));
            };
            let parent_empty = section.props.get(key).is_some_and(String::is_empty)
                || section.sub.contains_key(key);
            if parent_empty {
                let (k, v) = trimmed
                    .split_once('=')
                    .ok_or((lineno, "expected `key = value` in an indented block"))?;
                section
                    .sub
                    .entry(key.clone())
                    .or_default()
                    .insert(k.trim().to_string(), strip_inline_comment(v).to_string());
            } else if let Some(v) = section.props.get_mut(key) {
                v.push('\n');
                v.push_str(trimmed);
            }
            continue;
        }
        let (k, v) = trimmed
            .split_once('=')
            .ok_or((lineno, "expected `key = value`"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err((lineno, "empty key before `=`"));
        }
        section
            .props
            .insert(k.to_string(), strip_inline_comment(v).to_string());
        last_key = Some(k.to_string());
    }
    Ok(out)
}

/// Which profile the user selected: `--profile`, then AWS_PROFILE, then
/// `default`; `explicit` tells whether the user named it (a named profile
/// that does not exist is an error, a missing `default` is not).
pub fn selected_profile(cli: Option<&str>, env: &Env) -> (String, bool) {
    match cli
        .filter(|s| !s.is_empty())
        .or_else(|| env.get("AWS_PROFILE"))
    {
        Some(name) => (name.trim().to_string(), true),
        None => ("default".to_string(), false),
    }
}

/// A profile set from one config file's text (tests).
#[cfg(test)]
pub(crate) fn test_profiles(config: &str) -> ProfileSet {
    let mut s = ProfileSet::default();
    s.add(Path::new("config"), config, FileKind::Config)
        .unwrap();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(config: &str, creds: &str) -> ProfileSet {
        let mut s = ProfileSet::default();
        s.add(Path::new("config"), config, FileKind::Config)
            .unwrap();
        s.add(Path::new("credentials"), creds, FileKind::Credentials)
            .unwrap();
        s
    }

    #[test]
    fn config_and_credentials_merge_with_credentials_winning() {
        let s = set(
            "[default]\nregion = us-west-2\n[profile dev]\nregion=eu-west-1 # comment\naws_access_key_id = CFG\n\
             [sso-session corp]\nsso_region = us-east-1\n[ignored]\nx=y\n",
            "[dev]\naws_access_key_id = CRED\naws_secret_access_key = s/k+#x\n[default]\naws_access_key_id=D\n",
        );
        let dev = s.profile("dev").unwrap();
        assert_eq!(dev.get("region"), Some("eu-west-1"));
        assert_eq!(dev.get("aws_access_key_id"), Some("CRED"));
        assert_eq!(dev.get("aws_secret_access_key"), Some("s/k+#x"));
        assert_eq!(
            s.profile("default").unwrap().get("region"),
            Some("us-west-2")
        );
        assert_eq!(
            s.profile("default").unwrap().get("aws_access_key_id"),
            Some("D")
        );
        assert_eq!(s.sso_sessions["corp"].get("sso_region"), Some("us-east-1"));
        assert!(s.profile("ignored").is_none());
    }

    #[test]
    fn profile_default_beats_plain_default() {
        let s = set("[profile default]\nregion = a\n[default]\nregion = b\n", "");
        assert_eq!(s.profile("default").unwrap().get("region"), Some("a"));
        let s = set("[default]\nregion = b\n[profile default]\nregion = a\n", "");
        assert_eq!(s.profile("default").unwrap().get("region"), Some("a"));
    }

    #[test]
    fn sub_blocks_and_services() {
        let s = set(
            "[profile p]\nservices = local\n[services local]\necr =\n  endpoint_url = http://127.0.0.1:5000\nsts =\n  endpoint_url = http://127.0.0.1:5001\n",
            "",
        );
        let svc = &s.services["local"];
        assert_eq!(
            svc.sub_get("ecr", "endpoint_url"),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            svc.sub_get("sts", "endpoint_url"),
            Some("http://127.0.0.1:5001")
        );
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let mut s = ProfileSet::default();
        let e = s
            .add(
                Path::new("/c"),
                "[default]\nregion us-east-1\n",
                FileKind::Config,
            )
            .unwrap_err();
        assert!(e.to_string().contains("/c line 2"), "{e}");
        let e = s
            .add(Path::new("/c"), "x = y\n", FileKind::Config)
            .unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn debug_hides_values() {
        let s = set("", "[a]\naws_secret_access_key = TOPSECRET\n");
        assert!(!format!("{s:?}").contains("TOPSECRET"));
    }

    #[test]
    fn selection_precedence() {
        let env = Env::from_pairs([("AWS_PROFILE", "envp")]);
        assert_eq!(selected_profile(Some("cli"), &env), ("cli".into(), true));
        assert_eq!(selected_profile(None, &env), ("envp".into(), true));
        assert_eq!(
            selected_profile(None, &Env::default()),
            ("default".into(), false)
        );
    }
}
