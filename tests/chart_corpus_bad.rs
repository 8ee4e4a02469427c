//! Charts our packager must refuse, as Helm 4 refuses them where it does:
//! one clear error, nothing left behind.

mod common;
mod corpus_support;

use common::{Sandbox, TempDir};
use corpus_support::*;
use helm_ecr::chart::{self, Overrides};
use std::fs;
use std::path::Path;

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
