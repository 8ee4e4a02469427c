//! The chart: loading a chart directory or archive the way Helm does, its
//! ignore rules, validation, and the reproducible archive.
//!
//! Input: [`walk`] (a directory, `.helmignore` through [`ignore`] and
//! [`glob`]) or [`untar`] (a `.tgz`), sorted into a chart by [`load`];
//! Chart.yaml and the lock files through [`goyaml`] and [`metadata`];
//! output by [`archive`] (compressed by [`pargz`]) into a file that
//! [`tempfiles`] removes if the process dies; [`gojson`] writes Go's JSON.
//! Every failure is an [`Error`].
//!
//! No network I/O here, and nothing about registries or AWS.

pub mod archive;
mod error;
pub mod glob;
pub mod gojson;
pub mod goyaml;
pub mod ignore;
pub mod load;
pub mod metadata;
pub mod pargz;
pub mod tempfiles;
pub mod untar;
pub mod walk;

pub use error::{printable, Error};
use std::path::{Path, PathBuf};

/// Chart.yaml fields `helm package` lets the command line override.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub version: Option<String>,
    pub app_version: Option<String>,
}

/// Chart.yaml, as far as the OCI artifact needs it: the name and version
/// make the reference; the rest (appVersion, description, home, sources...)
/// reaches the artifact in `config_json` and `annotations`.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    /// The config blob: Chart.yaml's metadata as Helm's Go encoder writes it.
    pub config_json: Vec<u8>,
    /// org.opencontainers.image.* annotations plus Chart.yaml `annotations`,
    /// in the order Helm applies them (`created` is added by the caller).
    pub annotations: Vec<(String, String)>,
}

/// A packaged chart ready to push: its archive lives in a file.
#[derive(Debug)]
pub struct PackagedChart {
    pub metadata: Metadata,
    /// The `.tgz`; removed on drop when `temporary`. An unnamed temporary
    /// file (Linux) is `/proc/self/fd/N`, valid while `held` is open.
    pub archive: PathBuf,
    pub temporary: bool,
    /// Keeps an unnamed temporary archive alive; closing it frees it.
    pub held: Option<std::fs::File>,
    /// `sha256:<hex>` of the archive bytes.
    pub digest: String,
    pub size: u64,
    /// `<archive>.prov` when it sits beside a pre-packaged archive.
    pub provenance: Option<PathBuf>,
}

impl Drop for PackagedChart {
    fn drop(&mut self) {
        if self.temporary && self.held.is_none() {
            let _ = std::fs::remove_file(&self.archive);
            tempfiles::forget(&self.archive);
        }
    }
}

/// Package `path` (a chart directory, or a `.tgz` which is checked and used
/// byte for byte). `destination`, when given, keeps `NAME-VERSION.tgz` there.
/// Entry mtimes come from SOURCE_DATE_EPOCH, else one fixed time.
pub fn package(
    path: &Path,
    overrides: &Overrides,
    destination: Option<&Path>,
) -> Result<PackagedChart, Error> {
    let mtime = source_date_epoch()?;
    package_with_mtime(path, overrides, destination, mtime)
}

/// SOURCE_DATE_EPOCH as seconds, else [`archive::DEFAULT_MTIME`].
pub fn source_date_epoch() -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().map_err(|_| {
            Error::usage(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970; set it to an integer or unset it"
            ))
        }),
        _ => Ok(archive::DEFAULT_MTIME),
    }
}

