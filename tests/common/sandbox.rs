//! Throwaway Helm dirs with both plugins installed.

use super::*;

// ------------------------------------------------------------------ the Helm sandbox

/// Throwaway HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_DATA_HOME,
/// HELM_REGISTRY_CONFIG, HOME and token cache, removed on drop; by default
/// with both plugins installed into the current Helm 4. Every Helm shares
/// the sandbox's dirs, so a chart pushed through one is read back by another.
pub struct Sandbox {
    pub lab: &'static Lab,
    cli: HelmCli,
    dir: TempDir,
    env: BTreeMap<OsString, Option<OsString>>,
}

impl Sandbox {
    /// A sandbox with `ecr-push` and `ecr-login` installed by Helm 4's
    /// `helm plugin install`.
    pub fn new() -> Sandbox {
        Sandbox::with_helm(HelmCli::V4)
    }

    /// A sandbox whose `helm()` is `cli`, with both plugins installed there.
    pub fn with_helm(cli: HelmCli) -> Sandbox {
        let sb = Sandbox::bare_with(cli);
        sb.install_plugins();
        sb
    }

    /// One sandbox per Helm in `HelmCli::all()`, each made when the loop
    /// reaches it (`for sb in Sandbox::every_helm()`), with both plugins
    /// installed there. Says on stderr which Helm runs, so a failing
    /// assertion that does not name it is still placed.
    pub fn every_helm() -> impl Iterator<Item = Sandbox> {
        HelmCli::all().into_iter().map(|cli| {
            eprintln!("--- through {}", cli.name());
            Sandbox::with_helm(cli)
        })
    }

    /// A sandbox with no plugin installed (Helm 4).
    pub fn bare() -> Sandbox {
        Sandbox::bare_with(HelmCli::V4)
    }

