//! Installing like a real Helm plugin, through the real CLIs: a release made
//! by scripts/release.sh (signed with a throwaway GPG key made here) is
//! installed by Helm 4 from its package files and from the lab registry
//! over OCI with verification on, a package changed after signing is
//! refused, and the installed plugins push a chart with no cargo, Go or
//! Python on PATH; helm 3.10.1 and the current Helm 3 install the checkout
//! (no bin/) through the install hook from a local release server, and a
//! wrong checksum installs nothing. actionlint checks the workflows.
//!
//! The release is made once per test run, from the binary cargo built for
//! the tests (HELM_ECR_RELEASE_BIN): no second release build.

mod common;

use common::front::{Front, Response};
use common::{path_str, run, HelmCli, Lab, Output, Sandbox, BIN, REPO};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const SIGNER: &str = "helm-ecr release test <release-test@helm-ecr.invalid>";
const SIGN_KEY: &str = "release-test@helm-ecr.invalid";
const PLUGIN_ARTIFACT_TYPE: &str = "application/vnd.helm.plugin.v1+json";

/// What scripts/release.sh made, once for all tests here.
struct Release {
    /// OUT_DIR: archives, packages, signatures, checksums.txt.
    out: PathBuf,
    /// The throwaway key's public keyring (legacy format, as Helm wants).
    pubring: PathBuf,
    /// The binary release.sh was given (HELM_ECR_RELEASE_BIN).
    binary: PathBuf,
    /// The throwaway key's secret keyring (legacy format).
    secring: PathBuf,
    /// release.sh's stdout.
    log: String,
}

