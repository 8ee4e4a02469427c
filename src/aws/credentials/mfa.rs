//! Ask for an MFA code on the terminal (not stdin: stdin may carry data).

use std::io::{BufRead, BufReader, Write};

use crate::aws::Error;

pub fn ask_code(profile: &str, serial: &str) -> Result<String, Error> {
    let no_tty = |e: std::io::Error| {
        Error::Credentials(format!(
            "AWS profile {profile:?} needs an MFA code for {serial} but there is no terminal to ask on ({e}): run in a terminal, or use credentials that need no MFA"
        ))
    };
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(no_tty)?;
    write!(tty, "Enter MFA code for {serial}: ").map_err(no_tty)?;
    tty.flush().map_err(no_tty)?;
    let mut line = String::new();
    BufReader::new(tty).read_line(&mut line).map_err(no_tty)?;
    let code = line.trim().to_string();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Credentials(format!(
            "AWS profile {profile:?}: the MFA code for {serial} must be 6 digits: run again and type the code your MFA device shows now"
        )));
    }
    Ok(code)
}
