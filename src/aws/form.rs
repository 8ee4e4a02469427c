//! `application/x-www-form-urlencoded` as the AWS query APIs (STS) and the
//! SSO portal's query strings expect it: the AWS SDKs' encoding (RFC 3986
//! unreserved characters kept, everything else `%XX`, a space `%20`), by
//! the `percent-encoding` crate. Not `form_urlencoded`: the WHATWG form
//! encoding it implements writes a space as `+` and `~` as `%7E`, other
//! bytes than the SDKs sign and send.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One value (or key), percent-encoded.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// `k=v&k=v`, keys and values encoded by [`encode`], in the given order.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("RoleArn", "arn:aws:iam::1:role/a b"), ("X", "~")]),
            "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b&X=~"
        );
        assert_eq!(form_encode(&[]), "");
    }

    #[test]
    fn every_byte_outside_the_unreserved_set_is_escaped() {
        assert_eq!(encode("a+b=c,d@e*f"), "a%2Bb%3Dc%2Cd%40e%2Af");
        assert_eq!(encode("Az09-._~"), "Az09-._~");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
