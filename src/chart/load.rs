//! Loading a chart the way Helm's loader does: the directory walk (lexical
//! order, symlinks followed, `.helmignore`, limits, BOM stripped), the
//! archive reader's path checks, and `LoadFiles`' sorting of files into
//! Chart.yaml, lock, values, schema, templates, other files and subcharts.
//!
//! File contents stay on disk ([`Data::Disk`]) until the archive is
//! written; only the small files Helm parses are read here.

use super::metadata::{check_json_convertible, parse_yaml, ChartMeta, Lock, API_V1};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Helm 4 refuses to load a file larger than this from a directory.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Helm refuses an archive whose files add up to more than this.
pub const MAX_CHART_SIZE: u64 = 100 * 1024 * 1024;

/// Tar structure allowed between one entry's content and the next's:
/// headers, padding, and the long names and PAX records the tar crate
/// reads whole into memory. Go's tar reader refuses a long name or PAX
/// record over 1 MiB, so no archive Helm can read needs more.
const TAR_OVERHEAD: u64 = 4 * 1024 * 1024;

/// Subcharts nested deeper than this are refused: far beyond any real
/// chart, and it bounds the recursion (a `.tgz` can contain itself).
pub const MAX_NESTING: usize = 32;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `O_NONBLOCK` where its value is known (no libc crate here): opening a
/// FIFO for reading then returns at once instead of waiting for a writer.
#[cfg(unix)]
fn o_nonblock() -> Option<i32> {
    if cfg!(all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "s390x",
            target_arch = "powerpc",
            target_arch = "powerpc64",
            target_arch = "loongarch64"
        )
    )) {
        Some(0o4000)
    } else if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        Some(0x4)
    } else {
        None
    }
}

/// Open a chart file that was a regular file when the walk measured it.
/// If it was swapped for a FIFO or device since (a chart dir that changes
/// while it is packaged), a plain open could block forever or read
/// without end: open without blocking, then check what was opened.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if let Some(flag) = o_nonblock() {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, flag);
    }
    let f = options.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::other(
            "not a regular file (a pipe, socket or device, or it changed while the chart was being packaged)",
        ));
    }
    Ok(f)
}

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
                let mut f = open_regular(path)
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
        // Not fs::read: a FIFO would block it, a device would never end.
        let mut text = Vec::new();
        open_regular(&ignore_file)
            .and_then(|f| f.take(MAX_FILE_SIZE + 1).read_to_end(&mut text))
            .map_err(|e| format!("cannot read .helmignore: {e}; make it a regular text file"))?;
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(format!(
                "chart file .helmignore is larger than Helm's maximum file size of {MAX_FILE_SIZE} bytes; shorten it"
            ));
        }
        // Helm strips a leading BOM from every file it reads, this one too.
        let text = text.strip_prefix(UTF8_BOM).unwrap_or(&text);
        super::ignore::Rules::parse(&String::from_utf8_lossy(text))?
    } else {
        super::ignore::Rules::defaults()
    };
    let mut files = Vec::new();
    let mut stack = vec![dir_id(root, &meta)?];
    walk(root, "", &rules, &mut stack, &mut files)?;
    Loader::new(&|_| true).load_files(files)
}

/// What makes a directory the same directory, for cycle detection.
#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

#[cfg(unix)]
fn dir_id(_: &Path, m: &fs::Metadata) -> Result<DirId, String> {
    use std::os::unix::fs::MetadataExt;
    Ok((m.dev(), m.ino()))
}

