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

/// The chart `x` 1.0.0, then what `more` adds to it.
fn x_and(more: impl Fn(&Path) + 'static) -> Box<dyn Fn(&Path)> {
    Box::new(move |d| {
        chart_yaml(d, "x", "1.0.0", "");
        more(d);
    })
}

fn bad_corpus() -> Vec<BadCase> {
    let mut v: Vec<BadCase> = Vec::new();
    // A Chart.yaml as written, alone in the chart. Helm 4 refuses each.
    for (case, chart_yaml, want) in [
        ("no-name", "apiVersion: v2\nversion: 1.0.0\n", "name is required"),
        ("no-version", "apiVersion: v2\nname: x\n", "version is required"),
        (
            "bad-version",
            "apiVersion: v2\nname: x\nversion: latest\n",
            "version \"latest\" is invalid",
        ),
        (
            "name-with-slash",
            "apiVersion: v2\nname: a/b\nversion: 1.0.0\n",
            "must be a plain name",
        ),
        (
            "bad-type",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ntype: app\n",
            "application or library",
        ),
        (
            "dependency-missing",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: gone\n  repository: https://x\n",
            "missing in charts/ directory: gone",
        ),
        (
            "bad-alias",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: s\n  alias: a.b\n",
            "alias",
        ),
        (
            "chart-yaml-not-yaml",
            "apiVersion: v2\nname: [x\n",
            "cannot load Chart.yaml",
        ),
        (
            "chart-yaml-wrong-type",
            "apiVersion: v2\nname: x\nversion: 1.0.0\nmaintainers: someone\n",
            "maintainers must be a list",
        ),
    ] {
        let build = move |d: &Path| put(d, "Chart.yaml", chart_yaml);
        v.push((case, Box::new(build), want, true));
    }
    // The chart `x` 1.0.0 and one more file. Helm 4 refuses each.
    for (case, path, contents, want) in [
        (
            "invalid-schema",
            "values.schema.json",
            "{\"type\": ",
            "Invalid JSON in values.schema.json",
        ),
        ("double-star", ".helmignore", "**/x\n", "double-star"),
        ("bad-glob", ".helmignore", "[x\n", "syntax error in pattern"),
        (
            "values-not-a-mapping",
            "values.yaml",
            "- a\n- b\n",
            "cannot load values.yaml",
        ),
        (
            "stray-file-in-charts",
            "charts/README.md",
            "x",
            "error unpacking subchart README.md in x: Chart.yaml file is missing",
        ),
        (
            "corrupt-subchart-tgz",
            "charts/sub-1.0.0.tgz",
            "not gzip",
            "error unpacking subchart sub-1.0.0.tgz in x",
        ),
        (
            "invalid-subchart",
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\n",
            "error unpacking subchart sub in x: Chart.yaml: version is required",
        ),
    ] {
        v.push((case, x_and(move |d| put(d, path, contents)), want, true));
    }
    // The chart `x` 1.0.0 with a symlink.
    for (case, link, target, want, helm4_refuses) in [
        ("symlink-cycle", "files/loop", "..", "symlink cycle", false),
        (
            "broken-symlink",
            "files/broken",
            "/nonexistent/target",
            "error evaluating symlink files/broken",
            true,
        ),
    ] {
        let build = x_and(move |d| symlink(Path::new(target), &d.join(link)));
        v.push((case, build, want, helm4_refuses));
    }
    v.push((
        "no-chart-yaml",
        Box::new(|d| put(d, "values.yaml", "a: 1\n")),
        "Chart.yaml file is missing",
        true,
    ));
    v.push((
        "negation-ignores-chart-yaml",
        x_and(|d| {
            put(d, ".helmignore", "*.txt\n!important.txt\n");
            put(d, "important.txt", "x");
        }),
        "Chart.yaml file is missing",
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
        "file-over-5MiB",
        x_and(|d| put(d, "files/big.bin", vec![7u8; 5 * 1024 * 1024 + 1])),
        "larger than Helm's maximum file size",
        true,
    ));
    v.push((
        "chart-over-100MiB",
        x_and(|d| {
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
        x_and(|d| {
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