impl Release {
    fn file(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
    fn package(&self, plugin: &str) -> PathBuf {
        self.file(&format!("{plugin}-{VERSION}.tgz"))
    }
    fn archive(&self) -> String {
        format!("helm-ecr-{VERSION}-linux-amd64.tar.gz")
    }
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(make_release)
}

/// Where this run's release lives: under cargo's target dir, as the static
/// outlives every TempDir; earlier runs' leftovers are removed first.
fn release_root() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = fs::read_dir(tmp) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("release-install-")
            {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    tmp.join(format!("release-install-{}", std::process::id()))
}

fn gpg(lab: &Lab, gnupg: &Path) -> Command {
    let mut cmd = Command::new(&lab.gpg);
    cmd.env("GNUPGHOME", gnupg).arg("--batch");
    cmd
}

fn make_release() -> Release {
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
fn tar_listing(archive: &Path) -> Vec<String> {
    let out = run(Command::new("tar").arg("-tvzf").arg(archive));
    out.assert_ok();
    out.stdout.lines().map(str::to_string).collect()
}

fn tar_file(archive: &Path, member: &str) -> String {
    let out = run(Command::new("tar").arg("-xzOf").arg(archive).arg(member));
    out.assert_ok();
    out.stdout
}

fn plugin_names(sb: &Sandbox, cli: HelmCli) -> Vec<String> {
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

fn plugins_dir_entries(sb: &Sandbox) -> Vec<String> {
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
fn tools_dir(parent: &Path, programs: &[&str]) -> PathBuf {
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
fn hook_tools() -> Vec<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let has = |p: &str| std::env::split_paths(&path).any(|d| d.join(p).is_file());
    let mut tools = HOOK_TOOLS.to_vec();
    tools.push(if has("curl") { "curl" } else { "wget" });
    tools
}

const HOOK_TOOLS: &[&str] = &[
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
fn registry_auth(sb: &Sandbox) -> PathBuf {
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
struct FileServer {
    url: String,
    front: Front,
}

impl FileServer {
    fn start(dir: PathBuf) -> FileServer {
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

    fn requests(&self) -> Vec<String> {
        self.front.seen().into_iter().map(|r| r.target).collect()
    }
}

// ------------------------------------------------------------ release.sh

#[test]
fn release_holds_archives_signed_v1_packages_and_checksums() {
    let r = release();
    let mut files: Vec<String> = fs::read_dir(&r.out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let want = [
        "checksums.txt".to_string(),
        format!("ecr-login-{VERSION}.tgz"),
        format!("ecr-login-{VERSION}.tgz.prov"),
        format!("ecr-push-{VERSION}.tgz"),
        format!("ecr-push-{VERSION}.tgz.prov"),
        r.archive(),
    ];
    assert_eq!(files, want, "{}", r.log);

    // checksums.txt covers every other file, in sha256sum's own format.
    let sums = fs::read_to_string(r.file("checksums.txt")).unwrap();
    let listed: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    assert_eq!(
        listed,
        want[1..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    run(Command::new("sha256sum")
        .args(["--check", "--strict", "checksums.txt"])
        .current_dir(&r.out))
    .assert_ok();

    // The archive: the binary alone, a regular executable file.
    let listing = tar_listing(&r.file(&r.archive()));
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert!(
        listing[0].starts_with("-rwxr-xr-x") && listing[0].ends_with(" helm-ecr"),
        "{listing:?}"
    );
    let unpacked = r.out.parent().unwrap().join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(r.file(&r.archive()))
        .arg("-C")
        .arg(&unpacked))
    .assert_ok();
    assert!(fs::read(unpacked.join("helm-ecr")).unwrap() == fs::read(&r.binary).unwrap());

    for (plugin, sub) in [("ecr-push", "ecr-push"), ("ecr-login", "ecr-login")] {
        let package = r.package(plugin);
        let listing = tar_listing(&package);
        // Helm's extractor takes regular files and directories only.
        for entry in &listing {
            assert!(
                entry.starts_with('-') || entry.starts_with('d'),
                "{plugin}: not a file or directory: {entry}"
            );
        }
        assert!(
            listing.iter().any(|e| e.starts_with("-rwx")
                && e.ends_with(&format!("{plugin}/bin/linux-amd64/helm-ecr"))),
            "{listing:?}"
        );
        let yaml = tar_file(&package, &format!("{plugin}/plugin.yaml"));
        let doc: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
        assert_eq!(doc["apiVersion"].as_str(), Some("v1"), "{yaml}");
        assert_eq!(doc["type"].as_str(), Some("cli/v1"), "{yaml}");
        assert_eq!(doc["runtime"].as_str(), Some("subprocess"), "{yaml}");
        assert_eq!(doc["name"].as_str(), Some(plugin), "{yaml}");
        assert_eq!(doc["version"].as_str(), Some(VERSION), "{yaml}");
        let legacy_path = if plugin == "ecr-push" {
            Path::new(REPO).join("plugin.yaml")
        } else {
            Path::new(REPO).join("plugins/ecr-login/plugin.yaml")
        };
        let legacy: yaml_serde::Value =
            yaml_serde::from_str(&fs::read_to_string(&legacy_path).unwrap()).unwrap();
        assert!(
            legacy.get("apiVersion").is_none(),
            "the repository keeps the legacy format"
        );
        assert_eq!(doc["config"]["shortHelp"], legacy["usage"], "{yaml}");
        assert_eq!(doc["config"]["longHelp"], legacy["description"], "{yaml}");
        let commands = doc["runtimeConfig"]["platformCommand"]
            .as_sequence()
            .unwrap();
        assert_eq!(commands.len(), 1, "{yaml}");
        assert_eq!(commands[0]["os"].as_str(), Some("linux"));
        assert_eq!(commands[0]["arch"].as_str(), Some("amd64"));
        assert_eq!(
            commands[0]["command"].as_str(),
            Some("${HELM_PLUGIN_DIR}/bin/linux-amd64/helm-ecr")
        );
        assert_eq!(commands[0]["args"][0].as_str(), Some(sub));

        // Helm 4 checks the signature against the throwaway public key.
        let sb = Sandbox::bare();
        let out = sb.helm(&[
            "plugin",
            "verify",
            path_str(&package),
            "--keyring",
            path_str(&r.pubring),
        ]);
        out.assert_ok();
        assert!(out.stdout.contains(SIGNER), "{out}");
    }
}

/// The release workflow's shape: binaries for several platforms, built
/// elsewhere (HELM_ECR_RELEASE_BIN=DIR), the key in a legacy secret keyring
/// file (HELM_ECR_KEYRING). One package carries every binary and Helm 4
/// runs the one for its platform.
#[test]
fn release_from_a_directory_of_binaries_packages_every_platform() {
    let r = release();
    let mut sb = Sandbox::bare();
    let bins = sb.root().join("bins");
    let platforms = ["darwin-arm64", "linux-amd64", "windows-amd64"];
    for p in platforms {
        let exe = if p.starts_with("windows") { ".exe" } else { "" };
        let to = bins.join(p).join(format!("helm-ecr{exe}"));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&r.binary, &to).unwrap();
    }
    let out_dir = sb.root().join("dist");
    let mut cmd = Command::new("sh");
    cmd.arg(Path::new(REPO).join("scripts/release.sh"))
        .arg(&out_dir)
        .env_clear()
        .envs(sb.env())
        .env("HELM_BIN", &sb.lab.helm_v4)
        .env("HELM_ECR_RELEASE_BIN", &bins)
        .env("HELM_ECR_SIGN_KEY", SIGN_KEY)
        .env("HELM_ECR_KEYRING", &r.secring)
        .env("GNUPGHOME", sb.root().join("no-gnupg"));
    run(&mut cmd).assert_ok();
    for p in platforms {
        assert!(out_dir
            .join(format!("helm-ecr-{VERSION}-{p}.tar.gz"))
            .is_file());
    }
    let package = out_dir.join(format!("ecr-login-{VERSION}.tgz"));
    let yaml = tar_file(&package, "ecr-login/plugin.yaml");
    let doc: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
    let commands: Vec<(String, String)> = doc["runtimeConfig"]["platformCommand"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{}-{}",
                    c["os"].as_str().unwrap(),
                    c["arch"].as_str().unwrap()
                ),
                c["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        commands,
        [
            (
                "darwin-arm64".into(),
                "${HELM_PLUGIN_DIR}/bin/darwin-arm64/helm-ecr".into()
            ),
            (
                "linux-amd64".into(),
                "${HELM_PLUGIN_DIR}/bin/linux-amd64/helm-ecr".into()
            ),
            (
                "windows-amd64".into(),
                "${HELM_PLUGIN_DIR}/bin/windows-amd64/helm-ecr.exe".into()
            ),
        ]
    );
    let out = sb.helm(&[
        "plugin",
        "install",
        path_str(&package),
        "--keyring",
        path_str(&r.pubring),
    ]);
    assert_installed_signed(&out);
    sb.set_env("PATH", tools_dir(sb.root(), &["sh"]));
    let registry = sb.lab.registry.clone();
    let login = sb.helm(&["ecr-login", &registry, "--password-stdout"]);
    login.assert_ok();
    assert_eq!(login.stdout.trim(), sb.lab.registry_password);
}

#[test]
fn release_refuses_a_used_out_dir_and_a_helm_that_is_not_4() {
    let lab = Lab::get();
    let sb = Sandbox::bare();
    let script = Path::new(REPO).join("scripts/release.sh");
    let release_cmd = |out: &Path, helm: &Path| {
        let mut cmd = Command::new("sh");
        cmd.arg(&script)
            .arg(out)
            .env_clear()
            .envs(sb.env())
            .env("HELM_BIN", helm)
            .env("HELM_ECR_RELEASE_BIN", BIN);
        cmd
    };

    let used = sb.root().join("used");
    common::write(&used.join("old.txt"), "stale");
    let out = run(&mut release_cmd(&used, &lab.helm_v4));
    out.assert_fail();
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("is not empty"), "{out}");
    assert_eq!(fs::read_dir(&used).unwrap().count(), 1);

    for old in [HelmCli::V3, HelmCli::V3_10] {
        let fresh = sb
            .root()
            .join(format!("fresh-{}", old.name().replace(' ', "")));
        let out = run(&mut release_cmd(&fresh, old.path()));
        out.assert_fail();
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
        assert!(out.stderr.contains("needs Helm 4"), "{out}");
        assert!(!fresh.exists(), "{} was created", fresh.display());
    }
}

// ------------------------------------------------------------ Helm 4

fn assert_installed_signed(out: &Output) {
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!("Signed by: {SIGNER}")),
        "{out}"
    );
}

/// Runs `helm ecr-push` with PATH holding only `sh`: no cargo, Go or Python.
fn push_without_toolchains(sb: &mut Sandbox) {
    let chart = sb.seed_chart("released");
    let tools = tools_dir(sb.root(), &["sh"]);
    sb.set_env("PATH", &tools);
    let ns = common::unique_name("release");
    let registry = sb.lab.registry.clone();
    let out = sb.helm(&[
        "ecr-push",
        path_str(&chart),
        &format!("oci://{registry}/{ns}"),
        "--plain-http",
    ]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains(&format!("Pushed: {registry}/{ns}/released:0.1.0")),
        "{out}"
    );
    let login = sb.helm(&["ecr-login", &registry, "--password-stdout"]);
    login.assert_ok();
    assert_eq!(login.stdout.trim(), sb.lab.registry_password);
}

#[test]
fn helm4_installs_the_signed_packages_from_files_and_pushes_with_no_toolchain() {
    let r = release();
    let mut sb = Sandbox::bare();
    for plugin in ["ecr-push", "ecr-login"] {
        let out = sb.helm(&[
            "plugin",
            "install",
            path_str(&r.package(plugin)),
            "--keyring",
            path_str(&r.pubring),
        ]);
        assert_installed_signed(&out);
    }
    let list = sb.helm(&["plugin", "list"]);
    list.assert_ok();
    for plugin in ["ecr-push", "ecr-login"] {
        let row = list
            .stdout
            .lines()
            .find(|l| l.starts_with(plugin))
            .unwrap_or_else(|| panic!("{plugin} not listed: {list}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..5], [VERSION, "cli/v1", "v1", "signed"], "{row}");
    }
    // Copies of the binary, not links: the plugin stands on its own.
    let installed = sb
        .data_home()
        .join("plugins/ecr-push/bin/linux-amd64/helm-ecr");
    let meta = fs::symlink_metadata(&installed).unwrap();
    assert!(meta.file_type().is_file());
    push_without_toolchains(&mut sb);

    // Updating a package install is uninstall + install.
    sb.helm(&["plugin", "uninstall", "ecr-push", "ecr-login"])
        .assert_ok();
    assert!(plugin_names(&sb, HelmCli::V4).is_empty());
}

#[test]
fn helm4_installs_both_packages_from_an_oci_registry_with_verification() {
    let r = release();
    let mut sb = Sandbox::bare();
    let lab = sb.lab;
    let auth = registry_auth(&sb);
    let ns = common::unique_name("plugins");
    for plugin in ["ecr-push", "ecr-login"] {
        let reference = format!("{}/{ns}/{plugin}:{VERSION}", lab.registry);
        let tgz = format!("{plugin}-{VERSION}.tgz");
        let prov = format!("{tgz}.prov");
        // Relative names: oras titles each layer with the name it is given,
        // and Helm finds the package and its .prov by those titles.
        run(Command::new(&lab.oras)
            .args(["push", "--plain-http", "--registry-config"])
            .arg(&auth)
            .args([
                "--artifact-type",
                PLUGIN_ARTIFACT_TYPE,
                &reference,
                &tgz,
                &prov,
            ])
            .current_dir(&r.out))
        .assert_ok();
        let out = sb.helm(&[
            "plugin",
            "install",
            &format!("oci://{reference}"),
            "--plain-http",
            "--keyring",
            path_str(&r.pubring),
        ]);
        assert_installed_signed(&out);
    }
    assert_eq!(plugin_names(&sb, HelmCli::V4), ["ecr-login", "ecr-push"]);
    push_without_toolchains(&mut sb);
}

#[test]
fn helm4_refuses_a_package_changed_after_signing_or_unsigned() {
    let r = release();
    let sb = Sandbox::bare();
    let tampered = sb.root().join("tampered");
    let unpacked = tampered.join("x");
    fs::create_dir_all(&unpacked).unwrap();
    let tgz = format!("ecr-push-{VERSION}.tgz");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(r.package("ecr-push"))
        .arg("-C")
        .arg(&unpacked))
    .assert_ok();
    // A changed command, as an attacker would make it.
    let yaml = unpacked.join("ecr-push/plugin.yaml");
    let text = fs::read_to_string(&yaml).unwrap();
    fs::write(
        &yaml,
        text.replace("${HELM_PLUGIN_DIR}/bin", "/tmp/evil/bin"),
    )
    .unwrap();
    run(Command::new("tar")
        .arg("-czf")
        .arg(tampered.join(&tgz))
        .arg("-C")
        .arg(&unpacked)
        .arg("ecr-push"))
    .assert_ok();
    fs::copy(
        r.file(&format!("{tgz}.prov")),
        tampered.join(format!("{tgz}.prov")),
    )
    .unwrap();

    let out = sb.helm(&[
        "plugin",
        "install",
        path_str(&tampered.join(&tgz)),
        "--keyring",
        path_str(&r.pubring),
    ]);
    out.assert_fail();
    assert!(out.stderr.contains("sha256 sum does not match"), "{out}");
    assert!(plugin_names(&sb, HelmCli::V4).is_empty());
    assert!(!sb.data_home().join("plugins/ecr-push").exists());

    // The real package without its .prov is refused as well.
    let alone = sb.root().join("alone");
    fs::create_dir_all(&alone).unwrap();
    fs::copy(r.package("ecr-push"), alone.join(&tgz)).unwrap();
    let out = sb.helm(&[
        "plugin",
        "install",
        path_str(&alone.join(&tgz)),
        "--keyring",
        path_str(&r.pubring),
    ]);
    out.assert_fail();
    assert!(out.stderr.contains("no provenance file"), "{out}");
    assert!(plugin_names(&sb, HelmCli::V4).is_empty());

    // And the real one signed by another key (an empty keyring here).
    let other = sb.root().join("other-pubring.gpg");
    fs::write(&other, b"").unwrap();
    let out = sb.helm(&[
        "plugin",
        "install",
        path_str(&r.package("ecr-push")),
        "--keyring",
        path_str(&other),
    ]);
    out.assert_fail();
    assert!(out.stderr.contains("unknown entity"), "{out}");
    assert!(plugin_names(&sb, HelmCli::V4).is_empty());
}

// ------------------------------------------------------------ Helm 3 and the hook

/// A copy of the checkout as a git URL install gets it: plugin files,
/// scripts, Cargo.toml, and no bin/.
fn stage_checkout(sb: &Sandbox) -> PathBuf {
    let stage = sb.root().join("clone/helm-ecr");
    for name in [
        "plugin.yaml",
        "completion.yaml",
        "plugin.complete",
        "scripts",
        "plugins",
        "Cargo.toml",
    ] {
        common::copy_tree(&Path::new(REPO).join(name), &stage.join(name));
    }
    for bin in [stage.join("bin"), stage.join("plugins/ecr-login/bin")] {
        let _ = fs::remove_dir_all(bin);
    }
    stage
}

fn hook_sandbox(cli: HelmCli, release_url: &str) -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::bare_with(cli);
    let tools = tools_dir(sb.root(), &hook_tools());
    sb.set_env("PATH", &tools)
        .set_env("HELM_ECR_RELEASE_URL", release_url)
        .set_env("HELM_BIN", cli.path());
    let stage = stage_checkout(&sb);
    (sb, stage)
}

/// helm 3.10.1 and the current Helm 3 (and Helm 4, which runs the same
/// legacy hook when installing a directory).
#[test]
fn every_helm_installs_a_checkout_through_the_hook_from_a_release_server() {
    let r = release();
    let server = FileServer::start(r.out.clone());
    for cli in [HelmCli::V3_10, HelmCli::V3, HelmCli::V4] {
        let (sb, stage) = hook_sandbox(cli, &server.url);
        let before = server.requests().len();
        let out = sb.helm(&["plugin", "install", path_str(&stage)]);
        out.assert_ok();
        assert!(
            out.stderr.contains("sha256 checked"),
            "{}: {out}",
            cli.name()
        );
        assert!(!out.stderr.contains("cargo"), "{}: {out}", cli.name());
        let asked = server.requests()[before..].to_vec();
        assert_eq!(
            asked,
            ["/checksums.txt".to_string(), format!("/{}", r.archive())],
            "{}",
            cli.name()
        );
        assert_eq!(
            plugin_names(&sb, cli),
            ["ecr-login", "ecr-push"],
            "{}",
            cli.name()
        );
        let release_binary = fs::read(&r.binary).unwrap();
        for bin in [
            stage.join("bin/helm-ecr"),
            stage.join("plugins/ecr-login/bin/helm-ecr"),
        ] {
            assert!(
                fs::read(&bin).unwrap() == release_binary,
                "{}",
                bin.display()
            );
        }
        let version = sb.helm(&["ecr-login", "--version"]);
        version.assert_ok();
        assert!(version.stdout.contains(VERSION), "{version}");
        let login = sb.helm(&["ecr-login", &sb.lab.registry, "--password-stdout"]);
        login.assert_ok();
        assert_eq!(login.stdout.trim(), sb.lab.registry_password);
    }
}

#[test]
fn helm3_hook_with_a_wrong_checksum_installs_nothing() {
    let r = release();
    let sb_dir = common::TempDir::new("bad-release");
    let bad = sb_dir.path().to_path_buf();
    fs::copy(r.file(&r.archive()), bad.join(r.archive())).unwrap();
    let sums = fs::read_to_string(r.file("checksums.txt")).unwrap();
    let forged: String = sums
        .lines()
        .map(|l| {
            if l.ends_with(&r.archive()) {
                format!("{}{}\n", "0".repeat(64), &l[64..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(bad.join("checksums.txt"), forged).unwrap();
    let server = FileServer::start(bad);

    for cli in [HelmCli::V3_10, HelmCli::V3] {
        let (mut sb, stage) = hook_sandbox(cli, &server.url);
        let out = sb.helm(&["plugin", "install", path_str(&stage)]);
        out.assert_fail();
        // One line of ours, then Helm's "plugin install hook ... exited with error".
        let lines: Vec<&str> = out
            .stderr_lines()
            .into_iter()
            .filter(|l| !l.starts_with("helm-ecr: downloading "))
            .collect();
        assert_eq!(lines.len(), 2, "{}: {out}", cli.name());
        assert!(
            lines[0].starts_with("helm-ecr: error: checksum mismatch for helm-ecr-")
                && lines[0].ends_with("(nothing was installed: run the same 'helm plugin install' again once that is fixed)"),
            "{}: {out}",
            cli.name()
        );
        assert!(
            lines[1].contains("exited with error"),
            "{}: {out}",
            cli.name()
        );
        assert!(plugin_names(&sb, cli).is_empty(), "{}", cli.name());
        assert!(plugins_dir_entries(&sb).is_empty(), "{}", cli.name());
        assert!(!stage.join("bin").exists() && !stage.join("plugins/ecr-login/bin").exists());

        // Fixed (the right release), the same install then just works.
        let good = FileServer::start(r.out.clone());
        sb.set_env("HELM_ECR_RELEASE_URL", &good.url);
        sb.helm(&["plugin", "install", path_str(&stage)])
            .assert_ok();
        assert_eq!(plugin_names(&sb, cli), ["ecr-login", "ecr-push"]);
    }
}

#[test]
fn helm3_hook_without_a_release_or_cargo_says_so_and_installs_nothing() {
    let empty = common::TempDir::new("no-release");
    let server = FileServer::start(empty.path().to_path_buf());
    let (sb, stage) = hook_sandbox(HelmCli::V3_10, &server.url);
    let out = sb.helm(&["plugin", "install", path_str(&stage)]);
    out.assert_fail();
    let ours: Vec<&str> = out
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("helm-ecr: ") && !l.starts_with("helm-ecr: downloading "))
        .collect();
    assert_eq!(ours.len(), 1, "{out}");
    assert!(ours[0].starts_with("helm-ecr: error: "), "{out}");
    assert!(ours[0].contains("no release"), "{out}");
    assert!(ours[0].contains("cargo is not on PATH"), "{out}");
    assert!(plugins_dir_entries(&sb).is_empty());
}

// ------------------------------------------------------------ workflows

#[test]
fn actionlint_passes_on_every_workflow() {
    let lab = Lab::get();
    let dir = Path::new(REPO).join(".github/workflows");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"ci.yml".to_string()) && names.contains(&"release.yml".to_string()),
        "{names:?}"
    );
    let out = run(Command::new(&lab.actionlint)
        .arg("-no-color")
        .args(&files)
        .current_dir(REPO));
    out.assert_ok();
}

#[test]
fn helm3_hook_builds_with_cargo_only_when_the_release_lacks_the_platform() {
    // A release with a binary for another platform only.
    let r = release();
    let other = common::TempDir::new("other-platform");
    let sums = fs::read_to_string(r.file("checksums.txt")).unwrap();
    let line = sums.lines().find(|l| l.ends_with(&r.archive())).unwrap();
    let elsewhere = format!("helm-ecr-{VERSION}-darwin-arm64.tar.gz");
    fs::write(
        other.path().join("checksums.txt"),
        format!("{}  {elsewhere}\n", &line[..64]),
    )
    .unwrap();
    fs::copy(r.file(&r.archive()), other.path().join(&elsewhere)).unwrap();
    let server = FileServer::start(other.path().to_path_buf());

    let (mut sb, stage) = hook_sandbox(HelmCli::V3_10, &server.url);
    // A stand-in cargo that "builds" by copying the binary under test, and
    // records that it ran.
    let tools = sb.root().join("tools");
    let log = sb.root().join("cargo.log");
    common::write(
        &tools.join("cargo"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{log}'\nmkdir -p \"$CARGO_TARGET_DIR/release\"\ncp '{BIN}' \"$CARGO_TARGET_DIR/release/helm-ecr\"\n",
            log = log.display()
        ),
    );
    fs::set_permissions(tools.join("cargo"), fs::Permissions::from_mode(0o755)).unwrap();
    let target = sb.root().join("target");
    sb.set_env("CARGO_TARGET_DIR", &target);

    let out = sb.helm(&["plugin", "install", path_str(&stage)]);
    out.assert_ok();
    assert!(
        out.stderr.contains(&format!(
            "no release binary to install (release {VERSION} has no binary for linux/amd64"
        )) && out.stderr.contains("building helm-ecr"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap().trim(),
        "build --release --locked"
    );
    assert_eq!(plugin_names(&sb, HelmCli::V3_10), ["ecr-login", "ecr-push"]);
    sb.helm(&["ecr-push", "--help"]).assert_ok();
    // The archive for another platform was never fetched.
    assert_eq!(server.requests(), ["/checksums.txt"]);
}
