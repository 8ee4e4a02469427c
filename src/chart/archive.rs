//! The chart archive: Helm's entry list and order, written as a
//! reproducible tar.gz streamed to a file while it is hashed.

use super::load::{BufferedFile, Chart, Data, MAX_CHART_SIZE};
use super::metadata::API_V2;
use super::pargz;
use super::Error;
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
pub fn entries(chart: &Chart) -> Result<Vec<BufferedFile>, Error> {
    let mut out = Vec::new();
    collect(chart, "", &mut out)?;
    let total: u64 = out.iter().map(|f| f.data.len()).sum();
    // Helm refuses an archive whose files reach the limit, not only one
    // that passes it.
    if total >= MAX_CHART_SIZE {
        return Err(Error::invalid(format!(
            "the chart holds {total} bytes, more than Helm's limit of {MAX_CHART_SIZE} bytes uncompressed; leave large files out with .helmignore"
        )));
    }
    Ok(out)
}

fn collect(c: &Chart, prefix: &str, out: &mut Vec<BufferedFile>) -> Result<(), Error> {
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
            return Err(Error::invalid(format!(
                "Invalid JSON in {}values.schema.json; fix the JSON",
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{base}/")
                }
            )));
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
) -> Result<Written, Error> {
    let sink = HashingWriter {
        inner: file,
        hasher: Sha256::new(),
        count: 0,
    };
    let out = pargz::compress(
        sink,
        Compression::default(),
        pargz::default_threads(),
        |gz| write_tar(entries, gz, mtime),
    )
    .map_err(describe)?;
    if durable {
        out.inner.sync_all().map_err(describe)?;
    }
    Ok(Written {
        digest: format!("sha256:{}", hex(&out.hasher.finalize())),
        size: out.count,
    })
}

/// A source-file problem, carried through the compressor inside an
/// `io::Error` so [`describe`] can tell it from a failed write.
fn reported(e: Error) -> io::Error {
    io::Error::other(e)
}

/// A source-file problem as worded where it happened; anything else is a
/// failure to write the archive (a full disk, say).
fn describe(e: io::Error) -> Error {
    if !e.get_ref().is_some_and(|i| i.is::<Error>()) {
        return Error::Write { source: e };
    }
    match e.into_inner().map(|i| i.downcast::<Error>()) {
        Some(Ok(reported)) => *reported,
        _ => Error::invalid("internal error: a source-file error was lost"),
    }
}

/// The tar stream into `out`. Errors from `out` pass through untouched, so
/// the compressor can tell its own stop signal from a real cause.
fn write_tar<W: Write>(entries: &[BufferedFile], out: W, mtime: u64) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h.set_size(e.data.len());
        match &e.data {
            Data::Mem(b) => tar.append_data(&mut h, &e.name, &b[..])?,
            Data::Disk { path, skip, size } => {
                let unreadable = |err: io::Error| {
                    reported(Error::io(
                        format!("cannot read {}", path.display()),
                        err,
                        "",
                    ))
                };
                let mut f = super::walk::open_regular(path).map_err(unreadable)?;
                f.seek(SeekFrom::Start(*skip)).map_err(unreadable)?;
                let mut r = ExactReader {
                    inner: f.take(*size),
                    left: *size,
                    name: &e.name,
                    path,
                };
                tar.append_data(&mut h, &e.name, &mut r)?;
            }
            Data::Omitted(_) => {
                return Err(reported(Error::invalid(format!(
                    "internal error: no content for {}",
                    e.name
                ))))
            }
        }
    }
    tar.into_inner()?;
    Ok(())
}

