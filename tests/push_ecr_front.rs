//! `helm ecr-push` through helm 3.10.1 against answers only real ECR gives:
//!
//! - an ECR-like registry front before the lab registry that asks the ECR
//!   emulator (moto, SigV4-signed DescribeRepositories) about each
//!   repository: NAME_UNKNOWN for one moto does not know, TAG_INVALID for a
//!   manifest PUT over an existing tag of an IMMUTABLE repository;
//! - a front posing as the ECR API that forwards GetAuthorizationToken to
//!   moto and answers DescribeImages with a recorded ECR reply (moto never
//!   sees what is pushed to the registry), for `--describe`.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod aws_support;
mod common;
mod push_support;

use common::front::{Front, Response};
use common::{
    assert_pushed_and_described, json_line, only_error, path_str, push_chart, write, Lab, LogMark,
    Sandbox,
};
use helm_ecr::aws::ecr::{Api, Flavor};
use helm_ecr::aws::endpoint::Variant;
use helm_ecr::aws::profile::ProfileSet;
use helm_ecr::aws::{AwsErrorCode, Context, Credentials, Env, RetryQuota};
use helm_ecr::http::{Http, HttpOptions};
use push_support::{manifest, sha256_hex};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

// ------------------------------------------------------------------ a registry front

/// A front (the tests' one, `common::front`) before a registry: `decide`
/// answers a request (status, JSON body) or lets it pass to the registry
/// byte for byte. Records (method, path, answered-by-the-front) for every
/// request.
struct RegistryFront {
    addr: String,
    seen: Arc<Mutex<Vec<(String, String, bool)>>>,
    _front: Front,
}

impl RegistryFront {
    fn start(
        upstream: &str,
        decide: impl Fn(&str, &str) -> Option<(u16, String)> + Send + Sync + 'static,
    ) -> RegistryFront {
        let seen: Arc<Mutex<Vec<(String, String, bool)>>> = Arc::default();
        let (upstream, log) = (upstream.to_string(), seen.clone());
        let front = Front::start(move |mut ex| {
            ex.read_body_upto(usize::MAX)?;
            let (method, path) = (ex.request.method.clone(), ex.request.target.clone());
            let answer = decide(&method, &path);
            log.lock().unwrap().push((method, path, answer.is_some()));
            match answer {
                Some((status, json)) => ex.reply(
                    &Response::new(status, json)
                        .header("Content-Type", "application/json; charset=utf-8"),
                ),
                None => ex.relay(&upstream, None),
            }
        });
        RegistryFront {
            addr: front.addr.clone(),
            seen,
            _front: front,
        }
    }

    /// Requests the front passed on to the registry.
    fn forwarded(&self) -> Vec<(String, String)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, answered)| !answered)
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// The lab's ECR emulator, asked directly with the lab user's keys.
struct Moto {
    http: Http,
    env: Env,
    credentials: Credentials,
    url: String,
    region: String,
}

impl Moto {
    fn lab() -> Moto {
        let lab = Lab::get();
        Moto {
            http: Http::new(HttpOptions::default()).expect("http client"),
            env: Env::from_pairs(Vec::<(String, String)>::new()),
            credentials: Credentials {
                access_key_id: lab.access_key_id.clone(),
                secret_access_key: lab.secret_access_key.clone(),
                session_token: None,
                expires_at: None,
            },
            url: lab.ecr_endpoint.clone(),
            region: lab.region.clone(),
        }
    }

    /// The repository as DescribeRepositories shows it; None when moto does
    /// not know it.
    fn repository(&self, name: &str) -> Option<serde_json::Value> {
        let profiles = ProfileSet::default();
        let retry_quota = RetryQuota::new();
        let ctx = Context {
            env: &self.env,
            profiles: &profiles,
            profile: None,
            http: &self.http,
            region: &self.region,
            variant: Variant::default(),
            retry_quota: &retry_quota,
        };
        let api = Api {
            ctx: &ctx,
            url: &self.url,
            region: &self.region,
            flavor: Flavor::Private,
            credentials: &self.credentials,
        };
        match api.call(
            "DescribeRepositories",
            &serde_json::json!({ "repositoryNames": [name] }),
        ) {
            Ok(v) => Some(v["repositories"][0].clone()),
            Err(e) if e.code() == Some(&AwsErrorCode::RepositoryNotFoundException) => None,
            Err(e) => panic!("DescribeRepositories {name}: {e}"),
        }
    }
}

/// `/v2/NAME/(manifests|blobs|tags)/REST` -> (NAME, kind, REST).
fn split_path(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.split('?').next()?.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|k| rest.rfind(k).map(|i| (i, *k)))
        .max_by_key(|(i, _)| *i)
        .map(|(i, k)| (&rest[..i], k.trim_matches('/'), &rest[i + k.len()..]))
}

