//! ECR Public end to end, through every Helm: `helm ecr-push` to
//! `oci://public.ecr.aws/ALIAS` with no AWS region set, pulled back by the
//! same Helm; `--create-repository` and `--describe` through the ECR Public
//! API with the repository named without the alias.
//!
//! The lab's ECR Public (scripts/lab/ecr_public.py) answers as
//! public.ecr.aws does: 401 with a Bearer realm to a request without
//! credentials, 400 DENIED to Basic, tokens from the realm; it serves TLS
//! under the name public.ecr.aws (and ecr-public.aws.com) with a
//! certificate from the lab CA, reached through its CONNECT proxy
//! (HTTPS_PROXY), and forwards to the lab registry. Its API front checks
//! SigV4 with the lab user's key (service ecr-public, us-east-1).

mod common;
mod oci_support;

use common::{
    assert_pushed_and_described, json_line, only_error, path_str, push_chart, HelmCli, Lab, Output,
    Sandbox, TempDir,
};
use helm_ecr::aws::{AwsOptions, Env, Session};
use helm_ecr::http::{Http, HttpOptions};
use helm_ecr::oci::{Client, PushStatus};
use std::fs;
use std::path::{Path, PathBuf};

/// The lab's ECR Public, from the LAB_* variables `scripts/lab.sh up` writes.
struct Public {
    /// http://127.0.0.1:PORT: the CONNECT proxy, for HTTPS_PROXY.
    proxy: String,
    alias: String,
    registry_log: PathBuf,
    /// http://127.0.0.1:PORT: the ECR Public API, for AWS_ENDPOINT_URL_ECR_PUBLIC.
    api: String,
    api_log: PathBuf,
}

impl Public {
    fn get() -> Public {
        let var = |name: &str| match std::env::var(name) {
            Ok(v) if !v.is_empty() => v,
            _ => panic!(
                "{name} is not set: run scripts/lab.sh up (it adds ECR Public to a running lab) \
                 and source .lab/env again"
            ),
        };
        Public {
            proxy: var("LAB_PUBLIC_PROXY"),
            alias: var("LAB_PUBLIC_ALIAS"),
            registry_log: var("LAB_PUBLIC_REGISTRY_LOG").into(),
            api: var("LAB_ECR_PUBLIC_ENDPOINT"),
            api_log: var("LAB_ECR_PUBLIC_LOG").into(),
        }
    }

    /// A sandbox for `cli` as a user of ECR Public has it: AWS keys, no
    /// region anywhere, HTTPS through the proxy; loopback stays direct.
    fn sandbox(&self, cli: HelmCli) -> Sandbox {
        let mut sb = Sandbox::with_helm(cli);
        sb.unset_env("AWS_REGION")
            .unset_env("AWS_DEFAULT_REGION")
            .set_env("AWS_ENDPOINT_URL_ECR_PUBLIC", &self.api)
            .set_env("HTTPS_PROXY", &self.proxy);
        sb
    }

    /// Runs `test` through every Helm, each time with a chart of its own
    /// (see `case`).
    fn through_every_helm(prefix: &str, test: impl Fn(&Public, Case)) {
        let public = Public::get();
        for cli in HelmCli::all() {
            test(&public, public.case(cli, prefix));
        }
    }

    /// A chart for a test through `cli`, named `PREFIX-...` as no other
    /// test names one, in a sandbox of its own.
    fn case(&self, cli: HelmCli, prefix: &str) -> Case {
        let sb = self.sandbox(cli);
        let name = common::unique_name(prefix);
        let chart = sb.seed_chart(&name);
        Case {
            sb,
            remote: format!("oci://public.ecr.aws/{}", self.alias),
            repo: format!("{}/{name}", self.alias),
            name,
            chart,
        }
    }

