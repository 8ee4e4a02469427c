pub mod credential_helper;
pub mod login;
pub mod push;

use crate::{aws, helm, http, oci};

/// Why a command stops. Each renders as one line, what failed, why and
/// what to do, which [`fail`] prints; the layers' errors pass through whole
/// (their line already says all three).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The arguments or flags cannot be used as given; the line says what
    /// to give instead.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Aws(#[from] aws::Error),
    /// An AWS call about one resource, named: `creating repository NAME: WHY`.
    #[error("{what}: {source}")]
    AwsCall {
        what: String,
        #[source]
        source: aws::Error,
    },
    #[error(transparent)]
    Helm(#[from] helm::Error),
    #[error(transparent)]
    Http(#[from] http::Error),
    #[error(transparent)]
    Oci(#[from] oci::Error),
    /// A worker thread panicked (a bug): which work was lost.
    #[error("internal error: {0} panicked")]
    Internal(&'static str),
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }
}

/// A command's failure: one line on stderr, exit status 1.
fn fail(error: impl std::fmt::Display) -> i32 {
    eprintln!("Error: {error}");
    1
}
