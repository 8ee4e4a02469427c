//! Regions, partitions and endpoint URLs (ECR, ECR Public, STS, SSO, SSO
//! OIDC), custom endpoints, and ECR registry host names. Pure logic.

use super::env::Env;
use super::profile::{ProfileSet, Section};
use super::{EcrHost, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    pub dns_suffix: &'static str,
    /// None where the partition has no dual-stack endpoints.
    pub dualstack_suffix: Option<&'static str>,
}

const AWS: Partition = Partition {
    name: "aws",
    dns_suffix: "amazonaws.com",
    dualstack_suffix: Some("api.aws"),
};

/// The partition a region belongs to, by the same name patterns the SDKs'
/// partitions.json uses; unknown names fall in `aws`.
pub fn partition(region: &str) -> Partition {
    let (name, dns, ds) = if region.starts_with("cn-") {
        (
            "aws-cn",
            "amazonaws.com.cn",
            Some("api.amazonwebservices.com.cn"),
        )
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com", Some("api.aws"))
    } else if region.starts_with("us-isob-") {
        ("aws-iso-b", "sc2s.sgov.gov", None)
    } else if region.starts_with("us-isof-") {
        ("aws-iso-f", "csp.hci.ic.gov", None)
    } else if region.starts_with("us-iso-") {
        ("aws-iso", "c2s.ic.gov", None)
    } else if region.starts_with("eu-isoe-") {
        ("aws-iso-e", "cloud.adc-e.uk", None)
    } else if region.starts_with("eusc-") {
        ("aws-eusc", "amazonaws.eu", None)
    } else {
        return AWS;
    };
    Partition {
        name,
        dns_suffix: dns,
        dualstack_suffix: ds,
    }
}

/// A region name must be a DNS label: it ends up in a host name.
pub fn check_region(region: &str) -> Result<(), Error> {
    let ok = !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error(format!(
            "invalid AWS region {region:?}: use a region name such as us-east-1"
        )))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    pub fips: bool,
    pub dualstack: bool,
}

/// AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT, else the profile's
/// `use_fips_endpoint` / `use_dualstack_endpoint`.
pub fn variant(env: &Env, profile: Option<&Section>) -> Variant {
    let pick = |var: &str, key: &str| {
        env.get(var)
            .or_else(|| profile.and_then(|p| p.get(key)))
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    Variant {
        fips: pick("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint"),
        dualstack: pick("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint"),
    }
}

fn suffix(p: &Partition, v: Variant) -> Result<&'static str, Error> {
    if v.dualstack {
        p.dualstack_suffix.ok_or_else(|| {
            Error(format!(
                "dual-stack endpoints do not exist in partition {}: unset AWS_USE_DUALSTACK_ENDPOINT",
                p.name
            ))
        })
    } else {
        Ok(p.dns_suffix)
    }
}

/// The ECR API URL, following ECR's published endpoint rules.
pub fn ecr_api_url(region: &str, v: Variant) -> Result<String, Error> {
    check_region(region)?;
    let p = partition(region);
    let sfx = suffix(&p, v)?;
    let fips = if v.fips { "-fips" } else { "" };
    let commercial = p.name == "aws" || p.name == "aws-us-gov";
    Ok(if commercial && (v.fips || v.dualstack) {
        format!("https://ecr{fips}.{region}.{sfx}")
    } else if p.name == "aws-cn" && v.dualstack && !v.fips {
        format!("https://ecr.{region}.{sfx}")
    } else {
        format!("https://api.ecr{fips}.{region}.{sfx}")
    })
}

/// ECR Public has one API endpoint, in us-east-1.
pub fn ecr_public_api_url(v: Variant) -> Result<String, Error> {
    if v.fips {
        return Err(Error(
            "ECR Public has no FIPS endpoint: unset AWS_USE_FIPS_ENDPOINT for public.ecr.aws"
                .into(),
        ));
    }
    Ok(if v.dualstack {
        "https://ecr-public.us-east-1.api.aws".into()
    } else {
        "https://api.ecr-public.us-east-1.amazonaws.com".into()
    })
}

