//! `helm ecr-push CHART... [oci://HOST/NAMESPACE]`

use crate::cli::CommonArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Chart directories or .tgz archives, and at most one oci:// remote.
    #[arg(value_name = "CHART", required = true)]
    pub charts: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the command; returns the exit status.
pub fn run(args: Args) -> i32 {
    let _ = args;
    eprintln!("Error: ecr-push is not implemented yet");
    1
}
