//! Parallel, reproducible gzip (pigz's scheme): the uncompressed stream is
//! cut into fixed-size blocks, each block is compressed as raw deflate on a
//! worker thread with the previous block's last 32 KiB as its dictionary
//! (so matches still reach back across the cut), non-final blocks end on a
//! sync flush (byte-aligned, not final), and the pieces are written in
//! order. One member, one header, one CRC: any gunzip reads it. A block in
//! which deflate would find (next to) no matches skips zlib's search and
//! is written as Huffman-coded literals (see `literals`).
//!
//! The bytes depend only on the input and the level, never on the number of
//! threads or on how the producer chunks its writes: block boundaries are
//! byte offsets, and each block is compressed by a fresh zlib stream.
//! Memory is flat: the channels are bounded, so at most a few blocks per
//! worker are in flight whatever the input's size.

mod literals;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Uncompressed bytes per block. A constant (not derived from the core
/// count) because it shapes the output bytes.
pub const BLOCK_SIZE: usize = 128 * 1024;

/// Deflate's window: the dictionary each block inherits.
const WINDOW: usize = 32 * 1024;

/// Helm's (and Go's) gzip header OS byte: "unknown".
const OS_UNKNOWN: u8 = 255;

/// Worker threads to use here: one per core, a few at most (gains flatten
/// out while memory in flight grows).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

struct Job {
    /// The block before this one, whose tail primes the dictionary.
    prev: Option<Arc<Vec<u8>>>,
    data: Arc<Vec<u8>>,
    last: bool,
    done: SyncSender<io::Result<Deflated>>,
}

struct Deflated {
    bytes: Vec<u8>,
    crc: Crc,
}

enum Piece {
    Block(Receiver<io::Result<Deflated>>),
    /// The producer finished: ISIZE for the trailer.
    End(u64),
}

/// The uncompressed side handed to the producer: a `Write` that cuts the
/// stream into blocks and queues them for the workers.
pub struct Input<'a> {
    buf: Vec<u8>,
    prev: Option<Arc<Vec<u8>>>,
    total: u64,
    jobs: &'a SyncSender<Job>,
    order: &'a SyncSender<Piece>,
}

impl Input<'_> {
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let data = Arc::new(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(BLOCK_SIZE),
        ));
        let (done, result) = sync_channel(1);
        // The order queue first: the writer then waits for exactly the
        // blocks already queued, in queue order.
        self.order
            .send(Piece::Block(result))
            .map_err(|_| stopped())?;
        let prev = self.prev.replace(Arc::clone(&data));
        self.jobs
            .send(Job {
                prev,
                data,
                last,
                done,
            })
            .map_err(|_| stopped())
    }
}

impl Write for Input<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full block goes out only once more data arrives, so the last
        // block (which must end with Finish) is always still here at the end.
        if self.buf.len() == BLOCK_SIZE {
            self.dispatch(false)?;
        }
        let n = data.len().min(BLOCK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.total += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Marks the error a stage gets when another stage has quit: never the
/// one to report when a real cause exists.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the gzip pipeline stopped")
    }
}

impl std::error::Error for Stopped {}

fn stopped() -> io::Error {
    io::Error::other(Stopped)
}

/// Gzip everything `produce` writes into its [`Input`] onto `sink` with
/// `threads` workers (at least one), and return the sink. The gzip header
/// has mtime 0, no file name and OS "unknown", as Helm's reproducible
/// archives need. On error nothing more is written; the sink may hold a
/// partial stream.
pub fn compress<W, F>(sink: W, level: Compression, threads: usize, produce: F) -> io::Result<W>
where
    W: Write + Send,
    F: FnOnce(&mut Input<'_>) -> io::Result<()>,
{
    compress_with(sink, level, threads, produce, deflate_block)
}

/// How a worker turns one job into deflate (a parameter so tests can
/// make a worker fail).
type Encoder = fn(&mut Deflater, &Job, Compression) -> io::Result<Deflated>;

fn compress_with<W, F>(
    sink: W,
    level: Compression,
    threads: usize,
    produce: F,
    encode: Encoder,
) -> io::Result<W>
where
    W: Write + Send,
    F: FnOnce(&mut Input<'_>) -> io::Result<()>,
{
    let threads = threads.max(1);
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(threads);
    let (order_tx, order_rx) = sync_channel::<Piece>(2 * threads + 1);
    let jobs_rx = Mutex::new(jobs_rx);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| worker(&jobs_rx, level, encode));
        }
        let writer = s.spawn(move || write_out(sink, level, order_rx));
        let produced = {
            let mut input = Input {
                buf: Vec::with_capacity(BLOCK_SIZE),
                prev: None,
                total: 0,
                jobs: &jobs_tx,
                order: &order_tx,
            };
            produce(&mut input)
                .and_then(|()| input.dispatch(true))
                .and_then(|()| {
                    order_tx
                        .send(Piece::End(input.total))
                        .map_err(|_| stopped())
                })
        };
        // Closing the queues lets the workers and the writer return.
        drop(jobs_tx);
        drop(order_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the gzip writer panicked")));
        match (produced, written) {
            // The writer's own failure (a full disk) is the cause whatever
            // the producer saw (usually just "stopped").
            (_, Err(w)) if !is_stopped(&w) => Err(w),
            (Err(p), _) => Err(p),
            (Ok(()), w) => w,
        }
    })
}

