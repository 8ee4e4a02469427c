//! helm-ecr: `helm ecr-login` and `helm ecr-push` in one binary.

mod artifact;
mod aws;
mod chart;
mod cli;
mod commands;
mod helm;
mod http;
mod keychain;
mod oci;

fn main() {
    std::process::exit(cli::run());
}