/// [`package`] with an explicit entry mtime (seconds since 1970).
pub fn package_with_mtime(
    path: &Path,
    overrides: &Overrides,
    destination: Option<&Path>,
    mtime: u64,
) -> Result<PackagedChart, Error> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::io(
            "cannot read the chart",
            e,
            "; pass a chart directory or a .tgz",
        )
    })?;
    if meta.is_dir() {
        package_dir(path, overrides, destination, mtime)
    } else if !meta.is_file() {
        // A pipe (`<(...)`) could be read once, for the digest, but not
        // again for the upload.
        Err(Error::usage(format!(
            "{} is neither a directory nor a regular file; pass a chart directory or a .tgz file (not a pipe or device)",
            path.display()
        )))
    } else {
        if given(&overrides.version).is_some() || given(&overrides.app_version).is_some() {
            return Err(Error::usage(
                "--version and --app-version cannot change a packaged chart (it is pushed byte for byte); pass the chart directory instead",
            ));
        }
        packaged(path, destination)
    }
}

fn package_dir(
    path: &Path,
    overrides: &Overrides,
    destination: Option<&Path>,
    mtime: u64,
) -> Result<PackagedChart, Error> {
    let mut chart = load::load_dir(path)?;
    if let Some(v) = given(&overrides.version) {
        if !metadata::is_lenient_semver(v) {
            return Err(Error::usage(format!(
                "--version {v:?} is not a valid SemVer; use a version such as 1.2.3"
            )));
        }
        chart.meta.version = v.to_string();
    }
    if let Some(v) = given(&overrides.app_version) {
        chart.meta.app_version = v.to_string();
    }
    chart.meta.validate()?;
    check_dependencies(&chart)?;
    let entries = archive::entries(&chart)?;
    let metadata = reloaded_metadata(&chart)?;

    let file_name = format!("{}-{}.tgz", metadata.name, metadata.version);
    if destination.is_none() {
        let tmpdir = std::env::temp_dir();
        if let Some((path, file, held)) = tempfiles::anonymous(&tmpdir) {
            let written =
                archive::write(&entries, file, mtime, false).map_err(|e| where_written(e, None))?;
            return Ok(PackagedChart {
                metadata,
                archive: path,
                temporary: true,
                held: Some(held),
                digest: written.digest,
                size: written.size,
                provenance: None,
            });
        }
        sweep_once(&tmpdir);
    }
    let (target, tmp, file) = match destination {
        Some(dir) => {
            destination_dir(dir)?;
            tempfiles::sweep(dir);
            let (tmp, file) = create_unique(dir, &format!(".{file_name}"), false)?;
            (Some(dir.join(&file_name)), tmp, file)
        }
        None => {
            let (tmp, file) = create_unique(
                &std::env::temp_dir(),
                &format!("helm-ecr-{file_name}"),
                true,
            )?;
            (None, tmp, file)
        }
    };
    // Remove a half-written file on every error path.
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let written = archive::write(&entries, file, mtime, target.is_some())
        .map_err(|e| where_written(e, destination))?;
    let (archive, temporary) = match target {
        Some(t) => {
            keep_file(&tmp, &t)?;
            (t, false)
        }
        None => (tmp, true),
    };
    std::mem::forget(guard);
    Ok(PackagedChart {
        metadata,
        archive,
        temporary,
        held: None,
        digest: written.digest,
        size: written.size,
        provenance: None,
    })
}

/// Tidy TMPDIR of our files that killed runs left, once per process.
fn sweep_once(dir: &Path) {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| tempfiles::sweep(dir));
}

/// Like `helm package`, an empty override means "not given".
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(&p);
            tempfiles::forget(&p);
        }
    }
}

/// A failed archive write, with the place it went: --destination, or the
/// temp dir TMPDIR names (a full disk there is fixed in different ways).
/// Source-file problems are worded where they happened and pass as they are.
fn where_written(e: Error, destination: Option<&Path>) -> Error {
    let Error::Write { source } = e else {
        return e;
    };
    match destination {
        Some(dir) => Error::io(
            format!(
                "cannot write the chart archive in --destination {}",
                dir.display()
            ),
            source,
            ": free space there or pass another --destination",
        ),
        None => Error::io(
            format!(
                "cannot write the temporary chart archive in {} (TMPDIR)",
                std::env::temp_dir().display()
            ),
            source,
            ": free space there or set TMPDIR to a directory with room",
        ),
    }
}

