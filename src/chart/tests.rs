//! Packaging end to end (destinations, copies, FIFOs, one-line errors),
//! and test helpers the other chart modules share.

use super::*;

/// A fresh scratch directory for test `name` of module `module`.
pub(crate) fn scratch_in(module: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("helm-ecr-{module}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn scratch(name: &str) -> PathBuf {
    scratch_in("mod", name)
}

/// Make a FIFO at `path`; false where mkfifo is missing.
#[cfg(unix)]
pub(crate) fn mkfifo(path: &Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

fn chart_dir(root: &Path) -> PathBuf {
    let c = root.join("app");
    std::fs::create_dir_all(&c).expect("chart dir");
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    )
    .expect("Chart.yaml");
    c
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_destination_that_is_a_file_says_so() {
    let root = scratch("destfile");
    let c = chart_dir(&root);
    let dest = root.join("out");
    std::fs::write(&dest, b"x").expect("file");
    let e = package_with_mtime(&c, &Overrides::default(), Some(&dest), 0)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "destination {} is not a directory; pass a directory for the .tgz",
            dest.display()
        )
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_packaged_archive_is_copied_whole_or_not_at_all() {
    let root = scratch("copy");
    let c = chart_dir(&root);
    let p = package_with_mtime(&c, &Overrides::default(), None, 0).expect("package");
    assert!(p.temporary);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p.archive)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "temporary archive is private: {mode:o}");
    }
    let src = root.join("src.tgz");
    std::fs::copy(&p.archive, &src).expect("copy");
    let dest = root.join("dest");
    let kept = package_with_mtime(&src, &Overrides::default(), Some(&dest), 0).expect("kept");
    assert_eq!(kept.archive, dest.join("app-1.0.0.tgz"));
    let bytes = std::fs::read(&kept.archive).expect("read");
    assert_eq!(kept.digest, crate::codec::sha256_digest(&bytes));
    assert_eq!(
        (kept.digest.as_str(), kept.size),
        (p.digest.as_str(), p.size)
    );
    assert_eq!(names(&dest), ["app-1.0.0.tgz"]);
    // Again onto itself: the same file, nothing else left.
    let again = package_with_mtime(&kept.archive, &Overrides::default(), Some(&dest), 0)
        .expect("onto itself");
    assert_eq!(again.digest, kept.digest);
    assert_eq!(names(&dest), ["app-1.0.0.tgz"]);
    // A bad archive leaves no file behind.
    let bad = root.join("bad.tgz");
    std::fs::write(&bad, b"\x1f\x8b\x08 not really").expect("bad");
    let empty = root.join("empty");
    assert!(package_with_mtime(&bad, &Overrides::default(), Some(&empty), 0).is_err());
    assert!(names(&empty).is_empty(), "{:?}", names(&empty));
    let _ = std::fs::remove_dir_all(root);
}

/// Run `f` on a thread; fail instead of hanging.
pub(crate) fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("finished (no hang)")
}

/// The error packaging `path` gives, found on a thread that must finish.
fn package_error_within(path: PathBuf) -> String {
    within(move || {
        package_with_mtime(&path, &Overrides::default(), None, 0)
            .err()
            .map(|e| e.to_string())
    })
    .unwrap_or_default()
}

#[cfg(unix)]
#[test]
fn a_fifo_for_helmignore_is_an_error_not_a_hang() {
    let root = scratch("fifo");
    let c = chart_dir(&root);
    let fifo = c.join(".helmignore");
    if !mkfifo(&fifo) {
        return;
    }
    let e = package_error_within(c.clone());
    assert!(
        e.starts_with("cannot read .helmignore: not a regular file"),
        "{e}"
    );
    // The chart argument itself a FIFO: refused before it is opened.
    let e = package_error_within(fifo);
    assert!(
        e.contains("is neither a directory nor a regular file"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn an_uncreatable_destination_says_what_to_do() {
    let root = scratch("nodest");
    let c = chart_dir(&root);
    std::fs::write(root.join("file"), b"x").expect("file");
    let dest = root.join("file").join("sub");
    let err = package_with_mtime(&c, &Overrides::default(), Some(&dest), 0).unwrap_err();
    // The OS's reason is kept as the cause, not only as text.
    let cause = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<std::io::Error>());
    assert!(cause.is_some(), "{err:?}");
    let e = err.to_string();
    assert!(
        e.starts_with(&format!("cannot create destination {}: ", dest.display()))
            && e.ends_with("; pass a writable directory"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_failed_write_names_the_place_and_keeps_its_cause() {
    let full = || Error::Write {
        source: std::io::Error::other("No space left on device"),
    };
    let e = where_written(full(), Some(Path::new("/out")));
    assert_eq!(
        e.to_string(),
        "cannot write the chart archive in --destination /out: No space left on device: free space there or pass another --destination"
    );
    assert!(std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()));
    let e = where_written(full(), None).to_string();
    assert!(
        e.starts_with("cannot write the temporary chart archive in ")
            && e.ends_with("(TMPDIR): No space left on device: free space there or set TMPDIR to a directory with room"),
        "{e}"
    );
    // A source-file problem passes as it was worded.
    let e = where_written(
        Error::invalid("f changed while it was being packaged; try again"),
        None,
    );
    assert_eq!(
        e.to_string(),
        "f changed while it was being packaged; try again"
    );
}

#[test]
fn errors_are_one_line() {
    let root = scratch("oneline");
    let c = chart_dir(&root);
    let big = std::fs::File::create(c.join("a\nb.bin")).expect("file");
    big.set_len(load::MAX_FILE_SIZE + 1).expect("sparse");
    let e = package_with_mtime(&c, &Overrides::default(), None, 0)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("chart file a\\nb.bin is larger"), "{e}");
    assert!(!e.contains('\n'));
    let _ = std::fs::remove_dir_all(root);
}