/// Without inode numbers, the resolved path (a constant here made every
/// subdirectory look like a cycle).
#[cfg(not(unix))]
fn dir_id(path: &Path, _: &fs::Metadata) -> Result<DirId, String> {
    fs::canonicalize(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Helm's `sympath.Walk` with the loader's callback: entries in byte
/// order, symlinks resolved (a link keeps its own path), ignored
/// directories skipped whole.
fn walk(
    dir: &Path,
    rel: &str,
    rules: &super::ignore::Rules,
    stack: &mut Vec<DirId>,
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
            let meta = fs::metadata(&full).map_err(|e| {
                format!("error evaluating symlink {child_rel}: {e}; fix or remove the link")
            })?;
            warn_symlink(&full);
            meta
        } else {
            lmeta
        };
        if meta.is_dir() {
            if rules.ignore(&child_rel, true) {
                continue;
            }
            let id = dir_id(&full, &meta)?;
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

/// Helm's words for a link it follows (a link can pull in any file the
/// user can read, such as /etc/shadow); on stderr, one line per link.
fn warn_symlink(link: &Path) {
    let resolved = fs::canonicalize(link).unwrap_or_else(|_| link.to_path_buf());
    // Helm names the link under the chart's absolute path.
    let link = std::path::absolute(link).unwrap_or_else(|_| link.to_path_buf());
    eprintln!(
        "Warning: found symbolic link in path: {} resolves to {}. Contents of linked file included and used",
        printable(&link.to_string_lossy()),
        printable(&resolved.to_string_lossy())
    );
}

fn starts_with_bom(path: &Path) -> Result<bool, String> {
    let mut head = [0u8; 3];
    let mut f = open_regular(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match f.read_exact(&mut head) {
        Ok(()) => Ok(head == UTF8_BOM),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Counts the decompressed bytes the tar reader pulls against the
/// allowance its caller sets per entry, so a gzip bomb stops at the limit
/// instead of after it (the tar crate reads long names and PAX records
/// whole, whatever size their header claims).
struct Meter<R> {
    inner: R,
    state: Rc<MeterState>,
}

struct MeterState {
    left: Cell<u64>,
    exceeded: Cell<bool>,
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.state.left.get();
        if left == 0 && !buf.is_empty() {
            self.state.exceeded.set(true);
            return Err(io::Error::other("archive structure over the limit"));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.state.left.set(left - n as u64);
        Ok(n)
    }
}

/// Read a chart archive (gzip + tar) with Helm's path checks and its
/// size limit: every entry's size is taken from `left` (bytes still
/// allowed, [`MAX_CHART_SIZE`] for one archive) before it is read.
/// Contents are kept only for names `keep` selects.
pub fn read_archive<R: Read>(
    r: R,
    keep: &dyn Fn(&str) -> bool,
    left: &mut u64,
) -> Result<(Vec<BufferedFile>, R), String> {
    let state = Rc::new(MeterState {
        left: Cell::new(TAR_OVERHEAD),
        exceeded: Cell::new(false),
    });
    let meter = Meter {
        inner: flate2::read::MultiGzDecoder::new(r),
        state: Rc::clone(&state),
    };
    let mut archive = tar::Archive::new(meter);
    let mut files = Vec::new();
    let fail = |e: io::Error| {
        if state.exceeded.get() {
            "the archive holds tar headers (long names or PAX records) larger than Helm accepts; package the chart again with helm package".to_string()
        } else {
            format!("cannot read the archive: {e}; it is damaged or not a chart archive: package the chart again")
        }
    };
    let entries = archive.entries().map_err(fail)?;
    for entry in entries {
        let mut entry = entry.map_err(fail)?;
        let size = entry.header().size().map_err(fail)?;
        // Every entry counts, also the ones skipped below: skipping
        // means decompressing.
        if size > *left {
            return Err(too_big());
        }
        *left -= size;
        state.left.set(size.saturating_add(TAR_OVERHEAD));
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = archive_name(&raw)?;
        // Helm 4's loader: a file may not bring the total to the limit
        // itself (`remainingSize <= 0`), nor be over the per-file limit.
        if *left == 0 {
            return Err(too_big());
        }
        if size > MAX_FILE_SIZE {
            return Err(format!(
                "chart file {} is larger than Helm's maximum file size of {MAX_FILE_SIZE} bytes; Helm 4 cannot load this archive: leave the file out with .helmignore and package the chart again",
                printable(&name)
            ));
        }
        let data = if keep(&name) {
            // The header's size is a claim: grow with what arrives.
            let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
            (&mut entry).take(size).read_to_end(&mut buf).map_err(|e| {
                if state.exceeded.get() {
                    fail(e)
                } else {
                    format!(
                            "cannot read {} from the archive: {e}; it is damaged: package the chart again",
                            printable(&name)
                        )
                }
            })?;
            if (buf.len() as u64) < size {
                return Err(format!(
                    "the archive is truncated at {}; package the chart again",
                    printable(&name)
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
    let meter = archive.into_inner();
    if files.is_empty() {
        return Err("no files in chart archive; package the chart again".into());
    }
    Ok((files, meter.inner.into_inner()))
}

/// `s` with control characters escaped, so a file name cannot break an
/// error message over several lines.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
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

/// Helm's `LoadFiles` on the files of an archive or directory, with the
/// limits that keep a hostile chart from exhausting memory: subcharts
/// packed as `.tgz` expand into memory, so all of them together get one
/// [`MAX_CHART_SIZE`] budget, and nesting is bounded.
pub struct Loader<'a> {
    /// Which files of a subchart `.tgz` to keep in memory.
    keep: &'a dyn Fn(&str) -> bool,
    /// Uncompressed bytes the subchart archives may still hold.
    nested_left: u64,
    depth: usize,
}

impl<'a> Loader<'a> {
    pub fn new(keep: &'a dyn Fn(&str) -> bool) -> Self {
        Loader {
            keep,
            nested_left: MAX_CHART_SIZE,
            depth: 0,
        }
    }

    pub fn load_files(&mut self, files: Vec<BufferedFile>) -> Result<Chart, String> {
        let mut meta: Option<ChartMeta> = None;
        for f in files.iter().filter(|f| f.name == "Chart.yaml") {
            let m = meta.get_or_insert_with(ChartMeta::default);
            let doc = parse_yaml(&f.data.read_all()?, "Chart.yaml")?;
            check_json_convertible(&doc, "Chart.yaml", Some("apiVersion"))?;
            m.apply(&doc, "Chart.yaml")?;
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
            return Err(
                "Chart.yaml file is missing; a chart needs a Chart.yaml at its root".into(),
            );
        };
        meta.validate()?;
        let name = meta.name.clone();
        chart.meta = meta;
        for (n, files) in subcharts {
            if n.starts_with('_') || n.starts_with('.') {
                continue;
            }
            if self.depth >= MAX_NESTING {
                return Err(format!(
                    "subcharts are nested more than {MAX_NESTING} deep (at {} in {name}); flatten the chart's dependencies",
                    printable(&n)
                ));
            }
            self.depth += 1;
            let sub = self.subchart(&n, files, &name);
            self.depth -= 1;
            let sub = sub.map_err(|e| {
                format!("error unpacking subchart {} in {name}: {e}", printable(&n))
            })?;
            chart.dependencies.push(sub);
        }
        chart
            .dependencies
            .sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        Ok(chart)
    }

    /// One entry of charts/: a `.tgz` (expanded in memory) or a directory.
    fn subchart(
        &mut self,
        n: &str,
        files: Vec<BufferedFile>,
        parent: &str,
    ) -> Result<Chart, String> {
        if extension(n) != ".tgz" {
            let buff: Vec<BufferedFile> = files
                .into_iter()
                .filter_map(|f| {
                    f.name.split_once('/').map(|(_, rest)| BufferedFile {
                        name: rest.to_string(),
                        data: f.data,
                    })
                })
                .collect();
            return self.load_files(buff);
        }
        let Some(file) = files.first() else {
            return Err(format!(
                "no files for subchart {} in {parent}",
                printable(n)
            ));
        };
        if file.name != n {
            return Err(format!(
                "error unpacking subchart tar in {parent}: expected {}, got {}",
                printable(n),
                printable(&file.name)
            ));
        }
        let disk;
        let bytes: &[u8] = match &file.data {
            Data::Mem(b) => b,
            other => {
                disk = other.read_all()?;
                &disk
            }
        };
        let keep = self.keep;
        let (files, _) = read_archive(bytes, keep, &mut self.nested_left).map_err(|e| {
            if e == too_big() {
                format!(
                    "the chart's subchart archives (charts/*.tgz) expand to more than Helm's limit of {MAX_CHART_SIZE} bytes uncompressed, counted together; remove unused subcharts"
                )
            } else {
                e
            }
        })?;
        self.load_files(files)
    }
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
    for doc in super::metadata::parse_yaml_documents(&bytes, "values.yaml")? {
        check_json_convertible(&doc, "values.yaml", None)?;
        if !matches!(
            doc,
            super::goyaml::Value::Null | super::goyaml::Value::Map(_)
        ) {
            return Err(
                "cannot load values.yaml: each YAML document in it must be a mapping of keys to values".into(),
            );
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

    /// A tar header block for `name` of `kind` claiming `size` bytes.
    fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    /// A gzip stream whose uncompressed form is `head`, then `zeros` zero
    /// bytes, then `tail`: concatenated members, so a gigabyte of zeros
    /// costs about a megabyte (a gzip bomb).
    fn bomb(head: &[u8], zeros: u64, tail: &[u8]) -> Vec<u8> {
        let mut out = gzip(head);
        let mib = gzip(&vec![0u8; 1 << 20]);
        for _ in 0..zeros >> 20 {
            out.extend_from_slice(&mib);
        }
        out.extend(gzip(&vec![0u8; (zeros & ((1 << 20) - 1)) as usize]));
        out.extend(gzip(tail));
        out
    }

    fn file(name: &str, data: &[u8]) -> Vec<u8> {
        let mut v = header(name, tar::EntryType::Regular, data.len() as u64);
        v.extend_from_slice(data);
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    fn chart_tgz(name: &str, extra: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut tar = file(
            &format!("{name}/Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n").as_bytes(),
        );
        for (n, d) in extra {
            tar.extend(file(&format!("{name}/{n}"), d));
        }
        tar.extend_from_slice(&[0u8; 1024]);
        gzip(&tar)
    }

    fn read(gz: &[u8]) -> Result<Vec<BufferedFile>, String> {
        let mut left = MAX_CHART_SIZE;
        read_archive(gz, &|_| true, &mut left).map(|(f, _)| f)
    }

    #[test]
    fn a_huge_long_name_stops_at_the_limit() {
        // A GNU long-name entry claiming 1 GiB: the tar crate would read
        // it whole into memory.
        let head = header("././@LongLink", tar::EntryType::GNULongName, 1 << 30);
        let started = std::time::Instant::now();
        let err = read(&bomb(&head, 1 << 30, &[0u8; 1024])).unwrap_err();
        assert!(err.contains("larger than Helm accepts"), "{err}");
        assert!(started.elapsed().as_secs() < 20, "stopped early");
    }

    /// A chart archive (as gzip members) holding Chart.yaml and files of
    /// zeros of the given sizes: hundreds of MiB cost little to build.
    fn zeros_chart(name: &str, sizes: &[u64]) -> Vec<u8> {
        let chart = format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n");
        let mut gz = gzip(&file(&format!("{name}/Chart.yaml"), chart.as_bytes()));
        let five = gzip(&vec![0u8; MAX_FILE_SIZE as usize]);
        for (i, &n) in sizes.iter().enumerate() {
            gz.extend(gzip(&header(
                &format!("{name}/f{i}"),
                tar::EntryType::Regular,
                n,
            )));
            if n == MAX_FILE_SIZE {
                gz.extend_from_slice(&five);
            } else {
                gz.extend(gzip(&vec![0u8; n as usize]));
            }
            gz.extend(gzip(&vec![0u8; (n.div_ceil(512) * 512 - n) as usize]));
        }
        gz.extend(gzip(&[0u8; 1024]));
        gz
    }

    #[test]
    fn helm4_archive_limits() {
        // One file over 5 MiB.
        let err = read(&zeros_chart("c", &[MAX_FILE_SIZE + 1])).unwrap_err();
        assert!(
            err.starts_with("chart file f0 is larger than Helm's maximum file size"),
            "{err}"
        );
        // Files adding up to exactly 100 MiB: Helm 4 refuses that too.
        let chart_len = "apiVersion: v2\nname: c\nversion: 1.0.0\n".len() as u64;
        let mut sizes = vec![MAX_FILE_SIZE; 19];
        sizes.push(MAX_CHART_SIZE - chart_len - 19 * MAX_FILE_SIZE - 1);
        sizes.push(1);
        assert_eq!(
            read(&zeros_chart("c", &sizes)).unwrap_err(),
            too_big(),
            "exactly the limit"
        );
        *sizes.last_mut().expect("last") = 0;
        assert_eq!(
            read(&zeros_chart("c", &sizes))
                .expect("one byte under")
                .len(),
            22
        );
    }

    #[test]
    fn skipped_entries_count_toward_the_limit() {
        // A directory entry is skipped, but skipping 200 MiB is still
        // decompressing it.
        let head = header("c/dir/", tar::EntryType::Directory, 200 << 20);
        let err = read(&bomb(&head, 200 << 20, &[0u8; 1024])).unwrap_err();
        assert!(err.contains("larger than Helm's limit"), "{err}");
    }

    #[test]
    fn subchart_archives_share_one_budget() {
        // Three subcharts of 40 MiB each (zeros: tiny compressed) in a
        // chart: each alone is under Helm's limit, together they are not,
        // and all of them would sit in memory.
        let sub = |n: &str| {
            (
                format!("charts/{n}.tgz"),
                zeros_chart(n, &[MAX_FILE_SIZE; 8]),
            )
        };
        let subs: Vec<(String, Vec<u8>)> = ["a", "b", "c"].iter().map(|n| sub(n)).collect();
        let files = read(&chart_tgz("top", &subs)).expect("outer archive");
        let err = Loader::new(&|_| true).load_files(files).unwrap_err();
        assert!(err.contains("counted together"), "{err}");
        // Two fit.
        let files = read(&chart_tgz("top", &subs[..2])).expect("outer archive");
        let chart = Loader::new(&|_| true).load_files(files).expect("two fit");
        assert_eq!(chart.dependencies.len(), 2);
    }

    #[test]
    fn subchart_nesting_is_bounded() {
        let nested = |depth: usize| {
            let mut inner = chart_tgz(&format!("c{depth}"), &[]);
            for level in (0..depth).rev() {
                inner = chart_tgz(
                    &format!("c{level}"),
                    &[(format!("charts/c{}.tgz", level + 1), inner)],
                );
            }
            inner
        };
        let ok = Loader::new(&|_| true)
            .load_files(read(&nested(MAX_NESTING)).expect("archive"))
            .expect("deep but allowed");
        assert_eq!(ok.dependencies[0].meta.name, "c1");
        let err = Loader::new(&|_| true)
            .load_files(read(&nested(MAX_NESTING + 1)).expect("archive"))
            .unwrap_err();
        assert!(err.contains("nested more than 32 deep"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn names_in_errors_stay_on_one_line() {
        let gz = chart_tgz("c", &[("charts/x\ny.tgz".into(), b"not gzip".to_vec())]);
        let err = Loader::new(&|_| true)
            .load_files(read(&gz).expect("archive"))
            .unwrap_err();
        assert!(err.contains("subchart x\\ny.tgz"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn a_damaged_archive_says_so() {
        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut gz = chart_tgz("c", &[("values.yaml".into(), noise)]);
        gz.truncate(gz.len() / 2);
        let e = read(&gz).unwrap_err();
        assert!(
            e.starts_with("cannot read values.yaml from the archive: "),
            "{e}"
        );
        assert!(e.ends_with("damaged: package the chart again"), "{e}");
        let e = read(&gzip(&[b'x'; 4096])).unwrap_err();
        assert!(
            e.starts_with("cannot read the archive: ")
                && e.ends_with("not a chart archive: package the chart again")
                && !e.contains('\n'),
            "{e}"
        );
    }

    #[test]
    fn ext_like_go() {
        assert_eq!(extension("a.tgz"), ".tgz");
        assert_eq!(extension("a.tar.gz"), ".gz");
        assert_eq!(extension("dir.d/file"), "");
    }
}
