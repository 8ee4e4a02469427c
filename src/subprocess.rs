//! Run a helper program (`credential_process`, `docker-credential-*`) with
//! bounds: its output is read up to a limit and its run time has a
//! deadline. Past either, the helper and every process it started are
//! killed, so a helper that prints forever or never exits costs bounded
//! memory and time, and the caller reports one line.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Output limit per stream: credentials are a few KiB.
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// Run-time limit before HELM_ECR_TIMEOUT_SCALE.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_output: usize,
    pub timeout: Duration,
}

impl Limits {
    /// The default limits, the timeout multiplied by `scale`
    /// (HELM_ECR_TIMEOUT_SCALE).
    pub fn scaled(scale: f64) -> Limits {
        Limits {
            max_output: MAX_OUTPUT,
            timeout: DEFAULT_TIMEOUT
                .mul_f64(if scale.is_finite() && scale >= 0.0 {
                    scale
                } else {
                    1.0
                })
                .max(Duration::from_millis(10)),
        }
    }
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl std::fmt::Debug for Output {
    // stdout carries credentials: lengths only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout_len", &self.stdout.len())
            .field("stderr_len", &self.stderr.len())
            .finish()
    }
}

#[derive(Debug)]
pub enum RunError {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It printed more than the limit on `stream`; it was killed.
    TooMuchOutput { stream: &'static str, limit: usize },
    /// It ran past the deadline; it was killed.
    Timeout(Duration),
    /// Waiting for it failed.
    Io(std::io::Error),
}

impl RunError {
    /// The tail of a one-line message: "printed more than 1 MiB on stdout
    /// and was stopped".
    pub fn describe(&self) -> String {
        match self {
            RunError::Spawn(e) => format!("could not be started: {e}"),
            RunError::TooMuchOutput { stream, limit } => format!(
                "printed more than {} on {stream} and was stopped",
                human(*limit)
            ),
            RunError::Timeout(d) => format!(
                "did not finish within {} and was stopped",
                human_duration(*d)
            ),
            RunError::Io(e) => format!("failed: {e}"),
        }
    }
}

/// A helper that gave us nothing to read, in one line that names it (as
/// its caller does) and, when it was stopped, says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// It could not be started.
    #[error("cannot run {name}: {source}")]
    Start {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// It was stopped at a limit, or waiting for it failed.
    #[error("{name} {}: {fix}", .why.describe())]
    Stopped {
        name: String,
        why: RunError,
        fix: String,
    },
}

/// [`run`] for a helper that messages call `name` ("credential helper
/// docker-credential-x get"); `fix` is what to do when it is stopped.
pub fn run_helper(
    cmd: Command,
    input: Option<&[u8]>,
    limits: Limits,
    name: &str,
    fix: &str,
) -> Result<Output, Failed> {
    run(cmd, input, limits).map_err(|why| match why {
        RunError::Spawn(source) => Failed::Start {
            name: name.to_string(),
            source,
        },
        why => Failed::Stopped {
            name: name.to_string(),
            why,
            fix: fix.to_string(),
        },
    })
}

/// The first line a failing helper printed, cut short: enough to act on,
/// never a wall of output (nor more of a secret it may have printed).
pub fn first_line(out: &str) -> String {
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

fn human(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

fn human_duration(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

enum Event {
    Done(usize, Vec<u8>),
    Overflow(usize),
}

/// Run `cmd` with `input` on stdin (stdin is empty when None).
pub fn run(mut cmd: Command, input: Option<&[u8]>, limits: Limits) -> Result<Output, RunError> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        let input = input.to_vec();
        // A helper that never reads must not block us: write from a thread.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    let mut open = 0;
    for (i, stream) in streams.into_iter().enumerate() {
        let Some(stream) = stream else { continue };
        open += 1;
        let tx = tx.clone();
        let limit = limits.max_output;
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            // One byte over the limit tells "too much" from "exactly enough".
            let r = stream.take(limit as u64 + 1).read_to_end(&mut buf);
            let _ = tx.send(if r.is_ok() && buf.len() > limit {
                Event::Overflow(i)
            } else {
                Event::Done(i, buf)
            });
        });
    }
    drop(tx);
    let mut out: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    while open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Done(i, buf)) => {
                out[i] = buf;
                open -= 1;
            }
            Ok(Event::Overflow(i)) => {
                kill(&mut child);
                return Err(RunError::TooMuchOutput {
                    stream: if i == 0 { "stdout" } else { "stderr" },
                    limit: limits.max_output,
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill(&mut child);
                return Err(RunError::Timeout(limits.timeout));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // Both streams closed; the helper may still linger (it closed them, or
    // handed them on): it too gets the deadline.
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let [stdout, stderr] = out;
                return Ok(Output {
                    status,
                    stdout,
                    stderr,
                });
            }
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                return Err(RunError::Timeout(limits.timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill(&mut child);
                return Err(RunError::Io(e));
            }
        }
    }
}

/// Kill the helper and what it started, and reap it. Reader threads end
/// when the pipes close; they are not waited for (a process that escaped
/// could hold a pipe open, and must not hold us).
///
/// The helper stays in our process group (a new group would lose the
/// terminal: a `credential_process` that asks for an MFA code on /dev/tty
/// would be stopped by SIGTTIN), so its descendants are found by walking
/// the process tree: stopped first so none can fork while we look.
fn kill(child: &mut Child) {
    #[cfg(target_os = "linux")]
    kill_descendants(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(target_os = "linux")]
fn kill_descendants(root: u32) {
    let signal = |pid: u32, sig: libc::c_int| {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) on one process id we found as a descendant
            // (or the child itself, not yet reaped so its id is ours).
            unsafe {
                libc::kill(pid, sig);
            }
        }
    };
    signal(root, libc::SIGSTOP);
    let mut found: Vec<u32> = vec![root];
    let mut i = 0;
    // Bounded: a process tree has finitely many members, and each round
    // only adds processes not seen before.
    while i < found.len() && found.len() < 4096 {
        let parent = found[i];
        for pid in children_of(parent) {
            if !found.contains(&pid) {
                signal(pid, libc::SIGSTOP);
                found.push(pid);
            }
        }
        i += 1;
    }
    for pid in found.into_iter().skip(1) {
        signal(pid, libc::SIGKILL);
    }
}

