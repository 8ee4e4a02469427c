//! Our packager against Helm's, on a corpus of charts built at test time.
//!
//! The reference is Helm 4's packager (the 4.2.3 SDK through
//! `$LAB_PYTHON $LAB_HELM4 package`); helm 3.10.1 (`$LAB_HELM3 package`) must
//! agree with us too wherever it agrees with Helm 4. Entries are compared by
//! name, order and bytes; Chart.yaml and Chart.lock as parsed YAML (Helm
//! re-serialises them); subchart entries as a set (Helm writes subcharts in a
//! random order).

mod common;

use common::{Sandbox, TempDir};
use helm_ecr::chart::{self, Overrides};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ building charts

fn put(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, contents).expect("write");
}

fn chart_yaml(dir: &Path, name: &str, version: &str, extra: &str) {
    put(
        dir,
        "Chart.yaml",
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n{extra}"),
    );
}

fn basic(dir: &Path, name: &str) {
    chart_yaml(dir, name, "0.1.0", "description: a chart\n");
    put(dir, "values.yaml", "replicas: 1\n");
    put(dir, "templates/cm.yaml", common::SEED_CONFIGMAP);
}

fn symlink(target: &Path, link: &Path) {
    fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// A packaged subchart made by helm 3.10.1, to drop into charts/.
fn helm_packaged_sub(sb: &Sandbox, work: &Path, name: &str, version: &str) -> PathBuf {
    let src = work.join(format!("src-{name}-{version}"));
    chart_yaml(&src, name, version, "");
    put(&src, "values.yaml", format!("sub: {name}\n"));
    put(&src, "templates/a.yaml", "kind: ConfigMap\n");
    let out = work.join(format!("pkg-{name}-{version}"));
    fs::create_dir_all(&out).expect("mkdir");
    sb.helm(&[
        "package",
        common::path_str(&src),
        "-d",
        common::path_str(&out),
    ])
    .assert_ok();
    out.join(format!("{name}-{version}.tgz"))
}

type Build = Box<dyn Fn(&Sandbox, &Path, &Path)>;

/// (case name, chart directory name, builder(sandbox, chart dir, scratch dir)).
fn good_corpus() -> Vec<(&'static str, &'static str, Build)> {
    let mut v: Vec<(&'static str, &'static str, Build)> = Vec::new();
    v.push((
        "helm-create",
        "created",
        Box::new(|sb, d, _| {
            let parent = d.parent().expect("parent");
            common::run(
                sb.helm_cmd()
                    .current_dir(parent)
                    .args(["create", "created"]),
            )
            .assert_ok();
        }),
    ));
    v.push((
        "helm-create-edited",
        "created2",
        Box::new(|sb, d, _| {
            let parent = d.parent().expect("parent");
            common::run(
                sb.helm_cmd()
                    .current_dir(parent)
                    .args(["create", "created2"]),
            )
            .assert_ok();
            fs::remove_dir_all(d.join("templates/tests")).expect("rm");
            put(
                d,
                "templates/NOTES.txt",
                "Thanks for installing {{ .Chart.Name }}\n",
            );
            put(d, "crds/crd.yaml", "kind: CustomResourceDefinition\n");
        }),
    ));
    v.push((
        "seed-chart",
        "seed",
        Box::new(|sb, d, _| {
            sb.seed_chart_in(d.parent().expect("parent"), "seed");
        }),
    ));
    v.push((
        "minimal",
        "minimal",
        Box::new(|_, d, _| chart_yaml(d, "minimal", "1.0.0", "")),
    ));
    v.push(("values-and-schema", "schema", Box::new(|_, d, _| {
        basic(d, "schema");
        put(d, "values.schema.json", "{\n  \"type\": \"object\",\n  \"properties\": {\"replicas\": {\"type\": \"integer\"}}\n}\n");
    })));
    v.push((
        "ignore-basename",
        "ign-base",
        Box::new(|_, d, _| {
            basic(d, "ign-base");
            put(d, ".helmignore", "*.txt\n");
            put(d, "notes.txt", "x");
            put(d, "docs/deep/more.txt", "x");
            put(d, "docs/keep.md", "kept\n");
        }),
    ));
    v.push((
        "ignore-anchored",
        "ign-anchor",
        Box::new(|_, d, _| {
            basic(d, "ign-anchor");
            put(d, ".helmignore", "/secret.yaml\n");
            put(d, "secret.yaml", "top: secret\n");
            put(d, "templates/secret.yaml", "kind: Secret\n");
        }),
    ));
    v.push((
        "ignore-structural",
        "ign-struct",
        Box::new(|_, d, _| {
            basic(d, "ign-struct");
            put(d, ".helmignore", "docs/*.md\n");
            put(d, "docs/a.md", "a");
            put(d, "docs/sub/b.md", "b");
            put(d, "a.md", "top");
        }),
    ));
    v.push((
        "ignore-dir-only",
        "ign-dir",
        Box::new(|_, d, _| {
            basic(d, "ign-dir");
            put(d, ".helmignore", "build/\ncache/\n");
            put(d, "build/out.bin", "x");
            put(d, "nested/build/out.bin", "x");
            put(d, "cache", "a file named cache is kept\n");
        }),
    ));
    v.push((
        "ignore-negation-keeps-only-match",
        "ign-neg",
        Box::new(|_, d, _| {
            basic(d, "ign-neg");
            put(d, ".helmignore", "!Chart.yaml\n");
            put(d, "README.md", "gone\n");
        }),
    ));
    v.push((
        "ignore-comments-spaces-globs",
        "ign-misc",
        Box::new(|_, d, _| {
            basic(d, "ign-misc");
            put(
                d,
                ".helmignore",
                "# a comment\n\n   *.bak   \r\n[a-c].txt\n?.md\n*.swp # not a comment\n",
            );
            put(d, "x.bak", "x");
            put(d, "b.txt", "x");
            put(d, "d.txt", "kept");
            put(d, "z.md", "x");
            put(d, "zz.md", "kept");
            put(d, "e.swp", "kept: no inline comments");
        }),
    ));
    v.push((
        "template-dotfiles",
        "dots",
        Box::new(|_, d, _| {
            basic(d, "dots");
            put(d, "templates/.hidden.yaml", "x");
            put(d, "templates/.dir/inner.yaml", "x");
            put(d, ".toplevel-dotfile", "kept\n");
            put(d, "files/.dotfile", "kept\n");
        }),
    ));
    v.push((
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
    ));
    v.push((
        "symlinked-dir",
        "symdir",
        Box::new(|_, d, scratch| {
            basic(d, "symdir");
            put(scratch, "shared/templates/shared.yaml", "kind: Shared\n");
            put(scratch, "shared/templates/z.yaml", "kind: Z\n");
            symlink(
                &scratch.join("shared/templates"),
                &d.join("templates/shared"),
            );
        }),
    ));
    v.push((
        "subchart-dir",
        "withsub",
        Box::new(|_, d, _| {
            chart_yaml(
                d,
                "withsub",
                "1.0.0",
                "dependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://charts/sub\n",
            );
            put(d, "values.yaml", "sub:\n  x: 1\n");
            basic(&d.join("charts/sub"), "sub");
        }),
    ));
    v.push(("subchart-tgz", "withtgz", Box::new(|sb, d, scratch| {
        chart_yaml(d, "withtgz", "1.0.0", "dependencies:\n- name: packed\n  version: 0.2.0\n  repository: https://example.com/charts\n");
        let tgz = helm_packaged_sub(sb, scratch, "packed", "0.2.0");
        fs::create_dir_all(d.join("charts")).expect("mkdir");
        fs::copy(&tgz, d.join("charts/packed-0.2.0.tgz")).expect("copy");
    })));
    v.push((
        "subcharts-mixed",
        "mixed",
        Box::new(|sb, d, scratch| {
            chart_yaml(d, "mixed", "2.0.0", "");
            basic(&d.join("charts/alpha"), "alpha");
            basic(&d.join("charts/zulu"), "zulu");
            let tgz = helm_packaged_sub(sb, scratch, "mid", "1.2.3");
            fs::copy(&tgz, d.join("charts/mid-1.2.3.tgz")).expect("copy");
            // Skipped by Helm: names starting with _ or .
            put(d, "charts/_helpers/Chart.yaml", "not: a chart\n");
            put(d, "charts/.cache/x", "x");
            put(
                d,
                "charts/mid-1.2.3.tgz.prov",
                "-----BEGIN PGP SIGNED MESSAGE-----\n",
            );
        }),
    ));
    v.push((
        "subchart-dir-name-differs",
        "renamed",
        Box::new(|_, d, _| {
            chart_yaml(d, "renamed", "1.0.0", "");
            basic(&d.join("charts/dir-name"), "chart-name");
        }),
    ));
    v.push((
        "nested-subcharts",
        "nest",
        Box::new(|sb, d, scratch| {
            chart_yaml(d, "nest", "1.0.0", "");
            basic(&d.join("charts/mid"), "mid");
            basic(&d.join("charts/mid/charts/leaf"), "leaf");
            let tgz = helm_packaged_sub(sb, scratch, "deep", "0.0.1");
            fs::copy(&tgz, d.join("charts/mid/charts/deep-0.0.1.tgz")).expect("copy");
        }),
    ));
    v.push(("apiversion-v1-requirements", "legacy", Box::new(|_, d, _| {
        put(d, "Chart.yaml", "apiVersion: v1\nname: legacy\nversion: 0.3.0\nappVersion: \"1.0\"\n");
        put(d, "requirements.yaml", "dependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://charts/sub\n");
        put(d, "requirements.lock", "dependencies:\n- name: sub\n  repository: file://charts/sub\n  version: 0.1.0\ndigest: sha256:0123\ngenerated: \"2020-01-01T00:00:00Z\"\n");
        put(d, "values.yaml", "a: b\n");
        basic(&d.join("charts/sub"), "sub");
    })));
    v.push((
        "apiversion-missing-is-v1",
        "noapi",
        Box::new(|_, d, _| {
            put(d, "Chart.yaml", "name: noapi\nversion: 0.1.0\n");
            put(d, "templates/a.yaml", "a: 1\n");
        }),
    ));
    v.push(("chart-lock-v2", "locked", Box::new(|_, d, _| {
        chart_yaml(d, "locked", "1.0.0", "dependencies:\n- name: sub\n  version: \">=0.1.0\"\n  repository: file://charts/sub\n");
        put(d, "Chart.lock", "dependencies:\n- name: sub\n  repository: file://charts/sub\n  version: 0.1.0\ndigest: sha256:abcdef\ngenerated: \"2023-04-05T06:07:08.123456789+02:00\"\n");
        basic(&d.join("charts/sub"), "sub");
    })));
    v.push((
        "library-chart",
        "lib",
        Box::new(|_, d, _| {
            chart_yaml(d, "lib", "0.0.1", "type: library\n");
            put(
                d,
                "templates/_helpers.tpl",
                "{{- define \"lib.name\" -}}lib{{- end -}}\n",
            );
        }),
    ));
    v.push((
        "empty-files",
        "empties",
        Box::new(|_, d, _| {
            chart_yaml(d, "empties", "1.0.0", "");
            put(d, "values.yaml", "");
            put(d, "templates/empty.yaml", "");
            put(d, "README.md", "");
        }),
    ));
    v.push((
        "utf8-bom",
        "bom",
        Box::new(|_, d, _| {
            put(
                d,
                "Chart.yaml",
                b"\xEF\xBB\xBFapiVersion: v2\nname: bom\nversion: 1.0.0\n",
            );
            put(d, "values.yaml", b"\xEF\xBB\xBFkey: value\n");
            put(d, "templates/bom.yaml", b"\xEF\xBB\xBFkind: ConfigMap\n");
            put(d, "files/only-bom.txt", b"\xEF\xBB\xBF");
        }),
    ));
    v.push((
        "non-ascii-names",
        "unicode",
        Box::new(|_, d, _| {
            basic(d, "unicode");
            put(d, "templates/ünïcödé.yaml", "kind: ConfigMap\n");
            put(d, "files/日本語.txt", "こんにちは\n");
            put(d, "files/emoji-🎉.txt", "party\n");
        }),
    ));
    v.push((
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
    ));
    v.push((
        "prerelease-version",
        "pre",
        Box::new(|_, d, _| {
            chart_yaml(d, "pre", "1.0.0-rc.1", "");
            put(d, "templates/a.yaml", "a: 1\n");
        }),
    ));
    v.push((
        "build-metadata-version",
        "build",
        Box::new(|_, d, _| {
            chart_yaml(d, "build", "1.0.0+build.5", "appVersion: v9+x\n");
            put(d, "templates/a.yaml", "a: 1\n");
        }),
    ));
    v.push(("rich-metadata", "rich", Box::new(|_, d, _| {
        chart_yaml(d, "rich", "3.2.1", concat!(
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
        ));
        put(d, "templates/a.yaml", "a: 1\n");
    })));
    v.push((
        "float-like-versions",
        "floaty",
        Box::new(|_, d, _| {
            put(
                d,
                "Chart.yaml",
                "apiVersion: v2\nname: floaty\nversion: 1.0\nappVersion: 1.10\n",
            );
        }),
    ));
    v.push(("dependency-fields", "deps", Box::new(|_, d, _| {
        chart_yaml(d, "deps", "1.0.0", concat!(
            "dependencies:\n",
            "- name: sub\n  version: ~0.1\n  repository: \"@stable\"\n  alias: first\n  condition: first.enabled\n  tags: [t1, t2]\n  enabled: true\n",
            "  import-values:\n  - data\n  - child: a.b\n    parent: c\n",
            "- name: sub\n  alias: second\n  repository: oci://r.example.com/charts\n",
        ));
        basic(&d.join("charts/sub"), "sub");
    })));
    v.push((
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
    ));
    v.push((
        "long-paths",
        "longpaths",
        Box::new(|_, d, _| {
            basic(d, "longpaths");
            let long = format!("files/{}/{}.txt", "d".repeat(90), "f".repeat(120));
            put(d, &long, "deep\n");
            put(d, &format!("templates/{}.yaml", "t".repeat(99)), "t: 1\n");
        }),
    ));
    v.push((
        "symlink-inside-chart",
        "innerlink",
        Box::new(|_, d, _| {
            basic(d, "innerlink");
            put(d, "files/real/x.txt", "x\n");
            symlink(Path::new("real"), &d.join("files/alias"));
        }),
    ));
    v.push((
        "helmignore-is-packaged",
        "ignfile",
        Box::new(|_, d, _| {
            basic(d, "ignfile");
            put(d, ".helmignore", ".git/\n*.tmp\n");
            put(d, ".git/HEAD", "ref\n");
            put(d, "x.tmp", "x");
        }),
    ));
    v.push((
        "binary-and-crlf",
        "binary",
        Box::new(|_, d, _| {
            basic(d, "binary");
            put(d, "files/bin.dat", (0u8..=255).collect::<Vec<u8>>());
            put(d, "templates/crlf.yaml", "a: 1\r\nb: 2\r\n");
        }),
    ));
    v
}

// ------------------------------------------------------------------ reading archives

#[derive(Debug, PartialEq, Eq, Clone, PartialOrd, Ord)]
enum Content {
    Bytes(Vec<u8>),
    /// Chart.yaml / Chart.lock, as parsed YAML (printed canonically).
    Yaml(String),
}

fn read_tgz(path: &Path) -> Vec<(String, Content)> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = String::from_utf8(e.path_bytes().to_vec()).expect("utf8 name");
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        let base = name.rsplit('/').next().unwrap_or(&name);
        let content = if base == "Chart.yaml" || base == "Chart.lock" {
            let v: yaml_serde::Value = yaml_serde::from_slice(&data)
                .unwrap_or_else(|e| panic!("{name} in {}: {e}", path.display()));
            Content::Yaml(serde_json::to_string(&v).expect("json"))
        } else {
            Content::Bytes(data)
        };
        out.push((name, content));
    }
    out
}

