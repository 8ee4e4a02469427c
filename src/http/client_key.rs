//! Checks a client certificate and key before ureq sees them. ureq 3.5
//! `expect`s rustls to accept the pair and so panics, on the connection
//! thread, when the key is not the certificate's or is one rustls (with
//! ring) cannot sign with: RSA outside 2048-4096 bits, EC curves other than
//! P-256 and P-384, an EC key without its public point, other key types.
//! Those cases are found here, from the DER alone, and said in one line.

/// Why the pair cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The first certificate is not X.509 DER we can find a public key in.
    BadCertificate,
    /// The key cannot sign a handshake here; says what the key is.
    UnsupportedKey(String),
    /// The key is not the private half of the certificate's public key.
    Mismatch,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// A public key as a certificate or a private key states it.
#[derive(Debug, PartialEq, Eq)]
enum Public<'a> {
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    /// The curve's OID and the encoded point, when the DER carries them.
    Ec {
        curve: Option<&'a [u8]>,
        point: Option<&'a [u8]>,
    },
    /// A PKCS#8 v1 Ed25519 key carries no public key.
    Ed25519(Option<&'a [u8]>),
    Other,
}

/// `cert` is the leaf certificate's DER, `key` the private key's (PKCS#8,
/// PKCS#1 or SEC1: told apart by their second field).
pub fn check(cert: &[u8], key: &[u8]) -> Result<(), Refusal> {
    let ours = cert_public(cert).ok_or(Refusal::BadCertificate)?;
    let theirs = key_public(key)
        .ok_or_else(|| Refusal::UnsupportedKey("a key whose DER cannot be read".into()))?;
    match (theirs, ours) {
        (Public::Rsa { n, e }, Public::Rsa { n: cn, e: ce }) => {
            let bits = bit_length(n);
            if !(2048..=4096).contains(&bits) {
                return Err(Refusal::UnsupportedKey(format!(
                    "an RSA key of {bits} bits"
                )));
            }
            if (n, e) != (cn, ce) {
                return Err(Refusal::Mismatch);
            }
        }
        (
            Public::Ec { curve, point },
            Public::Ec {
                curve: cc,
                point: cp,
            },
        ) => {
            let curve = curve.or(cc);
            if curve != Some(P256) && curve != Some(P384) {
                return Err(Refusal::UnsupportedKey(
                    "an EC key on a curve other than P-256 and P-384".into(),
                ));
            }
            if point.is_none() {
                return Err(Refusal::UnsupportedKey(
                    "an EC key without its public key".into(),
                ));
            }
            if curve != cc || point != cp {
                return Err(Refusal::Mismatch);
            }
        }
        (Public::Ed25519(key), Public::Ed25519(ck)) => {
            // Without the public half in the key file only rustls can tell.
            if key.is_some() && key != ck {
                return Err(Refusal::Mismatch);
            }
        }
        (Public::Other, _) => {
            return Err(Refusal::UnsupportedKey(
                "a key of a type other than RSA, EC or Ed25519".into(),
            ))
        }
        _ => return Err(Refusal::Mismatch),
    }
    Ok(())
}

/// One DER element: its tag, its contents and what follows it.
fn next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The contents of the element `input` starts with, if it has `tag`.
fn take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = next(input)?;
    (t == tag).then_some((contents, rest))
}

/// A BIT STRING's bits, when they are whole bytes (as keys always are).
fn whole_bytes(bits: &[u8]) -> Option<&[u8]> {
    match bits.split_first()? {
        (0, bytes) => Some(bytes),
        _ => None,
    }
}

fn bit_length(integer: &[u8]) -> usize {
    let skip = integer.iter().take_while(|&&b| b == 0).count();
    match integer.get(skip) {
        Some(&b) => (integer.len() - skip) * 8 - b.leading_zeros() as usize,
        None => 0,
    }
}

/// The subjectPublicKeyInfo of an X.509 certificate (RFC 5280 4.1).
fn cert_public(cert: &[u8]) -> Option<Public<'_>> {
    let (cert, _) = take(cert, SEQUENCE)?;
    let (mut tbs, _) = take(cert, SEQUENCE)?;
    if tbs.first() == Some(&0xa0) {
        tbs = next(tbs)?.2; // [0] version
    }
    for _ in 0..5 {
        tbs = next(tbs)?.2; // serial, signature, issuer, validity, subject
    }
    let (spki, _) = take(tbs, SEQUENCE)?;
    let (algorithm, rest) = take(spki, SEQUENCE)?;
    let key = whole_bytes(take(rest, BIT_STRING)?.0)?;
    let (oid, params) = take(algorithm, OID)?;
    Some(match oid {
        RSA => rsa_public(key)?,
        EC => Public::Ec {
            curve: take(params, OID).map(|(c, _)| c),
            point: Some(key),
        },
        ED25519 => Public::Ed25519(Some(key)),
        _ => Public::Other,
    })
}

