//! The shared harness for integration tests against the lab (scripts/lab.sh).
//!
//! Use from a test crate with `mod common;` then:
//!
//! ```ignore
//! let lab = common::Lab::get();                 // panics when the lab is not up
//! let sb = common::Sandbox::new();              // throwaway Helm dirs, both plugins installed
//! let chart = sb.seed_chart("mychart");         // `helm create` + one ConfigMap
//! let ns = common::unique_name("charts");       // a repository namespace no other test uses
//! let out = sb.helm(&["ecr-push", chart.to_str().unwrap(),
//!                     &format!("oci://{}/{ns}", lab.registry), "--plain-http"]);
//! out.assert_ok();
//! ```
//!
//! Every process runs with a cleared environment: only PATH, a sandbox HOME,
//! the sandbox's HELM_* dirs and the lab's AWS settings reach it, so the
//! developer's own ~/.aws, ~/.docker and Helm config never leak in. Override
//! or drop variables per sandbox with `set_env` / `unset_env`.
//!
//! Request counting: `LogMark` reads a registry access log from a remembered
//! offset. The shared lab registries see every test's traffic, so for exact
//! counts start a `PrivateRegistry` (its own port and log, the lab's password).

#![allow(dead_code)] // each test crate uses its own subset

mod files;
pub mod front;
mod lab;
mod process;
mod push;
mod registry;
mod sandbox;

// Each test crate uses its own subset of these.
#[allow(unused_imports)]
pub use files::*;
#[allow(unused_imports)]
pub use lab::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use push::*;
#[allow(unused_imports)]
pub use registry::*;
#[allow(unused_imports)]
pub use sandbox::*;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any one child process may run before the test fails.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(180);

/// The binary under test, as cargo built it for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_helm-ecr");

/// The repository root (where Cargo.toml is).
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
