//! `helm plugin update` of a git install, through helm 3.10.1, the current
//! Helm 3 (3.22) and Helm 4 (4.3): a `git daemon` started here serves a repository of the
//! plugin over git:// on loopback, the release server (release_support) the
//! archives the install and update hooks fetch. What is proved:
//! - `helm plugin install git://.../helm-ecr.git` installs both plugins
//!   through the hook (Helm 4 only with `--verify=false`: it refuses a
//!   source it cannot verify, and says so);
//! - a new commit that bumps the version, with its release, reaches both
//!   plugins by `helm plugin update ecr-push` (ecr-login lives inside the
//!   clone; `helm plugin update ecr-login` itself is refused);
//! - an install pinned with `--version vX` stays on its tag through
//!   `helm plugin update` (Helm checks the tag out detached and then only
//!   fetches); uninstall + install moves it;
//! - an update whose download fails leaves both plugins with no binary at
//!   all: Helm's `git pull` is followed by `git clean -x -d -f -f`
//!   (Masterminds/vcs), which deletes bin/ before the update hook runs, so
//!   the old binary cannot be kept; the same update, run again once the
//!   release is right, installs the new one.

mod common;
mod release_support;

use common::{free_port, path_str, run, stage_checkout, HelmCli, Output, Sandbox, TempDir, REPO};
use release_support::*;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const HELMS: [HelmCli; 3] = [HelmCli::V3_10, HelmCli::V3, HelmCli::V4];

/// Where Helm puts a git install: the URL's last path element.
const CLONE_DIR: &str = "helm-ecr.git";

// ------------------------------------------------------------ a git server

/// `git` with no system or global config (the developer's must not leak
/// in) and a fixed committer.
fn git(dir: &Path, args: &[&str]) -> Output {
    let out = run(git_cmd("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=helm-ecr test",
            "-c",
            "user.email=test@helm-ecr.invalid",
        ])
        .args(args));
    out.assert_ok();
    out
}

/// `program` (git or one of its parts) with no system or global config.
fn git_cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

