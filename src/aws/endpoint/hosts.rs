//! ECR registry host names: `ACCT.dkr.ecr[-fips].REGION.SUFFIX`, the
//! dual-stack `ACCT.dkr-ecr[-fips].REGION.on.aws`, ECR Public's names, and
//! the registry host that goes with a FIPS or dual-stack endpoint choice.

use super::{check_region, dns_suffix, partition_name, rules, Variant};
use crate::aws::EcrHost;

/// Dual-stack registry host suffixes (`ACCT.dkr-ecr.REGION.on.aws`). AWS
/// publishes them for these partitions only; partitions.json has no
/// registry names, so this is the one table kept by hand.
fn dualstack_registry_suffix(partition: &str) -> Option<&'static str> {
    match partition {
        "aws" | "aws-us-gov" => Some("on.aws"),
        "aws-cn" => Some("on.amazonwebservices.com.cn"),
        _ => None,
    }
}

const DUALSTACK_SUFFIXES: [&str; 2] = ["on.aws", "on.amazonwebservices.com.cn"];

/// Every partition's DNS suffix, from partitions.json.
fn registry_suffixes() -> &'static [String] {
    static SUFFIXES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SUFFIXES.get_or_init(|| {
        rules::all_partitions()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.get("dnsSuffix")?.as_str().map(str::to_string))
            .collect()
    })
}