    /// Creates `name` (no alias) with the AWS CLI, as a user would.
    fn create_repository(&self, sb: &Sandbox, name: &str) {
        let lab = Lab::get();
        let out = common::run(
            std::process::Command::new(&lab.aws)
                .env_clear()
                .envs(sb.env())
                .args([
                    "ecr-public",
                    "create-repository",
                    "--repository-name",
                    name,
                    "--region",
                    "us-east-1",
                    "--endpoint-url",
                    &self.api,
                ]),
        );
        out.assert_ok();
    }
}

/// One test's chart on ECR Public.
struct Case {
    sb: Sandbox,
    /// The chart's name, and the repository's as the ECR Public API has it.
    name: String,
    chart: PathBuf,
    /// oci://public.ecr.aws/ALIAS
    remote: String,
    /// ALIAS/NAME: the repository as the registry has it.
    repo: String,
}

impl Case {
    /// `helm ecr-push CHART oci://public.ecr.aws/ALIAS --ca-file LAB-CA EXTRA...`.
    fn push(&self, extra: &[&str]) -> Output {
        push_trusting_lab_ca(&self.sb, &self.chart, &self.remote, extra)
    }
}

/// JSON lines a lab log got after a mark.
struct JsonLog {
    path: PathBuf,
    offset: u64,
}

impl JsonLog {
    fn mark(path: &Path) -> JsonLog {
        JsonLog {
            path: path.to_path_buf(),
            offset: fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        }
    }

