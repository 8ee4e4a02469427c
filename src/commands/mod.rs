pub mod credential_helper;
pub mod login;
pub mod push;

/// A command's failure: one line on stderr, exit status 1.
fn fail(message: &str) -> i32 {
    eprintln!("Error: {message}");
    1
}
