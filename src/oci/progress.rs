//! A progress line on stderr for big uploads, only when stderr is a terminal.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Below this, an upload is over before a progress line would help.
const MIN_SIZE: u64 = 4 << 20;
const EVERY: Duration = Duration::from_millis(200);

/// Counts bytes read through it and redraws one stderr line now and then.
pub struct ProgressReader<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
    last: Instant,
    closed: bool,
}

/// Wrap `inner` when a progress line is wanted for `total` bytes.
pub fn wrap<R: Read>(inner: R, label: &str, total: u64) -> Result<ProgressReader<R>, R> {
    if total < MIN_SIZE || !std::io::stderr().is_terminal() {
        return Err(inner);
    }
    Ok(ProgressReader {
        inner,
        label: label.to_string(),
        total,
        done: 0,
        last: Instant::now(),
        closed: false,
    })
}

fn mib(n: u64) -> f64 {
    n as f64 / (1u64 << 20) as f64
}

impl<R> ProgressReader<R> {
    fn draw(&mut self, last: bool) {
        let pct = self.done.saturating_mul(100) / self.total.max(1);
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[2KUploading {} {pct:>3}% ({:.1}/{:.1} MiB){}",
            self.label,
            mib(self.done),
            mib(self.total),
            if last { "\n" } else { "" }
        );
        let _ = e.flush();
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.closed {
            return Ok(n);
        }
        let finished = n == 0 || self.done >= self.total;
        if finished || self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.draw(finished);
            self.closed = finished;
        }
        Ok(n)
    }
}
