//! The chart archive: Helm's entry list and order, written as a
//! reproducible tar.gz streamed to a file while it is hashed.

use super::load::{BufferedFile, Chart, Data, MAX_CHART_SIZE};
use super::metadata::API_V2;
use super::pargz;
use crate::codec::hex;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// The mtime of every entry when SOURCE_DATE_EPOCH is not set
/// (1980-01-01T00:00:00Z: a fixed time older tools also accept).
pub const DEFAULT_MTIME: u64 = 315_532_800;

/// The archive's entries in Helm's order: Chart.yaml, Chart.lock, values,
/// schema, templates, other files, then each subchart (sorted by name)
/// under `NAME/charts/`.
pub fn entries(chart: &Chart) -> Result<Vec<BufferedFile>, String> {
    let mut out = Vec::new();
    collect(chart, "", &mut out)?;
    let total: u64 = out.iter().map(|f| f.data.len()).sum();
    if total > MAX_CHART_SIZE {
        return Err(format!(
            "the chart holds {total} bytes, more than Helm's limit of {MAX_CHART_SIZE} bytes uncompressed; leave large files out with .helmignore"
        ));
    }
    Ok(out)
}

fn collect(c: &Chart, prefix: &str, out: &mut Vec<BufferedFile>) -> Result<(), String> {
    let base = format!("{prefix}{}", c.meta.name);
    let mut push = |name: &str, data: Data| {
        out.push(BufferedFile {
            name: format!("{base}/{name}"),
            data,
        })
    };
    push("Chart.yaml", Data::Mem(c.meta.to_chart_yaml().into_bytes()));
    if c.meta.api_version == API_V2 {
        if let Some(lock) = &c.lock {
            push("Chart.lock", Data::Mem(lock.to_yaml().into_bytes()));
        }
    }
    if let Some(v) = &c.values {
        push("values.yaml", v.clone());
    }
    if let Some(schema) = &c.schema {
        let bytes = schema.read_all()?;
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err(format!(
                "Invalid JSON in {}values.schema.json; fix the JSON",
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{base}/")
                }
            ));
        }
        push("values.schema.json", schema.clone());
    }
    for f in c.templates.iter().chain(c.files.iter()) {
        push(&f.name, f.data.clone());
    }
    for dep in &c.dependencies {
        collect(dep, &format!("{base}/charts/"), out)?;
    }
    Ok(())
}

/// Counts and hashes what passes through to the file.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `sha256:<hex>` and size of what was written.
pub struct Written {
    pub digest: String,
    pub size: u64,
}

/// Write `entries` as a reproducible tar.gz to `file`: mode 0644, uid/gid 0,
/// no user or group names, every mtime `mtime`, gzip header mtime 0 and no
/// file name, compressed on every core (see [`pargz`]: the bytes do not
/// depend on the core count). Memory stays flat: file contents are streamed.
///
/// `durable`: fsync before returning, for a file the caller then renames to
/// its final name (so a crash cannot leave a truncated archive under that
/// name). A temporary archive that is pushed and deleted skips it.
pub fn write(
    entries: &[BufferedFile],
    file: File,
    mtime: u64,
    durable: bool,
) -> Result<Written, String> {
    let sink = HashingWriter {
        inner: file,
        hasher: Sha256::new(),
        count: 0,
    };
    let io_err = |e: io::Error| format!("cannot write the chart archive: {e}");
    let mut failure = None;
    let out = pargz::compress(
        sink,
        Compression::default(),
        pargz::default_threads(),
        |gz| {
            let r = write_tar(entries, gz, mtime);
            // Keep the message (it names the file); the pipeline only needs
            // to know it failed.
            r.map_err(|e| {
                let err = io::Error::other(e.clone());
                failure = Some(e);
                err
            })
        },
    );
    let out = match (out, failure) {
        (Ok(out), _) => out,
        (Err(_), Some(msg)) => return Err(msg),
        (Err(e), None) => return Err(io_err(e)),
    };
    if durable {
        out.inner.sync_all().map_err(io_err)?;
    }
    Ok(Written {
        digest: format!("sha256:{}", hex(&out.hasher.finalize())),
        size: out.count,
    })
}

fn write_tar<W: Write>(entries: &[BufferedFile], out: W, mtime: u64) -> Result<(), String> {
    let mut tar = tar::Builder::new(out);
    let io_err = |e: io::Error| format!("cannot write the chart archive: {e}");
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h.set_size(e.data.len());
        match &e.data {
            Data::Mem(b) => tar.append_data(&mut h, &e.name, &b[..]).map_err(io_err)?,
            Data::Disk { path, skip, size } => {
                let mut f = File::open(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                f.seek(SeekFrom::Start(*skip)).map_err(io_err)?;
                let mut r = ExactReader {
                    inner: f.take(*size),
                    left: *size,
                    name: &e.name,
                };
                tar.append_data(&mut h, &e.name, &mut r).map_err(io_err)?;
            }
            Data::Omitted(_) => return Err(format!("internal error: no content for {}", e.name)),
        }
    }
    tar.into_inner().map_err(io_err)?;
    Ok(())
}

/// Fails if a file shrank after it was measured (the tar header already
/// holds its size).
struct ExactReader<'a, R: Read> {
    inner: R,
    left: u64,
    name: &'a str,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::other(format!(
                "{} changed while it was being packaged; try again",
                self.name
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads through to the inner reader while hashing every byte.
pub struct HashingReader<R: Read> {
    pub inner: R,
    pub hasher: Sha256,
    pub count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
