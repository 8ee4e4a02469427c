//! `helm ecr-login [REGISTRY...]`

use crate::cli::CommonArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Registries to log in to (HOST[:PORT]); default: your account's registry.
    #[arg(value_name = "REGISTRY")]
    pub registries: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the command; returns the exit status.
pub fn run(args: Args) -> i32 {
    let _ = args;
    eprintln!("Error: ecr-login is not implemented yet");
    1
}
