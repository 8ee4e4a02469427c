//! Chart.yaml, values.yaml and .helmignore read exactly as every supported
//! Helm reads them: each case is packaged by us and by helm 3.10.1, the
//! current Helm 3 and Helm 4 (`helm package`), and the archives must hold
//! the same entries and byte-identical Chart.yaml. Then what no Helm
//! accepts quickly (deep nesting) and what Helm only warns about (links).

mod common;

use common::{HelmCli, Sandbox, TempDir};
use helm_ecr::chart::{self, Overrides};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

fn put(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, contents).expect("write");
}

/// (entry name, bytes) of a .tgz, in archive order.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        out.push((name, data));
    }
    out
}

fn only_tgz(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dest")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    assert_eq!(files.len(), 1, "{}: {files:?}", dir.display());
    files.into_iter().next().expect("archive")
}

const HEAD: &str = "apiVersion: v2\nname: y11\nversion: 1.0.0\n";

/// (case, Chart.yaml, extra files as (path, bytes))
type Case = (&'static str, String, Vec<(&'static str, &'static [u8])>);

fn cases() -> Vec<Case> {
    vec![
        (
            "numbers",
            format!(
                "{HEAD}appVersion: 010\ndescription: 1_000\nhome: 0x1F\nicon: 0o17\n\
                 kubeVersion: 1e3\nkeywords: [01, 08, 0b101, -0b11, +12, 1.0, 1.10, .5, 1e400]\n\
                 sources: [12345678901234567890123, 0x1FFFFFFFFFFFFFFFFF, 18446744073709551615, 1:20, 2001-12-14]\n"
            ),
            vec![],
        ),
        (
            "booleans-and-nulls",
            format!(
                "{HEAD}appVersion: yes\ndescription: Off\nhome: y\nicon: N\ndeprecated: on\n\
                 keywords: [true, NO, ~, TRUE]\nannotations: {{a: on, b: 'on', c: \"01\", d: !!str 01, e: ! 010}}\n"
            ),
            vec![],
        ),
        (
            "duplicated-keys-last-wins",
            format!(
                "{HEAD}appVersion: first\ndescription: d\nappVersion: second\n\
                 annotations:\n  x: 1\n  x: 2\nmaintainers:\n- name: a\n  name: b\n"
            ),
            vec![],
        ),
        (
            "merge-keys-and-anchors",
            format!(
                "{HEAD}annotations: &base {{a: 1, b: 2}}\nmaintainers:\n- &m {{name: me, email: me@x}}\n\
                 - <<: *m\n  name: you\ndependencies: []\nkeywords: [&k kw, *k]\n"
            ),
            vec![],
        ),
        (
            "multi-document-chart-yaml",
            format!("{HEAD}appVersion: '1'\n---\nappVersion: '2'\n---\n\t@ not YAML\n"),
            vec![],
        ),
        (
            "helmignore-with-bom",
            HEAD.to_string(),
            vec![
                (".helmignore", b"\xEF\xBB\xBF*.txt\nignored/\n"),
                ("a.txt", b"left out\n"),
                ("ignored/b.yaml", b"left out\n"),
                ("kept.md", b"kept\n"),
                ("values.yaml", b"\xEF\xBB\xBFon: yes\n010: 1_000\n"),
            ],
        ),
    ]
}

#[test]
fn chart_yaml_reads_like_every_helm() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("chart-yaml-helm");
    let mut failures = Vec::new();
    for (case, chart_yaml, files) in cases() {
        let dir = tmp.path().join(case).join("y11");
        put(&dir, "Chart.yaml", &chart_yaml);
        for (rel, data) in &files {
            put(&dir, rel, data);
        }
        let ours_dest = tmp.path().join(case).join("ours");
        let ours = chart::package_with_mtime(&dir, &Overrides::default(), Some(&ours_dest), 0)
            .unwrap_or_else(|e| panic!("{case}: we refused it: {e}"));
        let ours = entries(&ours.archive);
        for cli in HelmCli::all() {
            let dest = tmp.path().join(case).join(cli.name().replace(' ', "-"));
            let out = sb.helm_as(
                cli,
                &[
                    "package",
                    common::path_str(&dir),
                    "-d",
                    common::path_str(&dest),
                ],
            );
            if !out.success() {
                failures.push(format!("{case}: {} refused it:\n{out}", cli.name()));
                continue;
            }
            let theirs = entries(&only_tgz(&dest));
            let names = |v: &[(String, Vec<u8>)]| v.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
            if names(&ours) != names(&theirs) {
                failures.push(format!(
                    "{case}: entries differ from {}: ours {:?}, theirs {:?}",
                    cli.name(),
                    names(&ours),
                    names(&theirs)
                ));
                continue;
            }
            for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
                if a != b {
                    failures.push(format!(
                        "{case}: {name} differs from {}:\n--- ours\n{}--- theirs\n{}",
                        cli.name(),
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What sigs.k8s.io/yaml cannot turn into JSON fails Helm 4 (which reads
/// Chart.yaml once into a struct of apiVersion alone): refused, in one line.
#[test]
fn what_helm4_cannot_convert_to_json_is_refused_like_helm4() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("chart-yaml-json");
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "inf-string-field",
            "appVersion: .inf\n",
            "",
            "unsupported value: +Inf",
        ),
        (
            "nan-in-annotations",
            "annotations: {a: .nan}\n",
            "",
            "unsupported value: NaN",
        ),
        ("null-key", "x: {~: 1}\n", "", "unsupported map key null"),
        (
            "inf-in-values",
            "",
            "a: 1\n---\nb: -.inf\n",
            "unsupported value: -Inf",
        ),
    ];
    for (case, extra, values, want) in cases {
        let dir = tmp.path().join(case).join("j");
        put(
            &dir,
            "Chart.yaml",
            format!("apiVersion: v2\nname: j\nversion: 1.0.0\n{extra}"),
        );
        if !values.is_empty() {
            put(&dir, "values.yaml", values);
        }
        let dest = tmp.path().join(case).join("ours");
        let e = chart::package_with_mtime(&dir, &Overrides::default(), Some(&dest), 0)
            .expect_err(case)
            .to_string();
        assert!(e.contains(want) && !e.contains('\n'), "{case}: {e}");
        assert!(!dest.join("j-1.0.0.tgz").exists(), "{case}");
        let out = sb.helm_as(
            HelmCli::V4,
            &[
                "package",
                common::path_str(&dir),
                "-d",
                common::path_str(&tmp.path().join(case).join("h")),
            ],
        );
        assert!(
            !out.success() && out.stderr.contains(want.trim_end_matches(" null")),
            "{case}: Helm 4 refuses it too:\n{out}"
        );
    }
}

/// The first line of the binary's error for pushing `chart` (a dry run to
/// a registry nothing listens on: packaging fails before any request).
fn dry_run_error(sb: &Sandbox, chart: &Path) -> common::Output {
    let out = sb.bin(&[
        "ecr-push",
        "--dry-run",
        common::path_str(chart),
        "oci://127.0.0.1:9/charts",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    out
}

/// Deep flow nesting took libyaml time proportional to depth times tokens:
/// 18 s at depth 100k, hours for a 5 MiB file. Without the fix these cases
/// run far past the harness's process timeout, which fails the test.
#[test]
fn deep_nesting_is_refused_at_once_with_one_line() {
    let sb = Sandbox::bare();
    let work = sb.work();
    let five_mib = 5 * 1024 * 1024 - 64;
    let deep = "[".repeat(100_000);
    let huge_seq = "[".repeat(five_mib);
    let huge_map = "{a: ".repeat(five_mib / 4);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "chart-yaml-100k",
            format!("apiVersion: v2\nname: d\nversion: 1.0.0\nx: {deep}\n"),
            "Chart.yaml",
        ),
        (
            "chart-yaml-5mib",
            format!("apiVersion: v2\nname: d\nversion: 1.0.0\nx: {huge_seq}\n"),
            "Chart.yaml",
        ),
        ("values-5mib", huge_map.clone(), "values.yaml"),
    ];
    for (case, text, file) in &cases {
        let dir = work.join(case);
        if *file == "Chart.yaml" {
            put(&dir, "Chart.yaml", text);
        } else {
            put(
                &dir,
                "Chart.yaml",
                "apiVersion: v2\nname: d\nversion: 1.0.0\n",
            );
            put(&dir, file, text);
        }
        let out = dry_run_error(&sb, &dir);
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{case}: one line:\n{out}");
        assert!(
            lines[0].contains(&format!("cannot load {file}: "))
                && lines[0].contains("more than 128 deep"),
            "{case}: says what is wrong:\n{out}"
        );
    }
    // The same through a packaged archive.
    let dir = work.join("pkg");
    put(
        &dir,
        "Chart.yaml",
        "apiVersion: v2\nname: d\nversion: 1.0.0\n",
    );
    put(&dir, "values.yaml", &huge_map);
    let tgz = work.join("d-1.0.0.tgz");
    {
        let f = fs::File::create(&tgz).expect("create");
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for name in ["Chart.yaml", "values.yaml"] {
            b.append_path_with_name(dir.join(name), format!("d/{name}"))
                .expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz");
    }
    let out = dry_run_error(&sb, &tgz);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one line:\n{out}");
    assert!(
        lines[0].contains("cannot load values.yaml: ") && lines[0].contains("more than 128 deep"),
        "{out}"
    );
}

/// Helm follows links and warns, naming where each one leads; so do we,
/// one line per link on stderr.
#[test]
fn a_link_out_of_the_chart_is_packaged_with_helms_warning() {
    let sb = Sandbox::bare();
    let work = sb.work();
    let dir = work.join("linked");
    put(
        &dir,
        "Chart.yaml",
        "apiVersion: v2\nname: linked\nversion: 1.0.0\n",
    );
    let outside = work.join("outside-secret.txt");
    put(&work, "outside-secret.txt", "not part of the chart\n");
    std::os::unix::fs::symlink(&outside, dir.join("secret.txt")).expect("symlink");
    let dest = work.join("kept");
    let out = sb.bin(&[
        "ecr-push",
        "--dry-run",
        "--destination",
        common::path_str(&dest),
        // Relative to the work dir: the warning names the absolute path,
        // as Helm's does.
        "linked",
        "oci://127.0.0.1:9/charts",
    ]);
    let link = dir.join("secret.txt");
    let want = format!(
        "Warning: found symbolic link in path: {} resolves to {}. Contents of linked file included and used",
        link.display(),
        fs::canonicalize(&outside).expect("canonical").display()
    );
    let warnings: Vec<&str> = out
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("Warning: found symbolic link"))
        .collect();
    assert_eq!(warnings, [want.as_str()], "{out}");
    // Packaged, as Helm does: the link's content is in the archive.
    let archive = dest.join("linked-1.0.0.tgz");
    let got = entries(&archive);
    assert!(
        got.iter()
            .any(|(n, d)| n == "linked/secret.txt" && d == b"not part of the chart\n"),
        "{got:?}"
    );
    // Helm's own warning names the same two paths.
    let h = sb.helm_as(
        HelmCli::V3_10,
        &["package", "linked", "-d", common::path_str(&work.join("h"))],
    );
    h.assert_ok();
    assert!(
        h.stderr.contains(&format!(
            "found symbolic link in path: {} resolves to {}. Contents of linked file included and used",
            link.display(),
            fs::canonicalize(&outside).expect("canonical").display()
        )),
        "{h}"
    );
}
