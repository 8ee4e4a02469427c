//! Registry authentication: `WWW-Authenticate` challenges, Basic headers,
//! and the Bearer token request (distribution's token spec). Pure functions;
//! the client does the I/O.

use super::Credential;
use crate::codec::base64_encode;

/// One challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower case: `basic`, `bearer`.
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        lookup(&self.params, name)
    }
}

/// The value named `name` (any case) among `pairs`: a challenge's
/// parameters, a response's headers.
pub(crate) fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parse a `WWW-Authenticate` value: one or more `Scheme k=v, k="v"`
/// challenges separated by commas (RFC 9110 section 11.6.1).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip(|b| b == b' ' || b == b',' || b == b'\t');
        let token = p.token();
        if token.is_empty() {
            break;
        }
        p.skip(|b| b == b' ' || b == b'\t');
        if p.peek() == Some(b'=') && !out.is_empty() {
            // `k=v` after a challenge: a parameter of the last one.
            p.i += 1;
            p.skip(|b| b == b' ' || b == b'\t');
            let value = p.value();
            if let Some(last) = out.last_mut() {
                last.params.push((token.to_ascii_lowercase(), value));
            }
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> String {
        let start = self.i;
        self.skip(|b| !matches!(b, b' ' | b'\t' | b',' | b'=' | b'"'));
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
    fn value(&mut self) -> String {
        if self.peek() != Some(b'"') {
            return self.token();
        }
        self.i += 1;
        let mut v = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        v.push(n);
                        self.i += 1;
                    }
                }
                _ => v.push(b),
            }
        }
        String::from_utf8_lossy(&v).into_owned()
    }
}

/// `Basic base64(user:password)`.
pub fn basic_header(cred: &Credential) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{}:{}", cred.username, cred.password.expose()).as_bytes())
    )
}

/// The scope a push needs on `repository`.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// The token endpoint URL for a Bearer challenge, or None when it has no realm.
pub fn token_url(challenge: &Challenge, scope: &str) -> Option<String> {
    let realm = challenge.param("realm").filter(|r| !r.is_empty())?;
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    if let Some(service) = challenge.param("service") {
        url.push(sep);
        url.push_str("service=");
        url.push_str(&encode_query(service));
        sep = '&';
    }
    url.push(sep);
    url.push_str("scope=");
    url.push_str(&encode_query(scope));
    Some(url)
}

fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token from a token endpoint's JSON (`token`, or OAuth2's `access_token`).
pub fn parse_token(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["token", "access_token"]
        .iter()
        .filter_map(|k| v.get(*k)?.as_str())
        .find(|t| !t.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecr_basic_challenge() {
        let c = parse_challenges(
            r#"Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(
            c[0].param("realm"),
            Some("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/")
        );
        assert_eq!(c[0].param("SERVICE"), Some("ecr.amazonaws.com"));
    }

    #[test]
    fn parses_bearer_and_multiple_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope", Basic realm="x\"y""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].param("realm"), Some("x\"y"));
        let bare = parse_challenges("Basic");
        assert_eq!(
            bare,
            vec![Challenge {
                scheme: "basic".into(),
                params: vec![]
            }]
        );
        assert!(parse_challenges("").is_empty());
        let unquoted = parse_challenges("Bearer realm=https://a/t, service=reg");
        assert_eq!(unquoted[0].param("service"), Some("reg"));
    }

    #[test]
    fn basic_header_encodes_user_and_password() {
        let c = Credential {
            username: "AWS".into(),
            password: "pw".into(),
        };
        assert_eq!(basic_header(&c), "Basic QVdTOnB3");
    }

    #[test]
    fn token_urls() {
        let c = &parse_challenges(r#"Bearer realm="https://auth/token",service="reg io""#)[0];
        assert_eq!(
            token_url(c, &push_scope("ns/chart")).unwrap(),
            "https://auth/token?service=reg%20io&scope=repository:ns/chart:pull,push"
        );
        let q = &parse_challenges(r#"Bearer realm="https://auth/token?x=1""#)[0];
        assert_eq!(token_url(q, "s").unwrap(), "https://auth/token?x=1&scope=s");
        assert_eq!(token_url(&parse_challenges("Bearer")[0], "s"), None);
    }

    #[test]
    fn token_bodies() {
        assert_eq!(
            parse_token(br#"{"token":"t1","access_token":"t2"}"#).as_deref(),
            Some("t1")
        );
        assert_eq!(
            parse_token(br#"{"access_token":"t2"}"#).as_deref(),
            Some("t2")
        );
        assert_eq!(parse_token(br#"{"token":""}"#), None);
        assert_eq!(parse_token(b"nope"), None);
    }
}
