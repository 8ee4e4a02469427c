//! The upload progress line (issue 4): on stderr for uploads over a few MB
//! when stderr is a terminal, and none otherwise. helm 3.10.1 runs the
//! installed plugin on a pseudo-terminal (the lab venv's python `pty`) and
//! with plain pipes, pushing a chart holding ~8 MiB that gzip cannot shrink
//! to the lab's plain-HTTP registry.
//!
//! Run with the lab up: `bash scripts/lab.sh up && source .lab/env`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::front;
use common::{path_str, run, run_on_tty, unique_name, LogMark, Output, Sandbox};

/// Bytes gzip cannot compress (xorshift64*), so the archive stays ~8 MiB.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The seed chart plus `mib` MiB of noise in 4 MiB files (Helm caps a
/// file at 5 MiB).
fn big_chart(sb: &Sandbox, name: &str, mib: usize, seed: u64) -> PathBuf {
    let chart = sb.seed_chart(name);
    let files = chart.join("files");
    std::fs::create_dir_all(&files).expect("create files/");
    for i in 0..mib / 4 {
        std::fs::write(
            files.join(format!("noise-{i}.bin")),
            noise(4 << 20, seed + i as u64),
        )
        .expect("write noise");
    }
    chart
}

/// The chart layer's digest in the lab registry's `repository:0.1.0`.
fn layer_digest(sb: &Sandbox, repository: &str) -> String {
    let raw = sb.skopeo_raw(&format!("{}/{repository}:0.1.0", sb.lab.registry), false);
    let manifest: serde_json::Value =
        serde_json::from_str(&raw.assert_ok().stdout).expect("manifest JSON");
    manifest["layers"][0]["digest"]
        .as_str()
        .expect("a layer digest")
        .to_string()
}

/// A Helm 4 sandbox holding `big_chart(name, mib, seed)`, a namespace of
/// its own, and a mark in the lab registry's log taken before any push.
struct BigPush {
    sb: Sandbox,
    chart: PathBuf,
    ns: String,
    mark: LogMark,
}

impl BigPush {
    fn new(name: &str, mib: usize, seed: u64) -> BigPush {
        let sb = Sandbox::new();
        let chart = big_chart(&sb, name, mib, seed);
        let ns = unique_name(&format!("progress-{name}"));
        let mark = LogMark::new(&sb.lab.registry_log);
        BigPush {
            sb,
            chart,
            ns,
            mark,
        }
    }

    /// `helm ecr-push CHART oci://REGISTRY/NS --plain-http`, REGISTRY being
    /// the lab registry or a front before it.
    fn command(&self, registry: &str) -> Command {
        let mut cmd = self.sb.helm_cmd();
        let remote = format!("oci://{registry}/{}", self.ns);
        cmd.args(["ecr-push", path_str(&self.chart), &remote, "--plain-http"]);
        cmd
    }

    /// The chart's repository: `NS/NAME`.
    fn repository(&self) -> String {
        let name = self.chart.file_name().unwrap_or_default();
        format!("{}/{}", self.ns, name.to_string_lossy())
    }

    /// Whether the push sent the chart layer's bytes to the registry (so a
    /// progress line had something to show), rather than finding it there.
    fn uploaded(&self) -> bool {
        let repository = self.repository();
        let digest = format!("digest={}", layer_digest(&self.sb, &repository));
        self.mark.requests_for(&repository).iter().any(|r| {
            r.method == "PUT"
                && r.path.contains("/blobs/uploads/")
                && r.path.contains(&digest)
                && r.status == 201
        })
    }
}

