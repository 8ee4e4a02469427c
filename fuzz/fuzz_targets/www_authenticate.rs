//! WWW-Authenticate challenges, token URLs, token and registry error
//! bodies (`helm_ecr::fuzzing::www_authenticate`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helm_ecr::fuzzing::www_authenticate(data));
