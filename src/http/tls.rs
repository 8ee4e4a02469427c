//! The TLS configuration: roots from `--ca-file` (replacing the built-in
//! Mozilla roots, as Helm's `--ca-file` and AWS_CA_BUNDLE do), client
//! certificates, and verification off only when asked.

use super::client_key::{self, Refusal};
use super::{Error, HttpOptions};
use rustls::pki_types::PrivateKeyDer;
use std::path::Path;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The TLS configuration `options` ask for, or why it cannot be built.
pub fn config(options: &HttpOptions) -> Result<TlsConfig, Error> {
    build(options).map_err(Error::Tls)
}

fn build(options: &HttpOptions) -> Result<TlsConfig, String> {
    let mut b = TlsConfig::builder().disable_verification(options.insecure);
    if let Some(ca) = &options.ca_file {
        let certs = certificates(ca, ca_source(ca, std::env::var_os("AWS_CA_BUNDLE")))?;
        b = b.root_certs(RootCerts::new_with_certs(&certs));
    }
    match (&options.cert_file, &options.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let chain = certificates(cert_file, "--cert-file")?;
            let (key, der) = private_key(key_file)?;
            let ders: Vec<&[u8]> = chain.iter().map(|c| c.der()).collect();
            client_key::check(&ders, der).map_err(|r| refusal(r, cert_file, key_file))?;
            b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        (Some(_), None) => return Err("--cert-file needs --key-file".into()),
        (None, Some(_)) => return Err("--key-file needs --cert-file".into()),
    }
    Ok(b.build())
}

fn refusal(r: Refusal, cert: &Path, key: &Path) -> String {
    match r {
        Refusal::BadCertificate => format!(
            "--cert-file {}: its first certificate is not a valid X.509 certificate: give the \
             client certificate in PEM (-----BEGIN CERTIFICATE-----)",
            cert.display()
        ),
        Refusal::UnsupportedKey => format!(
            "--key-file {}: a key TLS handshakes cannot be signed with here (its type, size or \
             curve, or unreadable DER): use an RSA (2048-4096 bits), ECDSA P-256/P-384 or \
             Ed25519 key",
            key.display()
        ),
        Refusal::Mismatch => format!(
            "--key-file {} is not the private key of the certificate in --cert-file {}: give \
             the key that certificate was issued for",
            key.display(),
            cert.display()
        ),
    }
}

/// What to call the CA bundle in messages: the AWS side's comes from
/// AWS_CA_BUNDLE, and "--ca-file" there would send the user to the wrong knob.
fn ca_source(path: &Path, aws_ca_bundle: Option<std::ffi::OsString>) -> &'static str {
    if aws_ca_bundle.is_some_and(|v| Path::new(&v) == path) {
        "AWS_CA_BUNDLE"
    } else {
        "--ca-file"
    }
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "{flag} {}: cannot read it ({e}): give the path of a readable PEM file",
            path.display()
        )
    })
}

fn certificates(path: &Path, flag: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = read(path, flag)?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("{flag} {}: not valid PEM: {e}", path.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The key as ureq takes it, and as rustls checks it: the same first key
/// of the PEM, read by the same PEM reader (rustls-pki-types).
fn private_key(path: &Path) -> Result<(PrivateKey<'static>, PrivateKeyDer<'static>), String> {
    let pem = read(path, "--key-file")?;
    // The key's bytes must not reach an error message: say only where.
    let invalid = |_| format!("--key-file {}: not valid PEM", path.display());
    let der = client_key::first_private_key(&pem).map_err(invalid)?;
    let ours = ureq::tls::parse_pem(&pem).find_map(|item| match item {
        Ok(PemItem::PrivateKey(k)) => Some(k.to_owned()),
        _ => None,
    });
    if let (Some(ours), Some(der)) = (ours, der) {
        return Ok((ours, der));
    }
    Err(format!(
        "--key-file {}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1)",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_without_key_is_refused() {
        let o = HttpOptions {
            cert_file: Some("c.pem".into()),
            ..Default::default()
        };
        assert_eq!(
            config(&o).unwrap_err().to_string(),
            "--cert-file needs --key-file"
        );
    }

    #[test]
    fn the_aws_ca_bundle_is_named_as_such() {
        let p = Path::new("/etc/aws-ca.pem");
        assert_eq!(
            ca_source(p, Some("/etc/aws-ca.pem".into())),
            "AWS_CA_BUNDLE"
        );
        assert_eq!(ca_source(p, Some("/other.pem".into())), "--ca-file");
        assert_eq!(ca_source(p, None), "--ca-file");
    }

    #[test]
    fn ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("helm-ecr-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let o = HttpOptions {
            ca_file: Some(f.clone()),
            ..Default::default()
        };
        let e = config(&o).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let missing = HttpOptions {
            ca_file: Some(dir.join("missing.pem")),
            ..Default::default()
        };
        assert!(config(&missing)
            .unwrap_err()
            .to_string()
            .starts_with("--ca-file "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