    /// Every record since the mark (the front writes each before it answers
    /// the next request on that connection, and the client has exited).
    fn records(&self) -> Vec<serde_json::Value> {
        let text = fs::read(&self.path).unwrap_or_default();
        let start = (self.offset as usize).min(text.len());
        String::from_utf8_lossy(&text[start..])
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The records since the mark that `keep` picks.
    fn records_where(&self, keep: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
        self.records().into_iter().filter(keep).collect()
    }

    /// Registry requests (not CONNECTs, not token requests) under `repo`.
    fn registry_requests(&self, repo: &str) -> Vec<serde_json::Value> {
        let needle = format!("/v2/{repo}/");
        self.records_where(|r| {
            r["kind"] == "registry" && r["path"].as_str().is_some_and(|p| p.starts_with(&needle))
        })
    }

    /// Token requests (GET, or an OAuth2 form POST) for a scope on `repo`.
    fn token_requests(&self, repo: &str) -> Vec<serde_json::Value> {
        let scope = format!("repository:{repo}:");
        self.records_where(|r| {
            r["kind"] == "token" && r["scope"].as_str().is_some_and(|s| s.contains(&scope))
        })
    }

    /// API calls of `op` (other tests share the lab: those naming a
    /// repository are told apart by it).
    fn calls(&self, op: &str, repository: Option<&str>) -> Vec<serde_json::Value> {
        self.records_where(|r| {
            r["op"] == op && repository.is_none_or(|n| r["request"]["repositoryName"] == n)
        })
    }
}

/// `helm ecr-push CHART REMOTE --ca-file LAB-CA EXTRA...`.
fn push_trusting_lab_ca(sb: &Sandbox, chart: &Path, remote: &str, extra: &[&str]) -> Output {
    let mut flags = vec!["--ca-file", path_str(&sb.lab.ca_file)];
    flags.extend_from_slice(extra);
    push_chart(sb, chart, remote, &flags)
}

/// `helm pull` through the proxy, trusting the lab CA: `--ca-file` where
/// Helm takes it for OCI (3.13+, 4); helm 3.10 reads SSL_CERT_FILE (Go).
fn pull(sb: &Sandbox, reference: &str, version: &str, dest: &Path) -> Output {
    let lab = Lab::get();
    let mut cmd = sb.helm_cmd();
    cmd.args([
        "pull",
        reference,
        "--version",
        version,
        "-d",
        path_str(dest),
    ]);
    if sb.cli() == HelmCli::V3_10 {
        cmd.env("SSL_CERT_FILE", &lab.ca_file);
    } else {
        cmd.arg("--ca-file").arg(&lab.ca_file);
    }
    common::run(&mut cmd)
}

#[test]
fn push_to_public_ecr_aws_lands_without_a_region_and_helm_pulls_it_back() {
    Public::through_every_helm("pub", |public, case| {
        let cli = case.sb.cli();
        let (sb, name, repo) = (&case.sb, &case.name, &case.repo);
        public.create_repository(sb, name);
        let kept = TempDir::new("pub-kept");
        let registry_log = JsonLog::mark(&public.registry_log);
        let api_log = JsonLog::mark(&public.api_log);
        let out = case.push(&["--destination", path_str(kept.path())]);
        out.assert_ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some(format!("Pushed: public.ecr.aws/{repo}:0.1.0").as_str()),
            "{}: {out}",
            cli.name()
        );
        assert!(out.plugin_stderr_lines().is_empty(), "{out}");

        // The registry takes only tokens its realm made for the password
        // that the ECR Public API hands out, and the API answers only
        // requests signed for ecr-public in us-east-1: the push landing
        // proves the token came from there though no region was set. (The
        // calls carry no repository name to tell them from other tests'.)
        let calls = api_log.calls("GetAuthorizationToken", None);
        assert!(!calls.is_empty(), "no GetAuthorizationToken call");
        for call in &calls {
            assert_eq!(call["status"], 200, "{call}");
            assert_eq!(call["region"], "us-east-1", "{call}");
            assert_eq!(call["service"], "ecr-public", "{call}");
        }

        // Basic went only to the realm, once; the registry saw a challenge
        // and then bearer tokens, never Basic, and took the push.
        let seen = registry_log.registry_requests(repo);
        assert!(
            seen.iter()
                .all(|r| r["auth"] != "basic" && r["host"] == "public.ecr.aws"),
            "{seen:#?}"
        );
        assert_eq!(seen[0]["auth"], "none", "challenge first: {seen:#?}");
        assert_eq!(seen[0]["status"], 401, "{seen:#?}");
        assert_eq!(
            seen.iter().filter(|r| r["status"] == 401).count(),
            1,
            "one challenge: {seen:#?}"
        );
        let manifest_put = seen.iter().find(|r| {
            r["method"] == "PUT" && r["path"].as_str().unwrap_or("").contains("/manifests/")
        });
        assert_eq!(
            manifest_put.map(|r| r["status"].clone()),
            Some(201.into()),
            "{seen:#?}"
        );
        let tokens = registry_log.token_requests(repo);
        assert_eq!(tokens.len(), 1, "{tokens:#?}");
        assert_eq!(tokens[0]["auth"], "basic", "{tokens:#?}");
        assert_eq!(tokens[0]["status"], 200, "{tokens:#?}");

        // The same Helm pulls it back through the proxy, anonymously as
        // public.ecr.aws allows, byte for byte what was packaged.
        let dest = TempDir::new("pub-pull");
        let pull_log = JsonLog::mark(&public.registry_log);
        let pulled = pull(
            sb,
            &format!("oci://public.ecr.aws/{repo}"),
            "0.1.0",
            dest.path(),
        );
        pulled.assert_ok();
        let archive = format!("{name}-0.1.0.tgz");
        let got = fs::read(dest.path().join(&archive))
            .unwrap_or_else(|e| panic!("{}: {archive} not pulled ({e}):\n{pulled}", cli.name()));
        let want = fs::read(kept.path().join(&archive)).expect("the kept archive");
        assert!(got == want, "{}: the pulled chart differs", cli.name());
        let tokens = pull_log.token_requests(repo);
        assert!(
            !tokens.is_empty() && tokens.iter().all(|r| r["auth"] == "none"),
            "{}: an anonymous pull token: {tokens:#?}",
            cli.name()
        );
    });
}