/// (ordered top-level entries, subchart entries as a set)
type Split = (Vec<(String, Content)>, BTreeSet<(String, Content)>);

fn split(entries: Vec<(String, Content)>, name: &str) -> Split {
    let prefix = format!("{name}/charts/");
    let mut top = Vec::new();
    let mut subs = BTreeSet::new();
    for (n, c) in entries {
        let rest = n.strip_prefix(&prefix);
        if rest.is_some_and(|r| r.contains('/')) {
            subs.insert((n, c));
        } else {
            top.push((n, c));
        }
    }
    (top, subs)
}

fn describe(s: &Split) -> String {
    let names: Vec<&str> = s.0.iter().map(|(n, _)| n.as_str()).collect();
    let subs: Vec<&str> = s.1.iter().map(|(n, _)| n.as_str()).collect();
    format!("top: {names:?}\nsubcharts: {subs:?}")
}

fn first_difference(a: &Split, b: &Split) -> String {
    for (x, y) in a.0.iter().zip(b.0.iter()) {
        if x != y {
            let show = |c: &Content| match c {
                Content::Yaml(s) => s.clone(),
                Content::Bytes(b) => format!(
                    "{} bytes: {:?}",
                    b.len(),
                    String::from_utf8_lossy(&b[..b.len().min(200)])
                ),
            };
            return format!(
                "{} vs {}:\n  ours: {}\n  helm: {}",
                x.0,
                y.0,
                show(&x.1),
                show(&y.1)
            );
        }
    }
    format!("\n--- ours\n{}\n--- helm\n{}", describe(a), describe(b))
}

