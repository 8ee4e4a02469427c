//! What loading and packaging a chart can fail with. Each variant renders
//! as one line: what failed, why, what to do. Where a cause is carried
//! (`#[source]`), the line already includes its text. Control characters
//! (from file names, parser output) are escaped, so a message never
//! breaks over lines.

use super::goyaml;
use super::load::MAX_CHART_SIZE;
use super::metadata::Mismatch;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file, directory or archive that cannot be read, created or
    /// written (`hint` is empty or starts with the separator).
    #[error("{what}: {}{hint}", printable(&source.to_string()))]
    Io {
        what: String,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    /// A chart YAML file that does not parse.
    #[error("cannot load {file}: {}; fix the YAML", printable(&crate::text::one_line(&source.to_string(), usize::MAX)))]
    Yaml {
        file: String,
        #[source]
        source: goyaml::Error,
    },
    /// A value of the wrong shape for a field of Chart.yaml,
    /// requirements.yaml or a lock file.
    #[error("cannot load {file}: {}; {hint}", printable(&source.to_string()))]
    Decode {
        file: String,
        #[source]
        source: Mismatch,
        hint: String,
    },
    /// The archive could not be written (a full disk, say).
    #[error("cannot write the chart archive: {source}")]
    Write {
        #[source]
        source: io::Error,
    },
    /// Chart content Helm refuses (validation, names, paths, nesting).
    #[error("{0}")]
    Invalid(String),
    /// An argument or setting that cannot be used (the chart path,
    /// --version, --destination, SOURCE_DATE_EPOCH).
    #[error("{0}")]
    Usage(String),
    /// One archive's files over Helm's limit.
    #[error("the chart is larger than Helm's limit of {MAX_CHART_SIZE} bytes uncompressed; leave large files out with .helmignore")]
    TooBig,
    /// The subchart archives of a chart over Helm's limit together.
    #[error("the chart's subchart archives (charts/*.tgz) expand to more than Helm's limit of {MAX_CHART_SIZE} bytes uncompressed, counted together; remove unused subcharts")]
    SubchartsTooBig,
    /// A subchart that does not load.
    #[error(
        "error unpacking subchart {} in {}: {source}",
        printable(name),
        printable(parent)
    )]
    Subchart {
        name: String,
        parent: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An I/O failure: `what` failed because of `source`; `hint` (empty,
    /// or starting with "; ") says what to do.
    pub fn io(what: impl Into<String>, source: io::Error, hint: &'static str) -> Error {
        Error::Io {
            what: printable(&what.into()).into_owned(),
            source,
            hint,
        }
    }

    /// Content Helm refuses, worded for the user.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(printable(&msg.into()).into_owned())
    }

    /// An argument or setting that cannot be used, worded for the user.
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(printable(&msg.into()).into_owned())
    }
}

pub use crate::text::printable;
