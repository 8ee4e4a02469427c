//! The shared harness for integration tests against the lab (scripts/lab.sh).
//!
//! Use from a test crate with `mod common;` then:
//!
//! ```ignore
//! let lab = common::Lab::get();                 // panics when the lab is not up
//! let sb = common::Sandbox::new();              // throwaway Helm dirs, both plugins installed
//! let chart = sb.seed_chart("mychart");         // `helm create` + one ConfigMap
//! let ns = common::unique_name("charts");       // a repository namespace no other test uses
//! let out = sb.helm(&["ecr-push", chart.to_str().unwrap(),
//!                     &format!("oci://{}/{ns}", lab.registry), "--plain-http"]);
//! out.assert_ok();
//! ```
//!
//! Every process runs with a cleared environment: only PATH, a sandbox HOME,
//! the sandbox's HELM_* dirs and the lab's AWS settings reach it, so the
//! developer's own ~/.aws, ~/.docker and Helm config never leak in. Override
//! or drop variables per sandbox with `set_env` / `unset_env`.
//!
//! Request counting: `LogMark` reads a registry access log from a remembered
//! offset. The shared lab registries see every test's traffic, so for exact
//! counts start a `PrivateRegistry` (its own port and log, the lab's password).

#![allow(dead_code)] // each test crate uses its own subset

pub mod front;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any one child process may run before the test fails.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(180);

/// The binary under test, as cargo built it for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_helm-ecr");

/// The repository root (where Cargo.toml is).
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The running lab, read from the LAB_* variables `scripts/lab.sh up` writes.
/// No Debug: it holds the lab user's secret key.
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
            let var = |name: &str| match std::env::var(name) {
                Ok(v) if !v.is_empty() => v,
                _ => panic!(
                    "{name} is not set: integration tests need the lab: run scripts/test.sh \
                     (or scripts/lab.sh up && source .lab/env)"
                ),
            };
            Lab {
                dir: var("LAB_DIR").into(),
                helm3: var("LAB_HELM3").into(),
                helm_v3: var("LAB_HELM_V3").into(),
                helm_v4: var("LAB_HELM_V4").into(),
                oras: var("LAB_ORAS").into(),
                ecr_login: var("LAB_ECR_LOGIN").into(),
                actionlint: var("LAB_ACTIONLINT").into(),
                gpg: var("LAB_GPG").into(),
                python: var("LAB_PYTHON").into(),
                helm4: var("LAB_HELM4").into(),
                aws: var("LAB_AWS").into(),
                skopeo: var("LAB_SKOPEO").into(),
                ecr_endpoint: var("LAB_ECR_ENDPOINT"),
                ecr_noauth_endpoint: var("LAB_ECR_NOAUTH_ENDPOINT"),
                region: var("LAB_REGION"),
                account: var("LAB_ACCOUNT"),
                access_key_id: var("LAB_ACCESS_KEY_ID"),
                secret_access_key: var("LAB_SECRET_ACCESS_KEY"),
                role_arn: var("LAB_ROLE_ARN"),
                registry: var("LAB_REGISTRY"),
                registry_tls: var("LAB_REGISTRY_TLS"),
                ca_file: var("LAB_CA_FILE").into(),
                registry_log: var("LAB_REGISTRY_LOG").into(),
                registry_tls_log: var("LAB_REGISTRY_TLS_LOG").into(),
                registry_password: var("LAB_REGISTRY_PASSWORD"),
                registry_mtls: Mtls::from_env(),
            }
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

// ------------------------------------------------------------------ names

/// A name no other test, thread or process uses: `PREFIX-PID-N-TIME`, valid
/// as an OCI repository path component and an ECR repository name.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // The time part keeps names unique across runs against one long-lived lab.
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000_000)
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(prefix));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        // Canonical, so paths compare equal to what helm and the binary print.
        TempDir(fs::canonicalize(&path).unwrap_or(path))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HELM_ECR_KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

// ------------------------------------------------------------------ processes

