//! Test support for the transport: a scripted plain-HTTP server that
//! records what it saw, and keychains that count what they are asked.

use super::exchange::Resp;
use super::{Credential, Keychain, KeychainError};
use std::sync::{Arc, Mutex};

/// One request as a scripted server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

pub(crate) type Answer = (u16, Vec<(String, String)>, String);

/// A plain-HTTP server that answers each request by `script` (given the
/// request and its own address) and records what it saw.
pub(crate) fn scripted(
    script: impl Fn(&Hit, &str) -> Answer + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Hit>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let (seen, me, script) = (hits.clone(), addr.clone(), Arc::new(script));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (seen, me, script) = (seen.clone(), me.clone(), script.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn);
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = first.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let (mut len, mut authorization) = (0usize, None);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            let v = v.trim().to_string();
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.parse().unwrap_or(0);
                            } else if k.eq_ignore_ascii_case("authorization") {
                                authorization = Some(v);
                            }
                        }
                    }
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let hit = Hit {
                        method,
                        path,
                        authorization,
                    };
                    seen.lock().unwrap().push(hit.clone());
                    let (status, headers, body) = script(&hit, &me);
                    let mut out =
                        format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                    for (k, v) in headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    if hit.method != "HEAD" {
                        out.push_str(&body);
                    }
                    if reader.get_mut().write_all(out.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, hits)
}

pub(crate) fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
    (
        status,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body.to_string(),
    )
}

/// Hands out `AWS:pw`; counts refreshes; says whether Basic goes first.
pub(crate) struct Keys {
    pub basic_first: bool,
    pub refreshes: std::sync::atomic::AtomicUsize,
}

impl Keys {
    pub fn new(basic_first: bool) -> Arc<Keys> {
        Arc::new(Keys {
            basic_first,
            refreshes: Default::default(),
        })
    }
}

impl Keychain for Keys {
    fn get(&self, _: &str) -> Result<Option<Credential>, KeychainError> {
        Ok(Some(Credential {
            username: "AWS".into(),
            password: "pw".into(),
        }))
    }
    fn refresh(&self, _: &str) -> Result<Option<Credential>, KeychainError> {
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(None)
    }
    fn basic_first(&self, _: &str) -> bool {
        self.basic_first
    }
}

pub(crate) const BASIC_PW: &str = "Basic QVdTOnB3";

/// Answers as public.ecr.aws does: 401 with a Bearer realm to a request
/// without credentials, 400 DENIED to Basic, a token from the realm for
pub(crate) fn trail(hits: &Mutex<Vec<Hit>>) -> Vec<String> {
    let hits = std::mem::take(&mut *hits.lock().unwrap());
    hits.iter()
        .map(|h| {
            let path = h.path.split('?').next().unwrap_or("");
            match &h.authorization {
                Some(a) => format!("{} {path} {}", h.method, a),
                None => format!("{} {path}", h.method),
            }
        })
        .collect()
}

pub(crate) fn resp(status: u16, body: &str, headers: &[(&str, &str)]) -> Resp {
    Resp {
        status,
        url: "https://reg:5000/v2/ns/c/blobs/uploads/".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
        authed: true,
    }
}
