//! `helm ecr-login [REGISTRY...]`: fetch ECR tokens and put them where
//! Helm looks (its registry config, or the credential helper it names), or
//! register helm-ecr as the credential helper so Helm asks for a fresh token
//! on every use.
//!
//! Order of work, so a failure leaves the config byte-identical: plan the
//! targets, fetch every token (one per region and registry id, regions in
//! parallel), then one locked read-modify-write of the config.

use super::{fail, Error};
use crate::aws::{self, AuthToken, AwsOptions, CredentialScope, Registry, Session};
use crate::cli::CommonArgs;
use crate::helm::{self, helper_settings, host_key, Stored, HELPER_NAME};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[derive(clap::Args, Debug)]
#[command(
    version,
    display_name = "helm-ecr",
    override_usage = "helm ecr-login [OPTIONS] [REGISTRY]...",
    after_help = LOGIN_HELP
)]
pub struct Args {
    /// Registries to log in to: HOST[:PORT] (a leading https:// or oci:// and
    /// any path are ignored). Default: your account's registry in the region.
    #[arg(value_name = "REGISTRY")]
    pub registries: Vec<String>,
    /// Account whose registry to log in to (repeatable); with a REGISTRY that
    /// is not an ECR host name (VPC endpoint, proxy), the account it fronts.
    #[arg(long, value_name = "ACCOUNT")]
    pub registry_id: Vec<String>,
    /// Print the password alone on stdout and write nothing (for piping).
    #[arg(long, conflicts_with_all = ["logout", "credential_helper"])]
    pub password_stdout: bool,
    /// Register helm-ecr as the registries' credential helper: Helm then
    /// gets a fresh token on every use, and no token is stored.
    #[arg(long, conflicts_with = "logout")]
    pub credential_helper: bool,
    /// Remove the registries' credentials (or credential-helper entry).
    #[arg(long)]
    pub logout: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

const LOGIN_HELP: &str = "\
Examples:
  helm ecr-login                                   # your account's registry, AWS_REGION
  helm ecr-login 123456789012.dkr.ecr.eu-west-1.amazonaws.com 210987654321.dkr.ecr.us-east-1.amazonaws.com
  helm ecr-login --registry-id 210987654321 --region eu-west-1
  helm ecr-login vpce-0abc.dkr.ecr.eu-west-1.vpce.amazonaws.com --region eu-west-1 --registry-id 123456789012
  helm ecr-login --credential-helper               # never log in again: Helm asks helm-ecr for tokens
  helm ecr-login --password-stdout | docker login -u AWS --password-stdin HOST
  helm ecr-login --logout 123456789012.dkr.ecr.eu-west-1.amazonaws.com

Credential-helper mode writes {\"credHelpers\": {\"HOST\": \"helm-ecr\"}} to the registry
config and links docker-credential-helm-ecr beside the helm-ecr binary: put that
directory on PATH (the command prints it) and Helm runs it for every pull/push.

Environment:
  HELM_REGISTRY_CONFIG (else HELM_CONFIG_HOME, XDG_CONFIG_HOME: the registry config)
  AWS_PROFILE, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CA_BUNDLE,
  AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL, HTTPS_PROXY, NO_PROXY,
  HELM_ECR_TOKEN_CACHE_DIR, HELM_ECR_NO_TOKEN_CACHE=1,
  HELM_ECR_HELPER_CONFIG (credential-helper host settings; default
  HELM_CONFIG_HOME/helm-ecr/credential-helper.json)";

/// One registry to log in to, before its token is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Target {
    /// None: the caller's (or `registry_id`'s) default registry, named by
    /// the token's proxyEndpoint.
    host: Option<String>,
    /// From an ECR host name: wins over --region and the environment.
    region_hint: Option<String>,
    registry_id: Option<String>,
    /// ECR Public (`public.ecr.aws`): its own API, always in us-east-1.
    public: bool,
    /// A `-fips` / dual-stack ECR host name selects that API endpoint too.
    fips: bool,
    dualstack: bool,
}

/// Which registries, in which regions, for which accounts.
fn plan(registries: &[String], registry_ids: &[String]) -> Result<Vec<Target>, Error> {
    if registries.is_empty() {
        if registry_ids.is_empty() {
            return Ok(vec![Target::default()]);
        }
        return Ok(dedup(registry_ids.iter().map(|id| Target {
            registry_id: Some(id.clone()),
            ..Target::default()
        })));
    }
    let mut targets = Vec::new();
    let mut other_hosts = 0;
    for r in registries {
        let host = host_key(r);
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(Error::usage(format!(
                "{r:?} is not a registry: give HOST[:PORT], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com"
            )));
        }
        if aws::is_ecr_public_host(&host) {
            targets.push(Target {
                host: Some(host),
                region_hint: Some(PUBLIC_REGION.into()),
                public: true,
                ..Target::default()
            });
        } else if let Some(ecr) = aws::parse_ecr_host(&host) {
            targets.push(Target {
                host: Some(host),
                region_hint: Some(ecr.region),
                registry_id: Some(ecr.account),
                public: false,
                fips: ecr.fips,
                dualstack: ecr.dualstack,
            });
        } else {
            other_hosts += 1;
            targets.push(Target {
                host: Some(host),
                ..Target::default()
            });
        }
    }
    match (registry_ids.len(), other_hosts) {
        (0, _) => {}
        (1, n) if n > 0 => {
            for t in targets.iter_mut().filter(|t| t.region_hint.is_none()) {
                t.registry_id = Some(registry_ids[0].clone());
            }
        }
        (_, 0) => {
            return Err(Error::usage("--registry-id does not apply to ECR host names (the account is in the name): drop it, or give no REGISTRY to log in to that account's registry"))
        }
        _ => {
            return Err(Error::usage("several --registry-id with a non-ECR REGISTRY: give one --registry-id for the account that host fronts"))
        }
    }
    Ok(dedup(targets.into_iter()))
}

