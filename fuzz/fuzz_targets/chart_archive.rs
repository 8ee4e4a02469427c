//! A .tgz read as Helm reads a chart archive (path checks, size limits,
//! subchart archives, Chart.yaml and friends parsed): an error or a chart,
//! never a panic, a hang or unbounded memory.
#![no_main]

use helm_ecr::chart::{archive, load, untar};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let keep = |_: &str| true;
    let mut left = load::MAX_CHART_SIZE;
    let Ok((files, _)) = untar::read_archive(data, &keep, &mut left) else {
        return;
    };
    let Ok(chart) = load::Loader::new(&keep).load_files(files) else {
        return;
    };
    // What we would write for it.
    let _ = archive::entries(&chart);
});