/// What a finished process left behind.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for failure messages.
    pub command: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics, showing both streams, unless the process exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Panics, showing both streams, if the process exited 0.
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(!self.success(), "expected failure:\n{self}");
        self
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// The non-empty stderr lines a plugin wrote, without the line helm
    /// itself adds when a plugin exits non-zero
    /// (`Error: plugin "NAME" exited with error`).
    pub fn plugin_stderr_lines(&self) -> Vec<&str> {
        self.stderr_lines()
            .into_iter()
            .filter(|l| !(l.starts_with("Error: plugin \"") && l.ends_with("\" exited with error")))
            .collect()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit: {}\n--- stdout\n{}--- stderr\n{}---",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion with stdin closed (unless the caller set one),
/// killing it after PROCESS_TIMEOUT.
pub fn run(cmd: &mut Command) -> Output {
    run_with_stdin(cmd, None)
}

/// Like `run`, feeding `input` on stdin.
pub fn run_with_stdin(cmd: &mut Command, input: Option<&[u8]>) -> Output {
    let command = describe(cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_with_timeout(&mut child, &command);
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        command,
    }
}

/// The command line for failure messages, with secret-looking variables
/// redacted (test logs are output too).
fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("cd {} && ", dir.display()));
    }
    for (k, v) in cmd.get_envs() {
        let k = k.to_string_lossy();
        let secret = k.contains("SECRET") || k.contains("PASSWORD") || k.ends_with("_TOKEN");
        match v {
            Some(_) if secret => s.push_str(&format!("{k}=<redacted> ")),
            Some(v) => s.push_str(&format!("{k}={} ", v.to_string_lossy())),
            None => {}
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn wait_with_timeout(child: &mut Child, command: &str) -> ExitStatus {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("timed out after {PROCESS_TIMEOUT:?}: {command}");
            }
            Err(e) => panic!("waiting for {command}: {e}"),
        }
    }
}

// ------------------------------------------------------------------ terminals

/// Runs `cmd` (its program, arguments, explicitly set environment and cwd)
/// as the session leader of a fresh pseudo-terminal, which is then its
/// stdin, stdout, stderr and /dev/tty, through the lab venv's python `pty`
/// module (std has no openpty). With `answer = Some((prompt, reply))`, types
/// `reply` and Enter once the terminal shows `prompt`. The returned
/// `stdout` is everything the terminal showed (both streams, with `\r\n` line
/// ends and the typed reply's echo); `stderr` has only the driver's own
/// complaints; the status is the command's.
pub fn run_on_tty(cmd: &Command, answer: Option<(&str, &str)>) -> Output {
    let mut driver = Command::new(&Lab::get().python);
    driver.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            driver.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        driver.current_dir(dir);
    }
    let (prompt, reply) = answer.unwrap_or(("", ""));
    driver
        .arg("-c")
        .arg(PTY_DRIVER)
        .arg(prompt)
        .arg(reply)
        .arg(PROCESS_TIMEOUT.as_secs().saturating_sub(10).to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let mut out = run(&mut driver);
    out.command = format!("(on a pseudo-terminal) {}", describe(cmd));
    out
}

/// Runs `cmd` in a new session (util-linux `setsid --wait`), so it has no
/// controlling terminal even when the test runner has one: opening /dev/tty
/// fails there as it does under CI.
pub fn run_without_tty(cmd: &Command) -> Output {
    let mut detached = Command::new("setsid");
    detached.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            detached.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        detached.current_dir(dir);
    }
    detached
        .arg("--wait")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let mut out = run(&mut detached);
    out.command = format!("(no terminal) {}", describe(cmd));
    out
}

// argv: PROMPT REPLY TIMEOUT_SECONDS PROGRAM ARGS...; exits with the
// program's status (128+N for a signal).
const PTY_DRIVER: &str = r#"
import os, pty, select, sys, time
prompt, reply, timeout = sys.argv[1].encode(), sys.argv[2].encode(), float(sys.argv[3])
argv = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        os.write(2, ("cannot run %s: %s\n" % (argv[0], e)).encode())
    os._exit(127)
