//! The push plan: what to ask, what to upload, in which order. The manifest
//! goes last, after every blob it names is in the registry.
//!
//! Round trips for a new chart: [HEAD manifest ‖ HEAD big blobs] →
//! [POST ‖ POST] → [PUT ‖ PUT] → PUT manifest. Small blobs (the config, most
//! chart layers) are uploaded without a HEAD: asking costs as much as
//! sending them.

use super::blob;
use super::error::{Error, ErrorKind};
use super::manifest::{self, AtTag};
use super::transport::Transport;
use super::{Artifact, Blob, BlobData, PushStatus, Reference};
use crate::codec::sha256_digest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blobs at least this big are HEADed before upload: above it a wasted
/// upload costs more than a round trip (64 KiB ≈ 50 ms at 10 Mbit/s).
pub(crate) const PROBE_MIN: u64 = 64 << 10;
/// Parallel uploads per push.
pub(crate) const PARALLEL: usize = 4;
/// ECR's limit; distribution's default is the same.
const MAX_MANIFEST: usize = 4 << 20;

#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// HEAD first, upload only when missing.
    pub probe: Vec<&'a Blob>,
    /// Upload unless the manifest is already there.
    pub blind: Vec<&'a Blob>,
}

/// Each distinct blob once, config first.
pub(crate) fn plan(artifact: &Artifact) -> Plan<'_> {
    let mut seen: Vec<&str> = Vec::new();
    let mut p = Plan {
        probe: Vec::new(),
        blind: Vec::new(),
    };
    for blob in std::iter::once(&artifact.config).chain(&artifact.layers) {
        if seen.contains(&blob.digest.as_str()) {
            continue;
        }
        seen.push(&blob.digest);
        if blob.size >= PROBE_MIN {
            p.probe.push(blob);
        } else {
            p.blind.push(blob);
        }
    }
    p
}

/// What phase two uploads: the blind ones, and the probed ones found missing.
pub(crate) fn uploads<'a>(plan: &Plan<'a>, present: &[bool]) -> Vec<&'a Blob> {
    let mut out = plan.blind.clone();
    out.extend(
        plan.probe
            .iter()
            .zip(present)
            .filter(|(_, &p)| !p)
            .map(|(b, _)| *b),
    );
    out
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Catch an inconsistent artifact before the registry (or worse, a
/// wrong "unchanged") does.
pub(crate) fn validate(a: &Artifact) -> Result<(), Error> {
    let bad = |m: String| Error::with_kind(ErrorKind::Other, m);
    if a.manifest.len() > MAX_MANIFEST {
        return Err(bad(format!(
            "the manifest is {} bytes; registries accept at most {MAX_MANIFEST}: shorten the chart's annotations and description in Chart.yaml",
            a.manifest.len()
        )));
    }
    if !is_digest(&a.manifest_digest) || sha256_digest(&a.manifest) != a.manifest_digest {
        return Err(bad(format!(
            "manifest digest {} does not match its bytes",
            a.manifest_digest
        )));
    }
    for blob in std::iter::once(&a.config).chain(&a.layers) {
        if !is_digest(&blob.digest) {
            return Err(bad(format!(
                "blob digest '{}' is not sha256:<64 hex>",
                blob.digest
            )));
        }
        if let BlobData::Bytes(b) = &blob.data {
            if b.len() as u64 != blob.size || sha256_digest(b) != blob.digest {
                return Err(bad(format!(
                    "blob {} does not match its bytes",
                    blob.digest
                )));
            }
        }
    }
    Ok(())
}

/// Run `f` over `items` on at most `limit` scoped threads; results in order.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() <= 1 || limit <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..limit.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *crate::sync::lock(&slots[i]) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect()
}

enum Probe<'a> {
    Manifest,
    Blob(&'a Blob),
}

enum Found {
    Manifest(AtTag),
    Blob(bool),
}

