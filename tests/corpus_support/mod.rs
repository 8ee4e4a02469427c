//! Shared by the chart_corpus* tests: building charts file by file,
//! reading archives entry by entry (Chart.yaml and Chart.lock as parsed
//! YAML), and running the Helms' packagers. A test crate using this module
//! declares `mod common;` too.
#![allow(dead_code)]

use crate::common::{self, Sandbox};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ building charts

pub fn put(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, contents).expect("write");
}

pub fn chart_yaml(dir: &Path, name: &str, version: &str, extra: &str) {
    put(
        dir,
        "Chart.yaml",
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n{extra}"),
    );
}

pub fn basic(dir: &Path, name: &str) {
    chart_yaml(dir, name, "0.1.0", "description: a chart\n");
    put(dir, "values.yaml", "replicas: 1\n");
    put(dir, "templates/cm.yaml", common::SEED_CONFIGMAP);
}

pub fn symlink(target: &Path, link: &Path) {
    fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// A packaged subchart made by helm 3.10.1, to drop into charts/.
pub fn helm_packaged_sub(sb: &Sandbox, work: &Path, name: &str, version: &str) -> PathBuf {
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

// ------------------------------------------------------------------ reading archives

#[derive(Debug, PartialEq, Eq, Clone, PartialOrd, Ord)]
pub enum Content {
    Bytes(Vec<u8>),
    /// Chart.yaml / Chart.lock, as parsed YAML (printed canonically).
    Yaml(String),
}

pub fn read_tgz(path: &Path) -> Vec<(String, Content)> {
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
pub type Split = (Vec<(String, Content)>, BTreeSet<(String, Content)>);

pub fn split(entries: Vec<(String, Content)>, name: &str) -> Split {
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

pub fn describe(s: &Split) -> String {
    let names: Vec<&str> = s.0.iter().map(|(n, _)| n.as_str()).collect();
    let subs: Vec<&str> = s.1.iter().map(|(n, _)| n.as_str()).collect();
    format!("top: {names:?}\nsubcharts: {subs:?}")
}

pub fn first_difference(a: &Split, b: &Split) -> String {
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

pub fn only_tgz(dir: &Path) -> PathBuf {
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

pub fn helm4_package(sb: &Sandbox, chart: &Path, dest: &Path) -> common::Output {
    sb.helm4(&["package", common::path_str(chart), common::path_str(dest)])
}

pub fn helm3_package(sb: &Sandbox, chart: &Path, dest: &Path) -> common::Output {
    fs::create_dir_all(dest).expect("mkdir");
    sb.helm(&[
        "package",
        common::path_str(chart),
        "-d",
        common::path_str(dest),
    ])
}

// ------------------------------------------------------------------ files

pub fn walk(dir: &Path) -> Vec<PathBuf> {
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

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
