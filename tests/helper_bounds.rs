//! Helper programs we run (`credential_process`, `docker-credential-*`) are
//! bounded: one that prints forever is stopped after 1 MiB, one that never
//! exits is stopped at the deadline (HELM_ECR_TIMEOUT_SCALE scales its
//! 60 s), each with everything it started, and the command ends with one
//! line naming the profile or helper. The binary runs under a 1 GiB
//! address-space limit: unbounded reading (14 GB in 40 s before) would die
//! of it instead of printing our line.

mod common;

use std::path::Path;
use std::process::Command;

use common::{path_str, run, write, write_executable, Output, Sandbox, BIN};

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

/// Runs `ecr-login ARGS` bounded; it must fail with one line that says
/// `stopped` (what was stopped and why). Returns its output.
#[track_caller]
fn stopped(sb: &Sandbox, args: &[&str], stopped: &str) -> Output {
    let out = bounded(sb, &[&["ecr-login"][..], args].concat());
    assert!(!out.success(), "{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains(stopped), "{out}");
    out
}

/// A sandbox with no AWS keys in the environment, helpers' 60 s cut to
/// 0.6 s, and `profiles(root)` as its ~/.aws/config.
fn sandbox_with_profiles(profiles: impl FnOnce(&Path) -> String) -> Sandbox {
    let mut sb = Sandbox::bare();
    sb.unset_env("AWS_ACCESS_KEY_ID")
        .unset_env("AWS_SECRET_ACCESS_KEY")
        .set_env("HELM_ECR_TIMEOUT_SCALE", "0.01");
    write(&sb.home().join(".aws/config"), &profiles(sb.root()));
    sb
}

#[test]
fn credential_process_that_prints_forever_is_stopped() {
    let sb = sandbox_with_profiles(|_| {
        "[profile chatty]\ncredential_process = yes '{\"Version\": 1, \"AccessKeyId\": \"AKIA\"}'\n"
            .to_string()
    });
    let out = stopped(
        &sb,
        &["--profile", "chatty", "--password-stdout"],
        "credential_process of AWS profile \"chatty\" printed more than 1 MiB on stdout and was stopped",
    );
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn credential_process_that_never_exits_is_stopped_with_its_children() {
    let sb = sandbox_with_profiles(|root| {
        format!(
            "[profile stuck]\ncredential_process = sh -c 'sleep 1000 & echo $! > {}; wait'\n",
            path_str(&root.join("sleeper.pid"))
        )
    });
    stopped(
        &sb,
        &["--profile", "stuck", "--password-stdout"],
        "credential_process of AWS profile \"stuck\" did not finish within 0.6 s and was stopped",
    );
    assert!(
        !alive(&sb.root().join("sleeper.pid")),
        "the helper's child still runs"
    );
}

/// A `docker-credential-NAME` on a PATH of its own.
fn helper(sb: &mut Sandbox, name: &str, script: &str) {
    let dir = sb.root().join("helpers");
    write_executable(&dir.join(format!("docker-credential-{name}")), script);
    sb.add_to_path(&[&dir]);
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

    for (helper, what) in [
        ("endless", "printed more than 1 MiB on stdout"),
        ("stuck", "did not finish within 0.6 s"),
    ] {
        write(
            &sb.registry_config(),
            &format!(r#"{{"auths":{{}},"credsStore":"{helper}"}}"#),
        );
        let out = stopped(
            &sb,
            &[&registry],
            &format!("credential helper docker-credential-{helper} store {what} and was stopped"),
        );
        assert!(!out.stderr.contains("secret-looking-output"), "{out}");
    }
    assert!(!alive(&pid_file), "the helper's child still runs");
}
