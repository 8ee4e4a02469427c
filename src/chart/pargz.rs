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
mod tests {
    use super::*;
    use std::io::Read;

    fn gz(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        compress(Vec::new(), Compression::default(), threads, |w| {
            for piece in data.chunks(chunk.max(1)) {
                w.write_all(piece)?;
            }
            Ok(())
        })
        .expect("compress")
    }

    /// Everything a decoder yields (gzip here, raw deflate in `literals`).
    pub(super) fn decoded(mut decoder: impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).expect("decode");
        out
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        decoded(flate2::read::GzDecoder::new(gz))
    }

    /// Text with repeats both inside a block and across block boundaries
    /// (so the dictionary matters), plus some noise.
    fn sample(len: usize) -> Vec<u8> {
        sample_seeded(len, 0x1234_5678)
    }

    fn sample_seeded(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let line = format!("key-{}: value {}\n", x % 97, x % 13);
            out.extend_from_slice(line.as_bytes());
        }
        out.truncate(len);
        out
    }

    #[test]
    fn round_trips_through_gzdecoder() {
        for len in [1, 1000, BLOCK_SIZE - 1, 3 * BLOCK_SIZE + 17] {
            let data = sample(len);
            let z = gz(&data, 3, 8192);
            assert_eq!(gunzip(&z), data, "len {len}");
            if len >= 1000 {
                assert!(z.len() < data.len() / 2, "len {len}: compresses");
            }
        }
    }

    #[test]
    fn same_bytes_for_any_thread_count_and_write_chunking() {
        let data = sample(5 * BLOCK_SIZE + 12_345);
        let one = gz(&data, 1, 8192);
        assert_eq!(gz(&data, 2, 8192), one);
        assert_eq!(gz(&data, 4, 1000), one);
        assert_eq!(gz(&data, 3, data.len()), one);
        assert_eq!(gz(&data, 1, 7), one);
    }

    #[test]
    fn header_and_trailer() {
        let data = sample(2 * BLOCK_SIZE + 5);
        let z = gz(&data, 2, 4096);
        assert_eq!(&z[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut crc = Crc::new();
        crc.update(&data);
        let n = z.len();
        assert_eq!(&z[n - 8..n - 4], &crc.sum().to_le_bytes());
        assert_eq!(&z[n - 4..], &(data.len() as u32).to_le_bytes());
    }

    #[test]
    fn empty_input() {
        let z = gz(&[], 2, 1);
        assert_eq!(gunzip(&z), b"");
        // Header, one empty final block, CRC 0, ISIZE 0.
        assert_eq!(z.len(), 10 + 2 + 8);
        assert_eq!(&z[10..], &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn exactly_one_block_and_one_more_byte() {
        let data = sample(BLOCK_SIZE + 1);
        let one = gz(&data[..BLOCK_SIZE], 2, 65536);
        assert_eq!(gunzip(&one), &data[..BLOCK_SIZE]);
        // One block: a single final deflate stream, no sync marker.
        let plain = {
            let mut c = Compress::new(Compression::default(), false);
            let mut out = Vec::with_capacity(2 * BLOCK_SIZE);
            let status = c
                .compress_vec(&data[..BLOCK_SIZE], &mut out, FlushCompress::Finish)
                .expect("deflate");
            assert_eq!(status, Status::StreamEnd);
            out
        };
        assert_eq!(&one[10..one.len() - 8], &plain[..]);
        let two = gz(&data, 2, 65536);
        assert_eq!(gunzip(&two), data);
        assert_eq!(gz(&data, 1, 1), two);
        // The first block ends on a sync flush: an empty stored block.
        assert!(two.windows(4).any(|w| w == [0, 0, 0xff, 0xff]));
    }

    #[test]
    fn dictionary_keeps_matches_across_blocks() {
        // The same 64 KiB noise twice, straddling a block boundary: without
        // the previous block's tail as dictionary the repeat costs its full
        // size again.
        let noise = noise(16 * 1024, 99, 256);
        let mut data = vec![b'.'; BLOCK_SIZE - noise.len()];
        data.extend_from_slice(&noise);
        data.extend_from_slice(&noise);
        let z = gz(&data, 2, 4096);
        assert_eq!(gunzip(&z), data);
        assert!(z.len() < noise.len() + 2048, "{} bytes", z.len());
    }

    /// Bytes from a fixed LCG, each below `alphabet`: `alphabet` 256 is
    /// incompressible, small alphabets compress by their entropy only.
    pub(super) fn noise(len: usize, seed: u64, alphabet: usize) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 33) as usize % alphabet) as u8
            })
            .collect()
    }

    /// Base64-like text in 77-byte lines: deflate finds no matches in it.
    pub(super) fn base64ish(len: usize, seed: u64) -> Vec<u8> {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        noise(len, seed, 64)
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if i % 77 == 76 {
                    b'\n'
                } else {
                    B64[usize::from(v)]
                }
            })
            .collect()
    }

    #[test]
    fn match_free_blocks_take_the_literal_path() {
        let data = Arc::new(base64ish(BLOCK_SIZE, 3));
        let (done, _rx) = sync_channel(1);
        let job = Job {
            prev: None,
            data: Arc::clone(&data),
            last: true,
            done,
        };
        let mut d = Deflater {
            probe_buf: Vec::new(),
            probe_table: Vec::new(),
        };
        let got = deflate_block(&mut d, &job, Compression::default()).expect("block");
        let mut want = Vec::new();
        literals::encode(&data, true, &mut want);
        assert_eq!(got.bytes, want);
    }

    fn job(prev: Option<Vec<u8>>, data: Vec<u8>, last: bool) -> Job {
        Job {
            prev: prev.map(Arc::new),
            data: Arc::new(data),
            last,
            done: sync_channel(1).0,
        }
    }

    #[test]
    fn a_block_does_not_depend_on_the_workers_previous_block() {
        // With a zlib stream reused across blocks (reset only), these
        // seeds (found by search) give different, still valid, bytes: the
        // old window leaks into the match choice at the end of the input.
        for seed in [4u32, 72, 87, 101] {
            let y = job(
                Some(sample_seeded(BLOCK_SIZE, seed)),
                sample_seeded(1000 + seed as usize * 37, seed + 1000),
                true,
            );
            let fresh = || Deflater {
                probe_buf: Vec::new(),
                probe_table: Vec::new(),
            };
            let alone = deflate_block(&mut fresh(), &y, Compression::default()).expect("y");
            let mut d = fresh();
            let x = job(None, sample_seeded(BLOCK_SIZE, 77), false);
            deflate_block(&mut d, &x, Compression::default()).expect("x");
            let after = deflate_block(&mut d, &y, Compression::default()).expect("y");
            assert_eq!(after.bytes, alone.bytes, "seed {seed}");
        }
    }

    #[test]
    fn mixed_content_round_trips_and_is_deterministic() {
        // Text, base64, zeros and text again: both encoders, and every
        // switch between them, inside one stream.
        let mut data = sample(BLOCK_SIZE + 500);
        data.extend(base64ish(3 * BLOCK_SIZE + 77, 1));
        data.extend(std::iter::repeat_n(0u8, BLOCK_SIZE / 2));
        data.extend(sample(2 * BLOCK_SIZE));
        data.extend(base64ish(1000, 2));
        let one = gz(&data, 1, 8192);
        assert_eq!(gunzip(&one), data);
        assert_eq!(gz(&data, 3, 100_000), one);
        assert_eq!(gz(&data, 2, 333), one);
    }

    /// Seeds x sizes around the block size and the stored-block limit,
    /// each input a random mix of text, base64, noise and runs (so blocks
    /// of every kind meet at every boundary): the stream gunzips (CRC and
    /// ISIZE checked) to the input, and one thread gives the same bytes as
    /// three with other write sizes.
    #[test]
    fn fuzz_round_trip_and_determinism() {
        let sizes = [
            0usize,
            1,
            65_535,
            65_536,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            BLOCK_SIZE + 65_535,
            2 * BLOCK_SIZE,
            2 * BLOCK_SIZE + 3,
            3 * BLOCK_SIZE - 2,
        ];
        for (n, &len) in sizes.iter().enumerate() {
            for seed in 0..3u64 {
                let mut x = seed * 1000 + n as u64 + 1;
                let mut next = || {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (x >> 33) as usize
                };
                let mut data = Vec::with_capacity(len);
                while data.len() < len {
                    let piece = 1 + next() % 90_000;
                    let s = next() as u32;
                    match next() % 4 {
                        0 => data.extend(sample_seeded(piece, s | 1)),
                        1 => data.extend(base64ish(piece, u64::from(s))),
                        2 => data.extend((0..piece).map(|_| next() as u8)),
                        _ => data.extend(std::iter::repeat_n(s as u8, piece)),
                    }
                }
                data.truncate(len);
                let one = gz(&data, 1, 4096);
                assert!(gunzip(&one) == data, "len {len} seed {seed}");
                assert!(
                    gz(&data, 3, 1 + next() % 70_000) == one,
                    "len {len} seed {seed}: same bytes"
                );
            }
        }
    }

    #[test]
    fn producer_error_is_returned() {
        let r = compress(Vec::new(), Compression::default(), 2, |w| {
            w.write_all(&sample(3 * BLOCK_SIZE))?;
            Err(io::Error::other("file changed"))
        });
        assert_eq!(
            r.err().map(|e| e.to_string()).as_deref(),
            Some("file changed")
        );
    }

    /// Runs `f` on a thread and fails (instead of hanging) if it does not
    /// finish in time.
    fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(secs))
            .expect("finished in time (no hang)")
    }

    #[test]
    fn a_worker_panic_is_an_error_not_a_hang() {
        fn second_block_panics(
            d: &mut Deflater,
            job: &Job,
            level: Compression,
        ) -> io::Result<Deflated> {
            if job.prev.is_some() {
                panic!("injected");
            }
            deflate_block(d, job, level)
        }
        for threads in [1, 3] {
            let r = within(60, move || {
                compress_with(
                    Vec::new(),
                    Compression::default(),
                    threads,
                    |w| {
                        for _ in 0..40 {
                            w.write_all(&sample(BLOCK_SIZE))?;
                        }
                        Ok(())
                    },
                    second_block_panics,
                )
                .map(|_| ())
                .map_err(|e| e.to_string())
            });
            assert_eq!(
                r,
                Err("internal error: a gzip worker thread panicked".to_string()),
                "{threads} threads"
            );
        }
    }

    #[test]
    fn sink_error_is_returned() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("no space left on device"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let r = compress(Full, Compression::default(), 2, |w| {
            for _ in 0..50 {
                w.write_all(&sample(BLOCK_SIZE))?;
            }
            Ok(())
        });
        assert_eq!(
            r.err().map(|e| e.to_string()).as_deref(),
            Some("no space left on device")
        );
    }
}