/// Does `repo:tag` exist in the lab registry behind the front?
fn tag_exists(repo: &str, tag: &str) -> bool {
    manifest(&Lab::get().registry, repo, tag).0 == 200
}

/// An ECR-like front before the lab registry (see the module comment).
/// Known repositories are remembered; unknown ones are asked again, since
/// `--create-repository` makes them appear.
fn ecr_registry_front() -> RegistryFront {
    let moto = Moto::lab();
    let known: Mutex<HashMap<String, String>> = Mutex::default();
    RegistryFront::start(&Lab::get().registry, move |method, path| {
        let (repo, kind, rest) = split_path(path)?;
        let cached = known.lock().unwrap().get(repo).cloned();
        let mutability = match cached {
            Some(m) => m,
            None => {
                let Some(r) = moto.repository(repo) else {
                    return Some((
                        404,
                        format!(
                            r#"{{"errors":[{{"code":"NAME_UNKNOWN","message":"The repository with name '{repo}' does not exist in the registry with id '123456789012'"}}]}}"#
                        ),
                    ));
                };
                let m = r["imageTagMutability"]
                    .as_str()
                    .unwrap_or("MUTABLE")
                    .to_string();
                known.lock().unwrap().insert(repo.to_string(), m.clone());
                m
            }
        };
        (method == "PUT" && kind == "manifests" && mutability == "IMMUTABLE" && tag_exists(repo, rest))
            .then(|| {
                (
                    400,
                    format!(
                        r#"{{"errors":[{{"code":"TAG_INVALID","message":"The image tag '{rest}' already exists in the '{repo}' repository and cannot be overwritten because the tag is immutable."}}]}}"#
                    ),
                )
            })
    })
}

#[test]
fn split_path_finds_nested_repository_names() {
    assert_eq!(
        split_path("/v2/a/b/manifests/1.0.0"),
        Some(("a/b", "manifests", "1.0.0"))
    );
    assert_eq!(
        split_path("/v2/a/blobs/uploads/x?_state=1"),
        Some(("a", "blobs", "uploads/x"))
    );
    assert_eq!(split_path("/v2/"), None);
}

#[test]
fn missing_repository_then_create_repository_immutable_then_unchanged_then_refused() {
    let lab = Lab::get();
    let moto = Moto::lab();
    let front = ecr_registry_front();
    let mut sb = Sandbox::new();
    // The front is no ECR host name: the region must come from --region.
    sb.unset_env("AWS_REGION");
    let chart = sb.seed_chart("ecrfront");
    let ns = common::unique_name("ecr-front");
    let repo = format!("{ns}/ecrfront");
    let remote = format!("oci://{}/{ns}", front.addr);
    let chart_arg = path_str(&chart);
    let push = |extra: &[&str]| {
        push_chart(
            &sb,
            &chart,
            &remote,
            &[&["--plain-http"][..], extra].concat(),
        )
    };

    // No region at all: one line that says how to give one.
    let out = push(&[]);
    assert!(only_error(&out).contains("--region"), "{out}");

    // The repository does not exist: say so, and how to fix it.
    let mark = LogMark::new(&lab.registry_log);
    let out = push(&["--region", &lab.region]);
    let e = only_error(&out);
    assert!(e.starts_with(&format!("Error: {chart_arg}: ")), "{out}");
    assert!(e.contains("--create-repository"), "{out}");
    assert!(
        e.contains(&format!(
            "aws ecr create-repository --repository-name {repo} --region {}",
            lab.region
        )),
        "{out}"
    );
    assert!(
        mark.requests_for(&repo).is_empty(),
        "nothing reached the registry"
    );
    assert!(
        moto.repository(&repo).is_none(),
        "not created without asking"
    );
    assert!(front.count() > 0, "the push went through the front");
    assert!(
        front
            .forwarded()
            .iter()
            .all(|(m, _)| m == "HEAD" || m == "GET"),
        "no write was passed on: {:?}",
        front.forwarded()
    );

    // A dry run creates nothing, not even with --create-repository.
    let out = push(&["--region", &lab.region, "--create-repository", "--dry-run"]);
    out.assert_ok();
    assert!(
        out.stdout
            .starts_with(&format!("Would push: {}/{repo}:0.1.0\n", front.addr)),
        "{out}"
    );
    assert!(
        moto.repository(&repo).is_none(),
        "a dry run created it:\n{out}"
    );

    // --create-repository: created as asked, then pushed.
    let out = push(&[
        "--region",
        &lab.region,
        "--create-repository",
        "--image-tag-mutability",
        "IMMUTABLE",
    ]);
    out.assert_ok();
    let reference = format!("{}/{repo}:0.1.0", front.addr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], format!("Pushed: {reference}"), "{out}");
    let digest = lines[1].strip_prefix("Digest: ").expect("Digest line");
    let created = moto.repository(&repo).expect("the repository was created");
    assert_eq!(created["imageTagMutability"], "IMMUTABLE", "{created}");
    let raw = sb.skopeo_raw(&format!("{}/{repo}:0.1.0", lab.registry), false);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.assert_ok().stdout.as_bytes())),
        digest
    );

    // The same chart again: unchanged, nothing written.
    let mark = LogMark::new(&lab.registry_log);
    let out = push(&["--region", &lab.region]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        format!("Unchanged: {reference}\nDigest: {digest}\n"),
        "{out}"
    );
    let seen = mark.requests_for(&repo);
    assert!(
        seen.iter().all(|r| r.method == "HEAD" || r.method == "GET"),
        "{seen:?}"
    );

    // Other content under the same version: the immutable tag refuses it.
    write(&chart.join("values.yaml"), "changed: true\n");
    let out = push(&["--region", &lab.region]);
    let e = only_error(&out);
    assert!(
        e.contains("immutable") && e.contains("0.1.0") && e.contains("version"),
        "says why and what to do:\n{out}"
    );
    let raw = sb.skopeo_raw(&format!("{}/{repo}:0.1.0", lab.registry), false);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.assert_ok().stdout.as_bytes())),
        digest,
        "the tag still points at the first push"
    );
}