/// Processes whose parent is `parent`, from /proc.
#[cfg(target_os = "linux")]
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: u32 = name.to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == parent).then_some(pid)
    })
    .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    fn limits(max_output: usize, ms: u64) -> Limits {
        Limits {
            max_output,
            timeout: Duration::from_millis(ms),
        }
    }

    #[test]
    fn collects_output_status_and_stdin() {
        let out = run(
            sh("cat; echo err >&2; exit 3"),
            Some(b"hello"),
            limits(100, 10_000),
        )
        .unwrap();
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
        // Exactly the limit is fine.
        let out = run(sh("printf 1234"), None, limits(4, 10_000)).unwrap();
        assert_eq!(out.stdout, b"1234");
    }

    #[test]
    fn endless_output_is_cut_and_the_helper_killed() {
        let e = run(sh("yes x & yes y; wait"), None, limits(64 * 1024, 60_000)).unwrap_err();
        assert!(
            matches!(
                e,
                RunError::TooMuchOutput {
                    stream: "stdout",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.describe(),
            "printed more than 64 KiB on stdout and was stopped"
        );
        let e = run(sh("yes x >&2"), None, limits(1024, 60_000)).unwrap_err();
        assert!(
            matches!(
                e,
                RunError::TooMuchOutput {
                    stream: "stderr",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_helper_that_never_ends_is_stopped() {
        // The grandchild keeps stdout open; killing only `sh` would hang.
        let e = run(sh("sleep 1000 & sleep 1000"), None, limits(1024, 200)).unwrap_err();
        assert!(matches!(e, RunError::Timeout(_)), "{e:?}");
        assert_eq!(e.describe(), "did not finish within 0.2 s and was stopped");
        // It closed its output but lives on.
        let e = run(sh("exec >&- 2>&-; sleep 1000"), None, limits(1024, 200)).unwrap_err();
        assert!(matches!(e, RunError::Timeout(_)), "{e:?}");
    }

    #[test]
    fn a_helper_that_does_not_read_stdin_still_finishes() {
        let big = vec![b'x'; 4 * 1024 * 1024];
        let out = run(sh("echo done"), Some(&big), limits(1024, 10_000)).unwrap();
        assert_eq!(out.stdout, b"done\n");
    }

    #[test]
    fn helpers_are_named_in_one_line() {
        let e = run_helper(
            Command::new("/nonexistent/helper"),
            None,
            limits(1024, 10_000),
            "the helper",
            "fix it",
        )
        .unwrap_err();
        assert!(matches!(e, Failed::Start { .. }), "{e:?}");
        assert!(e.to_string().starts_with("cannot run the helper: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let e = run_helper(
            sh("yes"),
            None,
            limits(1024, 10_000),
            "the helper",
            "fix it",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the helper printed more than 1 KiB on stdout and was stopped: fix it"
        );
        assert_eq!(first_line("\n  first  \nsecond"), "first");
        let long = first_line(&"x".repeat(300));
        assert_eq!((long.chars().count(), long.ends_with('…')), (201, true));
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn scaled_limits() {
        assert_eq!(Limits::scaled(1.0).timeout, Duration::from_secs(60));
        assert_eq!(Limits::scaled(0.5).timeout, Duration::from_secs(30));
        assert_eq!(Limits::scaled(f64::NAN).timeout, Duration::from_secs(60));
        assert_eq!(Limits::scaled(1.0).max_output, 1024 * 1024);
        assert!(RunError::Spawn(std::io::Error::other("x"))
            .describe()
            .contains("started"));
    }
}