fn only_tgz(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dest")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one archive expected in {}: {files:?}",
        dir.display()
    );
    files.into_iter().next().expect("archive")
}

fn helm4_package(sb: &Sandbox, chart: &Path, dest: &Path) -> common::Output {
    sb.helm4(&["package", common::path_str(chart), common::path_str(dest)])
}

fn helm3_package(sb: &Sandbox, chart: &Path, dest: &Path) -> common::Output {
    fs::create_dir_all(dest).expect("mkdir");
    sb.helm(&[
        "package",
        common::path_str(chart),
        "-d",
        common::path_str(dest),
    ])
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

/// (case, builder, what our error must say, whether Helm 4 must also refuse it)
type BadCase = (&'static str, Box<dyn Fn(&Path)>, &'static str, bool);

fn bad_corpus() -> Vec<BadCase> {
    let mut v: Vec<BadCase> = Vec::new();
    v.push((
        "no-chart-yaml",
        Box::new(|d| put(d, "values.yaml", "a: 1\n")),
        "Chart.yaml file is missing",
        true,
    ));
    v.push((
        "no-name",
        Box::new(|d| put(d, "Chart.yaml", "apiVersion: v2\nversion: 1.0.0\n")),
        "name is required",
        true,
    ));
    v.push((
        "no-version",
        Box::new(|d| put(d, "Chart.yaml", "apiVersion: v2\nname: x\n")),
        "version is required",
        true,
    ));
    v.push((
        "bad-version",
        Box::new(|d| chart_yaml(d, "x", "latest", "")),
        "version \"latest\" is invalid",
        true,
    ));
    v.push((
        "name-with-slash",
        Box::new(|d| {
            put(
                d,
                "Chart.yaml",
                "apiVersion: v2\nname: a/b\nversion: 1.0.0\n",
            )
        }),
        "must be a plain name",
        true,
    ));
    v.push((
        "bad-type",
        Box::new(|d| chart_yaml(d, "x", "1.0.0", "type: app\n")),
        "application or library",
        true,
    ));
    v.push((
        "duplicate-dependency",
        Box::new(|d| {
            chart_yaml(
                d,
                "x",
                "1.0.0",
                "dependencies:\n- name: s\n  repository: ''\n- name: s\n  repository: ''\n",
            );
            basic(&d.join("charts/s"), "s");
        }),
        "more than one dependency",
        true,
    ));
    v.push((
        "dependency-missing",
        Box::new(|d| {
            chart_yaml(
                d,
                "x",
                "1.0.0",
                "dependencies:\n- name: gone\n  repository: https://x\n",
            )
        }),
        "missing in charts/ directory: gone",
        true,
    ));
    v.push((
        "bad-alias",
        Box::new(|d| chart_yaml(d, "x", "1.0.0", "dependencies:\n- name: s\n  alias: a.b\n")),
        "alias",
        true,
    ));
    v.push((
        "invalid-schema",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, "values.schema.json", "{\"type\": ");
        }),
        "Invalid JSON in values.schema.json",
        true,
    ));
    v.push((
        "double-star",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, ".helmignore", "**/x\n");
        }),
        "double-star",
        true,
    ));
    v.push((
        "bad-glob",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, ".helmignore", "[x\n");
        }),
        "syntax error in pattern",
        true,
    ));
    v.push((
        "symlink-cycle",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            symlink(Path::new(".."), &d.join("files/loop"));
        }),
        "symlink cycle",
        false,
    ));
    v.push((
        "broken-symlink",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            symlink(Path::new("/nonexistent/target"), &d.join("files/broken"));
        }),
        "error evaluating symlink files/broken",
        true,
    ));
    v.push((
        "file-over-5MiB",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, "files/big.bin", vec![7u8; 5 * 1024 * 1024 + 1]);
        }),
        "larger than Helm's maximum file size",
        true,
    ));
    v.push((
        "chart-over-100MiB",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            let chunk = vec![1u8; 5 * 1024 * 1024];
            for i in 0..21 {
                put(d, &format!("files/part{i:02}.bin"), &chunk);
            }
        }),
        "more than Helm's limit of 104857600 bytes",
        false,
    ));
    v.push((
        "fifo",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            fs::create_dir_all(d.join("files")).expect("mkdir");
            let st = std::process::Command::new("mkfifo")
                .arg(d.join("files/pipe"))
                .status()
                .expect("mkfifo");
            assert!(st.success());
        }),
        "irregular file files/pipe",
        true,
    ));
    v.push((
        "chart-yaml-not-yaml",
        Box::new(|d| put(d, "Chart.yaml", "apiVersion: v2\nname: [x\n")),
        "cannot load Chart.yaml",
        true,
    ));
    v.push((
        "chart-yaml-wrong-type",
        Box::new(|d| {
            put(
                d,
                "Chart.yaml",
                "apiVersion: v2\nname: x\nversion: 1.0.0\nmaintainers: someone\n",
            )
        }),
        "maintainers must be a list",
        true,
    ));
    v.push((
        "values-not-a-mapping",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, "values.yaml", "- a\n- b\n");
        }),
        "cannot load values.yaml",
        true,
    ));
    v.push((
        "stray-file-in-charts",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, "charts/README.md", "x");
        }),
        "error unpacking subchart README.md in x: Chart.yaml file is missing",
        true,
    ));
    v.push((
        "negation-ignores-chart-yaml",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, ".helmignore", "*.txt\n!important.txt\n");
            put(d, "important.txt", "x");
        }),
        "Chart.yaml file is missing",
        true,
    ));
    v.push((
        "corrupt-subchart-tgz",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, "charts/sub-1.0.0.tgz", "not gzip");
        }),
        "error unpacking subchart sub-1.0.0.tgz in x",
        true,
    ));
    v.push((
        "invalid-subchart",
        Box::new(|d| {
            chart_yaml(d, "x", "1.0.0", "");
            put(d, "charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\n");
        }),
        "error unpacking subchart sub in x: Chart.yaml: version is required",
        true,
    ));
    v
}