    /// A sandbox with no plugin installed, whose `helm()` is `cli`.
    pub fn bare_with(cli: HelmCli) -> Sandbox {
        let lab = Lab::get();
        let dir = TempDir::new("helm-ecr-test");
        let sb = Sandbox {
            lab,
            cli,
            dir,
            env: BTreeMap::new(),
        };
        for d in [
            sb.home(),
            sb.config_home(),
            sb.cache_home(),
            sb.data_home(),
            sb.work(),
        ] {
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        sb
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    /// Helm's default registry config path under HELM_CONFIG_HOME.
    pub fn registry_config(&self) -> PathBuf {
        self.config_home().join("registry/config.json")
    }

    /// Sets (or replaces) a variable for every process this sandbox runs.
    pub fn set_env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }

    /// Removes a variable (also one of the defaults) for every process run here.
    pub fn unset_env(&mut self, key: impl Into<OsString>) -> &mut Self {
        self.env.insert(key.into(), None);
        self
    }

    /// Puts `dirs` first on the PATH of every process run here, before
    /// the PATH they would get otherwise.
    pub fn add_to_path(&mut self, dirs: &[&Path]) -> &mut Self {
        let current = self
            .env()
            .into_iter()
            .find_map(|(k, v)| (k == "PATH").then_some(v))
            .unwrap_or_default();
        let path = std::env::join_paths(
            dirs.iter()
                .map(|d| d.to_path_buf())
                .chain(std::env::split_paths(&current)),
        )
        .unwrap_or_else(|e| panic!("PATH: {e}"));
        self.set_env("PATH", path)
    }

    /// The full environment: defaults, then the sandbox's overrides.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let lab = self.lab;
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let mut env: BTreeMap<OsString, Option<OsString>> = [
            ("PATH", path),
            ("HOME", self.home().into()),
            ("HELM_CONFIG_HOME", self.config_home().into()),
            ("HELM_CACHE_HOME", self.cache_home().into()),
            ("HELM_DATA_HOME", self.data_home().into()),
            ("HELM_REGISTRY_CONFIG", self.registry_config().into()),
            ("HELM_ECR_TOKEN_CACHE_DIR", self.token_cache_dir().into()),
            ("AWS_ACCESS_KEY_ID", lab.access_key_id.clone().into()),
            (
                "AWS_SECRET_ACCESS_KEY",
                lab.secret_access_key.clone().into(),
            ),
            ("AWS_REGION", lab.region.clone().into()),
            ("AWS_ENDPOINT_URL_ECR", lab.ecr_endpoint.clone().into()),
            ("AWS_ENDPOINT_URL_STS", lab.ecr_endpoint.clone().into()),
            // No instance metadata here: never wait on 169.254.169.254.
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", self.home().join(".aws/config").into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home().join(".aws/credentials").into(),
            ),
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("no_proxy", "127.0.0.1,localhost".into()),
        ]
        .into_iter()
        .map(|(k, v)| (OsString::from(k), Some(v)))
        .collect();
        for (k, v) in &self.env {
            env.insert(k.clone(), v.clone());
        }
        env.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(self.env()).current_dir(self.work());
        cmd
    }

    /// The Helm this sandbox runs.
    pub fn cli(&self) -> HelmCli {
        self.cli
    }

    /// The sandbox's Helm with this sandbox's environment, cwd = `work()`.
    pub fn helm_cmd(&self) -> Command {
        self.helm_cmd_as(self.cli)
    }

    /// Another Helm in this sandbox (same dirs, same plugins directory).
    pub fn helm_cmd_as(&self, cli: HelmCli) -> Command {
        self.command(cli.path())
    }

    /// Runs the sandbox's Helm with `args`.
    pub fn helm(&self, args: &[&str]) -> Output {
        run(self.helm_cmd().args(args))
    }

    /// Runs another Helm in this sandbox with `args`.
    pub fn helm_as(&self, cli: HelmCli, args: &[&str]) -> Output {
        run(self.helm_cmd_as(cli).args(args))
    }

    /// `cli` runs `helm pull oci://REPO --version VERSION` (plus `extra`, and
    /// `--plain-http` where that Helm needs it) into a fresh directory;
    /// panics unless it succeeds and leaves `NAME-VERSION.tgz` there.
    /// Returns that archive and helm's output.
    pub fn pull(
        &self,
        cli: HelmCli,
        repo: &str,
        version: &str,
        extra: &[&str],
    ) -> (PathBuf, Output) {
        let dest = self.root().join(unique_name("pulled"));
        fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("create {}: {e}", dest.display()));
        let reference = format!("oci://{repo}");
        let mut args = vec![
            "pull",
            &reference,
            "--version",
            version,
            "-d",
            path_str(&dest),
        ];
        args.extend(extra);
        args.extend(cli.plain_http());
        let out = self.helm_as(cli, &args);
        out.assert_ok();
        let name = repo.rsplit('/').next().unwrap_or(repo);
        let tgz = dest.join(format!("{name}-{version}.tgz"));
        assert!(
            tgz.is_file(),
            "{} pull left no {}\n{out}",
            cli.name(),
            tgz.display()
        );
        (tgz, out)
    }

    /// The binary under test, run directly (not through helm), with this
    /// sandbox's environment.
    pub fn bin_cmd(&self) -> Command {
        self.command(BIN)
    }

    /// Runs the binary under test directly with `args`.
    pub fn bin(&self, args: &[&str]) -> Output {
        run(self.bin_cmd().args(args))
    }

    /// Runs scripts/lab/helm4.py (the Helm 4 SDK) with `args`; see its --help.
    /// Pass `--creds` explicitly (e.g. `registry_config()`): the SDK's own
    /// default location is not the sandbox's.
    pub fn helm4(&self, args: &[&str]) -> Output {
        run(self
            .command(&self.lab.python)
            .arg(&self.lab.helm4)
            .args(args))
    }

    /// skopeo's view of `HOST:PORT/REPO:TAG` on a lab registry: the raw
    /// manifest, or with `config` the raw config blob. Logs in as AWS with the
    /// lab password; the TLS registry is verified with the lab CA.
    pub fn skopeo_raw(&self, reference: &str, config: bool) -> Output {
        let lab = self.lab;
        let mut cmd = self.command(&lab.skopeo);
        cmd.args(["inspect", "--raw"]);
        if config {
            cmd.arg("--config");
        }
        if reference.starts_with(&format!("{}/", lab.registry_tls)) {
            // skopeo's --cert-dir wants the CA as *.crt in a directory.
            let certs = self.root().join("skopeo-certs");
            copy_tree(&lab.ca_file, &certs.join("ca.crt"));
            cmd.arg("--cert-dir").arg(certs);
        } else {
            // For skopeo this also allows plain HTTP.
            cmd.arg("--tls-verify=false");
        }
        // An auth file of its own, not --creds: command lines end up in test logs.
        let auth = self.root().join("skopeo-auth.json");
        if !auth.exists() {
            let token = base64_encode(format!("AWS:{}", lab.registry_password).as_bytes());
            let entry = format!("{{\"auth\":\"{token}\"}}");
            write(
                &auth,
                &format!(
                    "{{\"auths\":{{\"{}\":{entry},\"{}\":{entry}}}}}",
                    lab.registry, lab.registry_tls
                ),
            );
        }
        cmd.arg("--authfile")
            .arg(&auth)
            .arg(format!("docker://{reference}"));
        run(&mut cmd)
    }

    /// Installs both plugins from a staged copy of the repository's plugin
    /// files, with `bin/helm-ecr` linked to the binary cargo built.
    pub fn install_plugins(&self) {
        let stage = self.root().join("stage/helm-ecr");
        stage_plugin(&stage);
        self.helm(&["plugin", "install", path_str(&stage)])
            .assert_ok();
        self.helm(&[
            "plugin",
            "install",
            path_str(&stage.join("plugins/ecr-login")),
        ])
        .assert_ok();
    }

    /// The seed chart: `helm create NAME` in `work()`, its templates replaced
    /// by one ConfigMap with `myvalue: "Hello World"`. Returns its directory.
    pub fn seed_chart(&self, name: &str) -> PathBuf {
        self.seed_chart_in(&self.work(), name)
    }

    /// The seed chart, made in `parent`.
    /// Always made by helm 3.10.1, so a chart is the same whichever Helm a
    /// test runs.
    pub fn seed_chart_in(&self, parent: &Path, name: &str) -> PathBuf {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        run(self
            .helm_cmd_as(HelmCli::V3_10)
            .current_dir(parent)
            .args(["create", name]))
        .assert_ok();
        let chart = parent.join(name);
        let templates = chart.join("templates");
        fs::remove_dir_all(&templates).unwrap_or_else(|e| panic!("clear templates: {e}"));
        fs::create_dir_all(&templates).unwrap_or_else(|e| panic!("create templates: {e}"));
        write(&templates.join("configmap.yaml"), SEED_CONFIGMAP);
        chart
    }
}

