//! Helpers for the aws_* integration tests: sessions with a controlled
//! environment (never the developer's ~/.aws), tiny loopback HTTP stubs for
//! what the lab cannot be (container agent, IMDS, SSO portal, faults), and a
//! forwarding front before moto that counts GetAuthorizationToken and moves
//! moto's 2015 `expiresAt` into the future.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helm_ecr::aws::{AwsOptions, Env, Session};
use helm_ecr::http::{Http, HttpOptions};

use crate::common::{Lab, TempDir};

pub fn http() -> Http {
    Http::new(HttpOptions::default()).expect("http client")
}

/// A sandbox HOME with empty AWS files, and the environment every test
/// starts from: lab endpoint, no IMDS, no token cache, fast retries.
pub struct World {
    pub home: TempDir,
    pub vars: Vec<(String, String)>,
}

impl World {
    pub fn new(lab: &Lab) -> World {
        let home = TempDir::new("aws-home");
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        let h = home.path().to_str().unwrap().to_string();
        let vars = vec![
            ("HOME".to_string(), h.clone()),
            ("AWS_CONFIG_FILE".into(), format!("{h}/.aws/config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                format!("{h}/.aws/credentials"),
            ),
            ("AWS_REGION".into(), lab.region.clone()),
            ("AWS_ENDPOINT_URL".into(), lab.ecr_endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("HELM_ECR_NO_TOKEN_CACHE".into(), "1".into()),
            ("HELM_ECR_RETRY_SCALE".into(), "0.01".into()),
        ];
        World { home, vars }
    }

    pub fn set(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        self.unset(k);
        self.vars.push((k.to_string(), v.into()));
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.retain(|(x, _)| x != k);
        self
    }

    pub fn with_lab_keys(&mut self, lab: &Lab) -> &mut Self {
        self.set("AWS_ACCESS_KEY_ID", lab.access_key_id.clone());
        self.set("AWS_SECRET_ACCESS_KEY", lab.secret_access_key.clone())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn env(&self) -> Env {
        Env::from_pairs(self.vars.clone())
    }

    pub fn session(&self, profile: Option<&str>) -> Result<Session, helm_ecr::aws::Error> {
        self.session_with(profile, None)
    }

    pub fn session_with(
        &self,
        profile: Option<&str>,
        region_hint: Option<&str>,
    ) -> Result<Session, helm_ecr::aws::Error> {
        let options = AwsOptions {
            profile: profile.map(str::to_string),
            region: None,
        };
        Session::with_env(&options, region_hint, http(), self.env())
    }
}

// ------------------------------------------------------------ HTTP stubs

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn json(status: u16, v: serde_json::Value) -> Resp {
        let mut r = Resp::new(status, v.to_string());
        r.headers
            .push(("Content-Type".into(), "application/json".into()));
        r
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(&Req) -> Resp + Send + Sync;

/// A loopback HTTP/1.1 server, one request per connection; records requests.
pub struct Stub {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

impl Stub {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn seen(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

pub fn serve(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let handler: Arc<Handler> = Arc::new(handler);
    let (reqs, stop2) = (requests.clone(), stop.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let (handler, reqs) = (handler.clone(), reqs.clone());
            std::thread::spawn(move || {
                let _ = handle(conn, &*handler, &reqs);
            });
        }
    });
    Stub {
        addr,
        requests,
        stop,
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<(String, Vec<(String, String)>)> {
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((first.trim_end().to_string(), headers))
}

fn handle(conn: TcpStream, handler: &Handler, reqs: &Mutex<Vec<Req>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let (first, headers) = read_head(&mut r)?;
    let mut parts = first.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let req = Req {
        method,
        target,
        headers,
        body,
    };
    reqs.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    write_resp(conn, &resp)
}

fn write_resp(mut conn: TcpStream, resp: &Resp) -> std::io::Result<()> {
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
    conn.write_all(out.as_bytes())?;
    conn.write_all(&resp.body)?;
    conn.flush()
}

/// Forward a request unchanged (Host included, so SigV4 still verifies).
pub fn forward(upstream: &str, req: &Req) -> Resp {
    let addr = upstream.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).expect("upstream");
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !k.eq_ignore_ascii_case("connection") {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    s.write_all(out.as_bytes()).unwrap();
    s.write_all(&req.body).unwrap();
    let mut r = BufReader::new(s);
    let (status_line, headers) = read_head(&mut r).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A front before moto: counts GetAuthorizationToken and gives its tokens a
/// 12-hour life (moto's expire in 2015).
pub struct Front {
    pub stub: Stub,
    pub token_calls: Arc<AtomicUsize>,
}

pub fn front(upstream: &str) -> Front {
    let calls = Arc::new(AtomicUsize::new(0));
    let (c, up) = (calls.clone(), upstream.to_string());
    let stub = serve(move |req| {
        let mut resp = forward(&up, req);
        let is_token = req
            .header("x-amz-target")
            .is_some_and(|t| t.ends_with(".GetAuthorizationToken"));
        if is_token && resp.status == 200 {
            c.fetch_add(1, Ordering::SeqCst);
            let mut v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            let later = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 12 * 3600;
            for d in v["authorizationData"].as_array_mut().unwrap() {
                d["expiresAt"] = later.into();
            }
            resp.body = v.to_string().into_bytes();
        }
        resp
    });
    Front {
        stub,
        token_calls: calls,
    }
}

/// The lab user's credentials as a credential-provider JSON reply.
pub fn creds_json(lab: &Lab, token_field: &str, token: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "AccessKeyId": lab.access_key_id,
        "SecretAccessKey": lab.secret_access_key,
        "Expiration": "2999-01-01T00:00:00Z",
    });
    if let Some(t) = token {
        v[token_field] = t.into();
    }
    v
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
