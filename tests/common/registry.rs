//! Registry access logs and a private registry with its own log.

use super::*;

// ------------------------------------------------------------------ registry access logs

/// One request from a distribution access log (combined log format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A point in an access log; `requests()` are those logged after it.
pub struct LogMark {
    path: PathBuf,
    offset: u64,
}

impl LogMark {
    pub fn new(log: &Path) -> LogMark {
        let offset = fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        LogMark {
            path: log.to_path_buf(),
            offset,
        }
    }

    /// Requests logged since the mark. distribution writes a request's line
    /// just after answering it, so a client may exit a moment before its last
    /// line lands: wait until the log has stopped growing.
    pub fn requests(&self) -> Vec<Request> {
        let len = || fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let mut last = len();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = len();
            if now == last {
                break;
            }
            last = now;
        }
        let mut file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(_) => return Vec::new(),
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut text).is_err()
        {
            return Vec::new();
        }
        text.lines().filter_map(parse_access_line).collect()
    }

    /// Requests since the mark whose path names `repository` (the shared
    /// lab registries serve every test at once; `/v2/` pings name none).
    pub fn requests_for(&self, repository: &str) -> Vec<Request> {
        let needle = format!("/{repository}/");
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(&needle))
            .collect()
    }
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 401 87 "" "ua"` -> Request.
pub fn parse_access_line(line: &str) -> Option<Request> {
    let mut quoted = line.split('"');
    quoted.next()?;
    let request = quoted.next()?;
    let after = quoted.next()?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let status = after.split_whitespace().next()?.parse().ok()?;
    Some(Request {
        method,
        path,
        status,
    })
}

// ------------------------------------------------------------------ a private registry

/// A distribution registry of one test's own: plain HTTP on a free loopback
/// port, the lab's htpasswd (user AWS, `Lab::registry_password`), its own
/// storage and access log. Stopped on drop.
pub struct PrivateRegistry {
    /// 127.0.0.1:PORT
    pub addr: String,
    pub access_log: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl PrivateRegistry {
    pub fn start() -> PrivateRegistry {
        let lab = Lab::get();
        let dir = TempDir::new("helm-ecr-registry");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        write(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {data}\n\
                 http:\n  addr: {addr}\n  secret: private-{port}\n\
                 auth:\n  htpasswd:\n    realm: helm-ecr-lab\n    path: {htpasswd}\n",
                data = dir.path().join("data").display(),
                htpasswd = lab.htpasswd().display(),
            ),
        );
        let access_log = dir.path().join("access.log");
        let log = |p: &Path| {
            fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()))
        };
        let child = Command::new("docker-registry")
            .args(["serve", path_str(&config)])
            .stdin(Stdio::null())
            .stdout(log(&access_log))
            .stderr(log(&dir.path().join("registry.log")))
            .spawn()
            .unwrap_or_else(|e| panic!("start docker-registry: {e}"));
        let reg = PrivateRegistry {
            addr,
            access_log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "private registry did not start on {}",
                reg.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        reg
    }

    pub fn mark(&self) -> LogMark {
        LogMark::new(&self.access_log)
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}
