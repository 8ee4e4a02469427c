//! Input walking: a chart directory read as Helm's `sympath.Walk` and
//! loader read it (lexical order, symlinks followed, `.helmignore`,
//! limits, BOM noted), and chart files opened without blocking on a FIFO.

use super::load::{BufferedFile, Data, MAX_FILE_SIZE, UTF8_BOM};
use super::Error;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
#[cfg(not(unix))]
use std::path::PathBuf;

/// `O_NONBLOCK` where its value is known (no libc crate here): opening a
/// FIFO for reading then returns at once instead of waiting for a writer.
#[cfg(unix)]
fn o_nonblock() -> Option<i32> {
    if cfg!(all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "s390x",
            target_arch = "powerpc",
            target_arch = "powerpc64",
            target_arch = "loongarch64"
        )
    )) {
        Some(0o4000)
    } else if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        Some(0x4)
    } else {
        None
    }
}

/// Open a chart file that was a regular file when the walk measured it.
/// If it was swapped for a FIFO or device since (a chart dir that changes
/// while it is packaged), a plain open could block forever or read
/// without end: open without blocking, then check what was opened.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if let Some(flag) = o_nonblock() {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, flag);
    }
    let f = options.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::other(
            "not a regular file (a pipe, socket or device, or it changed while the chart was being packaged)",
        ));
    }
    Ok(f)
}

/// The files of a chart directory, with `.helmignore` applied.
pub fn files(root: &Path) -> Result<Vec<BufferedFile>, Error> {
    let meta = fs::metadata(root)
        .map_err(|e| Error::io(format!("cannot read {}", root.display()), e, ""))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let ignore_file = root.join(".helmignore");
    let rules = if ignore_file.exists() {
        // Not fs::read: a FIFO would block it, a device would never end.
        let mut text = Vec::new();
        open_regular(&ignore_file)
            .and_then(|f| f.take(MAX_FILE_SIZE + 1).read_to_end(&mut text))
            .map_err(|e| {
                Error::io(
                    "cannot read .helmignore",
                    e,
                    "; make it a regular text file",
                )
            })?;
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(Error::invalid(format!(
                "chart file .helmignore is larger than Helm's maximum file size of {MAX_FILE_SIZE} bytes; shorten it"
            )));
        }
        // Helm strips a leading BOM from every file it reads, this one too.
        let text = text.strip_prefix(UTF8_BOM).unwrap_or(&text);
        super::ignore::Rules::parse(&String::from_utf8_lossy(text))?
    } else {
        super::ignore::Rules::defaults()
    };
    let mut files = Vec::new();
    let mut stack = vec![dir_id(root, &meta)?];
    walk(root, "", &rules, &mut stack, &mut files)?;
    Ok(files)
}

/// What makes a directory the same directory, for cycle detection.
#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

#[cfg(unix)]
fn dir_id(_: &Path, m: &fs::Metadata) -> Result<DirId, Error> {
    use std::os::unix::fs::MetadataExt;
    Ok((m.dev(), m.ino()))
}

/// Without inode numbers, the resolved path (a constant here made every
/// subdirectory look like a cycle).
#[cfg(not(unix))]
fn dir_id(path: &Path, _: &fs::Metadata) -> Result<DirId, Error> {
    fs::canonicalize(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e, ""))
}

/// Helm's `sympath.Walk` with the loader's callback: entries in byte
/// order, symlinks resolved (a link keeps its own path), ignored
/// directories skipped whole.
fn walk(
    dir: &Path,
    rel: &str,
    rules: &super::ignore::Rules,
    stack: &mut Vec<DirId>,
    out: &mut Vec<BufferedFile>,
) -> Result<(), Error> {
    let shown = |r: &str| {
        if r.is_empty() {
            ".".to_string()
        } else {
            r.to_string()
        }
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot read directory {}", shown(rel)), e, ""))?
    {
        let entry =
            entry.map_err(|e| Error::io(format!("cannot read directory {}", shown(rel)), e, ""))?;
        let name = entry.file_name();
        let name = name.into_string().map_err(|n| {
            Error::invalid(format!(
                "file name {:?} in {} is not UTF-8; rename it",
                n,
                shown(rel)
            ))
        })?;
        names.push(name);
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = dir.join(&name);
        let lmeta = fs::symlink_metadata(&full)
            .map_err(|e| Error::io(format!("cannot read {child_rel}"), e, ""))?;
        let meta = if lmeta.file_type().is_symlink() {
            let meta = fs::metadata(&full).map_err(|e| {
                Error::io(
                    format!("error evaluating symlink {child_rel}"),
                    e,
                    "; fix or remove the link",
                )
            })?;
            warn_symlink(&full);
            meta
        } else {
            lmeta
        };
        if meta.is_dir() {
            if rules.ignore(&child_rel, true) {
                continue;
            }
            let id = dir_id(&full, &meta)?;
            if stack.contains(&id) {
                return Err(Error::invalid(format!(
                    "symlink cycle: {child_rel} leads back to a directory that contains it; remove the link or add it to .helmignore"
                )));
            }
            stack.push(id);
            walk(&full, &child_rel, rules, stack, out)?;
            stack.pop();
            continue;
        }
        if rules.ignore(&child_rel, false) {
            continue;
        }
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "cannot load irregular file {child_rel} (a device, socket or pipe); remove it or add it to .helmignore"
            )));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(Error::invalid(format!(
                "chart file {child_rel} is larger than Helm's maximum file size of {MAX_FILE_SIZE} bytes; leave it out with .helmignore"
            )));
        }
        let skip = if meta.len() >= 3 && starts_with_bom(&full)? {
            3
        } else {
            0
        };
        out.push(BufferedFile {
            name: child_rel,
            data: Data::Disk {
                path: full,
                skip,
                size: meta.len() - skip,
            },
        });
    }
    Ok(())
}

/// Helm's words for a link it follows (a link can pull in any file the
/// user can read, such as /etc/shadow); on stderr, one line per link.
fn warn_symlink(link: &Path) {
    let resolved = fs::canonicalize(link).unwrap_or_else(|_| link.to_path_buf());
    // Helm names the link under the chart's absolute path.
    let link = std::path::absolute(link).unwrap_or_else(|_| link.to_path_buf());
    eprintln!(
        "Warning: found symbolic link in path: {} resolves to {}. Contents of linked file included and used",
        super::printable(&link.to_string_lossy()),
        super::printable(&resolved.to_string_lossy())
    );
}

fn starts_with_bom(path: &Path) -> Result<bool, Error> {
    let mut head = [0u8; 3];
    let mut f = open_regular(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e, ""))?;
    match f.read_exact(&mut head) {
        Ok(()) => Ok(head == UTF8_BOM),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::invalid(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}