/// `{prefix}[-fips].{region}.{suffix}`: STS, the SSO portal and SSO OIDC.
pub fn regional_url(prefix: &str, region: &str, v: Variant) -> Result<String, Error> {
    check_region(region)?;
    let p = partition(region);
    let sfx = suffix(&p, v)?;
    let fips = if v.fips { "-fips" } else { "" };
    Ok(format!("https://{prefix}{fips}.{region}.{sfx}"))
}

/// A service as the endpoint settings name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ecr,
    EcrPublic,
    Sts,
    Sso,
    SsoOidc,
}

impl Service {
    fn env_suffix(self) -> &'static str {
        match self {
            Service::Ecr => "ECR",
            Service::EcrPublic => "ECR_PUBLIC",
            Service::Sts => "STS",
            Service::Sso => "SSO",
            Service::SsoOidc => "SSO_OIDC",
        }
    }
    fn config_key(self) -> &'static str {
        match self {
            Service::Ecr => "ecr",
            Service::EcrPublic => "ecr_public",
            Service::Sts => "sts",
            Service::Sso => "sso",
            Service::SsoOidc => "sso_oidc",
        }
    }
}

/// A configured endpoint, in the SDKs' order: AWS_ENDPOINT_URL_<SERVICE>,
/// the profile's `services` section, AWS_ENDPOINT_URL, the profile's
/// `endpoint_url`; none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is set.
pub fn configured_endpoint(
    service: Service,
    env: &Env,
    profiles: &ProfileSet,
    profile: Option<&Section>,
) -> Option<String> {
    let ignore = env
        .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .or_else(|| profile.and_then(|p| p.get("ignore_configured_endpoint_urls")));
    if ignore.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    let from_services = || {
        let name = profile?.get("services")?;
        profiles
            .services
            .get(name)?
            .sub_get(service.config_key(), "endpoint_url")
            .map(str::to_string)
    };
    env.get(&format!("AWS_ENDPOINT_URL_{}", service.env_suffix()))
        .map(str::to_string)
        .or_else(from_services)
        .or_else(|| env.get("AWS_ENDPOINT_URL").map(str::to_string))
        .or_else(|| profile?.get("endpoint_url").map(str::to_string))
        .map(|u| u.trim().trim_end_matches('/').to_string())
}

/// A configured endpoint wins over the variant; asking for both is a
/// contradiction the SDKs refuse too.
pub fn pick(
    configured: Option<String>,
    v: Variant,
    default: impl FnOnce() -> Result<String, Error>,
) -> Result<String, Error> {
    match configured {
        Some(url) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(Error(format!(
                    "endpoint URL {url:?} must start with https:// or http://"
                )));
            }
            if v.fips || v.dualstack {
                return Err(Error(format!(
                    "a custom endpoint ({url}) cannot be combined with FIPS or dual-stack: unset AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT (or the profile's use_*_endpoint)"
                )));
            }
            Ok(url)
        }
        None => default(),
    }
}

/// The host part of a URL, for SigV4's Host header and messages.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

const ECR_SUFFIXES: [&str; 7] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "c2s.ic.gov",
    "sc2s.sgov.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
    "amazonaws.eu",
];

