//! Temporary archives that never outlive the process.
//!
//! On Linux the archive pushed from TMPDIR is an unnamed file (`O_TMPFILE`)
//! reached through `/proc/self/fd/N` while it is held open: the kernel frees
//! it however the process ends, SIGKILL included. Elsewhere, and for the
//! half-written file in `--destination`, the file has a name: it is
//! registered here and removed on SIGINT, SIGTERM and SIGHUP before the
//! process dies of the signal, and files of ours that a killed process left
//! (owner gone, older than [`STALE_AFTER`]) are swept on the next run.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// A temp file whose owner is gone is left alone this long: another pid
/// namespace sharing the directory could still be using it.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove `path` if the process is stopped by a signal before
/// [`forget`] is called for it.
pub fn register(path: &Path) {
    install_handler();
    live().push(path.to_path_buf());
}

/// `path` was renamed or removed: nothing to do for it on a signal.
pub fn forget(path: &Path) {
    live().retain(|p| p != path);
}

#[cfg(unix)]
fn install_handler() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    HANDLER.call_once(|| {
        // The signal is handled on a thread of its own, in normal context,
        // so removing files there is safe; then the process dies of the
        // signal as it would have without us.
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("temp-cleanup".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    for p in live().drain(..) {
                        let _ = fs::remove_file(p);
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    std::process::exit(128 + sig);
                }
            });
        drop(spawned);
    });
}

#[cfg(not(unix))]
fn install_handler() {}

/// An unnamed file in `dir`, readable by the user alone, with a path that
/// reopens it while the returned handles live: (path, writer, holder).
/// `None` where the OS or file system cannot make one.
#[cfg(target_os = "linux")]
pub fn anonymous(dir: &Path) -> Option<(PathBuf, File, File)> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir)
        .ok()?;
    // The writer is closed when the archive is written; the path names the
    // holder's descriptor, which lives as long as the packaged chart.
    let holder = file.try_clone().ok()?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", holder.as_raw_fd()));
    // The upload reopens the archive by path: make sure that works here
    // (no /proc in some sandboxes).
    File::open(&path).ok()?;
    Some((path, file, holder))
}

#[cfg(not(target_os = "linux"))]
pub fn anonymous(_dir: &Path) -> Option<(PathBuf, File, File)> {
    None
}

/// `{prefix}.{pid}-{n}-{nanos}.tmp` as [`super::create_unique`] names its
/// files: the owner's pid, if `name` is one of ours.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_suffix(".tmp")?;
    let (prefix, id) = rest.rsplit_once('.')?;
    let ours = (prefix.starts_with("helm-ecr-") && prefix.ends_with(".tgz"))
        || (prefix.starts_with('.') && prefix.ends_with(".tgz"))
        || prefix == ".helm-ecr-copy";
    let mut parts = id.split('-');
    let pid = parts.next()?.parse().ok()?;
    let rest_ok = parts.count() == 2
        && id
            .split('-')
            .skip(1)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (ours && rest_ok).then_some(pid)
}

fn process_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    // Without /proc the age alone has to do (see `sweep`).
    true
}

/// Remove files of ours in `dir` that a killed process left behind: owner
/// gone, untouched for [`STALE_AFTER`] (a day where liveness cannot be
/// checked), owned by this user. Errors are ignored: this is tidying up.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let can_check = cfg!(target_os = "linux") && Path::new("/proc/self").exists();
    let min_age = if can_check {
        STALE_AFTER
    } else {
        Duration::from_secs(24 * 3600)
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() || !mine(&meta) {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= min_age);
        if old && process_gone(pid) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(unix)]
fn mine(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file we create is our effective uid; without libc's
    // geteuid, compare with a file we certainly own.
    static UID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let uid = UID.get_or_init(|| fs::metadata("/proc/self").ok().map(|m| m.uid()));
    uid.is_none_or(|u| meta.uid() == u)
}

#[cfg(not(unix))]
fn mine(_: &fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_ours() {
        assert_eq!(owner_pid("helm-ecr-app-1.0.0.tgz.123-0-456.tmp"), Some(123));
        assert_eq!(owner_pid(".app-1.0.0.tgz.77-3-9.tmp"), Some(77));
        assert_eq!(owner_pid(".helm-ecr-copy.5-0-1.tmp"), Some(5));
        assert_eq!(owner_pid("helm-ecr-app-1.0.0.tgz.x-0-1.tmp"), None);
        assert_eq!(owner_pid("other.tgz.1-2-3.tmp"), None);
        assert_eq!(owner_pid("helm-ecr-app-1.0.0.tgz.1-2.tmp"), None);
        assert_eq!(owner_pid("helm-ecr-app-1.0.0.tgz"), None);
    }

    /// An empty directory of this test process's own in TMPDIR.
    #[cfg(target_os = "linux")]
    fn empty_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("helm-ecr-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_files_of_dead_owners_are_swept_and_others_kept() {
        let dir = empty_dir("sweep");
        // A pid that cannot exist (above the kernel's pid_max limit).
        let dead = 4_194_305u32 + 7;
        let me = std::process::id();
        let old = std::time::SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
        let put = |name: &str, aged: bool| {
            let p = dir.join(name);
            let f = File::create(&p).expect("file");
            if aged {
                f.set_modified(old).expect("mtime");
            }
            p
        };
        let stale = put(&format!("helm-ecr-a-1.0.0.tgz.{dead}-0-1.tmp"), true);
        let stale_dest = put(&format!(".a-1.0.0.tgz.{dead}-1-1.tmp"), true);
        let fresh = put(&format!("helm-ecr-a-1.0.0.tgz.{dead}-2-1.tmp"), false);
        let alive = put(&format!("helm-ecr-a-1.0.0.tgz.{me}-3-1.tmp"), true);
        let foreign = put(&format!("other-1.0.0.tgz.{dead}-4-1.tmp"), true);
        sweep(&dir);
        assert!(!stale.exists() && !stale_dest.exists());
        assert!(fresh.exists() && alive.exists() && foreign.exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_anonymous_file_has_no_name_and_reopens_while_held() {
        let dir = empty_dir("anon");
        let Some((path, mut w, holder)) = anonymous(&dir) else {
            // A file system without O_TMPFILE: the named fallback is used.
            return;
        };
        std::io::Write::write_all(&mut w, b"chart").expect("write");
        // The writer closes first, as after writing the archive.
        drop(w);
        assert_eq!(fs::read(&path).expect("reopen"), b"chart");
        assert_eq!(
            fs::read_dir(&dir).expect("list").count(),
            0,
            "no name in the directory"
        );
        drop(holder);
        let _ = fs::remove_dir_all(&dir);
    }
}
