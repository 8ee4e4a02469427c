//! Shared by release_install.rs and release_hook.rs: a release made by
//! scripts/release.sh once per test crate (signed with a throwaway GPG key
//! made here), tools dirs, and a static release server (the tests' one
//! front). A test crate using this module declares `mod common;` too.
#![allow(dead_code)]

use crate::common;
use crate::common::front::{Front, Response};
use crate::common::{run, Lab, Sandbox, BIN, REPO};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const SIGNER: &str = "helm-ecr release test <release-test@helm-ecr.invalid>";
pub const SIGN_KEY: &str = "release-test@helm-ecr.invalid";
pub const PLUGIN_ARTIFACT_TYPE: &str = "application/vnd.helm.plugin.v1+json";

/// What scripts/release.sh made, once for all tests here.
pub struct Release {
    /// OUT_DIR: archives, packages, signatures, checksums.txt.
    pub out: PathBuf,
    /// The throwaway key's public keyring (legacy format, as Helm wants).
    pub pubring: PathBuf,
    /// The binary release.sh was given (HELM_ECR_RELEASE_BIN).
    pub binary: PathBuf,
    /// The throwaway key's secret keyring (legacy format).
    pub secring: PathBuf,
    /// release.sh's stdout.
    pub log: String,
}

impl Release {
    pub fn file(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
    pub fn package(&self, plugin: &str) -> PathBuf {
        self.file(&format!("{plugin}-{VERSION}.tgz"))
    }
    pub fn archive(&self) -> String {
        format!("helm-ecr-{VERSION}-linux-amd64.tar.gz")
    }
}

pub fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(make_release)
}

/// Where this run's release lives: under cargo's target dir, as the static
/// outlives every TempDir; earlier runs' leftovers are removed first.
pub fn release_root() -> PathBuf {
    // Per test crate: one crate's clean-up must not remove another's release.
    let prefix = format!("{}-", env!("CARGO_CRATE_NAME").replace('_', "-"));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = fs::read_dir(tmp) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    tmp.join(format!("{prefix}{}", std::process::id()))
}

pub fn gpg(lab: &Lab, gnupg: &Path) -> Command {
    let mut cmd = Command::new(&lab.gpg);
    cmd.env("GNUPGHOME", gnupg).arg("--batch");
    cmd
}

pub fn make_release() -> Release {
    let lab = Lab::get();
    let root = release_root();
    let gnupg = root.join("gnupg");
    fs::create_dir_all(&gnupg).unwrap();
    fs::set_permissions(&gnupg, fs::Permissions::from_mode(0o700)).unwrap();
    let made = run(gpg(lab, &gnupg).args([
        "--passphrase",
        "",
        "--quick-gen-key",
        SIGNER,
        "ed25519",
        "sign",
        "never",
    ]));
    made.assert_ok();
    let public = gpg(lab, &gnupg).arg("--export").output().unwrap();
    assert!(public.status.success() && !public.stdout.is_empty());
    let pubring = root.join("pubring.gpg");
    fs::write(&pubring, &public.stdout).unwrap();

    // The test binary, stripped when binutils is there (the archives are
    // compressed three times; debug info only slows that down).
    let binary = root.join("prebuilt/helm-ecr");
    fs::create_dir_all(binary.parent().unwrap()).unwrap();
    fs::copy(BIN, &binary).unwrap();
    let _ = Command::new("strip").arg(&binary).status();

    let out = root.join("out");
    let helm_home = root.join("helm");
    let mut cmd = Command::new("sh");
    cmd.arg(Path::new(REPO).join("scripts/release.sh"))
        .arg(&out)
        .env("HELM_BIN", &lab.helm_v4)
        .env("HELM_ECR_RELEASE_BIN", &binary)
        .env("HELM_ECR_SIGN_KEY", SIGN_KEY)
        .env("GNUPGHOME", &gnupg)
        .env("HELM_CONFIG_HOME", helm_home.join("config"))
        .env("HELM_CACHE_HOME", helm_home.join("cache"))
        .env("HELM_DATA_HOME", helm_home.join("data"))
        .env_remove("HELM_ECR_KEYRING")
        .env_remove("HELM_ECR_RELEASE_TARGETS")
        .current_dir(&root);
    let made = run(&mut cmd);
    let secret = gpg(lab, &gnupg)
        .args(["--export-secret-keys", SIGN_KEY])
        .output()
        .unwrap();
    let secring = root.join("secring.gpg");
    fs::write(&secring, &secret.stdout).unwrap();
    // gpg started an agent for this GNUPGHOME: stop it whatever happened.
    let _ = Command::new(lab.gpg.with_file_name("gpgconf"))
        .env("GNUPGHOME", &gnupg)
        .args(["--kill", "all"])
        .status();
    made.assert_ok();
    assert!(secret.status.success() && !secret.stdout.is_empty());
    Release {
        out,
        pubring,
        binary,
        secring,
        log: made.stdout.clone(),
    }
}

