//! `helm ecr-login` against the lab: real tokens from moto, Helm's registry
//! config merged without losing anything, concurrent and interrupted
//! writers, and Docker credential helpers receiving the store call.

mod common;

use common::Sandbox;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", path.display()))
}

fn write_config(sb: &Sandbox, v: &Value) -> PathBuf {
    let p = sb.registry_config();
    common::write(&p, &serde_json::to_string_pretty(v).unwrap());
    p
}

fn basic(sb: &Sandbox) -> String {
    common::base64_encode(format!("AWS:{}", sb.lab.registry_password).as_bytes())
}

/// Another host's login, in configs written here: what our login must keep.
const KEEP: &str = "keep.example.com";

fn kept_auth() -> Value {
    json!({"auth": "eDp5"})
}

/// A registry config holding only the `KEEP` login.
fn write_config_keeping_one(sb: &Sandbox) -> PathBuf {
    write_config(sb, &json!({"auths": {KEEP: kept_auth()}}))
}

/// A `docker-credential-NAME` script that appends `VERB INPUT` to a log and
/// answers `get` with a miss, first on PATH. Returns the log file.
fn test_helper(sb: &mut Sandbox, name: &str) -> PathBuf {
    let dir = sb.root().join("helpers");
    let log = sb.root().join(format!("{name}.log"));
    common::write_executable(
        &dir.join(format!("docker-credential-{name}")),
        &format!(
            "#!/bin/sh\ninput=$(cat)\nprintf '%s %s\\n' \"$1\" \"$input\" >> '{}'\n\
             [ \"$1\" = get ] && {{ echo 'credentials not found in native keychain'; exit 1; }}\nexit 0\n",
            log.display()
        ),
    );
    sb.add_to_path(&[&dir]);
    log
}

#[test]
fn login_merges_into_a_config_with_other_hosts_and_unknown_keys() {
    let sb = Sandbox::bare();
    let before = json!({
        "auths": {
            "other.example.com": {"auth": "dXNlcjpwYXNz", "email": "me@example.com"},
            "https://legacy.example.com/v1/": {"auth": "eDp5"}
        },
        "credHelpers": {"gcr.io": "gcloud"},
        "HttpHeaders": {"User-Agent": "docker"},
        "x-future-key": [1, {"nested": true}]
    });
    let config = write_config(&sb, &before);
    let out = sb.bin(&["ecr-login", &sb.lab.registry]);
    out.assert_ok();
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);

    let after = read_json(&config);
    let mut expected = before.clone();
    expected["auths"][&sb.lab.registry] = json!({"auth": basic(&sb)});
    assert_eq!(after, expected);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&config).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn login_with_creds_store_sends_the_secret_to_the_helper_and_loses_nothing() {
    let mut sb = Sandbox::bare();
    let log = test_helper(&mut sb, "teststore");
    let before = json!({
        "auths": {"other.example.com": {"auth": "dXNlcjpwYXNz"}},
        "credsStore": "teststore",
        "credHelpers": {"gcr.io": "gcloud"},
        "x-unknown": {"k": "v"}
    });
    let config = write_config(&sb, &before);
    sb.bin(&["ecr-login", &sb.lab.registry]).assert_ok();

    let logged = fs::read_to_string(&log).expect("the helper was not called");
    let line = logged
        .lines()
        .find(|l| l.starts_with("store "))
        .expect("no store call");
    let msg: Value = serde_json::from_str(&line["store ".len()..]).unwrap();
    assert_eq!(
        msg,
        json!({"ServerURL": sb.lab.registry, "Username": "AWS", "Secret": sb.lab.registry_password})
    );
    // The secret went to the helper, not into the file.
    assert_eq!(read_json(&config), before);
}

#[test]
fn cred_helpers_entry_for_the_host_gets_the_store_call() {
    let mut sb = Sandbox::bare();
    let log = test_helper(&mut sb, "perhost");
    let config = write_config(
        &sb,
        &json!({"credHelpers": {sb.lab.registry.clone(): "perhost"}, "auths": {sb.lab.registry.clone(): {"auth": "c3RhbGU6c3RhbGU="}}}),
    );
    sb.bin(&["ecr-login", &format!("oci://{}/some/path", sb.lab.registry)])
        .assert_ok();
    let logged = fs::read_to_string(&log).expect("the helper was not called");
    assert!(logged.starts_with("store {"), "{logged}");
    assert!(logged.contains(&sb.lab.registry_password));
    // The stale plain-text secret for that host is gone.
    let after = read_json(&config);
    assert_eq!(after["auths"][&sb.lab.registry], json!({}));
}

