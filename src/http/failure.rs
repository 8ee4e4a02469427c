//! How an HTTP exchange failed, classified once for every protocol: whether
//! another attempt may go better (the registry and the AWS APIs both ask
//! [`is_retryable_error`]), and one line saying what failed and what to do.

use super::{authority_of, redact_url, retry, tls_probe, Error, Http};
use std::time::Duration;

impl Http {
    /// The error for a failed exchange with `url`: what to say, and whether
    /// another attempt could go better. A plain-HTTP request that a TLS server cut
    /// off (reset, or TLS bytes for an answer) is found by offering that
    /// server a TLS handshake, and is final.
    pub fn failure(&self, err: ureq::Error, url: &str) -> Error {
        let (message, retryable) = self.explain(&err, url);
        Error::Exchange {
            message,
            retryable,
            source: err,
        }
    }

    fn explain(&self, err: &ureq::Error, url: &str) -> (String, bool) {
        if url.starts_with("http://") && is_cut_off(err) {
            let authority = authority_of(url);
            let timeout = retry::scale_duration(Duration::from_secs(3), self.scale);
            if tls_probe::speaks_tls(&authority, timeout) {
                return (
                    format!(
                        "{authority} speaks HTTPS (it answers a TLS handshake) and cut off the plain \
                         HTTP request ({err}): drop --plain-http (with --ca-file if its CA is private)"
                    ),
                    false,
                );
            }
        }
        if let Some(ca) = &self.options.ca_file {
            if is_certificate_error(err) && is_unknown_issuer(err) {
                // "pass --ca-file" would be no advice: it was passed.
                return (
                    format!(
                        "TLS with {} failed ({err}): its certificate is not signed by the CA in \
                         --ca-file {}: give the CA that issued the registry's certificate; \
                         --insecure skips verification",
                        authority_of(url),
                        ca.display()
                    ),
                    false,
                );
            }
        }
        (describe_error(err, url), is_retryable_error(err))
    }
}

