//! Archive reading: a chart `.tgz` read with Helm's path checks and its
//! size limits, a gzip bomb stopped at the limit.

use super::load::{BufferedFile, Data, MAX_FILE_SIZE, UTF8_BOM};
use super::printable;
use super::Error;
use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Tar structure allowed between one entry's content and the next's:
/// headers, padding, and the long names and PAX records the tar crate
/// reads whole into memory. Go's tar reader refuses a long name or PAX
/// record over 1 MiB, so no archive Helm can read needs more.
const TAR_OVERHEAD: u64 = 4 * 1024 * 1024;

/// Counts the decompressed bytes the tar reader pulls against the
/// allowance its caller sets per entry, so a gzip bomb stops at the limit
/// instead of after it (the tar crate reads long names and PAX records
/// whole, whatever size their header claims).
struct Meter<R> {
    inner: R,
    state: Rc<MeterState>,
}

struct MeterState {
    left: Cell<u64>,
    exceeded: Cell<bool>,
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.state.left.get();
        if left == 0 && !buf.is_empty() {
            self.state.exceeded.set(true);
            return Err(io::Error::other("archive structure over the limit"));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.state.left.set(left - n as u64);
        Ok(n)
    }
}

/// Read a chart archive (gzip + tar) with Helm's path checks and its
/// size limit: every entry's size is taken from `left` (bytes still
/// allowed, [`MAX_CHART_SIZE`](super::load::MAX_CHART_SIZE) for one archive) before it is read.
/// Contents are kept only for names `keep` selects.
pub fn read_archive<R: Read>(
    r: R,
    keep: &dyn Fn(&str) -> bool,
    left: &mut u64,
) -> Result<(Vec<BufferedFile>, R), Error> {
    let state = Rc::new(MeterState {
        left: Cell::new(TAR_OVERHEAD),
        exceeded: Cell::new(false),
    });
    let meter = Meter {
        inner: flate2::read::MultiGzDecoder::new(r),
        state: Rc::clone(&state),
    };
    let mut archive = tar::Archive::new(meter);
    let mut files = Vec::new();
    let fail = |e: io::Error| {
        if state.exceeded.get() {
            Error::invalid("the archive holds tar headers (long names or PAX records) larger than Helm accepts; package the chart again with helm package")
        } else {
            Error::io(
                "cannot read the archive",
                e,
                "; it is damaged or not a chart archive: package the chart again",
            )
        }
    };
    let entries = archive.entries().map_err(fail)?;
    for entry in entries {
        let mut entry = entry.map_err(fail)?;
        let size = entry.header().size().map_err(fail)?;
        // Every entry counts, also the ones skipped below: skipping
        // means decompressing.
        if size > *left {
            return Err(Error::TooBig);
        }
        *left -= size;
        state.left.set(size.saturating_add(TAR_OVERHEAD));
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = archive_name(&raw)?;
        // Helm 4's loader: a file may not bring the total to the limit
        // itself (`remainingSize <= 0`), nor be over the per-file limit.
        if *left == 0 {
            return Err(Error::TooBig);
        }
        if size > MAX_FILE_SIZE {
            return Err(Error::invalid(format!(
                "chart file {} is larger than Helm's maximum file size of {MAX_FILE_SIZE} bytes; Helm 4 cannot load this archive: leave the file out with .helmignore and package the chart again",
                printable(&name)
            )));
        }
        let data = if keep(&name) {
            // The header's size is a claim: grow with what arrives.
            let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
            (&mut entry).take(size).read_to_end(&mut buf).map_err(|e| {
                if state.exceeded.get() {
                    fail(e)
                } else {
                    Error::io(
                        format!("cannot read {} from the archive", printable(&name)),
                        e,
                        "; it is damaged: package the chart again",
                    )
                }
            })?;
            if (buf.len() as u64) < size {
                return Err(Error::invalid(format!(
                    "the archive is truncated at {}; package the chart again",
                    printable(&name)
                )));
            }
            if buf.starts_with(UTF8_BOM) {
                buf.drain(..3);
            }
            Data::Mem(buf)
        } else {
            Data::Omitted(size)
        };
        files.push(BufferedFile { name, data });
    }
    let meter = archive.into_inner();
    if files.is_empty() {
        return Err(Error::invalid(
            "no files in chart archive; package the chart again",
        ));
    }
    Ok((files, meter.inner.into_inner()))
}

