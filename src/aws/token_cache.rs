//! ECR tokens on disk, one file per (identity, region, endpoint, registry),
//! so a second push within the token's life makes no AWS call at all.
//! Files are 0600 in a 0700 directory, written atomically; anything
//! unreadable, foreign or near expiry is ignored (and later overwritten).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::env::Env;
use super::AuthToken;
use crate::clock::{epoch_secs, from_epoch_f64};
use crate::codec::sha256_hex;

/// A cached token is used only while it has this much life left, so a push
/// that starts with it cannot run out mid-way.
pub const MARGIN: Duration = Duration::from_secs(15 * 60);

const FORMAT: u64 = 1;

#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: Option<PathBuf>,
}

impl TokenCache {
    /// HELM_ECR_NO_TOKEN_CACHE=1 turns it off; HELM_ECR_TOKEN_CACHE_DIR moves
    /// it; default `<user cache dir>/helm-ecr`.
    pub fn from_env(env: &Env) -> TokenCache {
        if env.flag("HELM_ECR_NO_TOKEN_CACHE") {
            return TokenCache { dir: None };
        }
        let dir = match env.get("HELM_ECR_TOKEN_CACHE_DIR") {
            Some(d) => Some(env.expand_home(d)),
            None => dirs::cache_dir().map(|d| d.join("helm-ecr")),
        };
        TokenCache { dir }
    }

    pub fn at(dir: Option<PathBuf>) -> TokenCache {
        TokenCache { dir }
    }

    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// The key: a hash, so neither identity nor account shows in file names.
    pub fn key(identity: &str, region: &str, endpoint: &str, registry: Option<&str>) -> String {
        sha256_hex(
            format!(
                "helm-ecr token v{FORMAT}\n{identity}\n{region}\n{endpoint}\n{}",
                registry.unwrap_or("<default>")
            )
            .as_bytes(),
        )
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("{key}.json")))
    }

    pub fn load(&self, key: &str, now: SystemTime) -> Option<AuthToken> {
        let text = std::fs::read_to_string(self.path(key)?).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        if v.get("format")?.as_u64()? != FORMAT || v.get("key")?.as_str()? != key {
            return None;
        }
        let token = AuthToken {
            username: v.get("username")?.as_str()?.to_string(),
            password: v.get("password")?.as_str()?.into(),
            expires_at: from_epoch_f64(v.get("expiresAt")?.as_f64()?)?,
            proxy_endpoint: v.get("proxyEndpoint")?.as_str()?.to_string(),
        };
        usable(&token, now).then_some(token)
    }

    /// Store unless the token is already too close to expiry (moto's 2015
    /// expiry, for one). Returns whether it was written.
    pub fn store(&self, key: &str, token: &AuthToken, now: SystemTime) -> std::io::Result<bool> {
        let Some(path) = self.path(key) else {
            return Ok(false);
        };
        if !usable(token, now) {
            // A stale file for this key would only be re-read and ignored.
            let _ = std::fs::remove_file(&path);
            return Ok(false);
        }
        let doc = serde_json::json!({
            "format": FORMAT,
            "key": key,
            "username": token.username,
            "password": token.password,
            "expiresAt": epoch_secs(token.expires_at),
            "proxyEndpoint": token.proxy_endpoint,
        });
        write_private(&path, doc.to_string().as_bytes())?;
        Ok(true)
    }
}

pub fn usable(token: &AuthToken, now: SystemTime) -> bool {
    token.expires_at > now + MARGIN
}

/// Write `bytes` to `path` with [`crate::fsutil::write_private`], in a
/// directory created 0700 (and tightened to 0700, see [`tighten_dir`]).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = crate::fsutil::parent_dir(path);
    crate::fsutil::create_private_dir(&dir)?;
    tighten_dir(&dir)?;
    crate::fsutil::write_private(path, bytes)
}