/// `tar -tvzf` lines of an archive.
pub fn tar_listing(archive: &Path) -> Vec<String> {
    let out = run(Command::new("tar").arg("-tvzf").arg(archive));
    out.assert_ok();
    out.stdout.lines().map(str::to_string).collect()
}

pub fn tar_file(archive: &Path, member: &str) -> String {
    let out = run(Command::new("tar").arg("-xzOf").arg(archive).arg(member));
    out.assert_ok();
    out.stdout
}

pub fn plugins_dir_entries(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(sb.data_home().join("plugins"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A directory holding links to just these programs, found on the current
/// PATH: a PATH with no cargo, Go or Python on it.
pub fn tools_dir(parent: &Path, programs: &[&str]) -> PathBuf {
    let dir = parent.join("tools");
    fs::create_dir_all(&dir).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for program in programs {
        let found = std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{program} is not on PATH"));
        std::os::unix::fs::symlink(&found, dir.join(program)).unwrap();
    }
    for absent in ["cargo", "rustc", "go", "python", "python3"] {
        assert!(!dir.join(absent).exists());
    }
    dir
}

/// What the Helm 3 install hook runs (POSIX sh tools and curl or wget,
/// whichever the machine has), nothing more.
pub fn hook_tools() -> Vec<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let has = |p: &str| std::env::split_paths(&path).any(|d| d.join(p).is_file());
    let mut tools = HOOK_TOOLS.to_vec();
    tools.push(if has("curl") { "curl" } else { "wget" });
    tools
}

pub const HOOK_TOOLS: &[&str] = &[
    "sh",
    "sha256sum",
    "tar",
    "gzip",
    "mktemp",
    "sed",
    "awk",
    "cut",
    "head",
    "tail",
    "uname",
    "dirname",
    "cp",
    "mv",
    "chmod",
    "mkdir",
    "rm",
    "grep",
    "cat",
    "ls",
];

/// An auth file (Docker config format) for the lab registry, user AWS, so no
/// password goes on a command line.
pub fn registry_auth(sb: &Sandbox) -> PathBuf {
    let lab = sb.lab;
    let token = common::base64_encode(format!("AWS:{}", lab.registry_password).as_bytes());
    let path = sb.registry_config();
    common::write(
        &path,
        &format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{token}\"}}}}}}",
            lab.registry
        ),
    );
    path
}

// ------------------------------------------------------------ a release server

/// A static file server on loopback (the tests' one front) for the install
/// hook (404 for anything it does not have), recording the paths asked for.
pub struct FileServer {
    pub url: String,
    front: Front,
}

impl FileServer {
    pub fn start(dir: PathBuf) -> FileServer {
        let front = Front::start(move |ex| {
            ex.record();
            let name = ex.request.target.trim_start_matches('/');
            let file = (!name.is_empty() && !name.contains("..") && !name.contains('/'))
                .then(|| dir.join(name))
                .filter(|p| p.is_file());
            let resp = match file {
                Some(p) => Response::new(200, fs::read(p)?)
                    .header("Content-Type", "application/octet-stream"),
                None => Response::new(404, "not found\n"),
            };
            ex.reply(&resp)
        });
        FileServer {
            url: front.url(),
            front,
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.front.seen().into_iter().map(|r| r.target).collect()
    }
}
