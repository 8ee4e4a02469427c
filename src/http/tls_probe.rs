//! Does a port speak TLS? Asked after a plain-HTTP request was cut off, so
//! the error can say "drop --plain-http" instead of retrying a request that
//! cannot work. rustls sends a real ClientHello; a TLS server answers with
//! a handshake or an alert record, a plain HTTP server with HTTP (or, not
//! having seen a request end, nothing until the timeout).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Error, RootCertStore};

/// `authority` is `HOST[:PORT]` (port 80 when absent: it was a plain-HTTP
/// URL). False whenever the answer is not TLS or does not come in time.
pub fn speaks_tls(authority: &str, timeout: Duration) -> bool {
    probe(authority, timeout).unwrap_or(false)
}

fn probe(authority: &str, timeout: Duration) -> Option<bool> {
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_string()
    };
    let host = with_port
        .rsplit_once(':')
        .map_or(with_port.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = with_port.to_socket_addrs().ok()?.next()?;
    let mut sock = TcpStream::connect_timeout(&addr, timeout).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    sock.set_write_timeout(Some(timeout)).ok()?;
    // No roots: the handshake is never finished, only begun.
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
    let name = ServerName::try_from(host).ok()?;
    let mut conn = ClientConnection::new(Arc::new(config), name).ok()?;
    while conn.wants_write() {
        conn.write_tls(&mut sock).ok()?;
    }
    sock.flush().ok()?;
    if conn.read_tls(&mut sock).ok()? == 0 {
        return Some(false);
    }
    Some(match conn.process_new_packets() {
        Ok(_) => true,
        // A record of its own kind that says no: still TLS.
        Err(Error::AlertReceived(_)) | Err(Error::InvalidCertificate(_)) => true,
        Err(Error::PeerIncompatible(_)) | Err(Error::PeerMisbehaved(_)) => true,
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A server that reads what comes and answers `reply` once.
    fn server(reply: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut c, _)) = l.accept() {
                let mut buf = [0u8; 512];
                let _ = c.read(&mut buf);
                let _ = c.write_all(reply);
            }
        });
        addr
    }

    #[test]
    fn a_tls_alert_is_tls_and_http_is_not() {
        let t = Duration::from_secs(5);
        // handshake_failure, as a server with no common cipher suite says it.
        assert!(speaks_tls(&server(b"\x15\x03\x03\x00\x02\x02\x28"), t));
        assert!(!speaks_tls(
            &server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
            t
        ));
        assert!(!speaks_tls(&server(b""), t));
    }

    #[test]
    fn nobody_listening_is_not_tls() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!speaks_tls(
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(1)
        ));
    }
}
