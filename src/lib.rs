//! helm-ecr: `helm ecr-login` and `helm ecr-push` in one binary.
//!
//! Parts, each knowing as little of the others as it can:
//! `chart` (no I/O beyond the chart itself), `oci` (registries; credentials
//! through `oci::Keychain`), `aws` (credentials, SigV4, ECR API, token cache),
//! `helm` (environment, registry config, credential helpers), `http` (one
//! configured client). `artifact` maps a chart to Helm's OCI artifact;
//! `keychain` is the auth rule; `commands` wire it together. Leaf utilities
//! every part may use: `clock` (dates), `codec` (base64, hex, digests),
//! `fsutil` (the one atomic private-file writer), `secret` (values that
//! never print), `text` (one-line messages), `sync` (shared state between threads) and `subprocess`
//! (helper programs with bounded output and run time).

pub mod artifact;
pub mod aws;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod commands;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod helm;
pub mod http;
pub mod keychain;
pub mod oci;
pub mod secret;
pub mod subprocess;
pub mod sync;
pub mod text;
