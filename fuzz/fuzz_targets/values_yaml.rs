//! values.yaml (every document) as Helm reads it: an error or a value,
//! never a panic or a hang.
#![no_main]

use helm_ecr::chart::metadata::{check_json_convertible, parse_yaml_documents};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(docs) = parse_yaml_documents(data, "values.yaml") {
        for d in &docs {
            let _ = check_json_convertible(d, "values.yaml", None);
        }
    }
});