/// A loopback TCP proxy to `upstream` that passes client bytes at about
/// `rate` bytes a second: on loopback an 8 MiB upload is over before the
/// progress line's first redraw, so without it only the final draw shows.
fn throttle(upstream: String, rate: u64) -> String {
    front::tcp_listen("127.0.0.1", move |client| {
        let Ok(server) = TcpStream::connect(&upstream) else {
            return;
        };
        let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        std::thread::spawn(move || front::pipe(server, client));
        let started = Instant::now();
        let (mut sent, mut buf) = (0u64, [0u8; 16 * 1024]);
        while let Ok(n) = client_r.read(&mut buf) {
            if n == 0 || server_w.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let _ = server_w.shutdown(std::net::Shutdown::Write);
    })
}

#[test]
fn a_big_upload_shows_progress_on_a_terminal() {
    // 16 MiB at 16 MiB/s: the socket buffers between client and throttle
    // (several MiB on loopback) swallow the first part at once, and the rest
    // must still take longer than the first redraw's 200 ms.
    let push = BigPush::new("bigtty", 16, 0x9e37_79b9);
    let slow = throttle(push.sb.lab.registry.clone(), 16 << 20);
    let out = run_on_tty(&push.command(&slow), None);
    out.assert_ok();
    assert!(push.uploaded(), "{out}");
    let (sb, ns, repository) = (&push.sb, &push.ns, push.repository());

    let screen = &out.stdout;
    let reference = format!("{slow}/{ns}/bigtty:0.1.0");
    assert!(
        screen.contains(&format!("Pushed: {reference}")),
        "the push result is on the terminal too:\n{out}"
    );
    // The finished line: the blob's label, 100%, the size in MiB.
    let last = screen
        .split(['\r', '\n'])
        .rfind(|l| l.contains("Uploading"))
        .unwrap_or_else(|| panic!("no progress line on the terminal:\n{out}"));
    let label = last
        .split_once(&format!("{repository}:0.1.0 "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the line names the blob: {last:?}"));
    assert!(
        label.len() > "sha256:".len() && layer_digest(sb, &repository).starts_with(label),
        "the line names the chart layer's digest: {last:?}"
    );
    assert!(
        last.contains("100%") && last.contains("MiB)"),
        "the last draw is the finished one: {last:?}"
    );
    let total: f64 = last
        .rsplit_once('/')
        .and_then(|(_, t)| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no total in {last:?}"));
    assert!(
        (15.9..16.2).contains(&total),
        "the chart layer is ~16 MiB: {last:?}"
    );
    // Redrawn in place while the bytes move: some draw before the last one
    // shows less than 100%.
    let draws: Vec<&str> = screen
        .split('\r')
        .filter(|l| l.contains("Uploading"))
        .collect();
    assert!(
        draws.len() >= 2 && !draws[0].contains("100%"),
        "expected a partial draw before the finished one:\n{out}"
    );
    // Redrawn in place (carriage return), and the line is ended before
    // the result lines so they do not land on top of it.
    assert!(screen.contains("\rUploading") || screen.contains("\r\u{1b}[2KUploading"));
    let after = &screen[screen.rfind("Uploading").unwrap_or(0)..];
    let pushed_at = after.find("Pushed:").unwrap_or(after.len());
    assert!(
        after[..pushed_at].contains('\n'),
        "the progress line is ended before `Pushed:`:\n{out}"
    );
}

#[test]
fn without_a_terminal_stderr_has_no_progress() {
    // Other bytes than the terminal test's: this push must upload too.
    let push = BigPush::new("bigpipe", 8, 0x51ed_270b);
    let lab = push.sb.lab;
    let out: Output = run(&mut push.command(&lab.registry));
    out.assert_ok();
    assert!(
        push.uploaded(),
        "the push must have uploaded the ~8 MiB layer for this test to mean anything:\n{out}"
    );
    let ns = &push.ns;
    assert!(
        out.stdout
            .starts_with(&format!("Pushed: {}/{ns}/bigpipe:0.1.0\n", lab.registry)),
        "{out}"
    );
    assert!(
        !out.stderr.contains("Uploading")
            && !out.stderr.contains('\r')
            && !out.stderr.contains('\u{1b}'),
        "no progress output without a terminal:\n{out}"
    );
    assert!(out.stderr.trim().is_empty(), "{out}");
}
