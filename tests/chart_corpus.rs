//! Our packager against Helm's, on a corpus of charts built at test time.
//!
//! The reference is Helm 4's packager (the 4.2.3 SDK through
//! `$LAB_PYTHON $LAB_HELM4 package`); helm 3.10.1 (`$LAB_HELM3 package`) must
//! agree with us too wherever it agrees with Helm 4. Entries are compared by
//! name, order and bytes; Chart.yaml and Chart.lock as parsed YAML (Helm
//! re-serialises them); subchart entries as a set (Helm writes subcharts in a
//! random order). Charts Helm refuses: chart_corpus_bad.rs; package flags
//! and mtimes: chart_corpus_flags.rs.

mod common;
mod corpus_support;

use common::{Sandbox, TempDir};
use corpus_support::*;
use helm_ecr::chart::{self, Overrides};
use std::fs;
use std::path::Path;

type Build = Box<dyn Fn(&Sandbox, &Path, &Path)>;

/// Files of a chart (path in the chart, contents), or its subcharts (path
/// in the chart, chart name).
type Pairs = &'static [(&'static str, &'static str)];

/// The chart's name: its directory's.
fn name_of(d: &Path) -> &str {
    d.file_name().and_then(|n| n.to_str()).expect("chart name")
}

fn put_all(d: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        put(d, path, contents);
    }
}

/// A [`basic`] chart with `files` added.
fn basic_and(files: Pairs) -> Build {
    Box::new(move |_, d, _| {
        basic(d, name_of(d));
        put_all(d, files);
    })
}

/// A Chart.yaml of `version` with `extra` lines, `files`, and each of
/// `subcharts` (path in the chart, chart name) a [`basic`] chart.
fn make_chart(
    d: &Path,
    version: &str,
    extra: &str,
    files: &[(&str, &str)],
    subcharts: &[(&str, &str)],
) {
    chart_yaml(d, name_of(d), version, extra);
    put_all(d, files);
    for (path, name) in subcharts {
        basic(&d.join(path), name);
    }
}

/// [`make_chart`] as a builder.
fn chart_and(version: &'static str, extra: &'static str, files: Pairs, subcharts: Pairs) -> Build {
    Box::new(move |_, d, _| make_chart(d, version, extra, files, subcharts))
}

/// A subchart packaged by helm 3.10.1 ([`helm_packaged_sub`]), dropped
/// into the directory `charts`.
fn drop_packaged(sb: &Sandbox, scratch: &Path, charts: &Path, name: &str, version: &str) {
    let tgz = helm_packaged_sub(sb, scratch, name, version);
    fs::create_dir_all(charts).expect("mkdir");
    fs::copy(&tgz, charts.join(format!("{name}-{version}.tgz"))).expect("copy");
}

/// A dependency on the [`basic`] chart `sub` in charts/sub ([`SUB`]), as
/// Chart.yaml or requirements.yaml lists it.
const SUB_DEPENDENCY: &str =
    "dependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://charts/sub\n";
const SUB: Pairs = &[("charts/sub", "sub")];

/// Nothing but `files` (Chart.yaml among them).
fn files_only(files: Pairs) -> Build {
    Box::new(move |_, d, _| put_all(d, files))
}

/// `helm create` in the chart's parent directory.
fn helm_create(sb: &Sandbox, d: &Path) {
    common::run(
        sb.helm_cmd()
            .current_dir(d.parent().expect("parent"))
            .args(["create", name_of(d)]),
    )
    .assert_ok();
}

