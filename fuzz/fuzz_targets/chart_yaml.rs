//! Chart.yaml as Helm reads it: never a panic, nesting refused early, and
//! what we write back (the archive's Chart.yaml, the config JSON) reads
//! back to the same metadata.
#![no_main]

use helm_ecr::chart::metadata::{check_json_convertible, parse_yaml, ChartMeta, API_V1};

fn load(text: &[u8]) -> Option<ChartMeta> {
    let doc = parse_yaml(text, "Chart.yaml").ok()?;
    check_json_convertible(&doc, "Chart.yaml", Some("apiVersion")).ok()?;
    let mut m = ChartMeta::default();
    m.apply(&doc, "Chart.yaml").ok()?;
    if m.api_version.is_empty() {
        m.api_version = API_V1.into();
    }
    m.validate().ok()?;
    Some(m)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(m) = load(data) else { return };
    let json = m.to_json();
    serde_json::from_str::<serde_json::Value>(&json).expect("the config blob is JSON");
    if m.api_version == API_V1 {
        // A v1 chart's dependencies live in requirements.yaml, not here.
        return;
    }
    let written = m.to_chart_yaml();
    let back = load(written.as_bytes())
        .unwrap_or_else(|| panic!("our Chart.yaml does not load:\n{written}"));
    assert_eq!(back.to_json(), json, "Chart.yaml round trip:\n{written}");
});
