//! The chart: loading a chart directory or archive the way Helm does, its
//! ignore rules, validation, and the reproducible archive.
//!
//! No network I/O here, and nothing about registries or AWS.

use std::fmt;
use std::path::{Path, PathBuf};

/// Chart.yaml fields `helm package` lets the command line override.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub version: Option<String>,
    pub app_version: Option<String>,
}

/// Chart.yaml, as far as the OCI artifact needs it.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub description: Option<String>,
    pub home: Option<String>,
    pub sources: Vec<String>,
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
    /// The `.tgz`; removed on drop when `temporary`.
    pub archive: PathBuf,
    pub temporary: bool,
    /// `sha256:<hex>` of the archive bytes.
    pub digest: String,
    pub size: u64,
    /// `<archive>.prov` when it sits beside a pre-packaged archive.
    pub provenance: Option<PathBuf>,
}

impl Drop for PackagedChart {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.archive);
        }
    }
}

#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Package `path` (a chart directory, or a `.tgz` which is checked and used
/// byte for byte). `destination`, when given, keeps `NAME-VERSION.tgz` there.
pub fn package(
    path: &Path,
    overrides: &Overrides,
    destination: Option<&Path>,
) -> Result<PackagedChart, Error> {
    let _ = (path, overrides, destination);
    Err(Error("packaging is not implemented yet".into()))
}