/// (case name, chart directory name, builder(sandbox, chart dir, scratch dir)).
fn good_corpus() -> Vec<(&'static str, &'static str, Build)> {
    vec![
        ("helm-create", "created", Box::new(|sb, d, _| helm_create(sb, d))),
        (
            "helm-create-edited",
            "created2",
            Box::new(|sb, d, _| {
                helm_create(sb, d);
                fs::remove_dir_all(d.join("templates/tests")).expect("rm");
                put_all(
                    d,
                    &[
                        ("templates/NOTES.txt", "Thanks for installing {{ .Chart.Name }}\n"),
                        ("crds/crd.yaml", "kind: CustomResourceDefinition\n"),
                    ],
                );
            }),
        ),
        (
            "seed-chart",
            "seed",
            Box::new(|sb, d, _| {
                sb.seed_chart_in(d.parent().expect("parent"), "seed");
            }),
        ),
        ("minimal", "minimal", chart_and("1.0.0", "", &[], &[])),
        (
            "values-and-schema",
            "schema",
            basic_and(&[(
                "values.schema.json",
                "{\n  \"type\": \"object\",\n  \"properties\": {\"replicas\": {\"type\": \"integer\"}}\n}\n",
            )]),
        ),
        (
            "ignore-basename",
            "ign-base",
            basic_and(&[
                (".helmignore", "*.txt\n"),
                ("notes.txt", "x"),
                ("docs/deep/more.txt", "x"),
                ("docs/keep.md", "kept\n"),
            ]),
        ),
        (
            "ignore-anchored",
            "ign-anchor",
            basic_and(&[
                (".helmignore", "/secret.yaml\n"),
                ("secret.yaml", "top: secret\n"),
                ("templates/secret.yaml", "kind: Secret\n"),
            ]),
        ),
        (
            "ignore-structural",
            "ign-struct",
            basic_and(&[
                (".helmignore", "docs/*.md\n"),
                ("docs/a.md", "a"),
                ("docs/sub/b.md", "b"),
                ("a.md", "top"),
            ]),
        ),
        (
            "ignore-dir-only",
            "ign-dir",
            basic_and(&[
                (".helmignore", "build/\ncache/\n"),
                ("build/out.bin", "x"),
                ("nested/build/out.bin", "x"),
                ("cache", "a file named cache is kept\n"),
            ]),
        ),
        (
            "ignore-negation-keeps-only-match",
            "ign-neg",
            basic_and(&[(".helmignore", "!Chart.yaml\n"), ("README.md", "gone\n")]),
        ),
        (
            "ignore-comments-spaces-globs",
            "ign-misc",
            basic_and(&[
                (
                    ".helmignore",
                    "# a comment\n\n   *.bak   \r\n[a-c].txt\n?.md\n*.swp # not a comment\n",
                ),
                ("x.bak", "x"),
                ("b.txt", "x"),
                ("d.txt", "kept"),
                ("z.md", "x"),
                ("zz.md", "kept"),
                ("e.swp", "kept: no inline comments"),
            ]),
        ),
        (
            "template-dotfiles",
            "dots",
            basic_and(&[
                ("templates/.hidden.yaml", "x"),
                ("templates/.dir/inner.yaml", "x"),
                (".toplevel-dotfile", "kept\n"),
                ("files/.dotfile", "kept\n"),
            ]),
        ),
        (
            "symlinked-file",
            "symfile",
            Box::new(|_, d, scratch| {
                basic(d, "symfile");
                put(scratch, "outside/config.ini", "[a]\nb=c\n");
                symlink(
                    &scratch.join("outside/config.ini"),
                    &d.join("files/config.ini"),
                );
                symlink(
                    Path::new("../values.yaml"),
                    &d.join("files/values-link.yaml"),
                );
            }),
        ),
        (
            "symlinked-dir",
            "symdir",
            Box::new(|_, d, scratch| {
                basic(d, "symdir");
                put_all(
                    scratch,
                    &[
                        ("shared/templates/shared.yaml", "kind: Shared\n"),
                        ("shared/templates/z.yaml", "kind: Z\n"),
                    ],
                );
                symlink(
                    &scratch.join("shared/templates"),
                    &d.join("templates/shared"),
                );
            }),
        ),
        (
            "subchart-dir",
            "withsub",
            chart_and("1.0.0", SUB_DEPENDENCY, &[("values.yaml", "sub:\n  x: 1\n")], SUB),
        ),
        (
            "subchart-tgz",
            "withtgz",
            Box::new(|sb, d, scratch| {
                chart_yaml(d, "withtgz", "1.0.0", "dependencies:\n- name: packed\n  version: 0.2.0\n  repository: https://example.com/charts\n");
                drop_packaged(sb, scratch, &d.join("charts"), "packed", "0.2.0");
            }),
        ),
        (
            "subcharts-mixed",
            "mixed",
            Box::new(|sb, d, scratch| {
                let skipped = [
                    // Skipped by Helm: names starting with _ or .
                    ("charts/_helpers/Chart.yaml", "not: a chart\n"),
                    ("charts/.cache/x", "x"),
                    ("charts/mid-1.2.3.tgz.prov", "-----BEGIN PGP SIGNED MESSAGE-----\n"),
                ];
                let subcharts = [("charts/alpha", "alpha"), ("charts/zulu", "zulu")];
                make_chart(d, "2.0.0", "", &skipped, &subcharts);
                drop_packaged(sb, scratch, &d.join("charts"), "mid", "1.2.3");
            }),
        ),
        (
            "subchart-dir-name-differs",
            "renamed",
            chart_and("1.0.0", "", &[], &[("charts/dir-name", "chart-name")]),
        ),
        (
            "nested-subcharts",
            "nest",
            Box::new(|sb, d, scratch| {
                let subcharts = [("charts/mid", "mid"), ("charts/mid/charts/leaf", "leaf")];
                make_chart(d, "1.0.0", "", &[], &subcharts);
                drop_packaged(sb, scratch, &d.join("charts/mid/charts"), "deep", "0.0.1");
            }),
        ),
        (
            "apiversion-v1-requirements",
            "legacy",
            Box::new(|_, d, _| {
                put_all(d, &[
                    ("Chart.yaml", "apiVersion: v1\nname: legacy\nversion: 0.3.0\nappVersion: \"1.0\"\n"),
                    ("requirements.yaml", SUB_DEPENDENCY),
                    ("requirements.lock", "dependencies:\n- name: sub\n  repository: file://charts/sub\n  version: 0.1.0\ndigest: sha256:0123\ngenerated: \"2020-01-01T00:00:00Z\"\n"),
                    ("values.yaml", "a: b\n"),
                ]);
                basic(&d.join("charts/sub"), "sub");
            }),
        ),
        (
            "apiversion-missing-is-v1",
            "noapi",
            files_only(&[
                ("Chart.yaml", "name: noapi\nversion: 0.1.0\n"),
                ("templates/a.yaml", "a: 1\n"),
            ]),
        ),
        (
            "chart-lock-v2",
            "locked",
            chart_and(
                "1.0.0",
                "dependencies:\n- name: sub\n  version: \">=0.1.0\"\n  repository: file://charts/sub\n",
                &[("Chart.lock", "dependencies:\n- name: sub\n  repository: file://charts/sub\n  version: 0.1.0\ndigest: sha256:abcdef\ngenerated: \"2023-04-05T06:07:08.123456789+02:00\"\n")],
                SUB,
            ),
        ),
        (
            "library-chart",
            "lib",
            chart_and(
                "0.0.1",
                "type: library\n",
                &[("templates/_helpers.tpl", "{{- define \"lib.name\" -}}lib{{- end -}}\n")],
                &[],
            ),
        ),
        (
            "empty-files",
            "empties",
            chart_and(
                "1.0.0",
                "",
                &[("values.yaml", ""), ("templates/empty.yaml", ""), ("README.md", "")],
                &[],
            ),
        ),
        (
            "utf8-bom",
            "bom",
            // U+FEFF is the byte order mark EF BB BF in UTF-8.
            files_only(&[
                ("Chart.yaml", "\u{FEFF}apiVersion: v2\nname: bom\nversion: 1.0.0\n"),
                ("values.yaml", "\u{FEFF}key: value\n"),
                ("templates/bom.yaml", "\u{FEFF}kind: ConfigMap\n"),
                ("files/only-bom.txt", "\u{FEFF}"),
            ]),
        ),
        (
            "non-ascii-names",
            "unicode",
            basic_and(&[
                ("templates/ünïcödé.yaml", "kind: ConfigMap\n"),
                ("files/日本語.txt", "こんにちは\n"),
                ("files/emoji-🎉.txt", "party\n"),
            ]),
        ),
        (
            "file-at-the-size-limit",
            "biggish",
            Box::new(|_, d, _| {
                basic(d, "biggish");
                let mut data = vec![0u8; 5 * 1024 * 1024];
                for (i, b) in data.iter_mut().enumerate() {
                    *b = (i % 251) as u8;
                }
                put(d, "files/limit.bin", &data);
                put(d, "files/under.bin", &data[..5 * 1024 * 1024 - 1]);
            }),
        ),
        (
            "prerelease-version",
            "pre",
            chart_and("1.0.0-rc.1", "", &[("templates/a.yaml", "a: 1\n")], &[]),
        ),
        (
            "build-metadata-version",
            "build",
            chart_and("1.0.0+build.5", "appVersion: v9+x\n", &[("templates/a.yaml", "a: 1\n")], &[]),
        ),
        (
            "rich-metadata",
            "rich",
            chart_and(
                "3.2.1",
                concat!(
                    "description: \"A <rich> & 'quoted' chart\\twith a tab and a very long description that is folded by Helm's YAML writer past eighty columns\"\n",
                    "home: https://example.com/rich?a=1&b=2\n",
                    "icon: https://example.com/icon.png\n",
                    "sources: [https://github.com/example/rich, https://mirror.example.com]\n",
                    "keywords: [web, \"yes\", \"1.0\"]\n",
                    "maintainers:\n- name: Ann\n  email: ann@example.com\n  url: https://ann.example.com\n- name: Bob\n",
                    "kubeVersion: \">=1.25.0-0\"\n",
                    "deprecated: true\n",
                    "condition: rich.enabled\n",
                    "tags: front,back\n",
                    "annotations:\n  category: Web\n  artifacthub.io/changes: |\n    - kind: added\n      description: x\n  num: 5\n  org.opencontainers.image.title: ignored-by-helm\n",
                    "unknownField: dropped\n",
                ),
                &[("templates/a.yaml", "a: 1\n")],
                &[],
            ),
        ),
        (
            "float-like-versions",
            "floaty",
            files_only(&[(
                "Chart.yaml",
                "apiVersion: v2\nname: floaty\nversion: 1.0\nappVersion: 1.10\n",
            )]),
        ),
        (
            "dependency-fields",
            "deps",
            chart_and(
                "1.0.0",
                concat!(
                    "dependencies:\n",
                    "- name: sub\n  version: ~0.1\n  repository: \"@stable\"\n  alias: first\n  condition: first.enabled\n  tags: [t1, t2]\n  enabled: true\n",
                    "  import-values:\n  - data\n  - child: a.b\n    parent: c\n",
                    "- name: sub\n  alias: second\n  repository: oci://r.example.com/charts\n",
                ),
                &[],
                SUB,
            ),
        ),
        (
            "walk-order-traps",
            "order",
            Box::new(|_, d, _| {
                basic(d, "order");
                for f in [
                    "a.txt",
                    "a/b.txt",
                    "a-b.txt",
                    "A.txt",
                    "a0",
                    "a_b",
                    "z/a",
                    "templates/b/a.yaml",
                    "templates/a.yaml",
                    "templates/a-.yaml",
                ] {
                    put(d, f, f);
                }
            }),
        ),
        (
            "long-paths",
            "longpaths",
            Box::new(|_, d, _| {
                basic(d, "longpaths");
                let long = format!("files/{}/{}.txt", "d".repeat(90), "f".repeat(120));
                put(d, &long, "deep\n");
                put(d, &format!("templates/{}.yaml", "t".repeat(99)), "t: 1\n");
            }),
        ),
        (
            "symlink-inside-chart",
            "innerlink",
            Box::new(|_, d, _| {
                basic(d, "innerlink");
                put(d, "files/real/x.txt", "x\n");
                symlink(Path::new("real"), &d.join("files/alias"));
            }),
        ),
        (
            "helmignore-is-packaged",
            "ignfile",
            basic_and(&[
                (".helmignore", ".git/\n*.tmp\n"),
                (".git/HEAD", "ref\n"),
                ("x.tmp", "x"),
            ]),
        ),
        (
            "binary-and-crlf",
            "binary",
            Box::new(|_, d, _| {
                basic(d, "binary");
                put(d, "files/bin.dat", (0u8..=255).collect::<Vec<u8>>());
                put(d, "templates/crlf.yaml", "a: 1\r\nb: 2\r\n");
            }),
        ),
    ]
}