/// The peer ended the exchange early: reset, closed, or answered bytes
/// that are not HTTP. What a TLS server does to a plain HTTP request.
fn is_cut_off(err: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match err {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe
        ),
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// The request ran past its deadline: the peer kept it alive but slow.
fn is_past_deadline(err: &ureq::Error) -> bool {
    matches!(err, ureq::Error::Timeout(ureq::Timeout::Global))
}

/// Connection failures, resets and stalls: worth another attempt.
/// DNS failures, TLS verification failures and malformed URLs are not.
pub fn is_retryable_error(err: &ureq::Error) -> bool {
    // A peer that kept the whole deadline busy would take it again: five
    // attempts would only multiply the wait.
    if is_past_deadline(err) {
        return false;
    }
    match err {
        ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => {
            !is_certificate_error(err)
                && !is_unknown_host(err)
                && !is_plain_http_answer(err)
                && !is_client_cert_refused(err)
        }
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// A name the resolver says does not exist will not exist a second later
/// (a temporary resolver failure, EAI_AGAIN, is still retried).
fn is_unknown_host(err: &ureq::Error) -> bool {
    let s = err.to_string();
    matches!(err, ureq::Error::HostNotFound)
        || s.contains("Name or service not known")
        || s.contains("No address associated with hostname")
        || s.contains("nodename nor servname provided")
}

/// A TLS handshake answered in plain HTTP: rustls sees `H` (of `HTTP/1.1`)
/// where a TLS record type belongs. Asking again will not change that.
fn is_plain_http_answer(err: &ureq::Error) -> bool {
    err.to_string().contains("InvalidContentType")
}

/// The server ended the handshake over our client certificate: none sent
/// to a registry that requires one, or one it does not trust. rustls reports
/// the peer's alert by name (`received fatal alert: BadCertificate`); an
/// alert about a certificate from the server is always about ours, since
/// the server's own certificate is judged on this side.
fn is_client_cert_refused(err: &ureq::Error) -> bool {
    let s = err.to_string();
    s.split("received fatal alert: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .is_some_and(|alert| alert.contains("Certificate") || alert == "UnknownCA")
}

/// The certificate is fine, for another name: no CA will change that.
fn is_name_mismatch(err: &ureq::Error) -> bool {
    let s = err.to_string();
    s.contains("not valid for name") || s.contains("NotValidForName")
}

/// Signed by no CA we were given.
fn is_unknown_issuer(err: &ureq::Error) -> bool {
    let s = err.to_string();
    s.contains("UnknownIssuer") || s.contains("unknown issuer")
}

fn is_certificate_error(err: &ureq::Error) -> bool {
    let s = err.to_string();
    matches!(err, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || s.contains("certificate")
        || s.contains("UnknownIssuer")
}

/// One line saying what failed and what to do about it.
pub fn describe_error(err: &ureq::Error, raw_url: &str) -> String {
    let url = redact_url(raw_url);
    let host = authority_of(&url);
    if is_client_cert_refused(err) {
        return format!(
            "{host} refused the TLS handshake over the client certificate ({err}): the registry \
             requires one it trusts: pass --cert-file and --key-file with a certificate signed \
             by a CA the registry accepts"
        );
    }
    if is_certificate_error(err) && is_name_mismatch(err) {
        let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        return format!(
            "TLS with {host} failed ({err}): the registry's certificate is not issued for \
             {name}: reach the registry by a name the certificate lists, or have it reissued for \
             {name}; --insecure skips verification"
        );
    }
    if is_certificate_error(err) {
        return format!(
            "TLS with {host} failed ({err}): if the registry uses a private CA, pass \
             --ca-file with it; --insecure skips verification"
        );
    }
    if is_plain_http_answer(err) {
        return format!(
            "{host} does not speak TLS ({err}): if the registry serves plain HTTP, pass --plain-http"
        );
    }
    if is_unknown_host(err) {
        return format!("cannot resolve {host}: check the registry host name and your DNS");
    }
    // Over plain HTTP already, "try --plain-http" would be no advice at all.
    let plain_hint = if url.starts_with("http://") {
        ""
    } else {
        ", and --plain-http needed"
    };
    match err {
        _ if is_past_deadline(err) => format!(
            "{host} kept the request to {url} going past its deadline (the registry, or a proxy \
             between, is answering a trickle): check the network and proxy settings (HTTPS_PROXY, \
             NO_PROXY), or push to another registry"
        ),
        ureq::Error::Timeout(t) => format!(
            "{host} did not answer in time ({t}) for {url}: check the network or proxy \
             (HTTPS_PROXY, NO_PROXY)"
        ),
        ureq::Error::ConnectionFailed => {
            format!("cannot connect to {host}: is the registry up, and the port right?")
        }
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("cannot connect to {host}: connection refused (is the registry up, the port right{plain_hint}?)")
        }
        ureq::Error::Io(e) => format!(
            "connection to {host} failed: {e}: check the network and proxy settings (HTTPS_PROXY, NO_PROXY)"
        ),
        ureq::Error::Protocol(e) => format!(
            "{host} answered something that is not HTTP/1.1 ({e}): does it need --plain-http, or not?"
        ),
        // Some errors quote the URL (bad URI): never its signed query.
        other => format!(
            "request to {url} failed: {}",
            other.to_string().replace(raw_url, &url)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;

    #[test]
    fn unknown_hosts_are_not_retried_but_resets_are() {
        let io = |m: &str| ureq::Error::Io(std::io::Error::other(m.to_string()));
        assert!(!is_retryable_error(&io(
            "failed to lookup address information: Name or service not known"
        )));
        assert!(!is_retryable_error(&ureq::Error::HostNotFound));
        assert!(is_retryable_error(&io("connection reset by peer")));
        assert!(is_retryable_error(&ureq::Error::ConnectionFailed));
    }

    #[test]
    fn tls_to_a_plain_http_port_is_not_retried_and_names_plain_http() {
        let e = ureq::Error::Io(std::io::Error::other(
            "received corrupt message of type InvalidContentType",
        ));
        assert!(!is_retryable_error(&e));
        let m = describe_error(&e, "https://127.0.0.1:5000/v2/");
        assert!(
            m.contains("127.0.0.1:5000") && m.contains("pass --plain-http"),
            "{m}"
        );
    }

    #[test]
    fn a_refused_client_certificate_is_not_retried_and_names_the_flags() {
        for alert in ["BadCertificate", "CertificateRequired", "UnknownCA"] {
            let e = ureq::Error::Io(std::io::Error::other(format!(
                "received fatal alert: {alert}"
            )));
            assert!(!is_retryable_error(&e), "{alert}");
            let m = describe_error(&e, "https://127.0.0.1:5000/v2/");
            assert!(
                m.contains("--cert-file and --key-file") && !m.contains("--ca-file"),
                "{m}"
            );
        }
        // Other alerts stay what they were.
        let e = ureq::Error::Io(std::io::Error::other(
            "received fatal alert: HandshakeFailure",
        ));
        assert!(!describe_error(&e, "https://h/v2/").contains("--cert-file"));
    }

    #[test]
    fn unknown_hosts_and_refusals_say_what_to_check() {
        let io = |e: std::io::Error| ureq::Error::Io(e);
        let m = describe_error(
            &io(std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            )),
            "https://nope.invalid/v2/",
        );
        assert_eq!(
            m,
            "cannot resolve nope.invalid: check the registry host name and your DNS"
        );
        let refused = || io(std::io::ErrorKind::ConnectionRefused.into());
        let m = describe_error(&refused(), "http://127.0.0.1:1/v2/");
        assert!(!m.contains("--plain-http"), "{m}");
        let m = describe_error(&refused(), "https://127.0.0.1:1/v2/");
        assert!(m.contains("--plain-http needed"), "{m}");
    }

    #[test]
    fn an_error_quoting_the_url_loses_its_query() {
        let raw = "https://s3.example/b?X-Amz-Signature=zzz";
        let m = describe_error(&ureq::Error::BadUri(raw.to_string()), raw);
        assert!(!m.contains("zzz") && m.contains("<redacted>"), "{m}");
    }

    #[test]
    fn a_request_past_its_deadline_is_final_and_says_what_to_check() {
        let e = ureq::Error::Timeout(ureq::Timeout::Global);
        assert!(!is_retryable_error(&e));
        let m = describe_error(&e, "https://reg:5000/v2/ns/c/blobs/uploads/x?_state=s");
        assert!(
            m.contains("reg:5000") && m.contains("deadline") && m.contains("check the network"),
            "{m}"
        );
        assert!(!m.contains("_state=s"), "{m}");
        // A stall of one read is still worth another attempt.
        assert!(is_retryable_error(&ureq::Error::Timeout(
            ureq::Timeout::PerRead
        )));
    }

    #[test]
    fn a_plain_http_request_cut_off_by_a_tls_server_is_final_and_names_the_flag() {
        use std::io::{Read, Write};
        // Resets a plain request (unread bytes make the close a reset) and
        // answers a ClientHello with a TLS alert, as TLS terminators do.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { break };
                let mut first = [0u8; 1];
                if c.read_exact(&mut first).is_ok() && first[0] == 0x16 {
                    let _ = c.write_all(b"\x15\x03\x03\x00\x02\x02\x28");
                }
            }
        });
        let http = Http::new(HttpOptions::default()).unwrap();
        let reset = ureq::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        let (m, retry) = http.explain(&reset, &format!("http://{addr}/v2/"));
        assert!(!retry, "{m}");
        assert!(
            m.contains("speaks HTTPS") && m.contains("drop --plain-http"),
            "{m}"
        );
        // The same reset over HTTPS, or from a port that is not TLS, stays
        // an ordinary, retried reset.
        let (m, retry) = http.explain(&reset, &format!("https://{addr}/v2/"));
        assert!(retry && !m.contains("--plain-http"), "{m}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (m, retry) = http.explain(&reset, &format!("http://127.0.0.1:{port}/v2/"));
        assert!(retry && !m.contains("speaks HTTPS"), "{m}");
    }

    #[test]
    fn a_certificate_for_another_name_or_issuer_is_not_sent_to_ca_file() {
        let io = |m: &str| ureq::Error::Io(std::io::Error::other(m.to_string()));
        let name = io(
            "invalid peer certificate: certificate not valid for name \"127.0.0.2\"; \
                       certificate is only valid for IpAddress(127.0.0.1)",
        );
        assert!(!is_retryable_error(&name));
        let m = describe_error(&name, "https://127.0.0.2:5000/v2/");
        assert!(
            !m.contains("--ca-file") && m.contains("not issued for 127.0.0.2"),
            "{m}"
        );
        let issuer = io("invalid peer certificate: UnknownIssuer");
        let with_ca = Http {
            options: HttpOptions {
                ca_file: Some("/etc/lab-ca.pem".into()),
                ..Default::default()
            },
            ..Http::new(HttpOptions::default()).unwrap()
        };
        let (m, retry) = with_ca.explain(&issuer, "https://reg:5000/v2/");
        assert!(!retry);
        assert!(
            m.contains("not signed by the CA in --ca-file /etc/lab-ca.pem") && !m.contains("pass"),
            "{m}"
        );
        // Without --ca-file, passing one is the advice.
        let m = describe_error(&issuer, "https://reg:5000/v2/");
        assert!(m.contains("pass --ca-file"), "{m}");
    }
}
