//! A push stopped by a signal leaves no temporary archive behind: not in
//! TMPDIR (SIGINT, SIGTERM, SIGHUP and SIGKILL, while the push waits on a
//! registry that never answers), and not in `--destination` (a signal
//! while the archive is being written there).

mod common;

use common::Sandbox;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `n` bytes that do not compress (xorshift), so the archive is as big as
/// the chart.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A chart of `files` incompressible files of 4 MiB each.
fn big_chart(parent: &Path, name: &str, files: usize) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir_all(dir.join("files")).expect("mkdir");
    fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n"),
    )
    .expect("Chart.yaml");
    for i in 0..files {
        fs::write(
            dir.join(format!("files/blob-{i}.bin")),
            noise(4 << 20, i as u64 + 1),
        )
        .expect("blob");
    }
    dir
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Start `ecr-push ARGS` with no input and its output discarded.
fn spawn_push(sb: &Sandbox, args: &[&str]) -> Child {
    sb.bin_cmd()
        .arg("ecr-push")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

/// Send SIG`sig` to the push and wait for it to end, failed; kill it and
/// fail the test if it does not end.
fn stop(mut child: Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -s {sig}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "SIG{sig}: {status:?}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{sig}: the push did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A bare sandbox whose TMPDIR is its own empty `tmp` directory.
fn sandbox_with_tmpdir() -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::bare();
    let tmpdir = sb.root().join("tmp");
    fs::create_dir_all(&tmpdir).expect("tmpdir");
    sb.set_env("TMPDIR", &tmpdir);
    (sb, tmpdir)
}

#[test]
fn signals_during_a_push_leave_nothing_in_tmpdir() {
    let (sb, tmpdir) = sandbox_with_tmpdir();
    let chart = big_chart(&sb.work(), "bigchart", 3);
    // A registry that accepts connections and never answers: the push
    // holds its packaged archive while it waits.
    let registry = TcpListener::bind("127.0.0.1:0").expect("bind");
    let remote = format!("oci://{}/charts", registry.local_addr().expect("addr"));
    registry.set_nonblocking(true).expect("nonblocking");
    let mut held = Vec::new();
    for sig in ["INT", "TERM", "HUP", "KILL"] {
        let child = spawn_push(&sb, &["--plain-http", common::path_str(&chart), &remote]);
        // The first connection comes after packaging: the archive exists.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match registry.accept() {
                Ok((conn, _)) => {
                    held.push(conn);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "SIG{sig}: no request came");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        stop(child, sig);
        let left: Vec<String> = names(&tmpdir)
            .into_iter()
            .filter(|n| n.starts_with("helm-ecr-"))
            .collect();
        assert!(left.is_empty(), "SIG{sig} left {left:?} in TMPDIR");
    }
}

#[test]
fn a_signal_while_writing_to_the_destination_leaves_nothing_there() {
    let (sb, _tmpdir) = sandbox_with_tmpdir();
    // Big enough that writing it takes a while: the half-written file is
    // seen before it is renamed.
    let chart = big_chart(&sb.work(), "hugechart", 20);
    let dest = sb.root().join("dest");
    for sig in ["INT", "TERM", "HUP"] {
        let _ = fs::remove_dir_all(&dest);
        let child = spawn_push(
            &sb,
            &[
                "--dry-run",
                "--destination",
                common::path_str(&dest),
                common::path_str(&chart),
                "oci://127.0.0.1:9/charts",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while !names(&dest).iter().any(|n| n.ends_with(".tmp")) {
            assert!(
                Instant::now() < deadline,
                "SIG{sig}: no half-written archive seen: {:?}",
                names(&dest)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        stop(child, sig);
        // A signal that lands after the rename finds a whole archive
        // there, which is fine; a half-written one is not.
        assert!(
            !names(&dest).iter().any(|n| n.ends_with(".tmp")),
            "SIG{sig} left {:?} in the destination",
            names(&dest)
        );
    }
}
