//! Manifest calls: HEAD the tag, and PUT the manifest, each with its
//! retries.

use super::blob::verify_digest;
use super::error::Error;
use super::exchange::{Body, Req};
use super::transport::Transport;
use super::{Artifact, Reference};

/// What the registry has at the tag.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AtTag {
    Absent,
    /// Present; the digest when the registry said it.
    Present(Option<String>),
}

pub(crate) fn head_manifest(reg: &Transport, r: &Reference, a: &Artifact) -> Result<AtTag, Error> {
    let req = Req {
        headers: vec![("Accept", a.manifest_media_type.clone())],
        ..Req::new(
            "HEAD",
            reg.repository_url(r, &format!("manifests/{}", r.tag)),
            r,
        )
    };
    let what = format!("checking {r}");
    reg.retrying(|| {
        let resp = reg.call(r, &req, &[200, 404], &what)?;
        Ok(match resp.status {
            200 => AtTag::Present(resp.header("docker-content-digest").map(str::to_string)),
            _ => AtTag::Absent,
        })
    })
}

pub(crate) fn put_manifest(reg: &Transport, r: &Reference, a: &Artifact) -> Result<(), Error> {
    let req = Req {
        headers: vec![("Content-Type", a.manifest_media_type.clone())],
        body: Body::Bytes(a.manifest.as_slice()),
        ..Req::new(
            "PUT",
            reg.repository_url(r, &format!("manifests/{}", r.tag)),
            r,
        )
    };
    let what = format!("pushing the manifest of {r}");
    reg.retrying(|| {
        let done = reg.call(r, &req, &[201], &what)?;
        verify_digest(
            done.header("docker-content-digest"),
            &a.manifest_digest,
            &what,
        )
    })
}