/// Create `--destination` if needed; a file there is an error that says so
/// (not "File exists").
fn destination_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::usage(format!(
            "destination {} is not a directory; pass a directory for the .tgz",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            format!("cannot create destination {}", dir.display()),
            e,
            "; pass a writable directory",
        )
    })
}

/// A new file named `PREFIX-PID-N.tmp`-ish in `dir`, never an existing one.
/// `private`: readable by the user alone (a temporary archive of a private
/// chart in a shared temp dir is nobody else's business); otherwise the
/// mode `helm package` gives its output (0666 less the umask).
fn create_unique(
    dir: &Path,
    prefix: &str,
    private: bool,
) -> Result<(PathBuf, std::fs::File), Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}.{}-{n}-{nanos}.tmp", std::process::id());
        let p = dir.join(name);
        // Registered before it exists, so no signal finds it unregistered.
        tempfiles::register(&p);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o666 });
        match options.open(&p) {
            // Gone on SIGINT, SIGTERM or SIGHUP too, not only on drop.
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                tempfiles::forget(&p);
                continue;
            }
            Err(e) => {
                tempfiles::forget(&p);
                return Err(Error::io(
                    format!("cannot create a file in {}", dir.display()),
                    e,
                    if private {
                        "; set TMPDIR to a writable directory"
                    } else {
                        "; pass a writable destination"
                    },
                ));
            }
        }
    }
    Err(Error::usage(format!(
        "cannot create a unique file in {}; remove stale .tmp files there",
        dir.display()
    )))
}

/// `helm package` refuses a chart whose Chart.yaml lists a dependency that
/// is not in charts/ (matched by chart name).
fn check_dependencies(chart: &load::Chart) -> Result<(), Error> {
    let missing: Vec<&str> = chart
        .meta
        .dependencies
        .iter()
        .flatten()
        .filter(|d| !chart.dependencies.iter().any(|c| c.meta.name == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "found in Chart.yaml, but missing in charts/ directory: {}; run helm dependency build",
        missing.join(", ")
    )))
}

/// The metadata Helm will see when it loads the archive we write (Chart.yaml
/// re-read, plus requirements.yaml for a v1 chart): the config blob and the
/// annotations come from it.
fn reloaded_metadata(chart: &load::Chart) -> Result<Metadata, Error> {
    let mut m = metadata::ChartMeta::default();
    let yaml = chart.meta.to_chart_yaml();
    m.apply(
        &metadata::parse_yaml(yaml.as_bytes(), "Chart.yaml")?,
        "Chart.yaml",
    )?;
    if m.api_version.is_empty() {
        m.api_version = metadata::API_V1.into();
    }
    if let Some(req) = chart.files.iter().find(|f| f.name == "requirements.yaml") {
        let text = req.data.read_all()?;
        m.apply(
            &metadata::parse_yaml(&text, "requirements.yaml")?,
            "requirements.yaml",
        )?;
    }
    m.validate()?;
    Ok(public_metadata(&m))
}

fn public_metadata(m: &metadata::ChartMeta) -> Metadata {
    Metadata {
        name: m.name.clone(),
        version: m.version.clone(),
        config_json: m.to_json().into_bytes(),
        annotations: m.oci_annotations(),
    }
}

/// Give a finished temporary file in the destination its final name.
fn keep_file(tmp: &Path, target: &Path) -> Result<(), Error> {
    if target.is_dir() {
        return Err(Error::usage(format!(
            "cannot write {}: a directory of that name is in the way; move it or pass another destination",
            target.display()
        )));
    }
    std::fs::rename(tmp, target)
        .map_err(|e| Error::io(format!("cannot write {}", target.display()), e, ""))?;
    tempfiles::forget(tmp);
    Ok(())
}

