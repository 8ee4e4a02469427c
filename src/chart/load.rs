//! Loading a chart the way Helm's loader does: `LoadFiles`' sorting of the
//! files a directory walk ([`super::walk`]) or an archive
//! ([`super::untar`]) gave into Chart.yaml, lock, values, schema,
//! templates, other files and subcharts, with Helm's limits.
//!
//! File contents stay on disk ([`Data::Disk`]) until the archive is
//! written; only the small files Helm parses are read here.

use super::metadata::{check_json_convertible, parse_yaml, ChartMeta, Lock, API_V1};
use super::Error;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Helm 4 refuses to load a file larger than this from a directory.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Helm refuses an archive whose files add up to more than this.
pub const MAX_CHART_SIZE: u64 = 100 * 1024 * 1024;

/// Subcharts nested deeper than this are refused: far beyond any real
/// chart, and it bounds the recursion (a `.tgz` can contain itself).
pub const MAX_NESTING: usize = 32;

pub(super) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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
    pub fn read_all(&self) -> Result<Vec<u8>, Error> {
        match self {
            Data::Mem(b) => Ok(b.clone()),
            Data::Disk { path, skip, size } => {
                let mut f = super::walk::open_regular(path)
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e, ""))?;
                f.seek(SeekFrom::Start(*skip))
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e, ""))?;
                let mut buf = Vec::with_capacity(*size as usize);
                f.take(*size)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e, ""))?;
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
pub fn load_dir(root: &Path) -> Result<Chart, Error> {
    Loader::new(&|_| true).load_files(super::walk::files(root)?)
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

    pub fn load_files(&mut self, files: Vec<BufferedFile>) -> Result<Chart, Error> {
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
            return Err(Error::invalid(
                "Chart.yaml file is missing; a chart needs a Chart.yaml at its root",
            ));
        };
        meta.validate()?;
        let name = meta.name.clone();
        chart.meta = meta;
        for (n, files) in subcharts {
            if n.starts_with('_') || n.starts_with('.') {
                continue;
            }
            if self.depth >= MAX_NESTING {
                return Err(Error::invalid(format!(
                    "subcharts are nested more than {MAX_NESTING} deep (at {} in {name}); flatten the chart's dependencies",
                    super::printable(&n)
                )));
            }
            self.depth += 1;
            let sub = self.subchart(&n, files, &name);
            self.depth -= 1;
            let sub = sub.map_err(|e| Error::Subchart {
                name: n.clone(),
                parent: name.clone(),
                source: Box::new(e),
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
    ) -> Result<Chart, Error> {
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
            return Err(Error::invalid(format!(
                "no files for subchart {} in {parent}",
                super::printable(n)
            )));
        };
        if file.name != n {
            return Err(Error::invalid(format!(
                "error unpacking subchart tar in {parent}: expected {}, got {}",
                super::printable(n),
                super::printable(&file.name)
            )));
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
        let (files, _) =
            super::untar::read_archive(bytes, keep, &mut self.nested_left).map_err(|e| {
                if matches!(e, Error::TooBig) {
                    Error::SubchartsTooBig
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
fn check_values(data: &Data) -> Result<(), Error> {
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
            return Err(Error::invalid("cannot load values.yaml: each YAML document in it must be a mapping of keys to values"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::untar::tests::{chart_tgz, read, zeros_chart};
    use super::*;

    /// Load a chart archive, keeping every file.
    fn load(gz: &[u8]) -> Result<Chart, Error> {
        Loader::new(&|_| true).load_files(read(gz).expect("archive"))
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
        let err = load(&chart_tgz("top", &subs)).unwrap_err().to_string();
        assert!(err.contains("counted together"), "{err}");
        // Two fit.
        let chart = load(&chart_tgz("top", &subs[..2])).expect("two fit");
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
        let ok = load(&nested(MAX_NESTING)).expect("deep but allowed");
        assert_eq!(ok.dependencies[0].meta.name, "c1");
        let err = load(&nested(MAX_NESTING + 1)).unwrap_err().to_string();
        assert!(err.contains("nested more than 32 deep"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn names_in_errors_stay_on_one_line() {
        let gz = chart_tgz("c", &[("charts/x\ny.tgz".into(), b"not gzip".to_vec())]);
        let err = load(&gz).unwrap_err().to_string();
        assert!(err.contains("subchart x\\ny.tgz"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn ext_like_go() {
        assert_eq!(extension("a.tgz"), ".tgz");
        assert_eq!(extension("a.tar.gz"), ".gz");
        assert_eq!(extension("dir.d/file"), "");
    }
}
