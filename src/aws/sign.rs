//! SigV4 through aws-sigv4: given a request's parts, the headers to add.

use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use super::{Credentials, Error};

/// What to sign with.
pub struct Signer<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
}

/// The headers (Authorization, X-Amz-Date, X-Amz-Security-Token) that sign
/// `method url` with `headers` and `body`. Every header passed is signed, so
/// pass content-type and x-amz-target here.
pub fn sign_headers(
    signer: &Signer<'_>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, Error> {
    let c = signer.credentials;
    let identity = aws_credential_types::Credentials::new(
        c.access_key_id.clone(),
        c.secret_access_key.clone(),
        c.session_token.clone(),
        c.expires_at,
        "helm-ecr",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signer.region)
        .name(signer.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| Error::Transport(format!("cannot sign the AWS request: {e}")))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| Error::Transport(format!("cannot sign the AWS request to {url}: {e}")))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| Error::Transport(format!("cannot sign the AWS request to {url}: {e}")))?
        .into_parts();
    let (out, _params) = instructions.into_parts();
    Ok(out
        .into_iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
            expires_at: None,
        }
    }

    fn signed(token: Option<&str>) -> Vec<(String, String)> {
        let c = creds(token);
        let signer = Signer {
            credentials: &c,
            region: "us-east-1",
            service: "ecr",
        };
        sign_headers(
            &signer,
            "POST",
            "https://api.ecr.us-east-1.amazonaws.com/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
                ),
            ],
            b"{}",
            UNIX_EPOCH + Duration::from_secs(1_440_938_160), // 2015-08-30T12:36:00Z
        )
        .unwrap()
    }

    fn get<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn request_shape() {
        let h = signed(None);
        let auth = get(&h, "authorization").unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecr/aws4_request, SignedHeaders="
        ), "{auth}");
        let signed_headers = auth.split("SignedHeaders=").nth(1).unwrap();
        assert!(
            signed_headers.starts_with("content-type;host;x-amz-date;x-amz-target,"),
            "{auth}"
        );
        assert!(auth.contains("Signature="));
        assert!(!auth.contains("wJalr"));
        assert_eq!(get(&h, "x-amz-date"), Some("20150830T123600Z"));
        assert!(get(&h, "x-amz-security-token").is_none());
        // Same input, same signature: the signature depends only on the request.
        assert_eq!(signed(None), h);
    }

    #[test]
    fn session_token_is_sent_and_signed() {
        let h = signed(Some("TOKEN"));
        assert_eq!(get(&h, "x-amz-security-token"), Some("TOKEN"));
        let auth = get(&h, "authorization").unwrap();
        assert!(auth.contains("x-amz-security-token"), "{auth}");
        assert_ne!(get(&signed(None), "authorization"), Some(auth));
    }
}
