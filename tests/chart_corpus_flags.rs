//! Package flags against `helm package`'s, and packages that do not depend
//! on file mtimes.

mod common;
mod corpus_support;

use common::{Sandbox, TempDir};
use corpus_support::*;
use helm_ecr::chart::{self, Overrides};
use std::fs;

#[test]
fn overrides_match_helm_package_flags() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("chart-overrides");
    let chart_dir = tmp.path().join("ov");
    basic(&chart_dir, "ov");
    let ov = Overrides {
        version: Some("2.0.0-beta.1+meta".into()),
        app_version: Some("9.9\tbeta".into()),
    };
    let p = chart::package_with_mtime(&chart_dir, &ov, Some(&tmp.path().join("ours")), 0)
        .expect("package");
    assert_eq!(p.metadata.version, "2.0.0-beta.1+meta");
    let config = String::from_utf8_lossy(&p.metadata.config_json);
    assert!(
        config.contains(r#""appVersion":"9.9 beta""#),
        "sanitised like Helm: {config}"
    );
    let out = common::run(sb.helm_cmd().args([
        "package",
        common::path_str(&chart_dir),
        "--version",
        "2.0.0-beta.1+meta",
        "--app-version",
        "9.9\tbeta",
        "-d",
        common::path_str(&tmp.path().join("helm3")),
    ]));
    out.assert_ok();
    let h3 = read_tgz(&only_tgz(&tmp.path().join("helm3")));
    assert_eq!(read_tgz(&p.archive), h3);
    let bad = chart::package_with_mtime(
        &chart_dir,
        &Overrides {
            version: Some("nope".into()),
            app_version: None,
        },
        None,
        0,
    )
    .expect_err("bad version");
    assert!(
        bad.to_string()
            .contains("--version \"nope\" is not a valid SemVer"),
        "{bad}"
    );
}

#[test]
fn different_mtimes_package_to_identical_bytes() {
    let tmp = TempDir::new("chart-repro");
    let a = tmp.path().join("a/repro");
    let b = tmp.path().join("b/repro");
    for (dir, secs) in [(&a, 1_000_000_000u64), (&b, 1_700_000_000u64)] {
        basic(dir, "repro");
        put(dir, "files/x.txt", "same\n");
        basic(&dir.join("charts/sub"), "sub");
        for p in walk(dir) {
            let f = fs::File::options().write(true).open(&p).expect("open");
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .expect("mtime");
        }
    }
    let pa = chart::package_with_mtime(&a, &Overrides::default(), None, 1_234_567_890).expect("a");
    let pb = chart::package_with_mtime(&b, &Overrides::default(), None, 1_234_567_890).expect("b");
    assert!(pa.temporary && pb.temporary);
    // In TMPDIR: a named file, or (Linux) an unnamed one held open and
    // reached through /proc/self/fd, which nothing can leave behind.
    let unnamed = pa.held.is_some();
    if unnamed {
        let target = fs::read_link(&pa.archive).expect("fd link");
        let target = target.to_string_lossy();
        assert!(
            target.starts_with(&*std::env::temp_dir().to_string_lossy())
                && target.ends_with(" (deleted)"),
            "{target}"
        );
    } else {
        assert!(pa.archive.starts_with(std::env::temp_dir()));
    }
    assert_ne!(pa.archive, pb.archive);
    let (ba, bb) = (
        fs::read(&pa.archive).expect("read a"),
        fs::read(&pb.archive).expect("read b"),
    );
    assert_eq!(ba, bb, "same chart, different file times: same bytes");
    assert_eq!(pa.digest, pb.digest);
    assert_eq!(pa.digest, format!("sha256:{}", sha256_hex(&ba)));
    // gzip header: mtime 0, no FNAME flag.
    assert_eq!(
        &ba[..4],
        &[0x1f, 0x8b, 0x08, 0x00],
        "no gzip flags (no file name)"
    );
    assert_eq!(&ba[4..8], &[0, 0, 0, 0], "gzip mtime 0");
    let f = fs::File::open(&pa.archive).expect("open");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for e in ar.entries().expect("entries") {
        let e = e.expect("entry");
        let h = e.header();
        assert_eq!(h.mtime().expect("mtime"), 1_234_567_890);
        assert_eq!(h.mode().expect("mode"), 0o644);
        assert_eq!((h.uid().expect("uid"), h.gid().expect("gid")), (0, 0));
        assert_eq!(h.username().expect("uname"), Some(""));
        assert_eq!(h.groupname().expect("gname"), Some(""));
        assert!(h.entry_type().is_file(), "no directory entries");
    }
    // Another epoch, other bytes; temp files go away with the value.
    let pc = chart::package_with_mtime(&a, &Overrides::default(), None, 1).expect("c");
    assert_ne!(pc.digest, pa.digest);
    if !unnamed {
        let path = pa.archive.clone();
        drop(pa);
        assert!(!path.exists(), "temporary archive removed on drop");
    }
}