fn dedup(targets: impl Iterator<Item = Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for t in targets {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// ECR Public's API lives in this region only.
const PUBLIC_REGION: &str = "us-east-1";

/// What one GetAuthorizationToken call is for: (region key, registry id, public).
type TokenKey = (Option<String>, Option<String>, bool);

/// One token per key serves every target sharing it.
type Tokens = BTreeMap<TokenKey, AuthToken>;

fn token_key(t: &Target) -> TokenKey {
    (t.region_hint.clone(), t.registry_id.clone(), t.public)
}

/// The region each region key resolved to (`None` key: --region/env/profile).
type Regions = BTreeMap<Option<String>, String>;

/// Targets sharing one AWS session: (region hint, FIPS, dual-stack).
type RegionKey = (Option<String>, bool, bool);

/// One region's resolved name and its tokens by registry id.
type RegionTokens = (String, Vec<((Option<String>, bool), AuthToken)>);

/// Fetch (or take from the cache) every token the targets need; regions in
/// parallel, each region's credentials resolved once. Returns the resolved
/// region of each region key, too (for the helper's settings).
fn fetch_tokens(targets: &[Target], common: &CommonArgs) -> Result<(Tokens, Regions), Vec<Error>> {
    let mut by_region: BTreeMap<RegionKey, Vec<(Option<String>, bool)>> = BTreeMap::new();
    for t in targets {
        let key = (t.region_hint.clone(), t.fips, t.dualstack);
        let ids = by_region.entry(key).or_default();
        let id = (t.registry_id.clone(), t.public);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let options = common.aws_options();
    let http = crate::http::Http::new(common.aws_http_options()).map_err(|e| vec![e.into()])?;
    // Regions run in parallel but resolve credentials once (one MFA prompt).
    let scope = CredentialScope::default();
    type RegionResult = Result<RegionTokens, Error>;
    let results: Vec<(Option<String>, RegionResult)> = std::thread::scope(|threads| {
        let handles: Vec<_> = by_region
            .iter()
            .map(|(key, ids)| {
                let (options, http, credentials) = (&options, &http, &scope);
                let handle = threads
                    .spawn(move || fetch_region(options, credentials, key, ids, http.clone()));
                (key.0.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(hint, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(Error::Internal("token fetch")));
                (hint, r)
            })
            .collect()
    });
    let mut tokens = Tokens::new();
    let mut regions = BTreeMap::new();
    let mut errors = Vec::new();
    for (hint, r) in results {
        match r {
            Ok((region, list)) => {
                regions.insert(hint.clone(), region);
                for ((id, public), token) in list {
                    tokens.insert((hint.clone(), id, public), token);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok((tokens, regions))
    } else {
        Err(errors)
    }
}

fn fetch_region(
    options: &AwsOptions,
    credentials: &CredentialScope,
    key: &RegionKey,
    ids: &[(Option<String>, bool)],
    http: crate::http::Http,
) -> Result<RegionTokens, Error> {
    let session = match key {
        (Some(region), fips, dualstack) if *fips || *dualstack => {
            let host = aws::EcrHost {
                account: String::new(),
                region: region.clone(),
                fips: *fips,
                dualstack: *dualstack,
            };
            Session::for_ecr_host(options, &host, http)
        }
        (hint, _, _) => Session::new(options, hint.as_deref(), http),
    }?
    .sharing(credentials);
    let mut out = Vec::new();
    for (id, public) in ids {
        let registry = if *public {
            Registry::Public
        } else {
            Registry::Private(id.as_deref())
        };
        let token = session.token(registry)?;
        out.push(((id.clone(), *public), token));
    }
    Ok((session.region.clone(), out))
}

/// Runs the command; returns the exit status.
pub fn run(args: Args) -> i32 {
    let targets = match plan(&args.registries, &args.registry_id) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let config = helm::registry_config_path();
    if args.logout {
        return match logout(&targets, &config) {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    let (tokens, regions) = match fetch_tokens(&targets, &args.common) {
        Ok(t) => t,
        Err(errors) => {
            // Every region's failure, one line each (they may differ).
            for e in errors {
                fail(e);
            }
            return 1;
        }
    };
    if args.password_stdout {
        let mut passwords: Vec<&str> = tokens.values().map(|t| t.password.expose()).collect();
        passwords.dedup();
        if passwords.len() != 1 {
            return fail(
                "--password-stdout prints one password: give registries of one region and account",
            );
        }
        return match writeln!(std::io::stdout().lock(), "{}", passwords[0]) {
            Ok(()) => 0,
            Err(e) => fail(format!("cannot write the password to stdout: {e}")),
        };
    }
    let resolved: Vec<(String, &Target, &AuthToken)> = targets
        .iter()
        .filter_map(|t| {
            let token = tokens.get(&token_key(t))?;
            let host = t
                .host
                .clone()
                .unwrap_or_else(|| host_key(&token.proxy_endpoint));
            Some((host, t, token))
        })
        .collect();
    let result = if args.credential_helper {
        register_helper(&resolved, &regions, &args.common, &config)
    } else {
        store_tokens(&resolved, &config)
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn store_tokens(resolved: &[(String, &Target, &AuthToken)], config: &Path) -> Result<(), Error> {
    let stored = helm::update_config(config, |cfg| {
        resolved
            .iter()
            .map(|(host, _, token)| {
                let auth = helm::Auth {
                    username: token.username.clone(),
                    password: token.password.clone(),
                };
                helm::store_in(cfg, config, host, &auth)
                    .map_err(|e| helm::Error::Config(format!("{host}: {e}")))
            })
            .collect::<Result<Vec<Stored>, helm::Error>>()
    })?;
    let now = std::time::SystemTime::now();
    for ((host, _, token), stored) in resolved.iter().zip(stored) {
        match stored {
            Stored::OwnHelper => say(&format!(
                "Login Succeeded: {host} (its credential helper is helm-ecr: nothing to store)"
            )),
            Stored::Helper(name) => say(&format!(
                "Login Succeeded: {host} (stored by docker-credential-{name}; token {})",
                expiry(token, now)
            )),
            Stored::File => say(&format!(
                "Login Succeeded: {host} (token {})",
                expiry(token, now)
            )),
        }
    }
    Ok(())
}

/// "expires 2026-01-01T00:00:00Z, in 11h59m" or "expired ... (already past)".
fn expiry(token: &AuthToken, now: std::time::SystemTime) -> String {
    let at = crate::clock::rfc3339_system(token.expires_at);
    match token.expires_at.duration_since(now) {
        Ok(left) => {
            let mins = left.as_secs() / 60;
            format!("expires {at}, in {}h{:02}m", mins / 60, mins % 60)
        }
        Err(_) => format!("expiry {at} is already past"),
    }
}

fn register_helper(
    resolved: &[(String, &Target, &AuthToken)],
    regions: &Regions,
    common: &CommonArgs,
    config: &Path,
) -> Result<(), Error> {
    let link = crate::commands::credential_helper::install_link()?;
    let settings_path = helm::env::helper_settings_path();
    for (host, target, _) in resolved {
        // What the helper cannot read from the host name, it reads here:
        // the region and account of a VPC endpoint or proxy, the profile.
        let settings = helper_settings::HostSettings {
            region: match &target.region_hint {
                Some(_) => None,
                None => regions.get(&None).cloned(),
            },
            registry_id: if target.region_hint.is_some() {
                None
            } else {
                target.registry_id.clone()
            },
            profile: common.profile.clone(),
        };
        helper_settings::save(&settings_path, host, &settings)?;
    }
    helm::update_config(config, |cfg| {
        for (host, _, _) in resolved {
            cfg.set_cred_helper(host, HELPER_NAME);
            cfg.clear_file_secret(host);
        }
        Ok(())
    })?;
    for (host, _, _) in resolved {
        say(&format!("Login Succeeded: {host} (credential helper helm-ecr: Helm gets a fresh token on every use)"));
    }
    match crate::commands::credential_helper::on_path(&link) {
        PathCheck::Ours => {}
        PathCheck::Missing(dir) => match crate::commands::credential_helper::link_into_path(&link)? {
            Some(placed) => say(&format!(
                "Linked {} (on PATH) to {}: Helm runs it for these registries",
                placed.display(),
                link.display()
            )),
            None => say(&format!(
                "One step left: no directory on PATH in your home can hold {}; run\n  {}\n(and add that line to your shell profile, or link it into a directory on PATH)",
                link.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                path_hint(&dir)
            )),
        },
        PathCheck::Other(found) => {
            eprintln!(
                "Warning: PATH finds another {} first; put {} before it on PATH",
                found.display(),
                link.parent()
                    .map(Path::display)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

pub use crate::commands::credential_helper::PathCheck;

fn path_hint(dir: &Path) -> String {
    if cfg!(windows) {
        format!("set PATH={};%PATH%", dir.display())
    } else {
        format!("export PATH=\"{}:$PATH\"", dir.display())
    }
}

fn logout(targets: &[Target], config: &Path) -> Result<(), Error> {
    let hosts: Vec<String> = targets.iter().filter_map(|t| t.host.clone()).collect();
    if hosts.len() != targets.len() {
        return Err(Error::usage(
            "--logout needs the registries to log out of: helm ecr-login --logout HOST...",
        ));
    }
    let ours = helm::update_config(config, |cfg| {
        let mut ours = Vec::new();
        for host in &hosts {
            if cfg.cred_helper(host) == Some(HELPER_NAME) {
                ours.push(host.clone());
            }
            if !helm::erase_in(cfg, config, host)? {
                return Err(helm::Error::Config(format!(
                    "not logged in to {host} (no entry in {}): nothing was changed",
                    config.display()
                )));
            }
        }
        Ok(ours)
    })?;
    let settings = helm::env::helper_settings_path();
    for host in &ours {
        helper_settings::forget(&settings, host)?;
    }
    for host in &hosts {
        say(&format!("Removing login credentials for {host}"));
    }
    Ok(())
}

/// A line of the command's result on stdout. Once the config is written a
/// reader that went away (`| head`) changes nothing: no panic, no failure.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn no_registry_means_the_default_one() {
        assert_eq!(
            plan(&[], &[]).unwrap(),
            [Target {
                host: None,
                region_hint: None,
                registry_id: None,
                public: false,
                fips: false,
                dualstack: false
            }]
        );
        let t = plan(&[], &s(&["111", "222", "111"])).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].registry_id.as_deref(), Some("222"));
    }

    #[test]
    fn hosts_are_normalised_and_deduplicated() {
        let t = plan(&s(&["oci://127.0.0.1:5000/charts", "127.0.0.1:5000"]), &[]).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].host.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(t[0].region_hint, None);
    }

    #[test]
    fn registry_id_goes_to_non_ecr_hosts_only() {
        let t = plan(&s(&["vpce.example"]), &s(&["123"])).unwrap();
        assert_eq!(t[0].registry_id.as_deref(), Some("123"));
        assert!(plan(&s(&["a", "b"]), &s(&["1", "2"])).is_err());
        assert!(plan(&s(&[""]), &[]).is_err());
    }

    #[test]
    fn ecr_host_names_carry_region_and_account_and_public_is_us_east_1() {
        let t = plan(
            &s(&[
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/chart",
                "public.ecr.aws",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            t[0].host.as_deref(),
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(t[0].region_hint.as_deref(), Some("eu-west-1"));
        assert_eq!(t[0].registry_id.as_deref(), Some("123456789012"));
        assert!(!t[0].public);
        assert!(t[1].public);
        assert_eq!(t[1].region_hint.as_deref(), Some("us-east-1"));
        // The account is in the name: --registry-id there is a mistake.
        assert!(plan(
            &s(&["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]),
            &s(&["1"])
        )
        .is_err());
    }

    #[test]
    fn expiry_says_how_long_is_left() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let token = AuthToken {
            username: "AWS".into(),
            password: "x".into(),
            expires_at: now + std::time::Duration::from_secs(12 * 3600 - 30),
            proxy_endpoint: "https://h".into(),
        };
        assert_eq!(
            expiry(&token, now),
            "expires 2023-11-15T10:12:50Z, in 11h59m"
        );
        let old = AuthToken {
            expires_at: std::time::UNIX_EPOCH,
            ..token
        };
        assert!(expiry(&old, now).contains("already past"));
    }
}