// ------------------------------------------------------------------ tests

#[test]
fn corpus_matches_helm4_and_helm3_where_they_agree() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("chart-corpus");
    let corpus = good_corpus();
    assert!(corpus.len() >= 30, "the corpus has {} charts", corpus.len());
    let mut failures = Vec::new();
    let mut helm3_agreed = 0;
    let mut helm3_differs = Vec::new();
    for (case, dir_name, build) in &corpus {
        let root = tmp.path().join(case);
        let scratch = root.join("scratch");
        let chart_dir = root.join("src").join(dir_name);
        fs::create_dir_all(&scratch).expect("mkdir");
        fs::create_dir_all(chart_dir.parent().expect("parent")).expect("mkdir");
        build(&sb, &chart_dir, &scratch);

        let ours_dest = root.join("ours");
        let packaged =
            match chart::package_with_mtime(&chart_dir, &Overrides::default(), Some(&ours_dest), 0)
            {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{case}: we failed: {e}"));
                    continue;
                }
            };
        assert!(!packaged.temporary);
        assert_eq!(
            packaged.archive,
            ours_dest.join(format!(
                "{}-{}.tgz",
                packaged.metadata.name, packaged.metadata.version
            ))
        );
        let h4_dest = root.join("helm4");
        let out = helm4_package(&sb, &chart_dir, &h4_dest);
        if !out.success() {
            failures.push(format!("{case}: Helm 4 failed where we succeeded:\n{out}"));
            continue;
        }
        let h4_path = only_tgz(&h4_dest);
        assert_eq!(
            h4_path.file_name(),
            packaged.archive.file_name(),
            "{case}: archive name"
        );
        let name = packaged.metadata.name.clone();
        let ours = split(read_tgz(&packaged.archive), &name);
        let h4 = split(read_tgz(&h4_path), &name);
        if ours != h4 {
            failures.push(format!(
                "{case}: differs from Helm 4: {}",
                first_difference(&ours, &h4)
            ));
            continue;
        }
        // Digest and size describe the file we wrote.
        let bytes = fs::read(&packaged.archive).expect("read ours");
        assert_eq!(packaged.size, bytes.len() as u64, "{case}: size");
        let h3_dest = root.join("helm3");
        let out3 = helm3_package(&sb, &chart_dir, &h3_dest);
        if out3.success() {
            let h3 = split(read_tgz(&only_tgz(&h3_dest)), &name);
            if h3 == h4 {
                helm3_agreed += 1;
                assert_eq!(ours, h3, "{case}: differs from helm 3.10.1");
            } else {
                helm3_differs.push(format!("{case}: {}", first_difference(&h3, &h4)));
            }
        } else {
            helm3_differs.push(format!("{case}: helm 3.10.1 failed"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} charts differ:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n\n")
    );
    // The two Helms must agree on most of the corpus, or the helm 3 check
    // proves nothing.
    assert!(
        helm3_agreed >= corpus.len() / 2,
        "helm 3.10.1 agreed with Helm 4 on only {helm3_agreed} charts:\n{}",
        helm3_differs.join("\n")
    );
    eprintln!("helm 3.10.1 agreed with Helm 4 (and us) on {helm3_agreed}/{} charts; differs on: {helm3_differs:?}", corpus.len());
}