const DUALSTACK_SUFFIXES: [&str; 2] = ["on.aws", "on.amazonwebservices.com.cn"];

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
        ECR_SUFFIXES.contains(&suffix)
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
    use std::path::Path;

    const PLAIN: Variant = Variant {
        fips: false,
        dualstack: false,
    };
    const FIPS: Variant = Variant {
        fips: true,
        dualstack: false,
    };
    const DS: Variant = Variant {
        fips: false,
        dualstack: true,
    };
    const BOTH: Variant = Variant {
        fips: true,
        dualstack: true,
    };

    #[test]
    fn ecr_endpoints_for_every_partition() {
        let cases: &[(&str, Variant, &str)] = &[
            (
                "us-east-1",
                PLAIN,
                "https://api.ecr.us-east-1.amazonaws.com",
            ),
            (
                "us-east-1",
                FIPS,
                "https://ecr-fips.us-east-1.amazonaws.com",
            ),
            ("us-east-1", DS, "https://ecr.us-east-1.api.aws"),
            ("us-east-1", BOTH, "https://ecr-fips.us-east-1.api.aws"),
            (
                "eu-central-1",
                PLAIN,
                "https://api.ecr.eu-central-1.amazonaws.com",
            ),
            (
                "cn-north-1",
                PLAIN,
                "https://api.ecr.cn-north-1.amazonaws.com.cn",
            ),
            (
                "cn-north-1",
                FIPS,
                "https://api.ecr-fips.cn-north-1.amazonaws.com.cn",
            ),
            (
                "cn-north-1",
                DS,
                "https://ecr.cn-north-1.api.amazonwebservices.com.cn",
            ),
            (
                "cn-northwest-1",
                BOTH,
                "https://api.ecr-fips.cn-northwest-1.api.amazonwebservices.com.cn",
            ),
            (
                "us-gov-west-1",
                PLAIN,
                "https://api.ecr.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-gov-west-1",
                FIPS,
                "https://ecr-fips.us-gov-west-1.amazonaws.com",
            ),
            ("us-gov-east-1", DS, "https://ecr.us-gov-east-1.api.aws"),
            (
                "us-iso-east-1",
                PLAIN,
                "https://api.ecr.us-iso-east-1.c2s.ic.gov",
            ),
            (
                "us-iso-east-1",
                FIPS,
                "https://api.ecr-fips.us-iso-east-1.c2s.ic.gov",
            ),
            (
                "us-isob-east-1",
                PLAIN,
                "https://api.ecr.us-isob-east-1.sc2s.sgov.gov",
            ),
            (
                "us-isof-south-1",
                PLAIN,
                "https://api.ecr.us-isof-south-1.csp.hci.ic.gov",
            ),
            (
                "eu-isoe-west-1",
                PLAIN,
                "https://api.ecr.eu-isoe-west-1.cloud.adc-e.uk",
            ),
        ];
        for (region, v, want) in cases {
            assert_eq!(ecr_api_url(region, *v).unwrap(), *want, "{region} {v:?}");
        }
        let e = ecr_api_url("us-iso-east-1", DS).unwrap_err();
        assert!(
            e.0.contains("aws-iso") && e.0.contains("AWS_USE_DUALSTACK_ENDPOINT"),
            "{e}"
        );
        assert!(ecr_api_url("us east", PLAIN).is_err());
        assert!(ecr_api_url("evil.com/x", PLAIN).is_err());
    }

    #[test]
    fn sts_sso_and_public_endpoints() {
        assert_eq!(
            regional_url("sts", "us-east-1", PLAIN).unwrap(),
            "https://sts.us-east-1.amazonaws.com"
        );
        assert_eq!(
            regional_url("sts", "us-east-1", FIPS).unwrap(),
            "https://sts-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            regional_url("sts", "eu-west-1", DS).unwrap(),
            "https://sts.eu-west-1.api.aws"
        );
        assert_eq!(
            regional_url("sts", "cn-north-1", PLAIN).unwrap(),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            regional_url("portal.sso", "eu-west-1", PLAIN).unwrap(),
            "https://portal.sso.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_url("oidc", "eu-west-1", PLAIN).unwrap(),
            "https://oidc.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            ecr_public_api_url(PLAIN).unwrap(),
            "https://api.ecr-public.us-east-1.amazonaws.com"
        );
        assert!(ecr_public_api_url(FIPS).is_err());
    }

    #[test]
    fn variant_from_env_then_profile() {
        let mut ps = ProfileSet::default();
        ps.add(
            Path::new("c"),
            "[default]\nuse_fips_endpoint = true\n",
            super::super::profile::FileKind::Config,
        )
        .unwrap();
        let p = ps.profile("default");
        assert_eq!(variant(&Env::default(), p), FIPS);
        let env = Env::from_pairs([
            ("AWS_USE_FIPS_ENDPOINT", "false"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ]);
        assert_eq!(variant(&env, p), DS);
    }

    #[test]
    fn configured_endpoint_precedence() {
        let mut ps = ProfileSet::default();
        ps.add(
            Path::new("c"),
            "[default]\nendpoint_url = http://profile\nservices = s\n[services s]\nsts =\n  endpoint_url = http://svc-sts\n",
            super::super::profile::FileKind::Config,
        )
        .unwrap();
        let p = ps.profile("default").cloned();
        let p = p.as_ref();
        let none = Env::default();
        assert_eq!(
            configured_endpoint(Service::Sts, &none, &ps, p).as_deref(),
            Some("http://svc-sts")
        );
        assert_eq!(
            configured_endpoint(Service::Ecr, &none, &ps, p).as_deref(),
            Some("http://profile")
        );
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "http://global/")]);
        assert_eq!(
            configured_endpoint(Service::Ecr, &env, &ps, p).as_deref(),
            Some("http://global")
        );
        assert_eq!(
            configured_endpoint(Service::Sts, &env, &ps, p).as_deref(),
            Some("http://svc-sts")
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://global"),
            ("AWS_ENDPOINT_URL_STS", "http://env-sts"),
        ]);
        assert_eq!(
            configured_endpoint(Service::Sts, &env, &ps, p).as_deref(),
            Some("http://env-sts")
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://oidc"),
            ("AWS_ENDPOINT_URL_SSO", "http://sso"),
        ]);
        assert_eq!(
            configured_endpoint(Service::SsoOidc, &env, &ProfileSet::default(), None).as_deref(),
            Some("http://oidc")
        );
        assert_eq!(
            configured_endpoint(Service::Sso, &env, &ProfileSet::default(), None).as_deref(),
            Some("http://sso")
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://g"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(configured_endpoint(Service::Ecr, &env, &ps, p), None);
    }

    #[test]
    fn pick_refuses_contradictions() {
        assert_eq!(
            pick(Some("http://x".into()), PLAIN, || unreachable!()).unwrap(),
            "http://x"
        );
        assert!(pick(Some("http://x".into()), FIPS, || unreachable!()).is_err());
        assert!(pick(Some("ftp://x".into()), PLAIN, || unreachable!()).is_err());
        assert_eq!(pick(None, PLAIN, || Ok("d".into())).unwrap(), "d");
    }

    #[test]
    fn ecr_hosts() {
        let h = |acct: &str, region: &str, fips, dualstack| EcrHost {
            account: acct.into(),
            region: region.into(),
            fips,
            dualstack,
        };
        let cases = [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                h("123456789012", "us-east-1", false, false),
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
                h("123456789012", "us-east-1", false, false),
            ),
            (
                "123456789012.DKR.ECR.eu-west-1.amazonaws.com.",
                h("123456789012", "eu-west-1", false, false),
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                h("123456789012", "us-gov-west-1", true, false),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                h("123456789012", "cn-north-1", false, false),
            ),
            (
                "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                h("123456789012", "us-iso-east-1", false, false),
            ),
            (
                "123456789012.dkr-ecr.us-west-2.on.aws",
                h("123456789012", "us-west-2", false, true),
            ),
            (
                "123456789012.dkr-ecr-fips.us-east-2.on.aws",
                h("123456789012", "us-east-2", true, true),
            ),
        ];
        for (host, want) in cases {
            assert_eq!(parse_ecr_host(host), Some(want), "{host}");
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
        assert!(is_ecr_public_host("public.ecr.aws"));
        assert!(is_ecr_public_host("Public.ECR.aws:443"));
        assert!(!is_ecr_public_host("public.ecr.aws.evil"));
        assert!(is_ecr_public_host("ecr-public.aws.com"));
        assert!(!is_ecr_public_host("x.ecr-public.aws.com"));
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://127.0.0.1:5000/x?y"), "127.0.0.1:5000");
        assert_eq!(
            url_host("https://api.ecr.us-east-1.amazonaws.com"),
            "api.ecr.us-east-1.amazonaws.com"
        );
    }
}