/// An existing directory others can read is tightened, unless it is
/// shared by design (sticky, like /tmp: HELM_ECR_TOKEN_CACHE_DIR=/tmp as
/// root must not lock everyone else out of /tmp). Best effort: the files
/// are 0600 whatever the directory's mode.
#[cfg(unix)]
fn tighten_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 && mode & 0o1000 == 0 {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "helm-ecr-tc-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        d
    }

    fn token(expires_in: i64, now: SystemTime) -> AuthToken {
        AuthToken {
            username: "AWS".into(),
            password: "pw".into(),
            expires_at: if expires_in >= 0 {
                now + Duration::from_secs(expires_in as u64)
            } else {
                now - Duration::from_secs(expires_in.unsigned_abs())
            },
            proxy_endpoint: "https://1.dkr.ecr.us-east-1.amazonaws.com".into(),
        }
    }

    #[test]
    fn keys_differ_by_every_part() {
        let base = TokenCache::key("env:AKIA", "us-east-1", "https://e", None);
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            TokenCache::key("env:AKIB", "us-east-1", "https://e", None)
        );
        assert_ne!(
            base,
            TokenCache::key("env:AKIA", "us-west-2", "https://e", None)
        );
        assert_ne!(
            base,
            TokenCache::key("env:AKIA", "us-east-1", "https://f", None)
        );
        assert_ne!(
            base,
            TokenCache::key("env:AKIA", "us-east-1", "https://e", Some("123456789012"))
        );
        assert_eq!(
            base,
            TokenCache::key("env:AKIA", "us-east-1", "https://e", None)
        );
    }

    #[test]
    fn round_trip_with_private_modes() {
        let f = Fixture::new("rt");
        let dir = f.dir.join("nested");
        let cache = TokenCache::at(Some(dir.clone()));
        let t = token(12 * 3600, f.now);
        assert!(cache.store("k", &t, f.now).unwrap());
        let back = cache.load("k", f.now).unwrap();
        assert_eq!(back.password.expose(), "pw");
        assert_eq!(epoch_secs(back.expires_at), epoch_secs(t.expires_at));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = std::fs::metadata(dir.join("k.json"))
                .unwrap()
                .permissions()
                .mode();
            let d = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!((file & 0o777, d & 0o777), (0o600, 0o700));
        }
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn shared_directories_keep_their_mode_private_ones_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let base = tmpdir("modes");
        let (shared, open) = (base.join("shared"), base.join("open"));
        for (d, m) in [(&shared, 0o1777), (&open, 0o755)] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(m)).unwrap();
        }
        write_private(&shared.join("t.json"), b"{}").unwrap();
        write_private(&open.join("t.json"), b"{}").unwrap();
        assert_eq!(mode(&shared), 0o1777);
        assert_eq!(mode(&open), 0o700);
        assert_eq!(mode(&shared.join("t.json")), 0o600);
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A cache in a fresh directory (removed on drop), and the time now.
    struct Fixture {
        dir: PathBuf,
        cache: TokenCache,
        now: SystemTime,
    }

    impl Fixture {
        fn new(tag: &str) -> Fixture {
            let dir = tmpdir(tag);
            Fixture {
                cache: TokenCache::at(Some(dir.clone())),
                dir,
                now: SystemTime::now(),
            }
        }

        /// Store a token that expires `expires_in` seconds from now.
        fn store(&self, key: &str, expires_in: i64) -> bool {
            self.cache
                .store(key, &token(expires_in, self.now), self.now)
                .unwrap()
        }

        fn loads(&self, key: &str) -> bool {
            self.cache.load(key, self.now).is_some()
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn expiry_margin_and_past_tokens() {
        let f = Fixture::new("exp");
        // moto's token expired in 2015: never written.
        assert!(!f.store("k", -86400 * 365 * 10));
        assert!(!f.store("k", 10 * 60));
        assert!(f.store("k", 20 * 60));
        assert!(f.loads("k"));
        // Ten minutes later it is inside the margin.
        assert!(f
            .cache
            .load("k", f.now + Duration::from_secs(10 * 60))
            .is_none());
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored_then_rewritten() {
        let f = Fixture::new("bad");
        std::fs::create_dir_all(&f.dir).unwrap();
        std::fs::write(f.dir.join("k.json"), "{not json").unwrap();
        assert!(!f.loads("k"));
        assert!(f.store("k", 3600));
        assert!(f.loads("k"));
        // Another key's file copied over this one is not trusted.
        std::fs::copy(f.dir.join("k.json"), f.dir.join("other.json")).unwrap();
        assert!(!f.loads("other"));
    }

    #[test]
    fn env_knobs() {
        let off = TokenCache::from_env(&Env::from_pairs([("HELM_ECR_NO_TOKEN_CACHE", "1")]));
        assert!(!off.enabled());
        let now = SystemTime::now();
        assert!(!off.store("k", &token(3600, now), now).unwrap());
        let at = TokenCache::from_env(&Env::from_pairs([("HELM_ECR_TOKEN_CACHE_DIR", "/x/y")]));
        assert_eq!(at.path("k"), Some(PathBuf::from("/x/y/k.json")));
    }
}