/// The registry host for `account` in `region` with the variant on:
/// `ACCT.dkr.ecr[-fips].REGION.DNS_SUFFIX`, dual-stack
/// `ACCT.dkr-ecr[-fips].REGION.on.aws`. None where AWS names no dual-stack
/// registry host (the isolated partitions): the caller keeps the host
/// GetAuthorizationToken named.
pub fn registry_host(account: &str, region: &str, v: Variant) -> Option<String> {
    let fips = if v.fips { "-fips" } else { "" };
    if v.dualstack {
        let sfx = dualstack_registry_suffix(&partition_name(region))?;
        Some(format!("{account}.dkr-ecr{fips}.{region}.{sfx}"))
    } else {
        Some(format!(
            "{account}.dkr.ecr{fips}.{region}.{}",
            dns_suffix(region)
        ))
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `ACCT.dkr.ecr[-fips].REGION.SUFFIX` and `ACCT.dkr-ecr[-fips].REGION.on.aws`.
pub fn parse_ecr_host(host: &str) -> Option<EcrHost> {
    let host = strip_port(host.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut labels = host.splitn(4, '.');
    let account = labels.next()?;
    let kind = labels.next()?;
    let third = labels.next()?;
    let rest = labels.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (region_and_suffix, fips, dualstack) = match (kind, third) {
        ("dkr", "ecr") => (rest, false, false),
        ("dkr", "ecr-fips") => (rest, true, false),
        ("dkr-ecr", _) => (&host[account.len() + 9..], false, true),
        ("dkr-ecr-fips", _) => (&host[account.len() + 14..], true, true),
        _ => return None,
    };
    let (region, suffix) = region_and_suffix.split_once('.')?;
    let known = if dualstack {
        DUALSTACK_SUFFIXES.contains(&suffix)
    } else {
        registry_suffixes().iter().any(|s| s == suffix)
    };
    if !known || check_region(region).is_err() {
        return None;
    }
    Some(EcrHost {
        account: account.to_string(),
        region: region.to_string(),
        fips,
        dualstack,
    })
}

/// GetAuthorizationToken's proxyEndpoint names the plain registry host;
/// with FIPS or dual-stack on, the default registry is the matching form
/// of that host (kept as is where AWS names none).
pub fn registry_endpoint_for(proxy_endpoint: &str, v: Variant) -> String {
    if !(v.fips || v.dualstack) {
        return proxy_endpoint.to_string();
    }
    let Some(host) = parse_ecr_host(&crate::http::authority_of(proxy_endpoint)) else {
        return proxy_endpoint.to_string();
    };
    match registry_host(&host.account, &host.region, v) {
        Some(h) => format!("https://{h}"),
        None => proxy_endpoint.to_string(),
    }
}

/// `public.ecr.aws` (ECR Public's registry) or its dual-stack name
/// `ecr-public.aws.com`.
pub fn is_ecr_public_host(host: &str) -> bool {
    let name = strip_port(host.trim()).trim_end_matches('.');
    ["public.ecr.aws", "ecr-public.aws.com"]
        .iter()
        .any(|p| name.eq_ignore_ascii_case(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aws::endpoint::test_variants::*;

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn default_registry_follows_the_variant() {
        let p = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let iso = "https://123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov";
        let local = "http://127.0.0.1:5000";
        for (proxy, v, want) in [
            (p, PLAIN, p),
            (
                p,
                FIPS,
                "https://123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            ),
            (
                p,
                BOTH,
                "https://123456789012.dkr-ecr-fips.us-east-1.on.aws",
            ),
            // No dual-stack registry name in the isolated partitions.
            (iso, DS, iso),
            (local, FIPS, local),
        ] {
            assert_eq!(registry_endpoint_for(proxy, v), want, "{proxy} {v:?}");
        }
    }

    #[test]
    fn registry_hosts_follow_the_variant() {
        // The host after the account.
        for (region, v, want) in [
            ("us-east-1", PLAIN, Some("dkr.ecr.us-east-1.amazonaws.com")),
            (
                "us-east-1",
                FIPS,
                Some("dkr.ecr-fips.us-east-1.amazonaws.com"),
            ),
            ("us-west-2", DS, Some("dkr-ecr.us-west-2.on.aws")),
            (
                "us-gov-east-1",
                BOTH,
                Some("dkr-ecr-fips.us-gov-east-1.on.aws"),
            ),
            (
                "cn-north-1",
                DS,
                Some("dkr-ecr.cn-north-1.on.amazonwebservices.com.cn"),
            ),
            (
                "us-iso-east-1",
                PLAIN,
                Some("dkr.ecr.us-iso-east-1.c2s.ic.gov"),
            ),
            ("us-iso-east-1", DS, None),
        ] {
            let want = want.map(|w| format!("{ACCOUNT}.{w}"));
            assert_eq!(registry_host(ACCOUNT, region, v), want, "{region} {v:?}");
        }
        // Every host we build parses back to itself.
        for r in ["us-east-1", "cn-north-1", "us-gov-west-1", "eu-isoe-west-1"] {
            for v in [PLAIN, FIPS, DS, BOTH] {
                if let Some(h) = registry_host(ACCOUNT, r, v) {
                    let p = parse_ecr_host(&h).unwrap();
                    assert_eq!(
                        (p.account.as_str(), p.region.as_str(), p.fips, p.dualstack),
                        (ACCOUNT, r, v.fips, v.dualstack)
                    );
                }
            }
        }
    }

    #[test]
    fn ecr_hosts() {
        // The host after the account, and the region and variant it names.
        for (rest, region, fips, dualstack) in [
            ("dkr.ecr.us-east-1.amazonaws.com", "us-east-1", false, false),
            (
                "dkr.ecr.us-east-1.amazonaws.com:443",
                "us-east-1",
                false,
                false,
            ),
            (
                "DKR.ECR.eu-west-1.amazonaws.com.",
                "eu-west-1",
                false,
                false,
            ),
            (
                "dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                "us-gov-west-1",
                true,
                false,
            ),
            (
                "dkr.ecr.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
                false,
                false,
            ),
            (
                "dkr.ecr.us-iso-east-1.c2s.ic.gov",
                "us-iso-east-1",
                false,
                false,
            ),
            ("dkr-ecr.us-west-2.on.aws", "us-west-2", false, true),
            ("dkr-ecr-fips.us-east-2.on.aws", "us-east-2", true, true),
        ] {
            let host = format!("{ACCOUNT}.{rest}");
            let want = EcrHost {
                account: ACCOUNT.into(),
                region: region.into(),
                fips,
                dualstack,
            };
            assert_eq!(parse_ecr_host(&host), Some(want), "{host}");
        }
        for host in [
            "127.0.0.1:5000",
            "public.ecr.aws",
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.example.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com",
            "123456789012.dkr-ecr.us-west-2.amazonaws.com",
            "vpce-0abc.dkr.ecr.us-east-1.vpce.amazonaws.com",
            "",
        ] {
            assert_eq!(parse_ecr_host(host), None, "{host}");
        }
        for (host, public) in [
            ("public.ecr.aws", true),
            ("Public.ECR.aws:443", true),
            ("public.ecr.aws.evil", false),
            ("ecr-public.aws.com", true),
            ("x.ecr-public.aws.com", false),
        ] {
            assert_eq!(is_ecr_public_host(host), public, "{host}");
        }
    }
}