pub(crate) fn push(
    reg: &Transport,
    r: &Reference,
    a: &Artifact,
    dry_run: bool,
) -> Result<PushStatus, Error> {
    r.validate()?;
    validate(a)?;
    let plan = plan(a);

    // Phase 1, reads only, all at once.
    let probes: Vec<Probe> = std::iter::once(Probe::Manifest)
        .chain(plan.probe.iter().map(|b| Probe::Blob(b)))
        .collect();
    let found = parallel(&probes, probes.len(), |p| match p {
        Probe::Manifest => manifest::head_manifest(reg, r, a).map(Found::Manifest),
        Probe::Blob(b) => blob::head_blob(reg, r, b).map(Found::Blob),
    });
    let mut at_tag = AtTag::Absent;
    let mut present = Vec::new();
    for f in found {
        match f? {
            Found::Manifest(m) => at_tag = m,
            Found::Blob(p) => present.push(p),
        }
    }
    if at_tag == AtTag::Present(Some(a.manifest_digest.clone())) {
        return Ok(PushStatus::Unchanged);
    }
    if dry_run {
        return Ok(PushStatus::DryRun);
    }

    // Phase 2: every missing blob, in parallel. Any failure stops the push
    // before the manifest: nothing may point at a missing blob.
    let todo = uploads(&plan, &present);
    let results = parallel(&todo, PARALLEL, |b| blob::upload_blob(reg, r, b));
    let failed = results.iter().filter(|x| x.is_err()).count();
    if let Some(Err(e)) = results.into_iter().find(|x| x.is_err()) {
        let note = if failed > 1 {
            format!(" (and {} more blob uploads failed)", failed - 1)
        } else {
            String::new()
        };
        return Err(Error::with_kind(
            e.kind(),
            format!("{e}{note}; the manifest was not pushed"),
        ));
    }

    // Phase 3.
    manifest::put_manifest(reg, r, a)?;
    Ok(PushStatus::Pushed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn blob(data: &[u8]) -> Blob {
        Blob {
            media_type: "application/octet-stream".into(),
            digest: sha256_digest(data),
            size: data.len() as u64,
            data: BlobData::Bytes(Arc::new(data.to_vec())),
        }
    }

    fn artifact(config: &[u8], layers: &[&[u8]]) -> Artifact {
        let manifest = b"{}".to_vec();
        Artifact {
            config: blob(config),
            layers: layers.iter().map(|l| blob(l)).collect(),
            manifest_digest: sha256_digest(&manifest),
            manifest: Arc::new(manifest),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        }
    }

    #[test]
    fn small_blobs_go_blind_big_ones_are_probed() {
        let big = vec![7u8; PROBE_MIN as usize];
        let a = artifact(b"{\"name\":\"c\"}", &[&big, b"prov"]);
        let p = plan(&a);
        assert_eq!(p.blind.len(), 2);
        assert_eq!(p.blind[0].digest, a.config.digest);
        assert_eq!(p.blind[1].digest, a.layers[1].digest);
        assert_eq!(p.probe.len(), 1);
        assert_eq!(p.probe[0].digest, a.layers[0].digest);
        assert_eq!(uploads(&p, &[true]).len(), 2);
        let all = uploads(&p, &[false]);
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].digest, a.layers[0].digest);
    }

    #[test]
    fn duplicate_blobs_are_planned_once() {
        let a = artifact(b"same", &[b"same", b"other"]);
        let p = plan(&a);
        assert_eq!(p.blind.len() + p.probe.len(), 2);
    }

    #[test]
    fn validation_catches_inconsistent_artifacts() {
        let a = artifact(b"c", &[b"l"]);
        assert!(validate(&a).is_ok());
        let mut wrong = a.clone();
        wrong.manifest_digest = sha256_digest(b"other");
        assert!(validate(&wrong)
            .unwrap_err()
            .to_string()
            .contains("does not match"));
        let mut bad = a.clone();
        bad.layers[0].digest = "sha256:XYZ".into();
        assert!(validate(&bad)
            .unwrap_err()
            .to_string()
            .contains("not sha256"));
        let mut size = a;
        size.config.size = 99;
        assert!(validate(&size).is_err());
    }

    #[test]
    fn parallel_keeps_order_and_bounds_threads() {
        let items: Vec<u32> = (0..20).collect();
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = parallel(&items, 3, |x| {
            let n = live.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            live.fetch_sub(1, Ordering::SeqCst);
            x * 2
        });
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) >= 2);
    }
}