/// `git daemon` on a free loopback port, serving every repository under
/// `repos()` (`--export-all`: no git-daemon-export-ok file needed); killed
/// when dropped.
struct GitDaemon {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl GitDaemon {
    fn start() -> GitDaemon {
        let dir = TempDir::new("git-daemon");
        let repos = dir.path().join("repos");
        fs::create_dir_all(&repos).unwrap();
        // git-daemon itself, not `git daemon`: killing the `git` that runs
        // it would leave the daemon running.
        let exec_path = run(git_cmd("git").arg("--exec-path"));
        exec_path.assert_ok();
        let program = Path::new(exec_path.stdout.trim()).join("git-daemon");
        // A free port can be taken between asking and binding: the daemon
        // then exits, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut child = git_cmd(&program)
                .args(["--export-all", "--reuseaddr", "--verbose"])
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", repos.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start git daemon: {e}"));
            // It says "Ready to rumble" once it listens; its stderr ends
            // when it exits instead.
            let mut log = BufReader::new(child.stderr.take().unwrap());
            let mut said = String::new();
            while !said.contains("Ready to rumble") && log.read_line(&mut said).unwrap() > 0 {}
            if said.contains("Ready to rumble") {
                // Read on, so the daemon never blocks on a full pipe.
                std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
                return GitDaemon { child, port, dir };
            }
            let _ = child.wait();
            eprintln!("git daemon on port {port} exited: {said}");
        }
        panic!("git daemon could not listen on any free port");
    }

    fn repos(&self) -> PathBuf {
        self.dir.path().join("repos")
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plugin's repository: the staged checkout (plugin files, scripts,
/// Cargo.toml, the project's .gitignore) committed and tagged vVERSION in a
/// work tree, pushed to a bare repository the daemon serves.
struct PluginRepo {
    work: PathBuf,
    bare: PathBuf,
    url: String,
}

impl PluginRepo {
    fn serve(daemon: &GitDaemon, name: &str, work: PathBuf) -> PluginRepo {
        fs::copy(Path::new(REPO).join(".gitignore"), work.join(".gitignore")).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(
            &work,
            &["commit", "-q", "-m", &format!("helm-ecr {VERSION}")],
        );
        git(&work, &["tag", &format!("v{VERSION}")]);
        let path = format!("/{name}/{CLONE_DIR}");
        let bare = daemon.repos().join(&path[1..]);
        fs::create_dir_all(bare.parent().unwrap()).unwrap();
        git(&work, &["clone", "-q", "--bare", ".", path_str(&bare)]);
        let url = format!("git://127.0.0.1:{}{path}", daemon.port);
        PluginRepo { work, bare, url }
    }

    /// The commit a release makes: `from` becomes `to` in both plugin.yaml
    /// files and Cargo.toml, tagged v`to`, pushed to the served repository.
    fn release(&self, from: &str, to: &str) {
        for (file, line) in [
            ("plugin.yaml", "\nversion: {}\n"),
            ("plugins/ecr-login/plugin.yaml", "\nversion: {}\n"),
            ("Cargo.toml", "\nversion = \"{}\"\n"),
        ] {
            let path = self.work.join(file);
            let text = fs::read_to_string(&path).unwrap();
            let (old, new) = (line.replace("{}", from), line.replace("{}", to));
            assert_eq!(text.matches(&old).count(), 1, "{file}: {old:?}");
            fs::write(&path, text.replace(&old, &new)).unwrap();
        }
        git(
            &self.work,
            &["commit", "-q", "-a", "-m", &format!("helm-ecr {to}")],
        );
        git(&self.work, &["tag", &format!("v{to}")]);
        git(
            &self.work,
            &[
                "push",
                "-q",
                path_str(&self.bare),
                "main",
                &format!("v{to}"),
            ],
        );
    }
}

// ------------------------------------------------------------ the release server

/// The release server's directory: VERSION's archive and checksums.txt as
/// scripts/release.sh made them; `publish` adds a later version.
struct Releases {
    dir: TempDir,
    server: FileServer,
}

#[derive(Clone, Copy, PartialEq)]
enum Checksum {
    Right,
    Forged,
}

impl Releases {
    fn start() -> Releases {
        let r = release();
        let dir = TempDir::new("git-update-release");
        for name in [r.archive(), "checksums.txt".to_string()] {
            fs::copy(r.file(&name), dir.path().join(&name)).unwrap();
        }
        let server = FileServer::start(dir.path().to_path_buf());
        Releases { dir, server }
    }

    fn url(&self) -> &str {
        &self.server.url
    }

    fn requests(&self) -> Vec<String> {
        self.server.requests()
    }

    /// Publishes `version` for this platform: an archive of the release
    /// binary made to say `version`, and its line in checksums.txt (all
    /// zeros when forged; a line already there for it is replaced).
    /// Returns the binary.
    fn publish(&self, version: &str, checksum: Checksum) -> Vec<u8> {
        let binary = binary_saying(version);
        let staging = self.dir.path().join(format!("bin-{version}"));
        fs::create_dir_all(&staging).unwrap();
        fs::write(staging.join("helm-ecr"), &binary).unwrap();
        fs::set_permissions(staging.join("helm-ecr"), fs::Permissions::from_mode(0o755)).unwrap();
        let said = run(Command::new(staging.join("helm-ecr")).arg("--version"));
        said.assert_ok();
        assert_eq!(said.stdout.trim(), format!("helm-ecr {version}"));

        let archive = archive_of(version);
        // As release.sh archives it: the one member helm-ecr.
        run(Command::new("tar")
            .arg("-C")
            .arg(&staging)
            .arg("-czf")
            .arg(self.dir.path().join(&archive))
            .arg("helm-ecr"))
        .assert_ok();
        let sum = run(Command::new("sha256sum").arg(self.dir.path().join(&archive)));
        sum.assert_ok();
        let sha = match checksum {
            Checksum::Right => sum.stdout[..64].to_string(),
            Checksum::Forged => "0".repeat(64),
        };
        let sums = self.dir.path().join("checksums.txt");
        let mut text: String = fs::read_to_string(&sums)
            .unwrap()
            .lines()
            .filter(|l| !l.ends_with(&archive))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&format!("{sha}  {archive}\n"));
        fs::write(&sums, text).unwrap();
        binary
    }
}

fn archive_of(version: &str) -> String {
    format!("helm-ecr-{version}-linux-amd64.tar.gz")
}