#[test]
fn the_dual_stack_name_is_ecr_public_too() {
    let public = Public::get();
    let Case {
        sb,
        name,
        chart,
        repo,
        ..
    } = public.case(HelmCli::V4, "pub-ds");
    let api_log = JsonLog::mark(&public.api_log);
    let registry_log = JsonLog::mark(&public.registry_log);
    let out = push_trusting_lab_ca(
        &sb,
        &chart,
        &format!("oci://ecr-public.aws.com/{}", public.alias),
        &["--create-repository"],
    );
    out.assert_ok();
    assert!(
        out.stdout.starts_with(&format!(
            "Pushed: ecr-public.aws.com/{}/{name}:0.1.0\n",
            public.alias
        )),
        "{out}"
    );
    let created = api_log.calls("CreateRepository", Some(&name));
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["status"], 200, "{created:?}");
    let seen = registry_log.registry_requests(&repo);
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|r| r["host"] == "ecr-public.aws.com" && r["auth"] != "basic"),
        "{seen:#?}"
    );
}

#[test]
fn create_repository_and_describe_use_the_ecr_public_api_without_the_alias() {
    Public::through_every_helm("pub-new", |public, case| {
        let (name, push) = (&case.name, |extra: &[&str]| case.push(extra));

        // No such repository: one line that says how to make it, named
        // as the ECR Public API names it.
        let out = push(&[]);
        let e = only_error(&out);
        assert!(e.contains("--create-repository"), "{out}");
        assert!(
            e.contains(&format!(
                "aws ecr-public create-repository --repository-name {name} --region us-east-1`"
            )),
            "{out}"
        );

        // Settings ECR Public has no place for: refused before anything moves.
        let api_log = JsonLog::mark(&public.api_log);
        let registry_log = JsonLog::mark(&public.registry_log);
        let out = push(&["--create-repository", "--image-tag-mutability", "IMMUTABLE"]);
        let e = only_error(&out);
        assert!(e.contains("--image-tag-mutability"), "{out}");
        assert!(
            api_log.calls("CreateRepository", Some(name)).is_empty(),
            "no API call"
        );
        assert!(
            registry_log.registry_requests(&case.repo).is_empty(),
            "no registry request"
        );

        // --create-repository --describe: created in us-east-1 under the
        // alias-less name, pushed, described.
        let out = push(&["--create-repository", "--tags", "team=charts", "--describe"]);
        let reference = format!("public.ecr.aws/{}:0.1.0", case.repo);
        let digest = assert_pushed_and_described(
            &out,
            &reference,
            &[
                format!("Repository: {name}"),
                "Tags: 0.1.0".into(),
                "Manifest media type: application/vnd.oci.image.manifest.v1+json".into(),
                "Artifact media type: application/vnd.cncf.helm.config.v1+json".into(),
            ],
        );
        let created = api_log.calls("CreateRepository", Some(name));
        assert_eq!(created.len(), 1, "{created:?}");
        assert_eq!(
            created[0]["request"],
            serde_json::json!({"repositoryName": name, "tags": [{"Key": "team", "Value": "charts"}]})
        );
        assert_eq!(created[0]["status"], 200);
        let described = api_log.calls("DescribeImages", Some(name));
        assert_eq!(described.len(), 1, "{described:?}");
        assert_eq!(described[0]["request"]["repositoryName"], name.as_str());
        assert_eq!(described[0]["request"]["imageIds"][0]["imageTag"], "0.1.0");
        for call in created.iter().chain(&described) {
            assert_eq!(call["region"], "us-east-1", "{call}");
            assert_eq!(call["service"], "ecr-public", "{call}");
        }
        // What was described is what was pushed.
        let json = push(&["--describe", "-o", "json"]);
        let v = json_line(&json);
        assert_eq!(v["status"], "unchanged", "{json}");
        assert_eq!(v["image"]["imageDigest"], digest, "{json}");

        // A remote without the alias says what to add.
        let out = push_trusting_lab_ca(&case.sb, &case.chart, "oci://public.ecr.aws", &[]);
        assert!(
            only_error(&out).contains("oci://public.ecr.aws/ALIAS"),
            "{out}"
        );
    });
}