/// The sandbox's own directories: each a fixed name under `root()`.
macro_rules! sandbox_dirs {
    ($($(#[$doc:meta])* $name:ident = $dir:literal;)*) => {
        impl Sandbox {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> PathBuf {
                    self.root().join($dir)
                }
            )*
        }
    };
}

sandbox_dirs! {
    /// HOME of every process run here: holds no ~/.aws and no ~/.docker.
    home = "home";
    config_home = "config";
    cache_home = "cache";
    data_home = "data";
    /// HELM_ECR_TOKEN_CACHE_DIR for this sandbox.
    token_cache_dir = "token-cache";
    /// The working directory processes start in; charts are made here.
    work = "work";
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

pub const SEED_CONFIGMAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-configmap
data:
  myvalue: \"Hello World\"
";

// Used only while the repository has no plugin.yaml of its own.
const FALLBACK_PLUGIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lab/fallback-plugin");

/// What of the repository a plugin install takes: plugin.yaml and the
/// files it names (completion, the install hook's scripts, ecr-login).
const PLUGIN_FILES: [&str; 5] = [
    "plugin.yaml",
    "completion.yaml",
    "plugin.complete",
    "scripts",
    "plugins",
];

/// Copies the repository's plugin files into `stage` and links
/// `bin/helm-ecr` (root and plugins/ecr-login) to the binary under test.
pub fn stage_plugin(stage: &Path) {
    let repo = Path::new(REPO);
    fs::create_dir_all(stage).unwrap_or_else(|e| panic!("create {}: {e}", stage.display()));
    for name in PLUGIN_FILES {
        let from = repo.join(name);
        if from.exists() {
            copy_tree(&from, &stage.join(name));
        }
    }
    let login = stage.join("plugins/ecr-login");
    fs::create_dir_all(&login).unwrap_or_else(|e| panic!("create {}: {e}", login.display()));
    for yaml in ["plugin.yaml", "plugins/ecr-login/plugin.yaml"] {
        if !stage.join(yaml).exists() {
            copy_tree(&Path::new(FALLBACK_PLUGIN).join(yaml), &stage.join(yaml));
        }
    }
    for dir in [stage.to_path_buf(), login] {
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("create {}: {e}", bin.display()));
        let link = bin.join("helm-ecr");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(BIN, &link)
            .unwrap_or_else(|e| panic!("link {}: {e}", link.display()));
    }
}

/// A copy of the checkout as a git URL install gets it: plugin files,
/// scripts, Cargo.toml, and no bin/.
pub fn stage_checkout(sb: &Sandbox) -> PathBuf {
    let stage = sb.root().join("clone/helm-ecr");
    for name in PLUGIN_FILES.into_iter().chain(["Cargo.toml"]) {
        copy_tree(&Path::new(REPO).join(name), &stage.join(name));
    }
    for bin in [stage.join("bin"), stage.join("plugins/ecr-login/bin")] {
        let _ = fs::remove_dir_all(bin);
    }
    stage
}

/// A stand-in `cargo` in `dir` that "builds" by copying the binary under
/// test into `$CARGO_TARGET_DIR/release`, appending `record` (shell words
/// such as `$*`) to `log` each time it runs.
pub fn fake_cargo(dir: &Path, log: &Path, record: &str) {
    write_executable(
        &dir.join("cargo"),
        &format!(
            "#!/bin/sh\necho \"{record}\" >> '{log}'\nmkdir -p \"$CARGO_TARGET_DIR/release\"\ncp '{BIN}' \"$CARGO_TARGET_DIR/release/helm-ecr\"\n",
            log = log.display()
        ),
    );
}

/// The plugin names `helm plugin list` shows with `cli`, sorted.
pub fn plugin_names(sb: &Sandbox, cli: HelmCli) -> Vec<String> {
    let out = sb.helm_as(cli, &["plugin", "list"]);
    out.assert_ok();
    let mut names: Vec<String> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// `helm ecr-push ARGS...` in the sandbox (cwd = its work dir).
pub fn ecr_push(sb: &Sandbox, args: &[&str]) -> Output {
    let mut all = vec!["ecr-push"];
    all.extend_from_slice(args);
    sb.helm(&all)
}
