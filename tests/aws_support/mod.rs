//! Helpers for the aws_* integration tests: sessions with a controlled
//! environment (never the developer's ~/.aws), tiny loopback HTTP stubs for
//! what the lab cannot be (container agent, IMDS, SSO portal, faults), and a
//! forwarding front before moto that counts GetAuthorizationToken and moves
//! moto's 2015 `expiresAt` into the future.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use helm_ecr::aws::{AwsOptions, Env, Session};
use helm_ecr::http::{Http, HttpOptions};

use crate::common::{Lab, TempDir};

pub fn http() -> Http {
    Http::new(HttpOptions::default()).expect("http client")
}

/// A sandbox HOME with empty AWS files, and the environment every test
/// starts from: lab endpoint, no IMDS, no token cache, fast retries.
pub struct World {
    pub home: TempDir,
    pub vars: Vec<(String, String)>,
}

impl World {
    pub fn new(lab: &Lab) -> World {
        let home = TempDir::new("aws-home");
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        let h = home.path().to_str().unwrap().to_string();
        let vars = vec![
            ("HOME".to_string(), h.clone()),
            ("AWS_CONFIG_FILE".into(), format!("{h}/.aws/config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                format!("{h}/.aws/credentials"),
            ),
            ("AWS_REGION".into(), lab.region.clone()),
            ("AWS_ENDPOINT_URL".into(), lab.ecr_endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("HELM_ECR_NO_TOKEN_CACHE".into(), "1".into()),
            ("HELM_ECR_RETRY_SCALE".into(), "0.01".into()),
        ];
        World { home, vars }
    }

    pub fn set(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        self.unset(k);
        self.vars.push((k.to_string(), v.into()));
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.retain(|(x, _)| x != k);
        self
    }

    pub fn with_lab_keys(&mut self, lab: &Lab) -> &mut Self {
        self.set("AWS_ACCESS_KEY_ID", lab.access_key_id.clone());
        self.set("AWS_SECRET_ACCESS_KEY", lab.secret_access_key.clone())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn env(&self) -> Env {
        Env::from_pairs(self.vars.clone())
    }

    pub fn session(&self, profile: Option<&str>) -> Result<Session, helm_ecr::aws::Error> {
        self.session_with(profile, None)
    }

    pub fn session_with(
        &self,
        profile: Option<&str>,
        region_hint: Option<&str>,
    ) -> Result<Session, helm_ecr::aws::Error> {
        let options = AwsOptions {
            profile: profile.map(str::to_string),
            region: None,
        };
        Session::with_env(&options, region_hint, http(), self.env())
    }
}

// ------------------------------------------------------------ HTTP stubs

pub use crate::common::front::{forward, Front as Stub, Request as Req, Response as Resp};

/// A loopback stub (the tests' one front) that records every request, its
/// body read, and answers what `handler` says.
pub fn serve(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Stub {
    Stub::start(move |mut ex| {
        ex.read_body()?;
        ex.record();
        let resp = handler(&ex.request);
        ex.reply(&resp)
    })
}

/// Is this the ECR API's GetAuthorizationToken?
pub fn is_token_call(req: &Req) -> bool {
    req.header("x-amz-target")
        .is_some_and(|t| t.ends_with(".GetAuthorizationToken"))
}

/// A front before moto: counts GetAuthorizationToken and gives its tokens a
/// 12-hour life (moto's expire in 2015).
pub struct Front {
    pub stub: Stub,
    pub token_calls: Arc<AtomicUsize>,
}

pub fn front(upstream: &str) -> Front {
    let calls = Arc::new(AtomicUsize::new(0));
    let (c, up) = (calls.clone(), upstream.to_string());
    let stub = serve(move |req| {
        let mut resp = forward(&up, req);
        if is_token_call(req) && resp.status == 200 {
            c.fetch_add(1, Ordering::SeqCst);
            let mut v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            let later = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 12 * 3600;
            for d in v["authorizationData"].as_array_mut().unwrap() {
                d["expiresAt"] = later.into();
            }
            resp.body = v.to_string().into_bytes();
        }
        resp
    });
    Front {
        stub,
        token_calls: calls,
    }
}

/// The lab user's credentials as a credential-provider JSON reply.
pub fn creds_json(lab: &Lab, token_field: &str, token: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "AccessKeyId": lab.access_key_id,
        "SecretAccessKey": lab.secret_access_key,
        "Expiration": "2999-01-01T00:00:00Z",
    });
    if let Some(t) = token {
        v[token_field] = t.into();
    }
    v
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Fails unless the error's text holds every one of `wants`.
#[track_caller]
pub fn assert_says(e: &impl std::fmt::Display, wants: &[&str]) {
    let text = e.to_string();
    assert!(wants.iter().all(|w| text.contains(w)), "{text}");
}
