//! The Docker credential-helper protocol, answered with ECR tokens, so Helm
//! keeps working after the 12-hour token expires.
//!
//! Helm runs `docker-credential-helm-ecr get` (our binary under a second
//! name, see `install_link`) for every host whose `credHelpers` entry is
//! `helm-ecr`. `get` answers with a cached or fresh token; `store` and
//! `erase` are accepted and ignored, as tokens are derived, not stored.
//! Errors go to stdout: that is where Docker and Helm read them.

use crate::aws::{self, AwsOptions, Registry, Session};
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
    let result = (|| -> Result<aws::AuthToken, super::Error> {
        let http = crate::http::Http::new(crate::cli::CommonArgs::default().aws_http_options())?;
        let session = Session::for_registry_host(&options, &host, http)?;
        Ok(session.token(Registry::for_host(&host, registry_id.as_deref()))?)
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
pub fn install_link() -> Result<PathBuf, helm::Error> {
    let exe = std::env::current_exe().map_err(|e| helm::Error::Io {
        context: "cannot find the helm-ecr executable".into(),
        source: e,
    })?;
    let own_name = format!("helm-ecr{}", std::env::consts::EXE_SUFFIX);
    let plugin_bin = helm::env::var("HELM_PLUGIN_DIR")
        .map(|d| PathBuf::from(d).join("bin"))
        .filter(|b| b.join(&own_name).exists());
    let (dir, target) = match plugin_bin {
        Some(bin) => (bin.clone(), bin.join(&own_name)),
        None => {
            let dir = exe.parent().map(Path::to_path_buf).ok_or_else(|| {
                helm::Error::File("the helm-ecr executable has no directory".into())
            })?;
            (dir, exe.clone())
        }
    };
    let link = dir.join(link_name());
    if same_file(&link, &target) {
        return Ok(link);
    }
    if std::fs::symlink_metadata(&link).is_ok() {
        std::fs::remove_file(&link).map_err(|e| helm::Error::Io {
            context: format!("cannot replace {}", link.display()),
            source: e,
        })?;
    }
    make_link(&target, &link).map_err(|e| {
        helm::Error::File(format!(
            "cannot create {}: {e}: make that directory writable or link it yourself",
            link.display()
        ))
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

/// Puts a link to `link` (the helper in the plugin's bin/) into a directory
/// on PATH where Helm will find it, so registering the helper leaves nothing
/// to do by hand. Only a directory inside the user's home that the user owns
/// and may write is used (such as ~/.local/bin): never a system directory,
/// not even as root. Returns the link made, or None when there is no such
/// directory.
pub fn link_into_path(link: &Path) -> Result<Option<PathBuf>, helm::Error> {
    let (Some(home), Some(path)) = (dirs::home_dir(), std::env::var_os("PATH")) else {
        return Ok(None);
    };
    let Some(dir) = user_path_dir(&path, &home) else {
        return Ok(None);
    };
    let Some(name) = link.file_name() else {
        return Ok(None);
    };
    let placed = dir.join(name);
    // on_path() found no helper, so anything here is a dangling link.
    if std::fs::symlink_metadata(&placed).is_ok() {
        std::fs::remove_file(&placed).map_err(|e| helm::Error::Io {
            context: format!("cannot replace {}", placed.display()),
            source: e,
        })?;
    }
    // Through HELM_PLUGINS (not resolved): a reinstalled plugin is found again.
    let target = if link.is_absolute() {
        link.to_path_buf()
    } else {
        std::fs::canonicalize(link).map_err(|e| helm::Error::Io {
            context: link.display().to_string(),
            source: e,
        })?
    };
    path_link(&target, &placed).map_err(|e| {
        helm::Error::File(format!(
            "cannot create {}: {e}: link it yourself: ln -s '{}' '{}'",
            placed.display(),
            target.display(),
            placed.display()
        ))
    })?;
    Ok(Some(placed))
}

#[cfg(unix)]
fn path_link(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn path_link(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("not done on this OS"))
}

/// The first PATH entry inside `home` that is a directory owned by home's
/// owner with the owner-write bit set. Unix only: elsewhere the user adds
/// the plugin's bin/ to PATH.
#[cfg(unix)]
pub fn user_path_dir(path: &std::ffi::OsStr, home: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let home = std::fs::canonicalize(home).ok()?;
    let owner = std::fs::metadata(&home).ok()?.uid();
    std::env::split_paths(path)
        .filter(|d| d.is_absolute())
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .find(|d| {
            d.starts_with(&home)
                && std::fs::metadata(d)
                    .map(|m| m.is_dir() && m.uid() == owner && m.mode() & 0o200 != 0)
                    .unwrap_or(false)
        })
}

#[cfg(not(unix))]
pub fn user_path_dir(_path: &std::ffi::OsStr, _home: &Path) -> Option<PathBuf> {
    None
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "helm-ecr-unit-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn path_dir_is_a_writable_one_inside_home_never_a_system_one() {
        let root = scratch("pathdir");
        let home = root.join("home");
        let local = home.join(".local/bin");
        let locked = home.join("locked");
        let outside = root.join("outside");
        for d in [&local, &locked, &outside] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();

        assert_eq!(
            user_path_dir(&path(&[&outside, &locked, &local]), &home),
            Some(local.clone())
        );
        // Not inside home, not writable, missing, relative: none of them.
        assert_eq!(user_path_dir(&path(&[&outside, &locked]), &home), None);
        assert_eq!(
            user_path_dir(&path(&[&home.join("absent"), Path::new("bin")]), &home),
            None
        );
        assert_eq!(
            user_path_dir(&path(&[Path::new("/usr/bin"), Path::new("/bin")]), &home),
            None
        );
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }
}
