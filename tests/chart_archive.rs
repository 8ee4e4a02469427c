//! Pre-packaged `.tgz` input: checked the way Helm checks an archive when it
//! loads one, then used byte for byte. Every archive we refuse, Helm 4 must
//! refuse too (`show-chart` loads it with Helm 4's loader).

mod common;

use common::{Sandbox, TempDir};
use helm_ecr::chart::{self, Overrides};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A tar header with a raw entry name (the tar crate refuses `..`, so the
/// name bytes are set by hand).
fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

/// Regular files of an archive: (raw entry name, contents).
type Entries<'a> = [(&'a str, &'a [u8])];

/// Write a tar.gz of regular files with raw entry names.
fn tgz(path: &Path, entries: &Entries) -> PathBuf {
    let f = fs::File::create(path).expect("create");
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (name, data) in entries {
        let h = header(name, tar::EntryType::Regular, data.len() as u64);
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz");
    path.to_path_buf()
}

const CHART: &[u8] = b"apiVersion: v2\nname: pkg\nversion: 1.0.0\n";

#[test]
fn good_archive_is_used_byte_for_byte_with_its_provenance() {
    let tmp = TempDir::new("chart-archive-good");
    let path = tgz(
        &tmp.path().join("pkg-1.0.0.tgz"),
        &[
            ("pkg/Chart.yaml", CHART),
            ("pkg/values.yaml", b"a: 1\n"),
            ("pkg/templates/x.yaml", b"x: 1\n"),
        ],
    );
    let p = chart::package(&path, &Overrides::default(), None).expect("package");
    assert_eq!(p.archive, path);
    assert!(!p.temporary);
    assert!(p.provenance.is_none());
    let bytes = fs::read(&path).expect("read");
    assert_eq!(p.size, bytes.len() as u64);
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(p.digest, format!("sha256:{hex}"));
    assert_eq!(p.metadata.name, "pkg");
    assert_eq!(
        String::from_utf8_lossy(&p.metadata.config_json),
        r#"{"name":"pkg","version":"1.0.0","apiVersion":"v2"}"#
    );
    drop(p);
    assert!(path.exists(), "the user's archive is never removed");

    let prov = tmp.path().join("pkg-1.0.0.tgz.prov");
    fs::write(&prov, "-----BEGIN PGP SIGNED MESSAGE-----\n").expect("prov");
    let p = chart::package(&path, &Overrides::default(), None).expect("package");
    assert_eq!(p.provenance.as_deref(), Some(prov.as_path()));
    let art = helm_ecr::artifact::build(&p, None).expect("artifact");
    assert_eq!(art.layers.len(), 2);

    // --destination keeps a copy named NAME-VERSION.tgz.
    let dest = tmp.path().join("dest");
    let p = chart::package(&path, &Overrides::default(), Some(&dest)).expect("package");
    assert_eq!(p.archive, dest.join("pkg-1.0.0.tgz"));
    assert_eq!(fs::read(&p.archive).expect("copy"), bytes);
}

#[test]
fn overrides_on_an_archive_are_refused() {
    let tmp = TempDir::new("chart-archive-ov");
    let path = tgz(
        &tmp.path().join("pkg-1.0.0.tgz"),
        &[("pkg/Chart.yaml", CHART)],
    );
    for ov in [
        Overrides {
            version: Some("2.0.0".into()),
            app_version: None,
        },
        Overrides {
            version: None,
            app_version: Some("2".into()),
        },
    ] {
        let e = chart::package(&path, &ov, None)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("cannot change a packaged chart"), "{e}");
    }
}

#[test]
fn unsafe_or_invalid_archives_are_refused_like_helm4() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("chart-archive-bad");
    let d = tmp.path();
    // One file over Helm 4's 5 MiB per-file limit (helm 3.10 packages such
    // a chart; Helm 4 cannot load it).
    let six = vec![b'x'; 6 * 1024 * 1024];
    // (case, archive file, its entries, what our error must say)
    let archives: [(&str, &str, &Entries, &str); 9] = [
        (
            "absolute",
            "abs.tgz",
            &[("pkg/Chart.yaml", CHART), ("pkg//etc/x", b"x")],
            "absolute paths",
        ),
        (
            "parent",
            "dotdot.tgz",
            &[("pkg/Chart.yaml", CHART), ("pkg/../../x", b"x")],
            "parent directory",
        ),
        (
            "chart-yaml-at-root",
            "root.tgz",
            &[("Chart.yaml", CHART)],
            "chart yaml not in base directory",
        ),
        (
            "no-chart-yaml",
            "nochart.tgz",
            &[("pkg/values.yaml", b"a: 1\n")],
            "Chart.yaml file is missing",
        ),
        (
            "invalid-chart-yaml",
            "invalid.tgz",
            &[(
                "pkg/Chart.yaml",
                b"apiVersion: v2\nname: pkg\nversion: x.y\n",
            )],
            "version \"x.y\" is invalid",
        ),
        (
            "bad-values",
            "values.tgz",
            &[("pkg/Chart.yaml", CHART), ("pkg/values.yaml", b"[1, 2]\n")],
            "cannot load values.yaml",
        ),
        (
            "bad-subchart",
            "sub.tgz",
            &[
                ("pkg/Chart.yaml", CHART),
                ("pkg/charts/s/Chart.yaml", b"name: s\n"),
            ],
            "error unpacking subchart s in pkg",
        ),
        ("empty", "empty.tgz", &[], "no files in chart archive"),
        (
            "file-over-5MiB",
            "big-file.tgz",
            &[("pkg/Chart.yaml", CHART), ("pkg/files/big", &six)],
            "chart file files/big is larger than Helm's maximum file size",
        ),
    ];
    let mut cases: Vec<(&str, PathBuf, &str)> = archives
        .into_iter()
        .map(|(case, file, entries, want)| (case, tgz(&d.join(file), entries), want))
        .collect();
    let not_gzip = d.join("values.yaml.tgz");
    fs::write(&not_gzip, "a: 1\n").expect("write");
    cases.push((
        "not-gzip",
        not_gzip,
        "does not appear to be a gzipped chart archive",
    ));
    // 101 MiB of zeros compresses to almost nothing: Helm's limit is on the
    // uncompressed size.
    let huge = d.join("huge.tgz");
    {
        let f = fs::File::create(&huge).expect("create");
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let regular = tar::EntryType::Regular;
        let h = header("pkg/Chart.yaml", regular, CHART.len() as u64);
        b.append(&h, CHART).expect("append");
        let size = 101 * 1024 * 1024u64;
        let h = header("pkg/files/zeros", regular, size);
        b.append(&h, std::io::repeat(0).take_bytes(size))
            .expect("append");
        let mut gz = b.into_inner().expect("tar");
        gz.flush().expect("flush");
        gz.finish().expect("gz");
    }
    cases.push(("over-100MiB", huge, "larger than Helm's limit"));
    // A GNU long-name entry claiming 64 MiB: the tar crate reads such an
    // entry whole into memory, Go's reader refuses any over 1 MiB.
    let long_name = d.join("long-name.tgz");
    {
        let f = fs::File::create(&long_name).expect("create");
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let size = 64 * 1024 * 1024u64;
        let h = header("././@LongLink", tar::EntryType::GNULongName, size);
        gz.write_all(h.as_bytes()).expect("header");
        std::io::copy(&mut std::io::repeat(b'a').take_bytes(size), &mut gz).expect("name");
        gz.write_all(&[0u8; 1024]).expect("end");
        gz.finish().expect("gz");
    }
    cases.push(("long-name-bomb", long_name, "larger than Helm accepts"));

    let mut failures = Vec::new();
    for (case, path, want) in &cases {
        match chart::package(path, &Overrides::default(), None) {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(want) || msg.contains('\n') {
                    failures.push(format!(
                        "{case}: error {msg:?} should say {want:?} on one line"
                    ));
                }
            }
        }
        let out = sb.helm4(&["show-chart", common::path_str(path)]);
        if out.success() {
            failures.push(format!(
                "{case}: Helm 4 loads it, so refusing it is wrong:\n{out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        self.take(n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

/// Our archives are written by a parallel compressor that encodes
/// incompressible blocks itself (literals, byte runs, stored blocks) and the
/// rest with zlib. Go's gzip reader (helm 3.10.1 and Helm 4), and system
/// gzip and tar, must read every kind back exactly: helm renders each file's
/// sha256 as Go decompressed it, and tar extracts the bytes.
#[test]
fn go_gzip_and_tar_read_every_block_kind_we_write() {
    let sb = Sandbox::new();
    let dir = sb.work().join("blocks");
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let random: Vec<u8> = (0..1_500_000).map(|_| next() as u8).collect();
    let b64 = common::base64_encode(&random[..900_000]);
    // Runs of one byte between random stretches: the run-length path.
    let mut runs = Vec::new();
    while runs.len() < 700_000 {
        let n = (next() % 3000) as usize;
        runs.extend((0..n).map(|_| next() as u8));
        runs.extend(std::iter::repeat_n(
            (next() % 4) as u8,
            (next() % 5000) as usize,
        ));
    }
    let text: String = (0..40_000)
        .map(|i| format!("key{i}: value {} # comment\n", i % 97))
        .collect();
    let files: [(&str, &[u8]); 5] = [
        ("files/random.bin", &random),
        ("files/b64.txt", b64.as_bytes()),
        ("files/runs.bin", &runs),
        ("files/text.yaml", text.as_bytes()),
        ("files/empty", b""),
    ];
    let mut template =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sums\ndata:\n");
    for (i, (name, _)) in files.iter().enumerate() {
        template.push_str(&format!(
            "  f{i}: {{{{ .Files.Get \"{name}\" | sha256sum }}}}\n"
        ));
    }
    common::write(
        &dir.join("Chart.yaml"),
        "apiVersion: v2\nname: blocks\nversion: 1.0.0\n",
    );
    common::write(&dir.join("templates/sums.yaml"), &template);
    for (name, data) in &files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
    let dest = sb.work().join("dest");
    fs::create_dir_all(&dest).unwrap();
    let p = chart::package(&dir, &Overrides::default(), Some(&dest)).expect("package");
    let archive = path_of(&p.archive);

    let out = sb.helm(&["template", "x", &archive]);
    out.assert_ok();
    for (i, (_, data)) in files.iter().enumerate() {
        use sha2::Digest;
        let want: String = sha2::Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            out.stdout.contains(&format!("f{i}: {want}")),
            "helm 3 read {} differently:\n{}",
            files[i].0,
            out.stdout
        );
    }
    sb.helm4(&["show-chart", &archive]).assert_ok();

    let gzip = std::process::Command::new("gzip")
        .args(["-t", &archive])
        .status()
        .unwrap();
    assert!(gzip.success(), "gzip -t refused our archive");
    let x = sb.work().join("x");
    fs::create_dir_all(&x).unwrap();
    let tar = std::process::Command::new("tar")
        .args(["-xzf", &archive, "-C", path_of(&x).as_str()])
        .status()
        .unwrap();
    assert!(tar.success(), "tar refused our archive");
    for (name, data) in &files {
        assert_eq!(
            &fs::read(x.join("blocks").join(name)).unwrap(),
            data,
            "{name}"
        );
    }
}

fn path_of(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_string()
}