/// Fails if a file shrank after it was measured (the tar header already
/// holds its size).
struct ExactReader<'a, R: Read> {
    inner: R,
    left: u64,
    name: &'a str,
    path: &'a std::path::Path,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| {
            reported(Error::io(
                format!("cannot read {}", self.path.display()),
                e,
                "",
            ))
        })?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(reported(Error::invalid(format!(
                "{} changed while it was being packaged; try again",
                self.name
            ))));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        crate::chart::tests::scratch_in("archive", name)
    }

    fn mem(name: &str, data: &[u8]) -> BufferedFile {
        BufferedFile {
            name: name.into(),
            data: Data::Mem(data.to_vec()),
        }
    }

    fn disk(name: &str, path: &std::path::Path, skip: u64, size: u64) -> BufferedFile {
        BufferedFile {
            name: name.into(),
            data: Data::Disk {
                path: path.to_path_buf(),
                skip,
                size,
            },
        }
    }

    #[test]
    fn writes_a_tar_gz_whose_digest_and_size_match_the_file() {
        let dir = scratch("ok");
        let big: Vec<u8> = (0..400_000u32)
            .flat_map(|i| format!("{i:x}\n").into_bytes())
            .collect();
        let src = dir.join("big.txt");
        // A BOM to skip, as walk.rs notes it.
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(&big);
        std::fs::write(&src, &with_bom).expect("write");
        let entries = vec![
            mem("app/Chart.yaml", b"name: app\n"),
            disk("app/files/big.txt", &src, 3, big.len() as u64),
            mem("app/empty", b""),
        ];
        let out = dir.join("app.tgz");
        let w = write(&entries, File::create(&out).expect("create"), 1234, true).expect("write");
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(w.size, bytes.len() as u64);
        assert_eq!(w.digest, crate::codec::sha256_digest(&bytes));
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut got = Vec::new();
        for e in ar.entries().expect("entries") {
            let mut e = e.expect("entry");
            let h = e.header();
            assert_eq!((h.mode().ok(), h.mtime().ok()), (Some(0o644), Some(1234)));
            let name = e.path().expect("path").to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("data");
            got.push((name, data));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("app/Chart.yaml".into(), b"name: app\n".to_vec()));
        assert_eq!(got[1].0, "app/files/big.txt");
        assert!(got[1].1 == big, "file content");
        assert_eq!(got[2], ("app/empty".into(), Vec::new()));
        let again = dir.join("again.tgz");
        let w2 =
            write(&entries, File::create(&again).expect("create"), 1234, false).expect("write");
        assert_eq!(w2.digest, w.digest, "same entries, same bytes");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_source_file_problem_is_reported_as_such() {
        let dir = scratch("bad");
        let src = dir.join("f.txt");
        std::fs::write(&src, b"short").expect("write");
        let out = || File::create(dir.join("x.tgz")).expect("create");
        let shrunk = write(&[disk("app/f.txt", &src, 0, 500_000)], out(), 0, false);
        assert_eq!(
            shrunk.err().map(|e| e.to_string()).as_deref(),
            Some("app/f.txt changed while it was being packaged; try again")
        );
        let gone = dir.join("gone.txt");
        let missing = write(&[disk("app/gone.txt", &gone, 0, 1)], out(), 0, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            missing.starts_with(&format!("cannot read {}: ", gone.display())),
            "{missing}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_fifo_is_an_error_not_a_hang() {
        let dir = scratch("fifo");
        let fifo = dir.join("f.txt");
        if !crate::chart::tests::mkfifo(&fifo) {
            return;
        }
        let out = File::create(dir.join("x.tgz")).expect("create");
        let entry = disk("app/f.txt", &fifo, 0, 10);
        let err = crate::chart::tests::within(move || {
            write(&[entry], out, 0, false).err().map(|e| e.to_string())
        })
        .unwrap_or_default();
        assert_eq!(
            err,
            format!(
                "cannot read {}: not a regular file (a pipe, socket or device, or it changed while the chart was being packaged)",
                fifo.display()
            )
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_the_error_not_the_pipeline() {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let data = vec![b'x'; 3 * pargz::BLOCK_SIZE];
        let err = write(&[mem("app/x", &data)], full, 0, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("cannot write the chart archive: ") && err.contains("space"),
            "{err}"
        );
    }
}
