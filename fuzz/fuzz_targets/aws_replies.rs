//! ECR, STS, IAM Identity Center and credential_process replies, and AWS
//! error bodies (`helm_ecr::fuzzing::aws_replies`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helm_ecr::fuzzing::aws_replies(data));