/// RSAPublicKey (RFC 8017 A.1.1): n, e.
fn rsa_public(der: &[u8]) -> Option<Public<'_>> {
    rsa_public_fields(take(der, SEQUENCE)?.0)
}

/// All three start with a version; then PKCS#8 has an AlgorithmIdentifier,
/// PKCS#1 the modulus and SEC1 the private key's octets.
fn key_public(der: &[u8]) -> Option<Public<'_>> {
    let (seq, _) = take(der, SEQUENCE)?;
    let (_, rest) = take(seq, INTEGER)?;
    match next(rest)?.0 {
        SEQUENCE => pkcs8(der),
        INTEGER => rsa_private(der),
        OCTET_STRING => ec_private(der, None),
        _ => None,
    }
}

/// OneAsymmetricKey (RFC 5958): version, algorithm, privateKey,
/// [0] attributes, [1] publicKey.
fn pkcs8(der: &[u8]) -> Option<Public<'_>> {
    let (seq, _) = take(der, SEQUENCE)?;
    let (_, rest) = take(seq, INTEGER)?;
    let (algorithm, rest) = take(rest, SEQUENCE)?;
    let (private, mut rest) = take(rest, OCTET_STRING)?;
    let (oid, params) = take(algorithm, OID)?;
    match oid {
        RSA => rsa_private(private),
        EC => ec_private(private, take(params, OID).map(|(c, _)| c)),
        ED25519 => {
            let mut public = None;
            while let Some((tag, contents, after)) = next(rest) {
                if tag == 0x81 {
                    public = whole_bytes(contents);
                }
                rest = after;
            }
            Some(Public::Ed25519(public))
        }
        _ => Some(Public::Other),
    }
}

/// RSAPrivateKey (RFC 8017 A.1.2): version, n, e, ...
fn rsa_private(der: &[u8]) -> Option<Public<'_>> {
    let (seq, _) = take(der, SEQUENCE)?;
    let (_, rest) = take(seq, INTEGER)?;
    rsa_public_fields(rest)
}

fn rsa_public_fields(der: &[u8]) -> Option<Public<'_>> {
    let (n, rest) = take(der, INTEGER)?;
    let (e, _) = take(rest, INTEGER)?;
    Some(Public::Rsa { n, e })
}

