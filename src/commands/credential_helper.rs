//! The Docker credential-helper protocol, answered with ECR tokens, so Helm
//! keeps working after the 12-hour token expires.
//!
//! Helm runs `docker-credential-helm-ecr get` (our binary under a second
//! name, see `install_link`) for every host whose `credHelpers` entry is
//! `helm-ecr`. `get` answers with a cached or fresh token; `store` and
//! `erase` are accepted and ignored, as tokens are derived, not stored.
//! Errors go to stdout: that is where Docker and Helm read them.

use crate::aws::{self, AwsOptions, Session};
use crate::helm::{self, credential_helper as protocol, helper_settings, HELPER_NAME};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// get, store, erase, list or version (the protocol's verb).
    #[arg(value_name = "VERB")]
    pub verb: String,
}

const PREFIX: &str = "docker-credential-";

/// When argv[0] is `docker-credential-*`, run as the helper and return the
/// exit status; otherwise None.
pub fn run_if_invoked_as_helper() -> Option<i32> {
    let mut args = std::env::args_os();
    let argv0 = PathBuf::from(args.next()?);
    let name = argv0.file_name()?.to_string_lossy().into_owned();
    if !name.starts_with(PREFIX) {
        return None;
    }
    let verb = args
        .next()
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(serve(&verb))
}

pub fn run(args: Args) -> i32 {
    serve(&args.verb)
}

fn serve(verb: &str) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (code, text) = match verb {
        "get" => match read_stdin() {
            Ok(input) => get(&protocol::parse_url_request(&input)),
            Err(e) => (1, e),
        },
        // Tokens are derived on demand: nothing to keep or forget.
        "store" | "erase" => {
            let _ = read_stdin();
            (0, String::new())
        }
        "list" => list(),
        "version" => (0, format!("{PREFIX}{HELPER_NAME} {}", env!("CARGO_PKG_VERSION"))),
        _ => (
            1,
            format!("Usage: {PREFIX}{HELPER_NAME} <get|store|erase|list|version> (Docker credential-helper protocol)"),
        ),
    };
    if !text.is_empty() {
        let _ = writeln!(out, "{text}");
    }
    code
}

fn read_stdin() -> Result<String, String> {
    let mut s = String::new();
    // A server URL or a small JSON message: cap what we hold in memory.
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read the request on stdin: {e}"))?;
    Ok(s)
}

fn get(server_url: &str) -> (i32, String) {
    let host = helm::host_key(server_url);
    let settings = match helper_settings::read(&helm::env::helper_settings_path(), &host) {
        Ok(s) => s,
        Err(e) => return (1, e.to_string()),
    };
    let public = aws::is_ecr_public_host(&host);
    let ecr = aws::parse_ecr_host(&host);
    // A host that is neither an ECR name nor registered with us is not ours
    // to answer for: "not found" lets Helm carry on anonymously.
    if !public && ecr.is_none() && settings.is_none() {
        return (1, protocol::NOT_FOUND.to_string());
    }
    let settings = settings.unwrap_or_default();
    let options = AwsOptions {
        profile: settings.profile.clone(),
        region: settings.region.clone(),
    };
    let registry_id = ecr
        .as_ref()
        .map(|e| e.account.clone())
        .or(settings.registry_id.clone());
    let result = (|| -> Result<aws::AuthToken, String> {
        let http = crate::http::Http::new(crate::cli::CommonArgs::default().aws_http_options())?;
        let session = match (&ecr, public) {
            (Some(host), false) => Session::for_ecr_host(&options, host, http),
            (_, true) => Session::new(&options, Some("us-east-1"), http),
            (None, false) => Session::new(&options, None, http),
        }
        .map_err(|e| e.to_string())?;
        let token = if public {
            match session.cached_public_token() {
                Some(t) => Ok(t),
                None => session.fetch_public_token(),
            }
        } else {
            match session.cached_token(registry_id.as_deref()) {
                Some(t) => Ok(t),
                None => session.fetch_token(registry_id.as_deref()),
            }
        };
        token.map_err(|e| e.to_string())
    })();
    match result {
        Ok(token) => {
            let auth = helm::Auth {
                username: token.username,
                password: token.password,
            };
            (0, protocol::format_message(server_url, &auth))
        }
        Err(e) => (1, format!("helm-ecr: no ECR token for {host}: {e}")),
    }
}

fn list() -> (i32, String) {
    let path = helm::env::helper_settings_path();
    let doc = match helm::atomic::read(&path) {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => return (1, e.to_string()),
    };
    let map: serde_json::Map<String, serde_json::Value> = helper_settings::host_names(&doc)
        .into_iter()
        .map(|h| (h, serde_json::Value::String("AWS".into())))
        .collect();
    (0, serde_json::Value::Object(map).to_string())
}

/// The helper's executable name on this OS.
pub fn link_name() -> String {
    format!("{PREFIX}{HELPER_NAME}{}", std::env::consts::EXE_SUFFIX)
}

/// Make `docker-credential-helm-ecr` exist beside our binary: in the
/// plugin's `bin/` when run as a plugin (a relative link, so it follows the
/// binary when the plugin is updated), else beside the running executable.
pub fn install_link() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the helm-ecr executable: {e}"))?;
    let own_name = format!("helm-ecr{}", std::env::consts::EXE_SUFFIX);
    let plugin_bin = helm::env::var("HELM_PLUGIN_DIR")
        .map(|d| PathBuf::from(d).join("bin"))
        .filter(|b| b.join(&own_name).exists());
    let (dir, target) = match plugin_bin {
        Some(bin) => (bin.clone(), bin.join(&own_name)),
        None => {
            let dir = exe
                .parent()
                .map(Path::to_path_buf)
                .ok_or("the helm-ecr executable has no directory")?;
            (dir, exe.clone())
        }
    };
    let link = dir.join(link_name());
    if same_file(&link, &target) {
        return Ok(link);
    }
    if std::fs::symlink_metadata(&link).is_ok() {
        std::fs::remove_file(&link)
            .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
    }
    make_link(&target, &link).map_err(|e| {
        format!(
            "cannot create {}: {e}: make that directory writable or link it yourself",
            link.display()
        )
    })?;
    Ok(link)
}

#[cfg(unix)]
fn make_link(target: &Path, link: &Path) -> std::io::Result<()> {
    // Same directory: a relative link survives moving the whole plugin.
    let rel = match (target.parent(), link.parent(), target.file_name()) {
        (Some(a), Some(b), Some(name)) if a == b => PathBuf::from(name),
        _ => target.to_path_buf(),
    };
    std::os::unix::fs::symlink(rel, link)
}

#[cfg(not(unix))]
fn make_link(target: &Path, link: &Path) -> std::io::Result<()> {
    // Symlinks need privileges on Windows: a hard link, else a copy.
    std::fs::hard_link(target, link).or_else(|_| std::fs::copy(target, link).map(|_| ()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// What PATH finds under the helper's name.
#[derive(Debug, PartialEq, Eq)]
pub enum PathCheck {
    Ours,
    /// Not found: add this directory to PATH.
    Missing(PathBuf),
    /// Another executable of that name comes first.
    Other(PathBuf),
}

pub fn on_path(link: &Path) -> PathCheck {
    let dir = link.parent().map(Path::to_path_buf).unwrap_or_default();
    let Some(name) = link.file_name() else {
        return PathCheck::Missing(dir);
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        let candidate = d.join(name);
        if candidate.is_file() {
            return if same_file(&candidate, link) {
                PathCheck::Ours
            } else {
                PathCheck::Other(candidate)
            };
        }
    }
    PathCheck::Missing(dir)
}