#[test]
fn bad_charts_fail_with_one_clear_error_and_leave_nothing() {
    let sb = Sandbox::bare();
    let tmp = TempDir::new("chart-bad");
    let corpus = bad_corpus();
    assert!(corpus.len() >= 15);
    let mut failures = Vec::new();
    for (case, build, want, helm4_refuses) in &corpus {
        let root = tmp.path().join(case);
        let chart_dir = root.join("x");
        fs::create_dir_all(&chart_dir).expect("mkdir");
        build(&chart_dir);
        let dest = root.join("dest");
        match chart::package_with_mtime(&chart_dir, &Overrides::default(), Some(&dest), 0) {
            Ok(p) => failures.push(format!("{case}: we packaged it: {}", p.archive.display())),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(want) {
                    failures.push(format!("{case}: error {msg:?} does not say {want:?}"));
                }
                if msg.contains('\n') {
                    failures.push(format!("{case}: error is not one line: {msg:?}"));
                }
                let left: Vec<_> = fs::read_dir(&dest)
                    .map(|r| r.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                if !left.is_empty() {
                    failures.push(format!("{case}: left files behind: {left:?}"));
                }
            }
        }
        if *helm4_refuses {
            let out = helm4_package(&sb, &chart_dir, &root.join("helm4"));
            if out.success() {
                failures.push(format!(
                    "{case}: Helm 4 packaged it, so refusing it is wrong:\n{out}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

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
    assert_eq!(
        p.metadata.app_version.as_deref(),
        Some("9.9 beta"),
        "sanitised like Helm"
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("read") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
