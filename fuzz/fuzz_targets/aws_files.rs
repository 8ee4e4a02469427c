//! The AWS config and credentials files (split at the first NUL byte)
//! and credential selection for every profile in them
//! (`helm_ecr::fuzzing::aws_files`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helm_ecr::fuzzing::aws_files(data));