/// VERSION with its last number raised by one, of the same length, so
/// `binary_saying` can patch it in place.
fn next_version() -> String {
    let (head, last) = VERSION.rsplit_once('.').unwrap();
    let later = format!("{head}.{}", last.parse::<u32>().unwrap() + 1);
    assert_eq!(later.len(), VERSION.len(), "{VERSION} -> {later}");
    later
}

/// The release binary with every VERSION string in it replaced by
/// `version` (the same length, so nothing else moves): what a release of
/// `version` would hold, without building one.
fn binary_saying(version: &str) -> Vec<u8> {
    assert_eq!(version.len(), VERSION.len());
    let mut bytes = fs::read(&release().binary).unwrap();
    let (old, new) = (VERSION.as_bytes(), version.as_bytes());
    let mut found = 0;
    let mut i = 0;
    while i + old.len() <= bytes.len() {
        if &bytes[i..i + old.len()] == old {
            bytes[i..i + old.len()].copy_from_slice(new);
            found += 1;
            i += old.len();
        } else {
            i += 1;
        }
    }
    assert!(found > 0, "the release binary holds no {VERSION}");
    bytes
}

// ------------------------------------------------------------ Helm

/// A sandbox whose processes see only the hook's tools and git (no cargo:
/// nothing may be built here), the release server as the release URL.
fn git_sandbox(cli: HelmCli, releases: &Releases) -> Sandbox {
    let mut sb = Sandbox::bare_with(cli);
    let mut programs = hook_tools();
    programs.push("git");
    let tools = tools_dir(sb.root(), &programs);
    sb.set_env("PATH", &tools)
        .set_env("HELM_ECR_RELEASE_URL", releases.url())
        .set_env("HELM_BIN", cli.path());
    sb
}

/// `helm plugin install URL [--version TAG]`; Helm 4 with `--verify=false`
/// (it verifies only packages).
fn install(sb: &Sandbox, url: &str, tag: Option<&str>) -> Output {
    let mut args = vec!["plugin", "install", url];
    if let Some(tag) = tag {
        args.extend(["--version", tag]);
    }
    if sb.cli().is_v4() {
        args.push("--verify=false");
    }
    sb.helm(&args)
}

/// The lines the hook wrote.
fn hook_lines(out: &Output) -> Vec<&str> {
    out.stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("helm-ecr: "))
        .collect()
}

/// What the hook says when it installs `version` from the release server.
fn installed_lines(releases: &Releases, version: &str) -> Vec<String> {
    vec![
        format!(
            "helm-ecr: downloading helm-ecr {version} for linux/amd64 from {}",
            releases.url()
        ),
        format!("helm-ecr: installed helm-ecr {version} for linux/amd64 (sha256 checked)"),
    ]
}

/// What the install hook says: `installed_lines`, then that it installs
/// ecr-login from the clone.
fn install_lines(sb: &Sandbox, releases: &Releases, version: &str) -> Vec<String> {
    let login = sb
        .data_home()
        .join("plugins")
        .join(CLONE_DIR)
        .join("plugins/ecr-login");
    let mut lines = installed_lines(releases, version);
    lines.push(format!(
        "helm-ecr: installing the ecr-login plugin from {}",
        login.display()
    ));
    lines
}

/// Name and version of every plugin `helm plugin list` shows, sorted.
fn plugin_versions(sb: &Sandbox) -> Vec<(String, String)> {
    let out = sb.helm(&["plugin", "list"]);
    out.assert_ok();
    let mut rows: Vec<(String, String)> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect();
    rows.sort();
    rows
}

fn both_plugins_at(version: &str) -> Vec<(String, String)> {
    ["ecr-login", "ecr-push"]
        .map(|p| (p.to_string(), version.to_string()))
        .to_vec()
}

/// The binary each plugin runs: ecr-push in the clone, ecr-login through
/// the link the install hook made into the clone.
fn plugin_binaries(sb: &Sandbox) -> [PathBuf; 2] {
    let plugins = sb.data_home().join("plugins");
    [
        plugins.join(CLONE_DIR).join("bin/helm-ecr"),
        plugins.join("ecr-login/bin/helm-ecr"),
    ]
}

