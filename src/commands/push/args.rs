//! Splitting `helm ecr-push`'s positional arguments into charts and the one
//! `oci://` remote, before anything is packaged or pushed.

use crate::commands::Error;
use crate::oci::{self, Remote};

/// `--tags KEY=VALUE`, as clap's value parser (it quotes our line).
pub(super) fn parse_tag(s: &str) -> Result<(String, String), Error> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(Error::usage(format!("{s}: a tag is KEY=VALUE"))),
    }
}

/// The charts, and the one `oci://` remote if any (it may come anywhere).
/// An argument that reads as another kind of remote and is no path on disk
/// is refused, so a mistyped remote never sends a chart elsewhere.
pub(super) fn split_arguments(
    args: &[String],
    on_disk: impl Fn(&str) -> bool,
) -> Result<(Vec<String>, Option<Remote>), Error> {
    let mut charts = Vec::new();
    let mut remote = None;
    for a in args {
        if !a.starts_with("oci://") && looks_like_a_remote(a) && !on_disk(a) {
            return Err(Error::usage(format!(
                "{}: the remote must start with oci:// (oci://HOST[:PORT]/NAMESPACE); a chart \
                 is a directory or .tgz on disk",
                crate::http::redact_url(a)
            )));
        }
        if a.starts_with("oci://") {
            // Parsed before it is echoed: parse_remote refuses (and redacts)
            // credentials written into the URL.
            let parsed = oci::parse_remote(a)?;
            if remote.is_some() {
                return Err(Error::usage(format!(
                    "oci://{}/{}: more than one oci:// remote given; push to one remote per call",
                    parsed.registry, parsed.namespace
                )));
            }
            remote = Some(parsed);
        } else {
            charts.push(a.clone());
        }
    }
    if charts.is_empty() {
        return Err(Error::usage(
            "no chart given: pass a chart directory or .tgz",
        ));
    }
    Ok((charts, remote))
}

/// `SCHEME://...` or `HOST:PORT[/...]`: what a registry address looks like.
pub(super) fn looks_like_a_remote(arg: &str) -> bool {
    if let Some((scheme, _)) = arg.split_once("://") {
        return !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    }
    let authority = arg.split('/').next().unwrap_or(arg);
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'))
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
}