#[test]
fn ecr_login_to_public_ecr_aws_without_a_region_lets_every_helm_pull_with_credentials() {
    Public::through_every_helm("pub-login", |public, case| {
        let cli = case.sb.cli();
        let (sb, name, repo) = (&case.sb, &case.name, &case.repo);
        case.push(&["--create-repository"]).assert_ok();

        let out = sb.helm(&["ecr-login", "public.ecr.aws"]);
        out.assert_ok();
        assert!(
            out.stdout.starts_with("Login Succeeded: public.ecr.aws"),
            "{}: {out}",
            cli.name()
        );
        // Helm now asks the realm for its token with the stored
        // credentials (Basic, or helm 3.10's OAuth2 form), and pulls.
        let registry_log = JsonLog::mark(&public.registry_log);
        let dest = TempDir::new("pub-login-pull");
        pull(
            sb,
            &format!("oci://public.ecr.aws/{repo}"),
            "0.1.0",
            dest.path(),
        )
        .assert_ok();
        assert!(dest.path().join(format!("{name}-0.1.0.tgz")).is_file());
        let tokens = registry_log.token_requests(repo);
        let form = registry_log.records().into_iter().any(|r| {
            r["method"] == "POST"
                && r["path"].as_str().is_some_and(|p| p.starts_with("/token"))
                && r["status"] == 200
        });
        assert!(
            tokens
                .iter()
                .any(|r| r["auth"] == "basic" && r["status"] == 200)
                || form,
            "{}: no token was given for the stored credentials: {tokens:#?}",
            cli.name()
        );
    });
}

#[test]
fn basic_sent_first_is_refused_with_400_and_the_client_turns_to_the_realm() {
    // A client told to send Basic first (as for private ECR) meets
    // public.ecr.aws's 400 DENIED, asks again without credentials, learns
    // the Bearer realm, and pushes with tokens; Basic never goes again.
    let lab = Lab::get();
    let public = Public::get();
    let sb = Sandbox::bare();
    let name = common::unique_name("pub-basic");
    public.create_repository(&sb, &name);
    let env = Env::from_pairs([
        ("HOME", path_str(&sb.home()).to_string()),
        ("AWS_ACCESS_KEY_ID", lab.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", lab.secret_access_key.clone()),
        ("AWS_ENDPOINT_URL_ECR_PUBLIC", public.api.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("HELM_ECR_NO_TOKEN_CACHE", "1".into()),
    ]);
    let aws_http = Http::new(HttpOptions::default()).expect("http");
    let token = Session::with_env(&AwsOptions::default(), Some("us-east-1"), aws_http, env)
        .and_then(|s| s.fetch_public_token())
        .expect("an ECR Public token from the lab's API");
    // The registry client reads HTTPS_PROXY from the process environment;
    // no other test in this file does (their Helms get a cleared one).
    std::env::set_var("HTTPS_PROXY", &public.proxy);
    let http = Http::new(HttpOptions {
        ca_file: Some(lab.ca_file.clone()),
        ..Default::default()
    })
    .expect("http");
    let credential = helm_ecr::oci::Credential {
        username: token.username.clone(),
        password: token.password.clone(),
    };
    let keychain = oci_support::StaticKeychain::new(Some(credential), None);
    let client = Client::new(http, keychain.clone());
    let repo = format!("{}/{name}", public.alias);
    let r = oci_support::reference("public.ecr.aws", &repo, "1.0.0");
    let registry_log = JsonLog::mark(&public.registry_log);
    let a = oci_support::small_artifact(&name, "1.0.0", 61);
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Pushed);
    let seen = registry_log.registry_requests(&repo);
    let first: Vec<(String, u64)> = seen
        .iter()
        .take(2)
        .map(|r| {
            (
                r["auth"].as_str().unwrap_or("").to_string(),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        first,
        [("basic".to_string(), 400), ("none".to_string(), 401)],
        "{seen:#?}"
    );
    assert!(seen[2..].iter().all(|r| r["auth"] == "bearer"), "{seen:#?}");
    let tokens = registry_log.token_requests(&repo);
    assert_eq!(tokens.len(), 1, "{tokens:#?}");
    assert_eq!(
        keychain.refreshes.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(client.push(&r, &a, false).unwrap(), PushStatus::Unchanged);
}