/// Both plugins are installed at `version`, run `binary`, and work.
#[track_caller]
fn assert_installed(sb: &Sandbox, version: &str, binary: &[u8]) {
    let cli = sb.cli().name();
    assert_eq!(plugin_versions(sb), both_plugins_at(version), "{cli}");
    assert_eq!(plugins_dir_entries(sb), ["ecr-login", CLONE_DIR], "{cli}");
    for bin in plugin_binaries(sb) {
        let installed = fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(installed == binary, "{cli}: {} differs", bin.display());
    }
    let said = sb.helm(&["ecr-login", "--version"]);
    said.assert_ok();
    assert_eq!(said.stdout.trim(), format!("helm-ecr {version}"), "{cli}");
    let login = sb.helm(&["ecr-login", &sb.lab.registry, "--password-stdout"]);
    login.assert_ok();
    assert_eq!(login.stdout.trim(), sb.lab.registry_password, "{cli}");
    sb.helm(&["ecr-push", "--help"]).assert_ok();
}

/// One Helm's sandbox, release server and served repository, the plugin
/// installed from it at VERSION (pinned to vVERSION with `pin`).
struct Installed {
    sb: Sandbox,
    releases: Releases,
    repo: PluginRepo,
}

fn install_from_git(daemon: &GitDaemon, cli: HelmCli, pin: bool) -> Installed {
    eprintln!("--- through {}", cli.name());
    let releases = Releases::start();
    let sb = git_sandbox(cli, &releases);
    let name = cli.name().replace(' ', "-");
    let repo = PluginRepo::serve(daemon, &name, stage_checkout(&sb));
    let tag = format!("v{VERSION}");
    let out = install(&sb, &repo.url, pin.then_some(tag.as_str()));
    out.assert_ok();
    let said = install_lines(&sb, &releases, VERSION);
    assert_eq!(hook_lines(&out), said, "{out}");
    let mut said = vec!["Installed plugin: ecr-push"];
    if cli.is_v4() {
        said.insert(0, "WARNING: Skipping plugin signature verification");
    }
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), said, "{out}");
    assert_eq!(releases.requests(), fetched(VERSION));
    // Helm's clone: the git URL is its origin.
    let origin = git(&clone(&sb), &["config", "--get", "remote.origin.url"]);
    assert_eq!(origin.stdout.trim(), repo.url);
    assert_installed(&sb, VERSION, &fs::read(&release().binary).unwrap());
    Installed { sb, releases, repo }
}

fn clone(sb: &Sandbox) -> PathBuf {
    sb.data_home().join("plugins").join(CLONE_DIR)
}

/// What the hook asks the release server for to install `version`.
fn fetched(version: &str) -> [String; 2] {
    [
        "/checksums.txt".to_string(),
        format!("/{}", archive_of(version)),
    ]
}