/// A pre-packaged archive: checked as Helm checks it on load, then used as
/// is. With a destination, the archive is first copied there and the copy
/// is what gets checked and hashed, so the digest is that of the bytes
/// kept (and pushed) even if the source changes meanwhile; a failure
/// leaves nothing behind.
fn packaged(path: &Path, destination: Option<&Path>) -> Result<PackagedChart, Error> {
    let mut prov = path.as_os_str().to_owned();
    prov.push(".prov");
    let prov = PathBuf::from(prov);
    let provenance = prov.is_file().then_some(prov);
    let Some(dir) = destination else {
        let checked = check_archive(path)?;
        return Ok(PackagedChart {
            metadata: checked.metadata,
            archive: path.to_path_buf(),
            temporary: false,
            held: None,
            digest: checked.digest,
            size: checked.size,
            provenance,
        });
    };
    destination_dir(dir)?;
    let mut source =
        std::fs::File::open(path).map_err(|e| Error::io("cannot read the archive", e, ""))?;
    let (tmp, mut copy) = create_unique(dir, ".helm-ecr-copy", false)?;
    let guard = RemoveOnDrop(Some(tmp.clone()));
    std::io::copy(&mut source, &mut copy)
        .and_then(|_| copy.sync_all())
        .map_err(|e| {
            Error::io(
                format!("cannot copy the archive to --destination {}", dir.display()),
                e,
                ": free space there or pass another --destination",
            )
        })?;
    drop(copy);
    let checked = check_archive(&tmp)?;
    let target = dir.join(format!(
        "{}-{}.tgz",
        checked.metadata.name, checked.metadata.version
    ));
    // When the archive already is the destination file, it stays as it is
    // and the guard removes the copy.
    if !same_file(path, &target) {
        keep_file(&tmp, &target)?;
        std::mem::forget(guard);
    }
    Ok(PackagedChart {
        metadata: checked.metadata,
        archive: target,
        temporary: false,
        held: None,
        digest: checked.digest,
        size: checked.size,
        provenance,
    })
}

struct Checked {
    metadata: Metadata,
    digest: String,
    size: u64,
}

/// Load `path` as Helm loads an archive (path checks, limits, Chart.yaml
/// and friends parsed) and hash every byte of the file.
fn check_archive(path: &Path) -> Result<Checked, Error> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::io("cannot read the archive", e, ""))?;
    let mut reader = archive::HashingReader {
        inner: file,
        hasher: <sha2::Sha256 as sha2::Digest>::new(),
        count: 0,
    };
    let mut magic = Vec::with_capacity(3);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut reader, 3), &mut magic)
        .map_err(|e| Error::io("cannot read the archive", e, ""))?;
    if magic != [0x1F, 0x8B, 0x08] {
        return Err(Error::invalid(
            "this file does not appear to be a gzipped chart archive; pass a chart directory or a .tgz from helm package",
        ));
    }
    let keep = |name: &str| {
        let base = name.rsplit('/').next().unwrap_or(name);
        matches!(
            base,
            "Chart.yaml" | "Chart.lock" | "values.yaml" | "requirements.yaml" | "requirements.lock"
        ) || (name.starts_with("charts/") && base.ends_with(".tgz"))
    };
    let chained = std::io::Read::chain(&magic[..], &mut reader);
    let mut left = load::MAX_CHART_SIZE;
    let (files, _) = untar::read_archive(chained, &keep, &mut left)?;
    // Subchart archives inside are checked the same way, keeping the same
    // few files: nothing else of a pre-packaged chart is needed in memory.
    let chart = load::Loader::new(&keep).load_files(files)?;
    // Hash the rest of the file too (gzip padding, trailing bytes).
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| Error::io("cannot read the archive", e, ""))?;
    Ok(Checked {
        metadata: public_metadata(&chart.meta),
        digest: format!(
            "sha256:{}",
            crate::codec::hex(&sha2::Digest::finalize(reader.hasher))
        ),
        size: reader.count,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests;
