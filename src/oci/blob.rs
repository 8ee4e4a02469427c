//! Blob calls: HEAD a blob, and upload one (POST a session, PUT the whole
//! body), each with its retries.

use super::error::{Error, ErrorKind};
use super::exchange::{resolve, with_digest, Body, Req};
use super::transport::Transport;
use super::{Blob, BlobData, Reference};

/// `sha256:0123456789ab` for messages.
pub(crate) fn short(digest: &str) -> &str {
    digest
        .get(..digest.len().min("sha256:".len() + 12))
        .unwrap_or(digest)
}

pub(crate) fn head_blob(reg: &Transport, r: &Reference, blob: &Blob) -> Result<bool, Error> {
    let url = reg.repository_url(r, &format!("blobs/{}", blob.digest));
    let req = Req::new("HEAD", url, r);
    let what = format!("checking blob {}", short(&blob.digest));
    reg.retrying(|| {
        let resp = reg.call(r, &req, &[200, 404], &what)?;
        Ok(resp.status == 200)
    })
}

/// POST a session, then PUT the whole blob to it with `?digest=`. Never
/// chunked PATCH (ECR loses data after the first chunk). A failed attempt
/// restarts with a new session: a half-sent body cannot be resumed.
pub(crate) fn upload_blob(reg: &Transport, r: &Reference, blob: &Blob) -> Result<(), Error> {
    let start = Req::new("POST", reg.repository_url(r, "blobs/uploads/"), r);
    let label = format!("{}:{} {}", r.repository, r.tag, short(&blob.digest));
    let what = format!("uploading blob {} to {}", short(&blob.digest), r.repository);
    reg.retrying(|| {
        let resp = reg.call(r, &start, &[202], &what)?;
        let location = resp.header("location").ok_or_else(|| {
            Error::with_kind(
                ErrorKind::Rejected,
                format!("{what}: the registry started an upload without a Location"),
            )
        })?;
        let body = match &blob.data {
            BlobData::Bytes(b) => Body::Bytes(b.as_slice()),
            BlobData::File(path) => Body::File {
                path,
                size: blob.size,
            },
        };
        let put = Req {
            headers: vec![("Content-Type", "application/octet-stream".into())],
            body,
            label: &label,
            ..Req::new(
                "PUT",
                with_digest(&resolve(&resp.url, location), &blob.digest),
                r,
            )
        };
        let done = reg.call(r, &put, &[201], &what)?;
        verify_digest(done.header("docker-content-digest"), &blob.digest, &what)
    })
}

/// A registry that names a different digest stored something else: fail
/// rather than point a manifest at it.
pub(crate) fn verify_digest(got: Option<&str>, want: &str, what: &str) -> Result<(), Error> {
    match got {
        Some(d) if d != want => Err(Error::with_kind(
            ErrorKind::Rejected,
            format!("{what}: the registry stored {d}, expected {want}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_verification() {
        assert!(verify_digest(None, "sha256:a", "x").is_ok());
        assert!(verify_digest(Some("sha256:a"), "sha256:a", "x").is_ok());
        let e = verify_digest(Some("sha256:b"), "sha256:a", "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rejected);
    }

    #[test]
    fn short_digests() {
        assert_eq!(short("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(short("sha256:01"), "sha256:01");
    }
}
