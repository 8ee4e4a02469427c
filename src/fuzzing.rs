//! Entry points for the coverage-guided fuzz targets in `fuzz/` (cargo-fuzz,
//! nightly): each takes arbitrary bytes, hands them to one parser the way
//! the binary does, and checks what must hold for every input. The same
//! functions run over the seed files in the unit tests, so a seed that
//! breaks a property fails `cargo test` too. Not an API.
//!
//! Properties: no panic (the fuzzer's own check), every error is one line
//! (errors are printed as `Error: CHART: message`), and what parses
//! renders back to something that parses the same.

use crate::aws::credentials;
use crate::aws::env::Env;
use crate::aws::profile::{FileKind, ProfileSet};
use crate::helm::registry_config::Config;
use crate::oci;
use std::path::Path;

#[track_caller]
fn one_line(what: &str, message: &str) {
    assert!(
        !message.contains(['\n', '\r']),
        "{what}: an error message spans lines: {message:?}"
    );
}

/// `oci://` remotes, chart references and the host names ECR and Helm's
/// config take apart.
pub fn references(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match oci::parse_remote(s) {
        Ok(remote) => {
            oci::validate_registry(&remote.registry)
                .unwrap_or_else(|e| panic!("{s:?} parsed to a registry it refuses: {e}"));
            let again = if remote.namespace.is_empty() {
                format!("oci://{}", remote.registry)
            } else {
                format!("oci://{}/{}", remote.registry, remote.namespace)
            };
            let reparsed = oci::parse_remote(&again)
                .unwrap_or_else(|e| panic!("{s:?} -> {again:?} no longer parses: {e}"));
            assert_eq!(
                (reparsed.registry.as_str(), reparsed.namespace.as_str()),
                (remote.registry.as_str(), remote.namespace.as_str()),
                "{s:?} -> {again:?}"
            );
            match remote.try_reference("chart", "1.0.0+build") {
                Ok(r) => assert!(r.to_string().ends_with("/chart:1.0.0_build"), "{r}"),
                Err(e) => one_line("reference", &e.to_string()),
            }
        }
        Err(e) => one_line("remote", &e.to_string()),
    }
    for check in [
        oci::validate_registry,
        oci::validate_repository,
        oci::validate_tag,
    ] {
        if let Err(e) = check(s) {
            one_line("validation", &e.to_string());
        }
    }
    let _ = crate::aws::parse_ecr_host(s);
    let _ = crate::aws::is_ecr_public_host(s);
    let _ = crate::helm::registry_config::host_key(s);
    let _ = crate::keychain::endpoint_host(s);
}

/// Helm's registry config (`config.json`), as read before every push and
/// rewritten by `ecr-login`.
pub fn registry_config(data: &[u8]) {
    let path = Path::new("/fuzz/config.json");
    let map = match crate::helm::atomic::parse(data, path) {
        Ok(m) => m,
        Err(e) => return one_line("config", &e.to_string()),
    };
    let config = match Config::from_map(map, path) {
        Ok(c) => c,
        Err(e) => return one_line("config", &e.to_string()),
    };
    let hosts: Vec<String> = ["auths", "credHelpers"]
        .iter()
        .filter_map(|k| config_keys(&config, k))
        .flatten()
        .chain(["registry.example:5000".to_string()])
        .collect();
    for host in &hosts {
        let _ = config.store_for(host);
        if let Err(e) = config.file_auth(host, path) {
            one_line("auth entry", &e.to_string());
        }
    }
    // What ecr-login writes back reads back the same.
    let map = config.into_map();
    let bytes = crate::helm::atomic::to_bytes(&map);
    let again = crate::helm::atomic::parse(&bytes, path)
        .unwrap_or_else(|e| panic!("our own rewrite does not parse: {e}"));
    assert_eq!(again, map, "the rewrite changed the document");
}

fn config_keys(config: &Config, key: &str) -> Option<Vec<String>> {
    let map = config.clone().into_map();
    Some(map.get(key)?.as_object()?.keys().cloned().collect())
}

