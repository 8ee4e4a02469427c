//! The command line: which command, the flags every command shares, and the
//! exit status. Each command owns its own flags (`commands::*::Args`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "helm-ecr", version, about = "Helm plugins for Amazon ECR")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Package charts and push them to Amazon ECR as OCI artifacts.
    #[command(name = "ecr-push")]
    Push(crate::commands::push::Args),
    /// Log Helm in to Amazon ECR registries.
    #[command(name = "ecr-login")]
    Login(crate::commands::login::Args),
    /// Docker credential-helper protocol (get/store/erase/list) for ECR hosts;
    /// also entered when this binary runs as `docker-credential-*`.
    #[command(name = "credential-helper", hide = true)]
    CredentialHelper(crate::commands::credential_helper::Args),
}

/// Flags every command takes: AWS selection and transport.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile; an ECR
    /// host name's own region wins).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile from the shared config and credentials files (default: AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Use plain HTTP to the registry instead of HTTPS (registry only; AWS
    /// endpoints are always HTTPS and verified).
    #[arg(long)]
    pub plain_http: bool,
    /// Skip the registry's TLS certificate verification (also
    /// --insecure-skip-tls-verify); never applies to AWS endpoints.
    #[arg(long, visible_alias = "insecure-skip-tls-verify")]
    pub insecure: bool,
    /// CA bundle for the registry's TLS (AWS endpoints use AWS_CA_BUNDLE).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate for the registry's TLS.
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// Client key for the registry's TLS.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl CommonArgs {
    pub fn http_options(&self) -> crate::http::HttpOptions {
        crate::http::HttpOptions {
            plain_http: self.plain_http,
            insecure: self.insecure,
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            debug: helm_debug(),
        }
    }

    /// AWS endpoints are always verified: `--insecure` and `--ca-file` are
    /// about the registry; AWS_CA_BUNDLE is the AWS side's CA.
    pub fn aws_http_options(&self) -> crate::http::HttpOptions {
        crate::http::HttpOptions {
            ca_file: std::env::var_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            debug: helm_debug(),
            ..Default::default()
        }
    }

    pub fn aws_options(&self) -> crate::aws::AwsOptions {
        crate::aws::AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
        }
    }
}

/// Helm strips `--debug` from a plugin's arguments and sets HELM_DEBUG.
pub fn helm_debug() -> bool {
    matches!(
        std::env::var("HELM_DEBUG").as_deref(),
        Ok("1") | Ok("true") | Ok("TRUE") | Ok("True")
    )
}

pub fn run() -> i32 {
    if let Some(code) = crate::commands::credential_helper::run_if_invoked_as_helper() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match cli.command {
        Command::Push(args) => crate::commands::push::run(args),
        Command::Login(args) => crate::commands::login::run(args),
        Command::CredentialHelper(args) => crate::commands::credential_helper::run(args),
    }
}

/// clap's help and version go out as clap prints them; a usage error
/// becomes one line like every other error (clap's own is five: message,
/// tip, usage, hint), exit status 2 as clap's.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return e.exit_code();
    }
    let command = std::env::args()
        .nth(1)
        .filter(|c| c == "ecr-push" || c == "ecr-login")
        .map(|c| format!("helm {c}"))
        .unwrap_or_else(|| "helm-ecr".into());
    eprintln!(
        "Error: {} (see '{command} --help')",
        one_line_usage(&e.render().to_string())
    );
    e.exit_code()
}

/// The message and tips of a rendered clap error on one line, without the
/// usage block that follows them.
fn one_line_usage(rendered: &str) -> String {
    let text: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut joined = String::new();
    for l in text {
        if !joined.is_empty() {
            joined.push_str(if l.starts_with("tip:") { "; " } else { " " });
        }
        joined.push_str(l);
    }
    joined
        .strip_prefix("error: ")
        .unwrap_or(&joined)
        .to_string()
}

#[cfg(test)]
mod usage_tests {
    use super::*;
    use clap::Parser;

    fn line(args: &[&str]) -> String {
        match Cli::try_parse_from(args) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => one_line_usage(&e.render().to_string()),
        }
    }

    #[test]
    fn usage_errors_fit_one_line_and_keep_what_matters() {
        let unknown = line(&["helm-ecr", "ecr-push", "--bogus", "c"]);
        assert!(
            unknown.starts_with("unexpected argument '--bogus' found"),
            "{unknown}"
        );
        assert!(unknown.contains("tip:"), "{unknown}");
        let missing = line(&["helm-ecr", "ecr-push"]);
        assert!(
            missing.contains("required") && missing.contains("CHART"),
            "{missing}"
        );
        let value = line(&["helm-ecr", "ecr-push", "c", "--output", "yaml"]);
        assert!(value.contains("yaml") && value.contains("json"), "{value}");
        for l in [unknown, missing, value] {
            assert!(!l.contains('\n') && !l.contains("Usage:"), "{l}");
        }
    }
}
