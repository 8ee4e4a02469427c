//! The running lab (LAB_* variables) and the Helm CLIs it holds.

use super::*;

/// The running lab, read from the LAB_* variables `scripts/lab.sh up` writes:
/// each field is `LAB_` + its name in capitals (`ca_file` is LAB_CA_FILE).
/// No Debug: it holds the lab user's secret key.
#[derive(serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Lab {
    pub dir: PathBuf,
    /// helm v3.10.1, the oldest Helm we support.
    pub helm3: PathBuf,
    /// The current Helm 3 CLI (3.22), built by the lab with `go install`.
    pub helm_v3: PathBuf,
    /// The current Helm 4 CLI (4.3), built by the lab with `go install`.
    pub helm_v4: PathBuf,
    pub oras: PathBuf,
    /// AWS's docker-credential-ecr-login (the credential-helper peer).
    pub ecr_login: PathBuf,
    pub actionlint: PathBuf,
    pub gpg: PathBuf,
    /// The venv's python, with helm_python (Helm 4.2.3 SDK) and boto3.
    pub python: PathBuf,
    /// scripts/lab/helm4.py; run through `Sandbox::helm4`.
    pub helm4: PathBuf,
    /// aws cli v1 (reads AWS_DEFAULT_REGION, not AWS_REGION).
    pub aws: PathBuf,
    pub skopeo: PathBuf,
    /// http://127.0.0.1:PORT: moto checking SigV4 and IAM (ECR, STS, IAM).
    pub ecr_endpoint: String,
    /// http://127.0.0.1:PORT: moto without auth (AssumeRoleWithWebIdentity).
    pub ecr_noauth_endpoint: String,
    pub region: String,
    /// moto's account id, 123456789012.
    pub account: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Trusts any principal; same ecr:* sts:* policy as the user.
    pub role_arn: String,
    /// 127.0.0.1:PORT, plain HTTP (clients need --plain-http).
    pub registry: String,
    /// 127.0.0.1:PORT, TLS with a certificate from `ca_file`.
    pub registry_tls: String,
    pub ca_file: PathBuf,
    pub registry_log: PathBuf,
    pub registry_tls_log: PathBuf,
    /// What both registries accept for user AWS: `<account>-auth-token`,
    /// exactly the password moto's GetAuthorizationToken returns.
    pub registry_password: String,
    /// The registry that requires a client certificate; None for a lab
    /// started by an older lab.sh. Tests needing it call `Lab::mtls()`.
    #[serde(skip)]
    pub registry_mtls: Option<Mtls>,
}

/// LAB_REGISTRY_MTLS and its client certificate.
pub struct Mtls {
    /// 127.0.0.1:PORT, TLS with a certificate from `Lab::ca_file`; refuses
    /// any client without a certificate signed by `client_ca`.
    pub registry: String,
    pub log: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_ca: PathBuf,
}

impl Lab {
    /// The lab, or a panic that says how to start it: integration tests never
    /// skip silently.
    pub fn get() -> &'static Lab {
        static LAB: OnceLock<Lab> = OnceLock::new();
        LAB.get_or_init(|| {
            // An empty variable counts as unset.
            let vars: serde_json::Map<String, serde_json::Value> = std::env::vars_os()
                .filter_map(|(k, v)| {
                    let field = k.to_str()?.strip_prefix("LAB_")?.to_string();
                    let v = v.into_string().ok().filter(|v| !v.is_empty())?;
                    Some((field, v.into()))
                })
                .collect();
            let mut lab: Lab = serde_json::from_value(vars.into()).unwrap_or_else(|e| {
                // serde names a missing field without the prefix.
                let why = e.to_string();
                let why = why
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                    .map_or(why.clone(), |field| format!("LAB_{field} is not set"));
                panic!(
                    "{why}: integration tests need the lab: run scripts/test.sh \
                     (or scripts/lab.sh up && source .lab/env)"
                )
            });
            lab.registry_mtls = Mtls::from_env();
            lab
        })
    }

    /// The mTLS registry, or a panic that says how to add it to the lab.
    pub fn mtls(&self) -> &Mtls {
        self.registry_mtls.as_ref().unwrap_or_else(|| {
            panic!(
                "LAB_REGISTRY_MTLS, LAB_CLIENT_CERT or LAB_CLIENT_KEY is not set: run \
                 scripts/lab.sh up (it adds the mTLS registry to a running lab) and \
                 source .lab/env again"
            )
        })
    }

    /// The htpasswd file both lab registries use (user AWS).
    pub fn htpasswd(&self) -> PathBuf {
        self.dir.join("run/htpasswd")
    }
}

impl Mtls {
    fn from_env() -> Option<Mtls> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Mtls {
            registry: var("LAB_REGISTRY_MTLS")?,
            log: var("LAB_REGISTRY_MTLS_LOG")?.into(),
            client_cert: var("LAB_CLIENT_CERT")?.into(),
            client_key: var("LAB_CLIENT_KEY")?.into(),
            client_ca: var("LAB_CLIENT_CA")?.into(),
        })
    }
}

// ------------------------------------------------------------------ the Helm CLIs

/// The three Helm CLIs every end-to-end test runs through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum HelmCli {
    /// helm 3.10.1, the oldest Helm we support.
    V3_10,
    /// The current Helm 3.
    V3,
    /// The current Helm 4: the one a new user has, and the default.
    V4,
}

impl HelmCli {
    /// Every Helm we support, newest first.
    pub fn all() -> [HelmCli; 3] {
        [HelmCli::V4, HelmCli::V3, HelmCli::V3_10]
    }

    pub fn path(self) -> &'static Path {
        let lab = Lab::get();
        match self {
            HelmCli::V3_10 => &lab.helm3,
            HelmCli::V3 => &lab.helm_v3,
            HelmCli::V4 => &lab.helm_v4,
        }
    }

    /// For failure messages: "helm 4", "helm 3", "helm 3.10".
    pub fn name(self) -> &'static str {
        match self {
            HelmCli::V3_10 => "helm 3.10",
            HelmCli::V3 => "helm 3",
            HelmCli::V4 => "helm 4",
        }
    }

    pub fn is_v4(self) -> bool {
        self == HelmCli::V4
    }

    /// The other major: where a push through this Helm is read back.
    pub fn other_major(self) -> HelmCli {
        if self.is_v4() {
            HelmCli::V3
        } else {
            HelmCli::V4
        }
    }

    /// What pull/show/template need for the plain-HTTP lab registry: 3.10
    /// has no `--plain-http` (it falls back to HTTP for loopback by itself);
    /// 3.13+ and Helm 4 need the flag.
    pub fn plain_http(self) -> &'static [&'static str] {
        match self {
            HelmCli::V3_10 => &[],
            _ => &["--plain-http"],
        }
    }
}
