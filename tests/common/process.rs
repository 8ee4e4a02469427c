//! Child processes with a timeout, on a terminal or without one.

use super::*;

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

    /// The plugin's own stderr lines that are errors.
    pub fn plugin_errors(&self) -> Vec<&str> {
        self.plugin_stderr_lines()
            .into_iter()
            .filter(|l| l.starts_with("Error:"))
            .collect()
    }

    /// The plugin's one error line; fails unless there is exactly one.
    #[track_caller]
    pub fn single_error(&self) -> String {
        let errors = self.plugin_errors();
        assert_eq!(errors.len(), 1, "one error line:\n{self}");
        errors[0].to_string()
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
    // Copied out, so the writer thread owns what it writes.
    let input = input.map(<[u8]>::to_vec);
    let stdin = match input {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    };
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
    if let (Some(mut pipe), Some(input)) = (child.stdin.take(), input) {
        // From a thread: a process that never reads must not block the test.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&input);
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
    let mut driver = wrapper(&Lab::get().python, cmd);
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
    let mut detached = wrapper(Path::new("setsid"), cmd);
    detached
        .arg("--wait")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let mut out = run(&mut detached);
    out.command = format!("(no terminal) {}", describe(cmd));
    out
}

/// `program` with exactly the environment `cmd` sets and `cmd`'s working
/// directory: what runs `cmd` on its behalf (the caller adds `cmd`'s
/// program and arguments).
fn wrapper(program: &Path, cmd: &Command) -> Command {
    let mut wrapper = Command::new(program);
    wrapper.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapper.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapper.current_dir(dir);
    }
    wrapper
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