#[test]
fn twenty_parallel_logins_keep_all_twenty_entries() {
    let sb = Sandbox::bare();
    let config = write_config_keeping_one(&sb);
    let hosts: Vec<String> = (0..20)
        .map(|i| format!("registry-{i}.example.com:5000"))
        .collect();
    let children: Vec<_> = hosts
        .iter()
        .map(|h| {
            sb.bin_cmd()
                .args(["ecr-login", h])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn helm-ecr")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after = read_json(&config);
    let auths = after["auths"].as_object().unwrap();
    assert_eq!(auths.len(), 21, "{after}");
    for h in &hosts {
        assert_eq!(auths[h], json!({"auth": basic(&sb)}), "{h}");
    }
    assert_eq!(auths[KEEP], kept_auth());
}

#[test]
fn a_login_killed_between_write_and_rename_leaves_the_old_file() {
    let sb = Sandbox::bare();
    let before = json!({"auths": {KEEP: kept_auth()}, "x": 1});
    let config = write_config(&sb, &before);
    let original = fs::read(&config).unwrap();
    let mut child = sb
        .bin_cmd()
        .args(["ecr-login", &sb.lab.registry])
        .env("HELM_ECR_TEST_PAUSE_BEFORE_RENAME_MS", "30000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = config.parent().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let temp_written = || {
        fs::read_dir(dir).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".config.json.tmp-")
        })
    };
    while !temp_written() {
        assert!(
            Instant::now() < deadline,
            "the login never wrote its temp file"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "login exited before writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(fs::read(&config).unwrap(), original);

    // The next login succeeds, keeps everything and sweeps the dead temp file.
    sb.bin(&["ecr-login", &sb.lab.registry]).assert_ok();
    assert!(!temp_written());
    let after = read_json(&config);
    assert_eq!(after["auths"][KEEP], kept_auth());
    assert_eq!(after["x"], json!(1));
    assert_eq!(
        after["auths"][&sb.lab.registry],
        json!({"auth": basic(&sb)})
    );
}

#[test]
fn a_failed_login_leaves_the_config_byte_identical() {
    let mut sb = Sandbox::bare();
    let text =
        "{\n  \"auths\": {\"keep.example.com\": {\"auth\": \"eDp5\"}},\n   \"odd spacing\": true }";
    common::write(&sb.registry_config(), text);
    sb.set_env("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    let out = sb.bin(&["ecr-login", &sb.lab.registry, "registry-2.example.com"]);
    out.assert_fail();
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert_eq!(fs::read_to_string(sb.registry_config()).unwrap(), text);
}

#[test]
fn a_corrupt_config_is_named_and_never_overwritten() {
    let sb = Sandbox::bare();
    let text = "{\"auths\": {\"h\": ";
    common::write(&sb.registry_config(), text);
    let out = sb.bin(&["ecr-login", &sb.lab.registry]);
    out.assert_fail();
    assert!(
        out.stderr
            .contains(&sb.registry_config().display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_to_string(sb.registry_config()).unwrap(), text);
}

#[test]
fn password_stdout_prints_only_the_password_and_writes_nothing() {
    let sb = Sandbox::bare();
    let out = sb.bin(&["ecr-login", "--password-stdout", &sb.lab.registry]);
    out.assert_ok();
    assert_eq!(out.stdout, format!("{}\n", sb.lab.registry_password));
    assert!(!sb.registry_config().exists());
}

#[test]
fn default_registry_is_the_token_s_proxy_endpoint() {
    let sb = Sandbox::bare();
    let out = sb.bin(&["ecr-login"]);
    out.assert_ok();
    let host = format!("{}.dkr.ecr.{}.amazonaws.com", sb.lab.account, sb.lab.region);
    assert!(
        out.stdout.contains(&format!("Login Succeeded: {host}")),
        "{}",
        out.stdout
    );
    assert!(read_json(&sb.registry_config())["auths"][&host]["auth"].is_string());
}

#[test]
fn logout_removes_only_that_host() {
    let sb = Sandbox::bare();
    let kept = json!({"auths": {KEEP: kept_auth()}, "y": 2});
    let config = write_config(&sb, &kept);
    sb.bin(&["ecr-login", &sb.lab.registry]).assert_ok();
    let out = sb.bin(&["ecr-login", "--logout", &sb.lab.registry]);
    out.assert_ok();
    assert_eq!(read_json(&config), kept);
    let before = fs::read(&config).unwrap();
    let out = sb.bin(&["ecr-login", "--logout", &sb.lab.registry]);
    out.assert_fail();
    assert!(out.stderr.contains("not logged in"), "{}", out.stderr);
    assert_eq!(fs::read(&config).unwrap(), before);
}

#[test]
fn login_through_helm_plugin_uses_helm_s_registry_config() {
    let sb = Sandbox::new();
    let out = sb.helm(&["ecr-login", &sb.lab.registry]);
    out.assert_ok();
    assert!(out.stdout.contains("Login Succeeded"));
    assert_eq!(
        read_json(&sb.registry_config())["auths"][&sb.lab.registry],
        json!({"auth": basic(&sb)})
    );
    // Helm can use it: pull of a missing chart fails with "not found", not 401.
    let out = sb.helm(&[
        "pull",
        &format!("oci://{}/nothing-here/x", sb.lab.registry),
        "--version",
        "1.0.0",
    ]);
    out.assert_fail();
    assert!(
        !out.stderr.contains("401") && !out.stderr.contains("unauthorized"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_registry_config_path_that_is_a_directory_says_so_and_what_to_do() {
    // Every Helm refuses such a config itself before any plugin runs, so
    // our line is for the binary run without Helm (scripts, the credential
    // helper's link); checked here through each Helm, then directly.
    let sb = Sandbox::new();
    fs::create_dir_all(sb.registry_config()).unwrap();
    for cli in common::HelmCli::all() {
        let out = sb.helm_as(cli, &["ecr-login", &sb.lab.registry]);
        out.assert_fail();
        assert!(
            out.stderr.contains("is a directory"),
            "{}: {out}",
            cli.name()
        );
    }
    let line = common::failure_line(&sb.bin(&["ecr-login", &sb.lab.registry]), "");
    assert!(
        line.contains("is a directory")
            && line.contains("HELM_REGISTRY_CONFIG")
            && !line.contains("permissions"),
        "{line}"
    );
    assert!(sb.registry_config().is_dir());
}

/// Clears the immutable flag again, whatever the test's outcome.
struct Immutable(PathBuf);

impl Immutable {
    /// None where chattr cannot set the flag (not root, a file system
    /// without attributes): the case cannot happen there.
    fn set(path: &Path) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn an_immutable_registry_config_is_named_as_such() {
    let sb = Sandbox::new();
    let config = write_config_keeping_one(&sb);
    let before = fs::read(&config).unwrap();
    let Some(_flag) = Immutable::set(&config) else {
        eprintln!("chattr +i does not work here (not root, or no attributes): nothing to test");
        return;
    };
    let line = common::failure_line(&sb.helm(&["ecr-login", &sb.lab.registry]), "");
    assert!(
        line.contains("Operation not permitted")
            && line.contains("immutable")
            && line.contains("chattr -i"),
        "{line}"
    );
    assert_eq!(fs::read(&config).unwrap(), before);
    let dir = config.parent().unwrap();
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn debug_says_once_that_the_token_was_not_cached() {
    // moto's tokens expire in 2015, so none is ever cached: one fetch, one
    // line about it (the token is kept under two names, not fetched twice).
    for sb in Sandbox::every_helm() {
        let out = sb.helm(&["ecr-login", &sb.lab.registry, "--debug"]);
        out.assert_ok();
        let said = out.stderr.matches("token not cached").count();
        assert_eq!(said, 1, "{}: {out}", sb.cli().name());
    }
}
