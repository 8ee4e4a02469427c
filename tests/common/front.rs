//! The one in-process HTTP front of the tests: a loopback HTTP/1.1 server,
//! one request per connection, for what the lab's real parts cannot do
//! (faults, ECR's answers before a plain registry, IMDS, a container agent).
//! A handler gets each connection as an [`Exchange`] whose request head is
//! read, and decides when to read the body, what to record, and how to end:
//! answer, relay to an upstream byte for byte, reset, stall or trickle.
//! `tests/oci_support` and `tests/aws_support` shape it for their tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the front read it (`body`: as much as was read).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A header's value by case-insensitive name.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    pub fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// An answer; the front writes Content-Length and `Connection: close` itself.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, v: serde_json::Value) -> Response {
        Response::new(status, v.to_string()).header("Content-Type", "application/json")
    }

    pub fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// One accepted connection, its request head read.
pub struct Exchange {
    conn: TcpStream,
    pub request: Request,
    /// 0 for the front's first request, 1 for the next, ...
    pub index: usize,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Exchange {
    /// Reads the body up to its Content-Length; an early end is an error
    /// (what was read stays in `request.body`).
    pub fn read_body(&mut self) -> std::io::Result<()> {
        let len = self.request.content_length();
        self.read_body_upto(len)?;
        if self.request.body.len() < len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Reads until at least `n` body bytes (never past Content-Length), or
    /// the client's end.
    pub fn read_body_upto(&mut self, n: usize) -> std::io::Result<()> {
        let want = n.min(self.request.content_length());
        let mut chunk = vec![0u8; 65536];
        while self.request.body.len() < want {
            let got = self.conn.read(&mut chunk)?;
            if got == 0 {
                break;
            }
            self.request.body.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }

    /// Adds the request, as read so far, to what the front saw.
    pub fn record(&self) {
        self.seen.lock().unwrap().push(self.request.clone());
    }

    /// Answers; a HEAD answer carries no body.
    pub fn reply(mut self, resp: &Response) -> std::io::Result<()> {
        let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
        for (k, v) in &resp.headers {
            if !k.eq_ignore_ascii_case("content-length")
                && !k.eq_ignore_ascii_case("connection")
                && !k.eq_ignore_ascii_case("transfer-encoding")
            {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            resp.body.len()
        ));
        self.conn.write_all(out.as_bytes())?;
        if self.request.method != "HEAD" {
            self.conn.write_all(&resp.body)?;
        }
        self.conn.flush()
    }

    /// Passes the request (read in full first) to `upstream` and its answer
    /// back byte for byte; `authorization` replaces the client's.
    pub fn relay(mut self, upstream: &str, authorization: Option<&str>) -> std::io::Result<()> {
        let resp = send(upstream, &self.request, authorization)?;
        self.conn.write_all(&resp)?;
        self.conn.flush()
    }

    /// Says nothing for `d`, then drops the connection.
    pub fn stall(self, d: Duration) {
        std::thread::sleep(d);
    }

    /// Answers forever, slowly: a status line and header after header, one
    /// byte (or, `by_line`, one line) every `every`, until the client goes
    /// away. Every read sees data, so no stall timeout fires.
    pub fn trickle(mut self, every: Duration, by_line: bool) -> std::io::Result<()> {
        let mut next = b"HTTP/1.1 201 Created\r\n".to_vec();
        for n in 1u64.. {
            let pieces: Vec<&[u8]> = if by_line {
                vec![&next]
            } else {
                next.chunks(1).collect()
            };
            for piece in pieces {
                self.conn.write_all(piece)?;
                self.conn.flush()?;
                std::thread::sleep(every);
            }
            next = format!("X-Trickle-{n}: .\r\n").into_bytes();
        }
        Ok(())
    }
}

type Handler = dyn Fn(Exchange) -> std::io::Result<()> + Send + Sync;

/// The running front on 127.0.0.1; stops accepting when dropped.
pub struct Front {
    pub addr: String,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Front {
    pub fn start(
        handler: impl Fn(Exchange) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the front");
        let addr = listener.local_addr().expect("front address").to_string();
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let counter = Arc::new(AtomicUsize::new(0));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (handler, seen, counter) = (handler.clone(), seen2.clone(), counter.clone());
                std::thread::spawn(move || {
                    let Ok(request) = read_request_head(&conn) else {
                        return;
                    };
                    let index = counter.fetch_add(1, Ordering::SeqCst);
                    let _ = handler(Exchange {
                        conn,
                        request,
                        index,
                        seen,
                    });
                });
            }
        });
        Front { addr, seen, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests recorded so far, in order.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

/// A raw TCP listener on `ip` (port chosen by the system) for what is below
/// HTTP (tunnels, throttles, TLS sniffing): each connection is handled on
/// its own thread; runs for the rest of the test process. Returns the
/// address.
pub fn tcp_listen(ip: &str, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || handle(conn));
        }
    });
    addr
}

/// Copies `from` into `to` until `from` ends, then ends `to`'s writing
/// side so the peer sees the end too.
pub fn pipe(mut from: impl Read, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Reads up to the blank line; body bytes already read start `body`.
fn read_head(conn: &mut impl Read) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The first line's words and the headers of a head.
fn parse_head(head: &str) -> (Vec<&str>, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("").split_whitespace().collect();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (first, headers)
}

fn read_request_head(mut conn: &TcpStream) -> std::io::Result<Request> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, body) = read_head(&mut conn)?;
    let (first, headers) = parse_head(&head);
    Ok(Request {
        method: first.first().unwrap_or(&"").to_string(),
        target: first.get(1).unwrap_or(&"").to_string(),
        headers,
        body,
    })
}

/// Sends `req` to `upstream` (`host:port`, an `http://` prefix allowed) as
/// the client sent it, Host included so SigV4 still verifies; returns the
/// raw answer.
fn send(upstream: &str, req: &Request, authorization: Option<&str>) -> std::io::Result<Vec<u8>> {
    let addr = upstream.trim_start_matches("http://").trim_end_matches('/');
    let mut up = TcpStream::connect(addr)?;
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("connection")
            || (authorization.is_some() && k.eq_ignore_ascii_case("authorization"))
        {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(a) = authorization {
        out.push_str(&format!("Authorization: {a}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(&req.body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    Ok(resp)
}

/// Forwards a request unchanged and returns the upstream's answer, a
/// chunked body decoded, for a handler to look at or change.
pub fn forward(upstream: &str, req: &Request) -> Response {
    let raw = send(upstream, req, None).expect("upstream");
    let (head, rest) = read_head(&mut raw.as_slice()).expect("upstream answer head");
    let (first, headers) = parse_head(&head);
    let status = first.get(1).and_then(|c| c.parse().ok()).unwrap_or(502);
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked { dechunk(&rest) } else { rest };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&data[..i]);
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let chunk = &data[i + 2..];
        body.extend_from_slice(&chunk[..n]);
        data = &chunk[n + 2..];
    }
    body
}
