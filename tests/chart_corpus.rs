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