screen, answered = b"", not prompt
deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        os.kill(pid, 9)
        sys.stderr.write("pty driver: timed out after %ss\n" % timeout)
        break
    if not select.select([fd], [], [], left)[0]:
        continue
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: every holder of the terminal has closed it
        break
    if not data:
        break
    screen += data
    if not answered and prompt in screen:
        os.write(fd, reply + b"\n")
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(screen)
sys.stdout.flush()
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"#;

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
    /// HOME of every process run here: holds no ~/.aws and no ~/.docker.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn config_home(&self) -> PathBuf {
        self.root().join("config")
    }
    pub fn cache_home(&self) -> PathBuf {
        self.root().join("cache")
    }
    pub fn data_home(&self) -> PathBuf {
        self.root().join("data")
    }
    /// Helm's default registry config path under HELM_CONFIG_HOME.
    pub fn registry_config(&self) -> PathBuf {
        self.config_home().join("registry/config.json")
    }
    /// HELM_ECR_TOKEN_CACHE_DIR for this sandbox.
    pub fn token_cache_dir(&self) -> PathBuf {
        self.root().join("token-cache")
    }
    /// The working directory processes start in; charts are made here.
    pub fn work(&self) -> PathBuf {
        self.root().join("work")
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

/// Copies the repository's plugin files into `stage` and links
/// `bin/helm-ecr` (root and plugins/ecr-login) to the binary under test.
pub fn stage_plugin(stage: &Path) {
    let repo = Path::new(REPO);
    fs::create_dir_all(stage).unwrap_or_else(|e| panic!("create {}: {e}", stage.display()));
    for name in [
        "plugin.yaml",
        "completion.yaml",
        "plugin.complete",
        "scripts",
        "plugins",
    ] {
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

/// Copies a file or a directory tree (symlinks followed, modes kept).
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
        for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
            let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    }
}

pub fn write(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// Standard base64 with padding, by the `base64` crate rather than our own
/// `codec` (the value a test expects comes from elsewhere than the code
/// under test).
pub fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

// ------------------------------------------------------------------ registry access logs

/// One request from a distribution access log (combined log format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A point in an access log; `requests()` are those logged after it.
pub struct LogMark {
    path: PathBuf,
    offset: u64,
}

impl LogMark {
    pub fn new(log: &Path) -> LogMark {
        let offset = fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        LogMark {
            path: log.to_path_buf(),
            offset,
        }
    }

    /// Requests logged since the mark. distribution writes a request's line
    /// just after answering it, so a client may exit a moment before its last
    /// line lands: wait until the log has stopped growing.
    pub fn requests(&self) -> Vec<Request> {
        let len = || fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let mut last = len();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = len();
            if now == last {
                break;
            }
            last = now;
        }
        let mut file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(_) => return Vec::new(),
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut text).is_err()
        {
            return Vec::new();
        }
        text.lines().filter_map(parse_access_line).collect()
    }

    /// Requests since the mark whose path names `repository` (the shared
    /// lab registries serve every test at once; `/v2/` pings name none).
    pub fn requests_for(&self, repository: &str) -> Vec<Request> {
        let needle = format!("/{repository}/");
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(&needle))
            .collect()
    }
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 401 87 "" "ua"` -> Request.
pub fn parse_access_line(line: &str) -> Option<Request> {
    let mut quoted = line.split('"');
    quoted.next()?;
    let request = quoted.next()?;
    let after = quoted.next()?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let status = after.split_whitespace().next()?.parse().ok()?;
    Some(Request {
        method,
        path,
        status,
    })
}

// ------------------------------------------------------------------ a private registry

/// A distribution registry of one test's own: plain HTTP on a free loopback
/// port, the lab's htpasswd (user AWS, `Lab::registry_password`), its own
/// storage and access log. Stopped on drop.
pub struct PrivateRegistry {
    /// 127.0.0.1:PORT
    pub addr: String,
    pub access_log: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl PrivateRegistry {
    pub fn start() -> PrivateRegistry {
        let lab = Lab::get();
        let dir = TempDir::new("helm-ecr-registry");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        write(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {data}\n\
                 http:\n  addr: {addr}\n  secret: private-{port}\n\
                 auth:\n  htpasswd:\n    realm: helm-ecr-lab\n    path: {htpasswd}\n",
                data = dir.path().join("data").display(),
                htpasswd = lab.htpasswd().display(),
            ),
        );
        let access_log = dir.path().join("access.log");
        let log = |p: &Path| {
            fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()))
        };
        let child = Command::new("docker-registry")
            .args(["serve", path_str(&config)])
            .stdin(Stdio::null())
            .stdout(log(&access_log))
            .stderr(log(&dir.path().join("registry.log")))
            .spawn()
            .unwrap_or_else(|e| panic!("start docker-registry: {e}"));
        let reg = PrivateRegistry {
            addr,
            access_log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "private registry did not start on {}",
                reg.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        reg
    }

    pub fn mark(&self) -> LogMark {
        LogMark::new(&self.access_log)
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}
