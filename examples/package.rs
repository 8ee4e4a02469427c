//! Package one chart with the library, as `helm package` would, for
//! scripts/bench-package.sh: `package CHART DEST` keeps the archive in DEST
//! (like `helm package -d DEST`, fsynced before it takes its final name);
//! `package CHART -` writes a temporary archive, as `helm ecr-push` does
//! before a push, and removes it. Prints the archive path and its digest.

use helm_ecr::chart::{self, Overrides};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [chart_dir, dest] = args.as_slice() else {
        eprintln!("usage: package CHART DEST|-");
        return ExitCode::from(2);
    };
    let dest = (dest != "-").then(|| Path::new(dest));
    match chart::package(Path::new(chart_dir), &Overrides::default(), dest) {
        Ok(p) => {
            println!("{} {}", p.archive.display(), p.digest);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {chart_dir}: {e}");
            ExitCode::FAILURE
        }
    }
}
