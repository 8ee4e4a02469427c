//! Helper programs we run (`credential_process`, `docker-credential-*`) are
//! bounded: one that prints forever is stopped after 1 MiB, one that never
//! exits is stopped at the deadline (HELM_ECR_TIMEOUT_SCALE scales its
//! 60 s), each with everything it started, and the command ends with one
//! line naming the profile or helper. The binary runs under a 1 GiB
//! address-space limit: unbounded reading (14 GB in 40 s before) would die
//! of it instead of printing our line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{path_str, run, write, Output, Sandbox, BIN};

/// Our binary with `args`, the sandbox's environment, and a memory limit.
fn bounded(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(BIN)
        .args(args)
        .env_clear()
        .envs(sb.env())
        .current_dir(sb.work());
    run(&mut cmd)
}

fn executable(path: &Path, script: &str) {
    write(path, script);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Is the process still there (and not a zombie waiting to be reaped)?
fn alive(pid_file: &Path) -> bool {
    let pid =
        std::fs::read_to_string(pid_file).unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
    match stat {
        // state is the field after "(comm)"
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.success(), "{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    lines[0].to_string()
}

fn sandbox_with_profiles(config: &str) -> Sandbox {
    let mut sb = Sandbox::bare();
    sb.unset_env("AWS_ACCESS_KEY_ID")
        .unset_env("AWS_SECRET_ACCESS_KEY")
        .set_env("HELM_ECR_TIMEOUT_SCALE", "0.01");
    write(&sb.home().join(".aws/config"), config);
    sb
}

#[test]
fn credential_process_that_prints_forever_is_stopped() {
    let sb = sandbox_with_profiles(
        "[profile chatty]\ncredential_process = yes '{\"Version\": 1, \"AccessKeyId\": \"AKIA\"}'\n",
    );
    let out = bounded(
        &sb,
        &["ecr-login", "--profile", "chatty", "--password-stdout"],
    );
    let line = one_line_error(&out);
    assert!(
        line.contains("credential_process of AWS profile \"chatty\" printed more than 1 MiB on stdout and was stopped"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn credential_process_that_never_exits_is_stopped_with_its_children() {
    let sb = Sandbox::bare();
    let pid_file = sb.root().join("sleeper.pid");
    let sb = {
        let config = format!(
            "[profile stuck]\ncredential_process = sh -c 'sleep 1000 & echo $! > {}; wait'\n",
            path_str(&pid_file)
        );
        let mut sb = sb;
        sb.unset_env("AWS_ACCESS_KEY_ID")
            .unset_env("AWS_SECRET_ACCESS_KEY")
            .set_env("HELM_ECR_TIMEOUT_SCALE", "0.01");
        write(&sb.home().join(".aws/config"), &config);
        sb
    };
    let out = bounded(
        &sb,
        &["ecr-login", "--profile", "stuck", "--password-stdout"],
    );
    let line = one_line_error(&out);
    assert!(
        line.contains("credential_process of AWS profile \"stuck\" did not finish within 0.6 s and was stopped"),
        "{out}"
    );
    assert!(!alive(&pid_file), "the helper's child still runs");
}

/// A `docker-credential-NAME` on a PATH of its own.
fn helper(sb: &mut Sandbox, name: &str, script: &str) -> PathBuf {
    let dir = sb.root().join("helpers");
    executable(&dir.join(format!("docker-credential-{name}")), script);
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    sb.set_env("PATH", path);
    dir
}

#[test]
fn docker_credential_helpers_are_bounded_too() {
    let mut sb = Sandbox::bare();
    sb.set_env("HELM_ECR_TIMEOUT_SCALE", "0.01");
    let pid_file = sb.root().join("helper-child.pid");
    helper(
        &mut sb,
        "endless",
        "#!/bin/sh\nexec yes secret-looking-output\n",
    );
    helper(
        &mut sb,
        "stuck",
        &format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > '{}'\nwait\n",
            path_str(&pid_file)
        ),
    );
    let registry = sb.lab.registry.clone();

    write(
        &sb.registry_config(),
        r#"{"auths":{},"credsStore":"endless"}"#,
    );
    let out = bounded(&sb, &["ecr-login", &registry]);
    let line = one_line_error(&out);
    assert!(
        line.contains("credential helper docker-credential-endless store printed more than 1 MiB on stdout and was stopped"),
        "{out}"
    );
    assert!(!line.contains("secret-looking-output"), "{out}");

    write(
        &sb.registry_config(),
        r#"{"auths":{},"credsStore":"stuck"}"#,
    );
    let out = bounded(&sb, &["ecr-login", &registry]);
    let line = one_line_error(&out);
    assert!(
        line.contains("credential helper docker-credential-stuck store did not finish within 0.6 s and was stopped"),
        "{out}"
    );
    assert!(!alive(&pid_file), "the helper's child still runs");
}
