//! Loading a chart the way Helm's loader does: the directory walk (lexical
//! order, symlinks followed, `.helmignore`, limits, BOM stripped), the
//! archive reader's path checks, and `LoadFiles`' sorting of files into
//! Chart.yaml, lock, values, schema, templates, other files and subcharts.
//!
//! File contents stay on disk ([`Data::Disk`]) until the archive is
//! written; only the small files Helm parses are read here.

use super::metadata::{parse_yaml, ChartMeta, Lock, API_V1};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Helm 4 refuses to load a file larger than this from a directory.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Helm refuses an archive whose files add up to more than this.
pub const MAX_CHART_SIZE: u64 = 100 * 1024 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone)]
pub enum Data {
    Mem(Vec<u8>),
    /// A regular file: `skip` leading bytes (a BOM) and then `size` bytes.
    Disk {
        path: PathBuf,
        skip: u64,
        size: u64,
    },
    /// Checked but not kept (a pre-packaged archive's content).
    Omitted(u64),
}

impl Data {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> u64 {
        match self {
            Data::Mem(b) => b.len() as u64,
            Data::Disk { size, .. } => *size,
            Data::Omitted(n) => *n,
        }
    }

    /// The bytes, for the few files Helm parses.
    pub fn read_all(&self) -> Result<Vec<u8>, String> {
        match self {
            Data::Mem(b) => Ok(b.clone()),
            Data::Disk { path, skip, size } => {
                let mut f = fs::File::open(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                f.seek(SeekFrom::Start(*skip))
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let mut buf = Vec::with_capacity(*size as usize);
                f.take(*size)
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(buf)
            }
            Data::Omitted(_) => Ok(Vec::new()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BufferedFile {
    /// Relative to the chart root, `/`-separated.
    pub name: String,
    pub data: Data,
}

/// A loaded chart (Go's `chart.Chart`, as far as packaging needs it).
#[derive(Debug, Clone)]
pub struct Chart {
    pub meta: ChartMeta,
    pub lock: Option<Lock>,
    pub values: Option<Data>,
    pub schema: Option<Data>,
    pub templates: Vec<BufferedFile>,
    pub files: Vec<BufferedFile>,
    /// Subcharts, sorted by chart name (Helm's own order is random).
    pub dependencies: Vec<Chart>,
}

/// Load a chart directory.
pub fn load_dir(root: &Path) -> Result<Chart, String> {
    let meta = fs::metadata(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    let ignore_file = root.join(".helmignore");
    let rules = if ignore_file.exists() {
        let text = fs::read(&ignore_file).map_err(|e| format!("cannot read .helmignore: {e}"))?;
        super::ignore::Rules::parse(&String::from_utf8_lossy(&text))?
    } else {
        super::ignore::Rules::defaults()
    };
    let mut files = Vec::new();
    let mut stack = vec![dir_id(&meta)];
    walk(root, "", &rules, &mut stack, &mut files)?;
    load_files(files)
}

#[cfg(unix)]
fn dir_id(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn dir_id(_: &fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// Helm's `sympath.Walk` with the loader's callback: entries in byte
/// order, symlinks resolved (a link keeps its own path), ignored
/// directories skipped whole.
fn walk(
    dir: &Path,
    rel: &str,
    rules: &super::ignore::Rules,
    stack: &mut Vec<(u64, u64)>,
    out: &mut Vec<BufferedFile>,
) -> Result<(), String> {
    let shown = |r: &str| {
        if r.is_empty() {
            ".".to_string()
        } else {
            r.to_string()
        }
    };
    let mut names = Vec::new();
    for entry in
        fs::read_dir(dir).map_err(|e| format!("cannot read directory {}: {e}", shown(rel)))?
    {
        let entry = entry.map_err(|e| format!("cannot read directory {}: {e}", shown(rel)))?;
        let name = entry.file_name();
        let name = name.into_string().map_err(|n| {
            format!(
                "file name {:?} in {} is not UTF-8; rename it",
                n,
                shown(rel)
            )
        })?;
        names.push(name);
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = dir.join(&name);
        let lmeta =
            fs::symlink_metadata(&full).map_err(|e| format!("cannot read {child_rel}: {e}"))?;
        let meta = if lmeta.file_type().is_symlink() {
            fs::metadata(&full).map_err(|e| {
                format!("error evaluating symlink {child_rel}: {e}; fix or remove the link")
            })?
        } else {
            lmeta
        };
        if meta.is_dir() {
            if rules.ignore(&child_rel, true) {
                continue;
            }
            let id = dir_id(&meta);
            if stack.contains(&id) {
                return Err(format!(
                    "symlink cycle: {child_rel} leads back to a directory that contains it; remove the link or add it to .helmignore"
                ));
            }
            stack.push(id);
            walk(&full, &child_rel, rules, stack, out)?;
            stack.pop();
            continue;
        }
        if rules.ignore(&child_rel, false) {
            continue;
        }
        if !meta.is_file() {
            return Err(format!(
                "cannot load irregular file {child_rel} (a device, socket or pipe); remove it or add it to .helmignore"
            ));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(format!(
                "chart file {child_rel} is larger than Helm's maximum file size of {MAX_FILE_SIZE} bytes; leave it out with .helmignore"
            ));
        }
        let skip = if meta.len() >= 3 && starts_with_bom(&full)? {
            3
        } else {
            0
        };
        out.push(BufferedFile {
            name: child_rel,
            data: Data::Disk {
                path: full,
                skip,
                size: meta.len() - skip,
            },
        });
    }
    Ok(())
}

fn starts_with_bom(path: &Path) -> Result<bool, String> {
    let mut head = [0u8; 3];
    let mut f = fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match f.read_exact(&mut head) {
        Ok(()) => Ok(head == UTF8_BOM),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Read a chart archive (gzip + tar) with Helm's path checks and its
/// 100 MiB limit. Contents are kept only for names `keep` selects.
pub fn read_archive<R: Read>(
    r: R,
    keep: &dyn Fn(&str) -> bool,
) -> Result<(Vec<BufferedFile>, R), String> {
    let gz = flate2::read::MultiGzDecoder::new(r);
    let mut archive = tar::Archive::new(gz);
    let mut files = Vec::new();
    let mut remaining = MAX_CHART_SIZE;
    let entries = archive
        .entries()
        .map_err(|e| format!("cannot read the archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("cannot read the archive: {e}"))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = archive_name(&raw)?;
        let size = entry
            .header()
            .size()
            .map_err(|e| format!("cannot read the archive: {e}"))?;
        if size > remaining {
            return Err(too_big());
        }
        remaining -= size;
        let data = if keep(&name) {
            let mut buf = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(size)
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read {name} from the archive: {e}"))?;
            if (buf.len() as u64) < size {
                return Err(format!(
                    "the archive is truncated at {name}; package the chart again"
                ));
            }
            if buf.starts_with(UTF8_BOM) {
                buf.drain(..3);
            }
            Data::Mem(buf)
        } else {
            Data::Omitted(size)
        };
        files.push(BufferedFile { name, data });
    }
    let gz = archive.into_inner();
    if files.is_empty() {
        return Err("no files in chart archive; package the chart again".into());
    }
    Ok((files, gz.into_inner()))
}

fn too_big() -> String {
    format!(
        "the chart is larger than Helm's limit of {MAX_CHART_SIZE} bytes uncompressed; leave large files out with .helmignore"
    )
}

/// The archive reader's checks on one entry name; returns the name inside
/// the chart (first component stripped, cleaned).
pub fn archive_name(raw: &str) -> Result<String, String> {
    let delim = if raw.contains('\\') { '\\' } else { '/' };
    let parts: Vec<&str> = raw.split(delim).collect();
    if parts[0] == "Chart.yaml" {
        return Err("chart yaml not in base directory: the archive must hold NAME/Chart.yaml, not Chart.yaml".into());
    }
    let n = parts[1..].join("/");
    if n.starts_with('/') {
        return Err(format!(
            "chart illegally contains absolute paths ({raw:?}); the archive is unsafe"
        ));
    }
    let n = clean(&n);
    if n == "." {
        return Err(format!(
            "chart illegally contains content outside the base directory: {raw:?}; the archive must hold one NAME/ directory"
        ));
    }
    if n.starts_with("..") {
        return Err(format!(
            "chart illegally references parent directory ({raw:?}); the archive is unsafe"
        ));
    }
    let b = n.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        return Err(format!("chart contains illegally named files ({raw:?})"));
    }
    Ok(n)
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Helm's `LoadFiles`.
pub fn load_files(files: Vec<BufferedFile>) -> Result<Chart, String> {
    let mut meta: Option<ChartMeta> = None;
    for f in files.iter().filter(|f| f.name == "Chart.yaml") {
        let m = meta.get_or_insert_with(ChartMeta::default);
        m.apply(
            &parse_yaml(&f.data.read_all()?, "Chart.yaml")?,
            "Chart.yaml",
        )?;
        if m.api_version.is_empty() {
            m.api_version = API_V1.into();
        }
    }
    let mut chart = Chart {
        meta: ChartMeta::default(),
        lock: None,
        values: None,
        schema: None,
        templates: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
    };
    let mut subcharts: BTreeMap<String, Vec<BufferedFile>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" => chart.lock = Some(Lock::parse(&f.data.read_all()?, "Chart.lock")?),
            "values.yaml" => {
                check_values(&f.data)?;
                chart.values = Some(f.data);
            }
            "values.schema.json" => chart.schema = Some(f.data),
            "requirements.yaml" => {
                let m = meta.get_or_insert_with(ChartMeta::default);
                m.apply(
                    &parse_yaml(&f.data.read_all()?, "requirements.yaml")?,
                    "requirements.yaml",
                )?;
                if m.api_version == API_V1 {
                    chart.files.push(f);
                }
            }
            "requirements.lock" => {
                chart.lock = Some(Lock::parse(&f.data.read_all()?, "requirements.lock")?);
                let m = meta.get_or_insert_with(ChartMeta::default);
                if m.api_version == API_V1 {
                    chart.files.push(f);
                }
            }
            n if n.starts_with("templates/") => chart.templates.push(f),
            n if n.starts_with("charts/") => {
                if extension(n) == ".prov" {
                    chart.files.push(f);
                    continue;
                }
                let rest = &n["charts/".len()..];
                let cname = rest.split('/').next().unwrap_or(rest).to_string();
                subcharts.entry(cname).or_default().push(BufferedFile {
                    name: rest.to_string(),
                    data: f.data,
                });
            }
            _ => chart.files.push(f),
        }
    }
    let Some(mut meta) = meta else {
        return Err("Chart.yaml file is missing; a chart needs a Chart.yaml at its root".into());
    };
    meta.validate()?;
    let name = meta.name.clone();
    chart.meta = meta;
    for (n, files) in subcharts {
        if n.starts_with('_') || n.starts_with('.') {
            continue;
        }
        let sub = if extension(&n) == ".tgz" {
            let file = &files[0];
            if file.name != n {
                return Err(format!(
                    "error unpacking subchart tar in {name}: expected {n}, got {}",
                    file.name
                ));
            }
            let bytes = file.data.read_all()?;
            read_archive(&bytes[..], &|_| true).and_then(|(files, _)| load_files(files))
        } else {
            let buff: Vec<BufferedFile> = files
                .into_iter()
                .filter_map(|f| {
                    f.name.split_once('/').map(|(_, rest)| BufferedFile {
                        name: rest.to_string(),
                        data: f.data,
                    })
                })
                .collect();
            load_files(buff)
        };
        let sub = sub.map_err(|e| format!("error unpacking subchart {n} in {name}: {e}"))?;
        chart.dependencies.push(sub);
    }
    chart
        .dependencies
        .sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    Ok(chart)
}

/// Go's `filepath.Ext`.
fn extension(name: &str) -> &str {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    match name[base_start..].rfind('.') {
        Some(i) => &name[base_start + i..],
        None => "",
    }
}

/// values.yaml must be YAML documents that are each a mapping (or empty),
/// as Helm's `LoadValues` requires.
fn check_values(data: &Data) -> Result<(), String> {
    if let Data::Omitted(_) = data {
        return Ok(());
    }
    let bytes = data.read_all()?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        "cannot load values.yaml: it is not UTF-8 text; save it as UTF-8".to_string()
    })?;
    for doc in serde_norway::Deserializer::from_str(text) {
        let v: serde_norway::Value = serde::Deserialize::deserialize(doc).map_err(|e| {
            format!(
                "cannot load values.yaml: {}; fix the YAML",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })?;
        match v {
            serde_norway::Value::Null | serde_norway::Value::Mapping(_) => {}
            _ => {
                return Err(
                    "cannot load values.yaml: each YAML document in it must be a mapping of keys to values".into(),
                )
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("a/./b/../c"), "a/c");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("/a/../../b"), "/b");
    }

    #[test]
    fn archive_names_are_checked() {
        assert_eq!(
            archive_name("c/templates/a.yaml").as_deref(),
            Ok("templates/a.yaml")
        );
        assert!(archive_name("c//etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(archive_name("c/../x").unwrap_err().contains("parent"));
        assert!(archive_name("c").unwrap_err().contains("outside the base"));
        assert!(archive_name("Chart.yaml").is_err());
        assert!(archive_name("c/C:/x")
            .unwrap_err()
            .contains("illegally named"));
        assert_eq!(
            archive_name("c\\templates\\a").as_deref(),
            Ok("templates/a")
        );
    }

    #[test]
    fn ext_like_go() {
        assert_eq!(extension("a.tgz"), ".tgz");
        assert_eq!(extension("a.tar.gz"), ".gz");
        assert_eq!(extension("dir.d/file"), "");
    }
}
