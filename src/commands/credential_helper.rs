//! The Docker credential-helper protocol, answered with ECR tokens, so Helm
//! keeps working after the 12-hour token expires.

#[derive(clap::Args, Debug)]
pub struct Args {
    /// get, store, erase or list (the protocol's verb).
    #[arg(value_name = "VERB")]
    pub verb: String,
}

/// When argv[0] is `docker-credential-*`, run as the helper and return the
/// exit status; otherwise None.
pub fn run_if_invoked_as_helper() -> Option<i32> {
    None
}

pub fn run(args: Args) -> i32 {
    let _ = args;
    eprintln!("Error: the credential helper is not implemented yet");
    1
}