/// The AWS config and credentials files (the input is split at its first
/// NUL byte: config before, credentials after), then credential selection
/// for every profile in them, as `--profile NAME` would ask.
pub fn aws_files(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (config, creds) = text.split_once('\0').unwrap_or((&text, ""));
    let mut set = ProfileSet::default();
    for (path, text, kind) in [
        ("/fuzz/.aws/config", config, FileKind::Config),
        ("/fuzz/.aws/credentials", creds, FileKind::Credentials),
    ] {
        if let Err(e) = set.add(Path::new(path), text, kind) {
            return one_line("AWS file", &e.to_string());
        }
    }
    let env = Env::from_pairs([("AWS_EC2_METADATA_DISABLED", "true")]);
    let mut names: Vec<&String> = set.profiles.keys().collect();
    names.sort();
    for name in names.into_iter().take(16) {
        match credentials::select(&env, &set, Some(name)) {
            Ok(source) => {
                let _ = credentials::identity_key(&source, &set);
                one_line("source", &credentials::describe(&source));
            }
            Err(e) => one_line("select", &e.to_string()),
        }
    }
}

/// What AWS answers: ECR GetAuthorizationToken and DescribeImages (JSON),
/// STS credentials (XML), IAM Identity Center role credentials and
/// `credential_process` output (JSON), and error bodies of either kind.
pub fn aws_replies(data: &[u8]) {
    use crate::aws::ecr;
    let text = String::from_utf8_lossy(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        for flavor in [ecr::Flavor::Private, ecr::Flavor::Public] {
            if let Err(e) = ecr::parse_auth_reply(&v, flavor) {
                one_line("ECR token reply", &e.to_string());
            }
        }
        if let Err(e) = ecr::parse_image_details(&v) {
            one_line("DescribeImages reply", &e.to_string());
        }
    }
    if let Err(e) = crate::aws::fuzz::sts_credentials(&text, "STS AssumeRole") {
        one_line("STS reply", &e.to_string());
    }
    if let Err(e) = credentials::fuzz::sso_role_credentials(&text) {
        one_line("SSO reply", &e.to_string());
    }
    if let Err(e) = credentials::fuzz::process_output(data, "credential_process") {
        one_line("credential_process output", &e.to_string());
    }
    for status in [400, 403, 500] {
        let (code, message) = crate::aws::fuzz::parse_error_body(status, &text, None);
        one_line("AWS error code", &code.to_string());
        one_line("AWS error message", &message);
    }
}

/// `WWW-Authenticate` challenges, the token URL built from a Bearer one,
/// the token service's answer and registry error bodies.
pub fn www_authenticate(data: &[u8]) {
    use oci::fuzz;
    let header = String::from_utf8_lossy(data);
    for challenge in fuzz::parse_challenges(&header) {
        assert!(
            !challenge.scheme.is_empty()
                && challenge.scheme == challenge.scheme.to_ascii_lowercase(),
            "{header:?}: scheme {:?}",
            challenge.scheme
        );
        if let Some(url) = fuzz::token_url(&challenge, &fuzz::push_scope("ns/chart")) {
            let realm = challenge.param("realm").unwrap_or_default();
            assert!(
                url.starts_with(realm),
                "{url:?} does not start with the realm"
            );
            assert!(
                !url[realm.len()..].contains([' ', '\n', '\r', '#']),
                "the query of {url:?} is not encoded"
            );
        }
    }
    let _ = fuzz::parse_token(data);
    let _ = fuzz::parse_registry_error(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed file under fuzz/seeds/TARGET runs through its target.
    fn seeds(target: &str, f: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut n = 0;
        for entry in entries.flatten() {
            f(&std::fs::read(entry.path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn references_seeds() {
        seeds("references", references);
    }

    #[test]
    fn registry_config_seeds() {
        seeds("registry_config", registry_config);
    }

    #[test]
    fn aws_files_seeds() {
        seeds("aws_files", aws_files);
    }

    #[test]
    fn aws_replies_seeds() {
        seeds("aws_replies", aws_replies);
    }

    #[test]
    fn www_authenticate_seeds() {
        seeds("www_authenticate", www_authenticate);
    }
}