// ------------------------------------------------------------------ --describe

/// What ECR's DescribeImages answers for a Helm chart (recorded from ECR;
/// the repository and tag are the ones asked for).
fn recorded_describe_images(repository: &str, tag: &str) -> serde_json::Value {
    serde_json::json!({
        "imageDetails": [{
            "registryId": "123456789012",
            "repositoryName": repository,
            "imageDigest": "sha256:6b7e5c1f0f3a8e22d0c3c9f2d0a43bd5bd1cf0b19f7d2c5a9cbb3e0c1a2b3c4d",
            "imageTags": [tag],
            "imageSizeInBytes": 3871,
            "imagePushedAt": 1700000000.123,
            "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactMediaType": "application/vnd.cncf.helm.config.v1+json",
            "lastRecordedPullTime": 1700000100.0
        }]
    })
}

#[test]
fn describe_prints_what_describe_images_says() {
    let lab = Lab::get();
    let asked: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let api = common::ecr_api_front("DescribeImages", {
        let asked = asked.clone();
        move |req, _| {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            asked.lock().unwrap().push(body.clone());
            let reply = recorded_describe_images(
                body["repositoryName"].as_str().unwrap_or(""),
                body["imageIds"][0]["imageTag"].as_str().unwrap_or(""),
            );
            Response::json(200, reply)
        }
    });
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", api.url());
    let chart = sb.seed_chart("described");
    let ns = common::unique_name("describe");
    let remote = format!("oci://{}/{ns}", lab.registry);
    let push = |extra: &[&str]| {
        push_chart(
            &sb,
            &chart,
            &remote,
            &[&["--plain-http", "--describe"][..], extra].concat(),
        )
    };

    // A dry run writes nothing, so there is nothing to describe.
    let out = push(&["--dry-run"]);
    out.assert_ok();
    assert!(out.stdout.starts_with("Would push: "), "{out}");
    assert!(
        asked.lock().unwrap().is_empty(),
        "no DescribeImages for a dry run"
    );

    let out = push(&[]);
    let reference = format!("{}/{ns}/described:0.1.0", lab.registry);
    assert_pushed_and_described(
        &out,
        &reference,
        &[
            format!("Repository: {ns}/described"),
            "Tags: 0.1.0".into(),
            "Size: 3871".into(),
            "Pushed at: 2023-11-14T22:13:20Z".into(),
            "Manifest media type: application/vnd.oci.image.manifest.v1+json".into(),
            "Artifact media type: application/vnd.cncf.helm.config.v1+json".into(),
        ],
    );

    // JSON output carries ECR's imageDetail as it came.
    let out = push(&["--output", "json"]);
    let v = json_line(&out);
    assert_eq!(v["status"], "unchanged", "{out}");
    assert_eq!(
        v["image"]["artifactMediaType"], "application/vnd.cncf.helm.config.v1+json",
        "{out}"
    );

    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 2, "one DescribeImages call per push");
    assert_eq!(
        asked[0]["repositoryName"],
        format!("{ns}/described").as_str()
    );
    assert_eq!(asked[0]["imageIds"][0]["imageTag"], "0.1.0");
}