fn is_stopped(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Stopped>())
}

/// A worker's reusable scratch space. Not a reusable zlib stream: after a
/// reset, zlib's window still holds the previous block's bytes, and its
/// match search peeks past the end of the input at a block's end, so the
/// chosen matches (valid, but not the same) would depend on which block
/// the worker did before, i.e. on thread scheduling.
struct Deflater {
    probe_buf: Vec<u8>,
    probe_table: Vec<u32>,
}

/// Runs jobs until the queue closes. A panic while encoding becomes that
/// block's error and the worker goes on: a dead worker would leave the
/// producer blocked on a full queue nobody drains (with one thread, a
/// hang), and `thread::scope` would re-raise the panic.
fn worker(jobs: &Mutex<Receiver<Job>>, level: Compression, encode: Encoder) {
    let mut d = Deflater {
        probe_buf: Vec::new(),
        probe_table: Vec::new(),
    };
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        // The scratch space is cleared before each use, so a panic
        // cannot leave it in a state that matters.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encode(&mut d, &job, level)))
                .unwrap_or_else(|_| {
                    Err(io::Error::other(
                        "internal error: a gzip worker thread panicked",
                    ))
                });
        // The writer may be gone after an error; nothing left to tell.
        let _ = job.done.send(result);
    }
}

/// One block as raw deflate: dictionary = the previous block's tail; a
/// non-final block ends byte-aligned and not final. A block the match
/// probe finds (nearly) match-free is written as literals directly;
/// anything else goes through a fresh zlib stream.
fn deflate_block(d: &mut Deflater, job: &Job, level: Compression) -> io::Result<Deflated> {
    let data = &job.data[..];
    let dict = match &job.prev {
        Some(prev) => &prev[prev.len().saturating_sub(WINDOW)..],
        None => &[][..],
    };
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    if level.level() > 0
        && !data.is_empty()
        && literals::few_matches(dict, data, &mut d.probe_buf, &mut d.probe_table)
    {
        literals::encode(data, job.last, &mut out);
    } else {
        zlib_block(level, dict, data, job.last, &mut out)?;
    }
    let mut crc = Crc::new();
    crc.update(data);
    Ok(Deflated { bytes: out, crc })
}

/// A fresh zlib stream (zeroed window: see [`Deflater`]) per block.
fn zlib_block(
    level: Compression,
    dict: &[u8],
    data: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let fail = |e: flate2::CompressError| io::Error::other(format!("gzip: {e}"));
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(fail)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut consumed = 0usize;
    loop {
        if out.len() == out.capacity() {
            out.reserve(WINDOW);
        }
        let before = c.total_in();
        let status = c
            .compress_vec(&data[consumed..], out, flush)
            .map_err(fail)?;
        consumed += (c.total_in() - before) as usize;
        match status {
            Status::StreamEnd => return Ok(()),
            // A sync flush is complete once all input is in and deflate
            // stopped with output space left (zlib's rule).
            _ if !last && consumed == data.len() && out.len() < out.capacity() => return Ok(()),
            _ => {}
        }
    }
}

fn write_out<W: Write>(mut sink: W, level: Compression, order: Receiver<Piece>) -> io::Result<W> {
    sink.write_all(&header(level))?;
    let mut crc = Crc::new();
    loop {
        match order.recv() {
            Ok(Piece::Block(result)) => {
                let block = result.recv().map_err(|_| stopped())??;
                sink.write_all(&block.bytes)?;
                crc.combine(&block.crc);
            }
            Ok(Piece::End(total)) => {
                let mut trailer = [0u8; 8];
                trailer[..4].copy_from_slice(&crc.sum().to_le_bytes());
                // ISIZE: the length modulo 2^32 (RFC 1952).
                trailer[4..].copy_from_slice(&(total as u32).to_le_bytes());
                sink.write_all(&trailer)?;
                sink.flush()?;
                return Ok(sink);
            }
            // The producer gave up; its error is the one reported.
            Err(_) => return Err(stopped()),
        }
    }
}

/// RFC 1952 header: no name, mtime 0, XFL as flate2 and Go set it.
fn header(level: Compression) -> [u8; 10] {
    let xfl = match level.level() {
        9.. => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, OS_UNKNOWN]
}

#[cfg(test)]
mod tests;
