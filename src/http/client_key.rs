//! Checks a client certificate and key before ureq sees them. ureq 3.5
//! `expect`s rustls to accept the pair and so panics, on the connection
//! thread, when it does not. The check here is the one rustls itself runs
//! (`CertifiedKey::from_der` with the same ring provider ureq picks), so
//! whatever passes it cannot reach that panic, and whatever fails it is
//! said in one line before any connection is made.

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::CertifiedKey;
use rustls::{Error, InconsistentKeys};

/// Why the pair cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The first certificate is not an X.509 certificate rustls can read.
    BadCertificate,
    /// rustls (with ring) cannot sign a handshake with the key: RSA outside
    /// 2048-4096 bits, EC curves other than P-256 and P-384, other types,
    /// or DER it cannot read.
    UnsupportedKey,
    /// The key is not the private half of the certificate's public key.
    Mismatch,
}

/// The first private key in `pem`, in the wrapping its PEM label names
/// (`PRIVATE KEY`: PKCS#8, `RSA PRIVATE KEY`: PKCS#1, `EC PRIVATE KEY`:
/// SEC1), as ureq reads it. `Err` when the PEM is malformed.
pub fn first_private_key(
    pem: &[u8],
) -> Result<Option<PrivateKeyDer<'static>>, rustls::pki_types::pem::Error> {
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = item?;
        let key = match kind {
            SectionKind::PrivateKey => PrivatePkcs8KeyDer::from(der).into(),
            SectionKind::RsaPrivateKey => PrivatePkcs1KeyDer::from(der).into(),
            SectionKind::EcPrivateKey => PrivateSec1KeyDer::from(der).into(),
            _ => continue,
        };
        return Ok(Some(key));
    }
    Ok(None)
}

/// `chain` starts with the leaf certificate's DER.
pub fn check(chain: &[&[u8]], key: PrivateKeyDer<'static>) -> Result<(), Refusal> {
    let chain: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.to_vec()))
        .collect();
    // The key is loaded first (as rustls does), so a key rustls cannot use
    // is named as such even beside a broken certificate.
    let provider = default_provider();
    if provider
        .key_provider
        .load_private_key(key.clone_key())
        .is_err()
    {
        return Err(Refusal::UnsupportedKey);
    }
    match CertifiedKey::from_der(chain, key, &provider) {
        Ok(_) => Ok(()),
        Err(Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => Err(Refusal::Mismatch),
        Err(Error::InconsistentKeys(_)) => Err(Refusal::Mismatch),
        Err(Error::NoCertificatesPresented) | Err(Error::InvalidCertificate(_)) => {
            Err(Refusal::BadCertificate)
        }
        // rustls has no other refusal for a pair today; whatever a later
        // version adds, the pair is not one it will sign with.
        Err(_) => Err(Refusal::UnsupportedKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Keys and self-signed certificates made by openssl, as users make them.
    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("helm-ecr-client-key-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn openssl(args: &[&str]) {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `openssl genpkey` arguments for each key type.
    fn genpkey(out: &Path, alg: &[&str]) {
        let mut args = vec!["genpkey"];
        args.extend_from_slice(alg);
        args.extend_from_slice(&["-out", out.to_str().unwrap()]);
        openssl(&args);
    }

    fn cert_for(key: &Path, cert: &Path) {
        openssl(&[
            "req",
            "-new",
            "-x509",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=client",
            "-days",
            "1",
            "-out",
            cert.to_str().unwrap(),
        ]);
    }

    fn cert_der(cert: &Path) -> Vec<u8> {
        CertificateDer::from_pem_file(cert).unwrap().to_vec()
    }

    fn key_der(key: &Path) -> PrivateKeyDer<'static> {
        first_private_key(&std::fs::read(key).unwrap())
            .unwrap()
            .unwrap()
    }

    const RSA2048: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    const ED25519: &[&str] = &["-algorithm", "ED25519"];

    #[test]
    fn pairs_match_and_strangers_do_not_for_every_key_type() {
        let d = dir("pairs");
        for (name, alg) in [("rsa", RSA2048), ("ec", P256), ("ed", ED25519)] {
            let (key, other, cert) = (
                d.0.join(format!("{name}.key")),
                d.0.join(format!("{name}-other.key")),
                d.0.join(format!("{name}.pem")),
            );
            genpkey(&key, alg);
            genpkey(&other, alg);
            cert_for(&key, &cert);
            let c = cert_der(&cert);
            assert_eq!(check(&[&c], key_der(&key)), Ok(()), "{name}");
            assert_eq!(
                check(&[&c], key_der(&other)),
                Err(Refusal::Mismatch),
                "{name}"
            );
        }
    }

    #[test]
    fn an_ed25519_key_without_its_public_half_is_still_compared() {
        // OpenSSL writes Ed25519 keys as PKCS#8 v1: a seed and no public
        // key. The DER alone cannot tell whose key it is; ring derives the
        // public half, and a stranger's key once reached ureq's panic.
        let d = dir("ed-v1");
        let (key, other, cert) = (d.0.join("k"), d.0.join("o"), d.0.join("c"));
        genpkey(&key, ED25519);
        genpkey(&other, ED25519);
        cert_for(&key, &cert);
        let PrivateKeyDer::Pkcs8(p8) = key_der(&other) else {
            panic!("openssl writes Ed25519 keys as PKCS#8");
        };
        // version INTEGER 0 (v1) right after the outer SEQUENCE header.
        assert_eq!(&p8.secret_pkcs8_der()[2..5], &[2, 1, 0], "PKCS#8 v1");
        assert_eq!(
            check(&[&cert_der(&cert)], p8.into()),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn keys_ring_cannot_sign_with_and_different_types_are_named() {
        let d = dir("unsupported");
        let (rsa, p521, cert) = (d.0.join("rsa"), d.0.join("p521"), d.0.join("c"));
        genpkey(
            &rsa,
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
        );
        genpkey(
            &p521,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
        );
        let ed = d.0.join("ed");
        genpkey(&ed, ED25519);
        cert_for(&ed, &cert);
        let c = cert_der(&cert);
        assert_eq!(check(&[&c], key_der(&rsa)), Err(Refusal::UnsupportedKey));
        assert_eq!(check(&[&c], key_der(&p521)), Err(Refusal::UnsupportedKey));
        let ec = d.0.join("ec");
        genpkey(&ec, P256);
        assert_eq!(check(&[&c], key_der(&ec)), Err(Refusal::Mismatch));
        let garbage = PrivatePkcs8KeyDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert_eq!(check(&[&c], garbage.into()), Err(Refusal::UnsupportedKey));
    }

    #[test]
    fn a_broken_or_missing_certificate_is_named() {
        let d = dir("badcert");
        let key = d.0.join("k");
        genpkey(&key, P256);
        assert_eq!(
            check(&[b"not der"], key_der(&key)),
            Err(Refusal::BadCertificate)
        );
        assert_eq!(check(&[], key_der(&key)), Err(Refusal::BadCertificate));
    }

    #[test]
    fn the_first_key_in_the_pem_is_taken_in_its_wrapping() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nBAUG\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            first_private_key(pem),
            Ok(Some(PrivateKeyDer::Sec1(_)))
        ));
        assert!(matches!(first_private_key(b"no pem here"), Ok(None)));
        assert!(first_private_key(b"-----BEGIN PRIVATE KEY-----\n!!\n").is_err());
    }
}
