//! Which proxy a URL goes through, by the rules Go's net/http (and so Helm)
//! applies: HTTPS_PROXY for https, HTTP_PROXY for http (ALL_PROXY as a
//! fallback, as curl does), NO_PROXY exceptions, and never a proxy for
//! loopback. ureq's own `Proxy::try_from_env` uses one proxy for every
//! scheme and matches NO_PROXY less generously, hence this module.

use std::net::IpAddr;

/// The proxy URL for `scheme://host:port`, reading the environment through
/// `env` (upper- then lower-case names; an empty value counts as unset).
pub fn proxy_for(
    scheme: &str,
    host: &str,
    port: u16,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let var = |name: &str| {
        env(name)
            .or_else(|| env(&name.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let proxy = match scheme {
        "https" => var("HTTPS_PROXY"),
        "http" => var("HTTP_PROXY"),
        _ => None,
    }
    .or_else(|| var("ALL_PROXY"))?;
    if is_loopback(host) {
        return None;
    }
    if let Some(no_proxy) = var("NO_PROXY") {
        if no_proxy
            .split(',')
            .any(|entry| no_proxy_matches(entry.trim(), host, port))
        {
            return None;
        }
    }
    let proxy = proxy.trim();
    Some(if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    })
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One NO_PROXY entry: `*`, an IP, a CIDR block, or a domain that matches
/// itself and its subdomains (`.example.com` only the subdomains); each may
/// carry `:port`.
fn no_proxy_matches(entry: &str, host: &str, port: u16) -> bool {
    if entry.is_empty() {
        return false;
    }
    if entry == "*" {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Some((net, bits)) = entry.split_once('/') {
        return match (
            net.parse::<IpAddr>(),
            bits.parse::<u32>(),
            host.parse::<IpAddr>(),
        ) {
            (Ok(net), Ok(bits), Ok(ip)) => in_cidr(ip, net, bits),
            _ => false,
        };
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let (Ok(a), Ok(b)) = (name.parse::<IpAddr>(), host.parse::<IpAddr>()) {
        return a == b;
    }
    let host = host.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    if let Some(suffix) = name.strip_prefix("*.").map(|s| format!(".{s}")) {
        return host.ends_with(&suffix);
    }
    if name.starts_with('.') {
        return host.ends_with(&name);
    }
    host == name || host.ends_with(&format!(".{name}"))
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    // A bare IPv6 address has colons but no port.
    if entry.parse::<IpAddr>().is_ok() {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((name, p)) => match p.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        None => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn scheme_picks_the_variable() {
        let e = env(&[
            ("HTTPS_PROXY", "proxy:3128"),
            ("http_proxy", "http://p2:80"),
        ]);
        assert_eq!(
            proxy_for("https", "reg.example", 443, &e).as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(
            proxy_for("http", "reg.example", 80, &e).as_deref(),
            Some("http://p2:80")
        );
        let none = env(&[]);
        assert_eq!(proxy_for("https", "reg.example", 443, &none), None);
        let all = env(&[("ALL_PROXY", "socks5://s:1080"), ("HTTPS_PROXY", "")]);
        assert_eq!(
            proxy_for("https", "x", 443, &all).as_deref(),
            Some("socks5://s:1080")
        );
    }

    #[test]
    fn loopback_is_never_proxied() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("HTTP_PROXY", "http://proxy:3128"),
        ]);
        for h in ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"] {
            assert_eq!(proxy_for("http", h, 5000, &e), None, "{h}");
        }
    }

    #[test]
    fn no_proxy_rules() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "example.com, .internal,10.0.0.0/8,reg.corp:5000,*.wild.io,[fd00::1]",
            ),
        ]);
        let direct = |h: &str, p| proxy_for("https", h, p, &e).is_none();
        assert!(direct("example.com", 443));
        assert!(direct("a.b.example.com", 443));
        assert!(!direct("notexample.com", 443));
        assert!(direct("x.internal", 443));
        assert!(!direct("internal", 443));
        assert!(direct("10.1.2.3", 443));
        assert!(!direct("11.1.2.3", 443));
        assert!(direct("reg.corp", 5000));
        assert!(!direct("reg.corp", 443));
        assert!(direct("a.wild.io", 443));
        assert!(direct("fd00::1", 443));
        let star = env(&[("HTTPS_PROXY", "http://proxy:3128"), ("no_proxy", "*")]);
        assert_eq!(proxy_for("https", "anything", 443, &star), None);
    }
}