/// `helm plugin update ecr-push` succeeds, its hook installing `version`
/// from the release server.
#[track_caller]
fn assert_update_installs(installed: &Installed, version: &str) {
    let Installed { sb, releases, .. } = installed;
    let asked = releases.requests().len();
    let out = sb.helm(&["plugin", "update", "ecr-push"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "Updated plugin: ecr-push", "{out}");
    assert_eq!(
        hook_lines(&out),
        installed_lines(releases, version),
        "{out}"
    );
    assert_eq!(releases.requests()[asked..], fetched(version), "{out}");
}

/// `git rev-parse REV` in `dir`.
fn commit_of(dir: &Path, rev: &str) -> String {
    git(dir, &["rev-parse", rev]).stdout.trim().to_string()
}

/// For each Helm: the plugin installed from git at VERSION (pinned to its
/// tag with `pin`), then the next version committed, tagged and published
/// with `checksum`; `then` gets that, the next version and its binary.
fn through_every_helm(pin: bool, checksum: Checksum, then: impl Fn(&Installed, &str, &[u8])) {
    let daemon = GitDaemon::start();
    let next = next_version();
    for cli in HELMS {
        let installed = install_from_git(&daemon, cli, pin);
        installed.repo.release(VERSION, &next);
        let binary = installed.releases.publish(&next, checksum);
        then(&installed, &next, &binary);
    }
}

// ------------------------------------------------------------ the tests

#[test]
fn helm4_refuses_a_git_url_without_verify_false() {
    let daemon = GitDaemon::start();
    let releases = Releases::start();
    let sb = git_sandbox(HelmCli::V4, &releases);
    let repo = PluginRepo::serve(&daemon, "helm-4", stage_checkout(&sb));
    let out = sb.helm(&["plugin", "install", &repo.url]);
    out.assert_fail();
    assert_eq!(
        out.stderr_lines(),
        ["Error: plugin source does not support verification. Use --verify=false to skip verification"]
    );
    assert!(plugins_dir_entries(&sb).is_empty());
    assert!(releases.requests().is_empty());
}

#[test]
fn every_helm_updates_a_git_install_to_the_next_release() {
    through_every_helm(false, Checksum::Right, |installed, next, binary| {
        let Installed { sb, repo, .. } = installed;
        assert_update_installs(installed, next);
        // Helm pulled the new commit from the daemon.
        assert_eq!(commit_of(&clone(sb), "HEAD"), commit_of(&repo.work, "HEAD"));
        assert_installed(sb, next, binary);

        // ecr-login is a link into the clone, not a git install: Helm will
        // not update it by name, and leaves it as it is.
        let out = sb.helm(&["plugin", "update", "ecr-login"]);
        out.assert_fail();
        assert!(
            out.stderr.to_lowercase().contains(
                "failed to update plugin ecr-login, got error (cannot get information about plugin source)"
            ),
            "{out}"
        );
        assert_installed(sb, next, binary);
    });
}

#[test]
fn every_helm_keeps_a_pinned_git_install_on_its_tag_through_update() {
    let current = fs::read(&release().binary).unwrap();
    through_every_helm(true, Checksum::Right, |installed, next, binary| {
        let Installed { sb, releases, repo } = installed;
        // Helm fetches the new tag but stays on the detached vVERSION; the
        // update hook installs VERSION's binary again.
        assert_update_installs(installed, VERSION);
        assert_installed(sb, VERSION, &current);
        let tag = format!("v{next}");
        assert_eq!(commit_of(&clone(sb), &tag), commit_of(&repo.work, &tag));
        let head = git(&clone(sb), &["describe", "--tags", "--exact-match", "HEAD"]);
        assert_eq!(head.stdout.trim(), format!("v{VERSION}"));

        // Moving a pinned install: uninstall both, install the new tag.
        let out = sb.helm(&["plugin", "uninstall", "ecr-push", "ecr-login"]);
        out.assert_ok();
        assert!(plugins_dir_entries(sb).is_empty(), "{out}");
        let out = install(sb, &repo.url, Some(&tag));
        out.assert_ok();
        assert_eq!(hook_lines(&out), install_lines(sb, releases, next), "{out}");
        assert_installed(sb, next, binary);
    });
}

#[test]
fn every_helm_git_update_with_a_wrong_checksum_leaves_no_binary_until_run_again() {
    through_every_helm(false, Checksum::Forged, |installed, next, _| {
        let Installed { sb, releases, .. } = installed;
        let out = sb.helm(&["plugin", "update", "ecr-push"]);
        out.assert_fail();
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0], installed_lines(releases, next)[0]);
        assert!(
            lines[1].starts_with(&format!(
                "helm-ecr: error: checksum mismatch for {}: checksums.txt says {}, the download is ",
                archive_of(next),
                "0".repeat(64)
            )) && lines[1].ends_with(
                "; not installing it (Helm's update removed the previous binary before this hook ran: \
                 ecr-push and ecr-login have none until 'helm plugin update ecr-push' succeeds; \
                 run it again once that is fixed)"
            ),
            "{out}"
        );
        // helm 3: "Failed to update", Helm 4: "failed to update".
        assert_eq!(
            lines[2].to_lowercase(),
            "error: failed to update plugin ecr-push, got error (plugin update hook for \"ecr-push\" exited with error)",
            "{out}"
        );

        // Helm has already pulled the new commit (so both plugins say the
        // new version) and cleaned the clone with `git clean -x -d -f -f`
        // before the hook ran: no binary is left in either plugin.
        assert_eq!(
            plugin_versions(sb),
            both_plugins_at(next),
            "{}",
            sb.cli().name()
        );
        for bin in plugin_binaries(sb) {
            assert!(!bin.parent().unwrap().exists(), "{}", bin.display());
        }
        let broken = sb.helm(&["ecr-login", "--version"]);
        broken.assert_fail();
        assert!(
            broken
                .stderr
                .contains("ecr-login/bin/helm-ecr: no such file or directory"),
            "{broken}"
        );

        // The release fixed, the same update installs the new version.
        let binary = releases.publish(next, Checksum::Right);
        assert_update_installs(installed, next);
        assert_installed(sb, next, &binary);
    });
}