/// ECPrivateKey (RFC 5915): version, privateKey, [0] curve, [1] publicKey.
fn ec_private<'a>(der: &'a [u8], curve: Option<&'a [u8]>) -> Option<Public<'a>> {
    let (seq, _) = take(der, SEQUENCE)?;
    let (_, rest) = take(seq, INTEGER)?;
    let (_, mut rest) = take(rest, OCTET_STRING)?;
    let (mut curve, mut point) = (curve, None);
    while let Some((tag, contents, after)) = next(rest) {
        match tag {
            0xa0 => curve = curve.or_else(|| take(contents, OID).map(|(c, _)| c)),
            0xa1 => point = take(contents, BIT_STRING).and_then(|(b, _)| whole_bytes(b)),
            _ => {}
        }
        rest = after;
    }
    Some(Public::Ec { curve, point })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER element from tag and contents.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    fn bits(bytes: &[u8]) -> Vec<u8> {
        tlv(BIT_STRING, &[&[0u8][..], bytes].concat())
    }

    /// A modulus of `bits` bits (value irrelevant to the checks).
    fn modulus(bits: usize, fill: u8) -> Vec<u8> {
        let mut n = vec![fill; bits / 8];
        n[0] = 0x80 | fill;
        [vec![0], n].concat() // DER: a leading zero keeps it positive
    }

    fn cert_with(spki: Vec<u8>) -> Vec<u8> {
        let name = seq(&[]);
        let tbs = seq(&[
            tlv(0xa0, &tlv(INTEGER, &[2])),
            tlv(INTEGER, &[1]),
            seq(&[tlv(OID, RSA)]),
            name.clone(),
            seq(&[]),
            name,
            spki,
        ]);
        seq(&[tbs, seq(&[tlv(OID, RSA)]), bits(&[1, 2, 3])])
    }

    fn rsa_cert(n: &[u8]) -> Vec<u8> {
        let public = seq(&[tlv(INTEGER, n), tlv(INTEGER, &[1, 0, 1])]);
        cert_with(seq(&[seq(&[tlv(OID, RSA), tlv(0x05, &[])]), bits(&public)]))
    }

    fn rsa_pkcs1(n: &[u8]) -> Vec<u8> {
        seq(&[
            tlv(INTEGER, &[0]),
            tlv(INTEGER, n),
            tlv(INTEGER, &[1, 0, 1]),
            tlv(INTEGER, &[7]),
        ])
    }

    fn pkcs8_wrap(oid: &[u8], params: Vec<u8>, private: Vec<u8>, tail: Vec<u8>) -> Vec<u8> {
        seq(&[
            tlv(INTEGER, &[0]),
            seq(&[tlv(OID, oid), params]),
            tlv(OCTET_STRING, &private),
            tail,
        ])
    }

    fn ec_cert(curve: &[u8], point: &[u8]) -> Vec<u8> {
        cert_with(seq(&[seq(&[tlv(OID, EC), tlv(OID, curve)]), bits(point)]))
    }

    fn sec1(curve: Option<&[u8]>, point: Option<&[u8]>) -> Vec<u8> {
        let mut parts = vec![tlv(INTEGER, &[1]), tlv(OCTET_STRING, &[9; 32])];
        if let Some(c) = curve {
            parts.push(tlv(0xa0, &tlv(OID, c)));
        }
        if let Some(p) = point {
            parts.push(tlv(0xa1, &bits(p)));
        }
        seq(&parts)
    }

    #[test]
    fn rsa_pairs_match_by_modulus_in_every_wrapping() {
        let n = modulus(2048, 0x11);
        let cert = rsa_cert(&n);
        assert_eq!(check(&cert, &rsa_pkcs1(&n)), Ok(()));
        let p8 = pkcs8_wrap(RSA, tlv(0x05, &[]), rsa_pkcs1(&n), vec![]);
        assert_eq!(check(&cert, &p8), Ok(()));
        let other = rsa_pkcs1(&modulus(2048, 0x22));
        assert_eq!(check(&cert, &other), Err(Refusal::Mismatch));
    }

    #[test]
    fn rsa_sizes_ring_cannot_sign_with_are_named() {
        for size in [1024, 8192] {
            let n = modulus(size, 0x11);
            assert_eq!(
                check(&rsa_cert(&n), &rsa_pkcs1(&n)),
                Err(Refusal::UnsupportedKey(format!(
                    "an RSA key of {size} bits"
                )))
            );
        }
    }

    #[test]
    fn ec_pairs_match_by_point_and_curve() {
        let point = [4u8; 65];
        let cert = ec_cert(P256, &point);
        let key = pkcs8_wrap(EC, tlv(OID, P256), sec1(None, Some(&point)), vec![]);
        assert_eq!(check(&cert, &key), Ok(()));
        assert_eq!(check(&cert, &sec1(Some(P256), Some(&point))), Ok(()));
        let other = sec1(Some(P256), Some(&[5; 65]));
        assert_eq!(check(&cert, &other), Err(Refusal::Mismatch));
        let on_p384 = sec1(Some(P384), Some(&point));
        assert_eq!(check(&cert, &on_p384), Err(Refusal::Mismatch));
        assert!(matches!(
            check(&cert, &sec1(Some(P256), None)),
            Err(Refusal::UnsupportedKey(_))
        ));
        let p521 = [0x2b, 0x81, 0x04, 0x00, 0x23];
        assert!(matches!(
            check(&ec_cert(&p521, &point), &sec1(Some(&p521), Some(&point))),
            Err(Refusal::UnsupportedKey(_))
        ));
    }

    #[test]
    fn ed25519_is_compared_only_when_the_key_carries_its_public_half() {
        let cert = cert_with(seq(&[seq(&[tlv(OID, ED25519)]), bits(&[3; 32])]));
        let seed = tlv(OCTET_STRING, &[1; 32]);
        let v1 = pkcs8_wrap(ED25519, vec![], seed.clone(), vec![]);
        assert_eq!(check(&cert, &v1), Ok(()));
        let v2 = |public: &[u8]| {
            pkcs8_wrap(
                ED25519,
                vec![],
                seed.clone(),
                tlv(0x81, &[&[0u8][..], public].concat()),
            )
        };
        assert_eq!(check(&cert, &v2(&[3; 32])), Ok(()));
        assert_eq!(check(&cert, &v2(&[4; 32])), Err(Refusal::Mismatch));
    }

    #[test]
    fn different_key_types_mismatch_and_garbage_is_named() {
        let n = modulus(2048, 0x11);
        let point = [4u8; 65];
        assert_eq!(
            check(&ec_cert(P256, &point), &rsa_pkcs1(&n)),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            check(b"not der", &rsa_pkcs1(&n)),
            Err(Refusal::BadCertificate)
        );
        assert!(matches!(
            check(&rsa_cert(&n), b"\x30\x03\x02\x01"),
            Err(Refusal::UnsupportedKey(_))
        ));
        let dsa = [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
        let key = pkcs8_wrap(&dsa, vec![], tlv(INTEGER, &[5]), vec![]);
        assert!(matches!(
            check(&rsa_cert(&n), &key),
            Err(Refusal::UnsupportedKey(_))
        ));
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x01, 0]), 9);
        assert_eq!(bit_length(&[0]), 0);
    }
}
