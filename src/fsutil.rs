//! Private files on disk, written one way: the token cache, Helm's registry
//! config and the AWS CLI's SSO cache all hold secrets, so each goes to a
//! temp file created 0600, is fsynced, then renamed over the old one (a
//! reader sees the old or the new file, never a part), and the rename is
//! made durable. A leaf: depends on nothing else in the crate.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Test-only knob: sleep this many milliseconds between writing the temp
/// file and renaming it, so a test can kill a writer mid-write.
const PAUSE_VAR: &str = "HELM_ECR_TEST_PAUSE_BEFORE_RENAME_MS";

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Create `dir` and its missing parents, new ones 0700. An existing
/// directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Open options for a file only its owner may read (0600 on Unix).
pub fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

/// Names of the temp files [`write_private`] makes for `path`: they only
/// exist while a write is under way, so a writer holding a lock on `path`
/// may remove any it finds (left by a writer that died; they may hold
/// secrets).
pub fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

/// Replace `path` with `bytes`: temp file beside it (0600, created new),
/// fsync, rename, fsync of the directory. On error the temp file is
/// removed and `path` is untouched. The directory must exist.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        "{}{}-{nanos}",
        temp_prefix(path),
        std::process::id()
    ));
    let result = (|| {
        let mut file = private_file(OpenOptions::new().write(true).create_new(true)).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if let Some(ms) = std::env::var(PAUSE_VAR)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable; not possible (nor needed) on Windows.
    #[cfg(unix)]
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Test support for the modules that write private files.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};

    /// A fresh, empty directory for test `name` of module `module`.
    pub fn scratch(module: &str, name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("helm-ecr-{module}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    /// The permission bits of `path` (0o600, 0o700, ...).
    #[cfg(unix)]
    pub fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn replaces_the_file_privately_and_leaves_no_temp() {
        let d = scratch("fsutil", "write");
        create_private_dir(&d.join("a/b")).unwrap();
        let p = d.join("a/b/secret.json");
        fs::write(&p, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        }
        write_private(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        #[cfg(unix)]
        for (path, want) in [(&p, 0o600), (&d.join("a"), 0o700), (&d.join("a/b"), 0o700)] {
            assert_eq!(mode(path), want, "{}", path.display());
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let d = scratch("fsutil", "fail");
        // A directory where the file should be: the rename fails.
        let p = d.join("taken");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("inside"), "x").unwrap();
        assert!(write_private(&p, b"new").is_err());
        assert!(p.is_dir());
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn temp_names_share_the_prefix() {
        assert_eq!(
            temp_prefix(Path::new("/x/config.json")),
            ".config.json.tmp-"
        );
        assert_eq!(parent_dir(Path::new("config.json")), PathBuf::from("."));
    }
}
