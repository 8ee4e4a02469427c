//! `oci://` remotes, chart references and registry host names: see
//! `helm_ecr::fuzzing::references` for what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helm_ecr::fuzzing::references(data));
