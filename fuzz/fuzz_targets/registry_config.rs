//! Helm's registry config: read, looked up, rewritten and read back the
//! same (`helm_ecr::fuzzing::registry_config`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helm_ecr::fuzzing::registry_config(data));
