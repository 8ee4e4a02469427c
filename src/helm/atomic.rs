//! Locked, atomic read-modify-write of a small JSON file holding secrets.
//!
//! The file is replaced by rename, so a lock on the file itself would lock a
//! file that is about to be unlinked: writers lock `NAME.lock` beside it
//! instead. Readers need no lock (a rename is atomic). A file that does not
//! parse is never overwritten.

use super::Error;
use crate::fsutil::{create_private_dir, parent_dir, private_file, temp_prefix, write_private};
use serde_json::{Map, Value};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The file's contents as a JSON object; None when it does not exist. An
/// empty file reads as an empty object (Docker treats it so).
pub fn read(path: &Path) -> Result<Option<Map<String, Value>>, Error> {
    match fs::read(path) {
        Ok(bytes) => parse(&bytes, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::File(io_error("read", path, &e))),
    }
}

/// One line for a failed read or write of the file at `path`, with what to
/// do about that particular failure.
fn io_error(verb: &str, path: &Path, e: &io::Error) -> String {
    let p = path.display();
    let advice = match e.kind() {
        io::ErrorKind::IsADirectory => {
            return format!(
                "{p} is a directory, where Helm's registry config file belongs: remove it, or \
                 point HELM_REGISTRY_CONFIG (helm --registry-config) at a file"
            )
        }
        // EPERM, not EACCES: the mode bits allow it, something else does not.
        _ if e.raw_os_error() == Some(1) => format!(
            "the file is probably immutable or append-only (`lsattr {p}` shows an i or a flag; \
             `chattr -i -a` as root clears them), or a security policy forbids it; or point \
             HELM_REGISTRY_CONFIG (helm --registry-config) at another file"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "check the permissions of {p} and of its directory (the file is replaced by a \
             rename, so the directory must be writable too)"
        ),
        io::ErrorKind::StorageFull => "free some disk space".to_string(),
        io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only: point \
            HELM_REGISTRY_CONFIG (helm --registry-config) at a writable place"
            .to_string(),
        _ => format!("check {p} and its directory"),
    };
    format!("cannot {verb} {p}: {e}: {advice}")
}

pub fn parse(bytes: &[u8], path: &Path) -> Result<Map<String, Value>, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::File(format!(
            "{} is not a JSON object: fix or remove it (it was left unchanged)",
            path.display()
        ))),
        Err(e) => Err(Error::File(format!(
            "{} is not valid JSON ({e}): fix or remove it (it was left unchanged)",
            path.display()
        ))),
    }
}

/// Under the lock: read, let `f` change the object, write it back if it
/// changed. When `f` fails nothing is written.
pub fn update<T>(
    path: &Path,
    f: impl FnOnce(&mut Map<String, Value>) -> Result<T, Error>,
) -> Result<T, Error> {
    let path = resolve_symlink(path)?;
    let dir = parent_dir(&path);
    create_private_dir(&dir)
        .map_err(|e| Error::File(format!("cannot create directory {}: {e}", dir.display())))?;
    let lock = lock_beside(&path)?;
    remove_stale_temps(&path);

    let before = read(&path)?;
    let mut doc = before.clone().unwrap_or_default();
    let out = f(&mut doc)?;
    if before.as_ref() != Some(&doc) {
        write_private(&path, &to_bytes(&doc))
            .map_err(|e| Error::File(io_error("write", &path, &e)))?;
    }
    drop(lock);
    Ok(out)
}

/// Tab-indented like Docker's and Helm's own writer, so a diff of the file
/// after our write shows only what we changed.
pub fn to_bytes(doc: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serialising a Map of Values into a Vec cannot fail.
    let _ = serde::Serialize::serialize(doc, &mut ser);
    out.push(b'\n');
    out
}

/// Replace a symlinked config (dotfile managers) through the link: renaming
/// onto the link itself would turn it into a plain file.
fn resolve_symlink(path: &Path) -> Result<PathBuf, Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
            Error::File(format!(
                "{} is a symlink to a missing file ({e}): fix or remove the link",
                path.display()
            ))
        }),
        _ => Ok(path.to_path_buf()),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into())
}

fn lock_beside(path: &Path) -> Result<File, Error> {
    let lock_path = path.with_file_name(format!("{}.lock", file_name(path)));
    let file = private_file(OpenOptions::new().read(true).write(true).create(true))
        .open(&lock_path)
        .map_err(|e| {
            Error::File(format!(
                "cannot open lock file {}: {e}",
                lock_path.display()
            ))
        })?;
    file.lock()
        .map_err(|e| Error::File(format!("cannot lock {}: {e}", lock_path.display())))?;
    Ok(file)
}

/// Temp files only exist while their writer holds the lock, so any we find
/// while holding it are left by a writer that died (they may hold secrets).
fn remove_stale_temps(path: &Path) {
    let prefix = temp_prefix(path);
    if let Ok(entries) = fs::read_dir(parent_dir(path)) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::testing::scratch;
    use serde_json::json;

    /// A fresh directory for test `name`, and its config.json holding
    /// `contents` (absent: None).
    fn config(name: &str, contents: Option<&[u8]>) -> (PathBuf, PathBuf) {
        let d = scratch("atomic", name);
        let p = d.join("config.json");
        if let Some(bytes) = contents {
            fs::write(&p, bytes).unwrap();
        }
        (d, p)
    }

    /// One locked update that sets `key` to `value`.
    fn set(path: &Path, key: &str, value: Value) -> Result<(), Error> {
        update(path, |m| {
            m.insert(key.into(), value);
            Ok(())
        })
    }

    #[test]
    fn creates_private_file_and_dir() {
        let d = scratch("atomic", "create");
        let p = d.join("sub").join("config.json");
        set(&p, "a", json!(1)).unwrap();
        let back = read(&p).unwrap().unwrap();
        assert_eq!(back.get("a"), Some(&json!(1)));
        #[cfg(unix)]
        {
            use crate::fsutil::testing::mode;
            assert_eq!(mode(&p), 0o600);
            assert_eq!(mode(&d.join("sub")), 0o700);
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn corrupt_file_is_named_and_kept() {
        let (d, p) = config("corrupt", Some(b"{\"auths\": {"));
        let err = set(&p, "x", json!(1)).unwrap_err();
        assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"{\"auths\": {");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn failing_change_writes_nothing_and_unchanged_doc_is_not_rewritten() {
        let original = b"{ \"keep\" : [1,2] }";
        let (d, p) = config("nochange", Some(original));
        let r: Result<(), Error> = update(&p, |m| {
            m.clear();
            Err(Error::File("no".into()))
        });
        assert!(r.is_err());
        update(&p, |_| Ok(())).unwrap();
        assert_eq!(fs::read(&p).unwrap(), original);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn stale_temp_files_are_removed() {
        let (d, p) = config("stale", None);
        let stale = d.join(".config.json.tmp-1-2");
        fs::write(&stale, b"secret").unwrap();
        set(&p, "a", json!(true)).unwrap();
        assert!(!stale.exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_symlink() {
        let (d, link) = config("symlink", None);
        let real = d.join("real.json");
        fs::write(&real, b"{}").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        set(&link, "a", json!(1)).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains("\"a\""));
        let _ = fs::remove_dir_all(&d);
    }
}
