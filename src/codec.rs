//! Byte encodings and digests every part needs, one name for each: base64
//! (ECR tokens, Docker `auth` fields, Basic headers), hex, SHA-256 hex (OCI
//! digests, cache file names) and SHA-1 (the AWS CLI's SSO cache file
//! names). A thin façade over the `base64`, `hex`, `sha1` and `sha2` crates
//! so the rest of the crate says what it means (`sha256_digest`), not how.
//! A leaf: depends on nothing else in the crate.

use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Standard base64 (RFC 4648 section 4) with padding.
pub fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decoding as Go's `base64.StdEncoding` tolerates it in the wild: padding
/// optional and non-zero trailing bits accepted (Go does not check them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64, padding optional, ASCII whitespace ignored (Go's
/// encoder wraps lines). None for any other character, data after padding,
/// or a lone trailing character (fewer than 8 bits: not base64).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact).ok()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// `sha256:<hex>`: a content digest as OCI and Docker write it.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// SHA-1: only to name the AWS CLI's SSO cache files, never for security.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), coded);
            assert_eq!(base64_decode(coded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn base64_round_trip_and_known_values() {
        assert_eq!(base64_encode(b"AWS:pw"), "QVdTOnB3");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("QVdTOnB3").unwrap(), b"AWS:pw");
        for n in 0..20u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
    }

    #[test]
    fn base64_decode_is_lenient_about_padding_and_whitespace() {
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64_decode("Zm9vYg").as_deref(), Some(&b"foob"[..]));
        assert_eq!(base64_decode(" QVdT\nOnB3 \r\n").unwrap(), b"AWS:pw");
        assert_eq!(base64_decode("YWI= \n").unwrap(), b"ab");
    }

    #[test]
    fn base64_decode_rejects_garbage() {
        assert!(base64_decode("a*b").is_none());
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm9vY"), None);
        assert_eq!(base64_decode("YW=I"), None);
        assert_eq!(base64_decode("YWI=x"), None);
    }

    #[test]
    fn hex_and_sha256() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sha1_known_values() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        // The AWS CLI names the cache file of `[sso-session my-sso]` this way.
        assert_eq!(hex(&sha1(b"https://d-abc123.awsapps.com/start")).len(), 40);
        let long = vec![b'a'; 1000];
        assert_eq!(
            hex(&sha1(&long)),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }
}
