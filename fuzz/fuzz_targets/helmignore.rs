//! .helmignore rules and Go's filepath.Match: the first line of input
//! after a NUL byte is split off as paths to test against the rules.
#![no_main]

use helm_ecr::chart::{glob, ignore::Rules};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rules, paths) = text
        .split_once('\0')
        .unwrap_or((&text, "templates/a.yaml\nx/y.txt"));
    for line in rules.lines().take(64) {
        for p in paths.lines().take(16) {
            let _ = glob::matches(line, p);
        }
    }
    let Ok(rules) = Rules::parse(rules) else {
        return;
    };
    for p in paths.lines().take(64) {
        let _ = rules.ignore(p, false);
        let _ = rules.ignore(p, true);
    }
});