/// The archive reader's checks on one entry name; returns the name inside
/// the chart (first component stripped, cleaned).
pub fn archive_name(raw: &str) -> Result<String, Error> {
    let delim = if raw.contains('\\') { '\\' } else { '/' };
    let parts: Vec<&str> = raw.split(delim).collect();
    if parts[0] == "Chart.yaml" {
        return Err(Error::invalid("chart yaml not in base directory: the archive must hold NAME/Chart.yaml, not Chart.yaml"));
    }
    let n = parts[1..].join("/");
    if n.starts_with('/') {
        return Err(Error::invalid(format!(
            "chart illegally contains absolute paths ({raw:?}); the archive is unsafe"
        )));
    }
    let n = clean(&n);
    if n == "." {
        return Err(Error::invalid(format!(
            "chart illegally contains content outside the base directory: {raw:?}; the archive must hold one NAME/ directory"
        )));
    }
    if n.starts_with("..") {
        return Err(Error::invalid(format!(
            "chart illegally references parent directory ({raw:?}); the archive is unsafe"
        )));
    }
    let b = n.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        return Err(Error::invalid(format!(
            "chart contains illegally named files ({raw:?})"
        )));
    }
    Ok(n)
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::chart::load::MAX_CHART_SIZE;

    #[test]
    fn clean_like_go() {
        for (path, want) in [
            ("a/./b/../c", "a/c"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("", "."),
            ("/a/../../b", "/b"),
        ] {
            assert_eq!(clean(path), want, "{path:?}");
        }
    }

    #[test]
    fn archive_names_are_checked() {
        for (name, want) in [
            ("c/templates/a.yaml", "templates/a.yaml"),
            ("c\\templates\\a", "templates/a"),
        ] {
            assert_eq!(archive_name(name).ok().as_deref(), Some(want), "{name:?}");
        }
        for (name, error) in [
            ("c//etc/passwd", "absolute"),
            ("c/../x", "parent"),
            ("c", "outside the base"),
            ("Chart.yaml", "chart yaml not in base directory"),
            ("c/C:/x", "illegally named"),
        ] {
            let e = archive_name(name).expect_err(name).to_string();
            assert!(e.contains(error), "{name:?}: {e}");
        }
    }

    /// A tar header block for `name` of `kind` claiming `size` bytes.
    pub(in crate::chart) fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    pub(in crate::chart) fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    /// A gzip stream whose uncompressed form is `head`, then `zeros` zero
    /// bytes, then `tail`: concatenated members, so a gigabyte of zeros
    /// costs about a megabyte (a gzip bomb).
    pub(in crate::chart) fn bomb(head: &[u8], zeros: u64, tail: &[u8]) -> Vec<u8> {
        let mut out = gzip(head);
        let mib = gzip(&vec![0u8; 1 << 20]);
        for _ in 0..zeros >> 20 {
            out.extend_from_slice(&mib);
        }
        out.extend(gzip(&vec![0u8; (zeros & ((1 << 20) - 1)) as usize]));
        out.extend(gzip(tail));
        out
    }

    pub(in crate::chart) fn file(name: &str, data: &[u8]) -> Vec<u8> {
        let mut v = header(name, tar::EntryType::Regular, data.len() as u64);
        v.extend_from_slice(data);
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    pub(in crate::chart) fn chart_tgz(name: &str, extra: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut tar = file(
            &format!("{name}/Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n").as_bytes(),
        );
        for (n, d) in extra {
            tar.extend(file(&format!("{name}/{n}"), d));
        }
        tar.extend_from_slice(&[0u8; 1024]);
        gzip(&tar)
    }

    pub(in crate::chart) fn read(gz: &[u8]) -> Result<Vec<BufferedFile>, Error> {
        let mut left = MAX_CHART_SIZE;
        read_archive(gz, &|_| true, &mut left).map(|(f, _)| f)
    }

    /// A chart archive (as gzip members) holding Chart.yaml and files of
    /// zeros of the given sizes: hundreds of MiB cost little to build.
    pub(in crate::chart) fn zeros_chart(name: &str, sizes: &[u64]) -> Vec<u8> {
        let chart = format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n");
        let mut gz = gzip(&file(&format!("{name}/Chart.yaml"), chart.as_bytes()));
        let five = gzip(&vec![0u8; MAX_FILE_SIZE as usize]);
        for (i, &n) in sizes.iter().enumerate() {
            gz.extend(gzip(&header(
                &format!("{name}/f{i}"),
                tar::EntryType::Regular,
                n,
            )));
            if n == MAX_FILE_SIZE {
                gz.extend_from_slice(&five);
            } else {
                gz.extend(gzip(&vec![0u8; n as usize]));
            }
            gz.extend(gzip(&vec![0u8; (n.div_ceil(512) * 512 - n) as usize]));
        }
        gz.extend(gzip(&[0u8; 1024]));
        gz
    }

    #[test]
    fn a_huge_long_name_stops_at_the_limit() {
        // A GNU long-name entry claiming 1 GiB: the tar crate would read
        // it whole into memory.
        let head = header("././@LongLink", tar::EntryType::GNULongName, 1 << 30);
        let started = std::time::Instant::now();
        let err = read(&bomb(&head, 1 << 30, &[0u8; 1024]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than Helm accepts"), "{err}");
        assert!(started.elapsed().as_secs() < 20, "stopped early");
    }

    #[test]
    fn helm4_archive_limits() {
        // One file over 5 MiB.
        let err = read(&zeros_chart("c", &[MAX_FILE_SIZE + 1]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("chart file f0 is larger than Helm's maximum file size"),
            "{err}"
        );
        // Files adding up to exactly 100 MiB: Helm 4 refuses that too.
        let chart_len = "apiVersion: v2\nname: c\nversion: 1.0.0\n".len() as u64;
        let mut sizes = vec![MAX_FILE_SIZE; 19];
        sizes.push(MAX_CHART_SIZE - chart_len - 19 * MAX_FILE_SIZE - 1);
        sizes.push(1);
        assert_eq!(
            read(&zeros_chart("c", &sizes)).unwrap_err().to_string(),
            Error::TooBig.to_string(),
            "exactly the limit"
        );
        *sizes.last_mut().expect("last") = 0;
        assert_eq!(
            read(&zeros_chart("c", &sizes))
                .expect("one byte under")
                .len(),
            22
        );
    }

    #[test]
    fn skipped_entries_count_toward_the_limit() {
        // A directory entry is skipped, but skipping 200 MiB is still
        // decompressing it.
        let head = header("c/dir/", tar::EntryType::Directory, 200 << 20);
        let err = read(&bomb(&head, 200 << 20, &[0u8; 1024]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than Helm's limit"), "{err}");
    }

    #[test]
    fn a_damaged_archive_says_so() {
        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut gz = chart_tgz("c", &[("values.yaml".into(), noise)]);
        gz.truncate(gz.len() / 2);
        let e = read(&gz).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read values.yaml from the archive: "),
            "{e}"
        );
        assert!(e.ends_with("damaged: package the chart again"), "{e}");
        let e = read(&gzip(&[b'x'; 4096])).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read the archive: ")
                && e.ends_with("not a chart archive: package the chart again")
                && !e.contains('\n'),
            "{e}"
        );
    }
}
