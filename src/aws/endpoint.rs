//! Regions, partitions and endpoint URLs (ECR, ECR Public, STS, SSO, SSO
//! OIDC), custom endpoints, and ECR registry host names. Pure logic.
//!
//! Endpoint URLs come from AWS's own data, evaluated in `rules.rs`: each
//! service's endpoint rule set and partitions.json (`endpoint/data/`), so
//! every partition, FIPS and dual-stack combination resolves as the SDKs
//! resolve it (`tests/aws_endpoints.rs` checks them all against botocore).

mod hosts;
mod rules;

use super::env::Env;
use super::profile::{ProfileSet, Section};
use super::Error;

pub use hosts::{is_ecr_public_host, parse_ecr_host, registry_endpoint_for, registry_host};
pub use rules::known_regions;

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
        Err(Error::Config(format!(
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

/// The ECR API URL, as the SDKs' endpoint rules give it.
pub fn ecr_api_url(region: &str, v: Variant) -> Result<String, Error> {
    service_url(Service::Ecr, region, v)
}

/// ECR Public's API lives in us-east-1 only.
pub fn ecr_public_api_url(v: Variant) -> Result<String, Error> {
    service_url(Service::EcrPublic, "us-east-1", v)
}

/// A service's default URL for a region (no configured endpoint).
pub fn service_url(service: Service, region: &str, v: Variant) -> Result<String, Error> {
    resolve(service, region, v, None).map(|e| e.url)
}

/// A resolved endpoint: its URL and the region to sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub url: String,
    pub signing_region: String,
}

/// The endpoint the SDKs would use for `service` in `region`, with the
/// FIPS / dual-stack variant and an optional configured endpoint, from
/// AWS's own endpoint rules (`endpoint/rules.rs`). What the rules refuse,
/// we refuse, in one line that says which setting to change.
pub fn resolve(
    service: Service,
    region: &str,
    v: Variant,
    configured: Option<&str>,
) -> Result<Resolved, Error> {
    check_region(region)?;
    if let Some(url) = configured {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::Config(format!(
                "endpoint URL {url:?} must start with https:// or http://"
            )));
        }
    }
    let params = rules::Params {
        region: Some(region),
        use_fips: v.fips,
        use_dual_stack: v.dualstack,
        endpoint: configured,
    };
    match rules::resolve(service.rule_set(), &params) {
        Ok(e) => Ok(Resolved {
            signing_region: e.signing_region.unwrap_or_else(|| region.to_string()),
            url: e.url.trim_end_matches('/').to_string(),
        }),
        Err(rules::RuleError::Refused(msg)) => Err(refusal(service, region, configured, &msg)),
        Err(rules::RuleError::Data(msg)) => Err(Error::Config(format!(
            "internal error: {} endpoint rules: {msg}",
            service.label()
        ))),
    }
}

/// The rules' refusals, as one line saying what to change.
fn refusal(service: Service, region: &str, configured: Option<&str>, msg: &str) -> Error {
    let partition = partition_name(region);
    let label = service.label();
    let m = msg.to_ascii_lowercase();
    if let Some(url) = configured.filter(|_| m.contains("custom endpoint")) {
        return custom_with_variant(url);
    }
    let fix = if m.contains("fips and dualstack") {
        Some("FIPS and dual-stack endpoints together; unset AWS_USE_FIPS_ENDPOINT or AWS_USE_DUALSTACK_ENDPOINT (or the profile's use_fips_endpoint / use_dualstack_endpoint)")
    } else if m.contains("fips") {
        Some("FIPS endpoints; unset AWS_USE_FIPS_ENDPOINT (or the profile's use_fips_endpoint)")
    } else if m.contains("dualstack") {
        Some("dual-stack endpoints; unset AWS_USE_DUALSTACK_ENDPOINT (or the profile's use_dualstack_endpoint)")
    } else {
        None
    };
    match fix {
        Some(fix) => {
            let (what, todo) = fix.split_once("; ").unwrap_or((fix, ""));
            Error::Config(format!(
                "{label} has no {what} in partition {partition} (region {region}): {todo}"
            ))
        }
        None => Error::Config(format!(
            "no {label} endpoint for region {region} (partition {partition}): {msg}: check the region"
        )),
    }
}

/// The partition a region belongs to, as `aws.partition` decides.
pub fn partition_name(region: &str) -> String {
    rules::partition_for(region)
        .ok()
        .and_then(|p| p.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_else(|| "aws".into())
}

/// The DNS suffix of a region's partition (`amazonaws.com`, `c2s.ic.gov`).
pub fn dns_suffix(region: &str) -> String {
    rules::partition_for(region)
        .ok()
        .and_then(|p| {
            p.get("dnsSuffix")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "amazonaws.com".into())
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
    fn rule_set(self) -> rules::RuleSetId {
        match self {
            Service::Ecr => rules::RuleSetId::Ecr,
            Service::EcrPublic => rules::RuleSetId::EcrPublic,
            Service::Sts => rules::RuleSetId::Sts,
            Service::Sso => rules::RuleSetId::Sso,
            Service::SsoOidc => rules::RuleSetId::SsoOidc,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Service::Ecr => "ECR",
            Service::EcrPublic => "ECR Public",
            Service::Sts => "STS",
            Service::Sso => "IAM Identity Center",
            Service::SsoOidc => "IAM Identity Center OIDC",
        }
    }
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

/// A configured endpoint, else `default` (the rules' URL for the region).
/// A configured endpoint with FIPS or dual-stack on is refused, as the
/// rules refuse it (`resolve` with `configured` says the same).
pub fn pick(
    configured: Option<String>,
    v: Variant,
    default: impl FnOnce() -> Result<String, Error>,
) -> Result<String, Error> {
    match configured {
        Some(url) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(Error::Config(format!(
                    "endpoint URL {url:?} must start with https:// or http://"
                )));
            }
            if v.fips || v.dualstack {
                return Err(custom_with_variant(&url));
            }
            Ok(url)
        }
        None => default(),
    }
}

fn custom_with_variant(url: &str) -> Error {
    Error::Config(format!(
        "a custom endpoint ({url}) cannot be combined with FIPS or dual-stack: unset AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT (or the profile's use_*_endpoint)"
    ))
}

/// The four endpoint variants, for the tests here and in `hosts`.
#[cfg(test)]
pub(crate) mod test_variants {
    use super::Variant;

    const fn v(fips: bool, dualstack: bool) -> Variant {
        Variant { fips, dualstack }
    }

    pub const PLAIN: Variant = v(false, false);
    pub const FIPS: Variant = v(true, false);
    pub const DS: Variant = v(false, true);
    pub const BOTH: Variant = v(true, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aws::endpoint::test_variants::*;
    use crate::aws::profile::test_profiles;

    #[test]
    fn ecr_endpoints_from_the_rules() {
        // Spot checks; tests/aws_endpoints.rs compares every combination
        // with botocore.
        let cases: &[(&str, Variant, &str)] = &[
            (
                "us-east-1",
                PLAIN,
                "https://api.ecr.us-east-1.amazonaws.com",
            ),
            (
                "us-east-1",
                FIPS,
                "https://api.ecr-fips.us-east-1.amazonaws.com",
            ),
            ("us-east-1", DS, "https://ecr.us-east-1.api.aws"),
            ("us-east-1", BOTH, "https://ecr-fips.us-east-1.api.aws"),
            (
                "cn-north-1",
                PLAIN,
                "https://api.ecr.cn-north-1.amazonaws.com.cn",
            ),
            (
                "cn-north-1",
                DS,
                "https://ecr.cn-north-1.api.amazonwebservices.com.cn",
            ),
            (
                "us-gov-west-1",
                FIPS,
                "https://api.ecr-fips.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-iso-east-1",
                PLAIN,
                "https://api.ecr.us-iso-east-1.c2s.ic.gov",
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
        assert!(ecr_api_url("us east", PLAIN).is_err());
        assert!(ecr_api_url("evil.com/x", PLAIN).is_err());
    }

    #[test]
    fn sts_sso_and_public_endpoints() {
        for (service, region, v, want) in [
            (
                Service::Sts,
                "us-east-1",
                PLAIN,
                "https://sts.us-east-1.amazonaws.com",
            ),
            (
                Service::Sts,
                "us-east-1",
                FIPS,
                "https://sts-fips.us-east-1.amazonaws.com",
            ),
            // GovCloud's STS is FIPS already, under its usual name.
            (
                Service::Sts,
                "us-gov-west-1",
                FIPS,
                "https://sts.us-gov-west-1.amazonaws.com",
            ),
            (
                Service::Sts,
                "eu-west-1",
                DS,
                "https://sts.eu-west-1.api.aws",
            ),
            (
                Service::Sso,
                "eu-west-1",
                PLAIN,
                "https://portal.sso.eu-west-1.amazonaws.com",
            ),
            (
                Service::SsoOidc,
                "eu-west-1",
                PLAIN,
                "https://oidc.eu-west-1.amazonaws.com",
            ),
        ] {
            let got = service_url(service, region, v).unwrap();
            assert_eq!(got, want, "{service:?} {region} {v:?}");
        }
        for (v, want) in [
            (PLAIN, "https://api.ecr-public.us-east-1.amazonaws.com"),
            (DS, "https://ecr-public.us-east-1.api.aws"),
        ] {
            assert_eq!(ecr_public_api_url(v).unwrap(), want, "{v:?}");
        }
        let r = resolve(Service::Sts, "aws-global", PLAIN, None).unwrap();
        assert_eq!(
            (r.url.as_str(), r.signing_region.as_str()),
            ("https://sts.amazonaws.com", "us-east-1")
        );
    }

    #[test]
    fn refusals_say_what_to_unset() {
        let e = resolve(Service::Ecr, "us-east-1", FIPS, Some("http://127.0.0.1:1")).unwrap_err();
        assert!(
            e.to_string().contains("http://127.0.0.1:1")
                && e.to_string().contains("AWS_USE_FIPS_ENDPOINT"),
            "{e}"
        );
        let e = refusal(
            Service::Ecr,
            "us-iso-east-1",
            None,
            "FIPS is enabled but this partition does not support FIPS",
        );
        assert_eq!(e.to_string(), "ECR has no FIPS endpoints in partition aws-iso (region us-iso-east-1): unset AWS_USE_FIPS_ENDPOINT (or the profile's use_fips_endpoint)");
        let e = refusal(
            Service::Sts,
            "eusc-de-east-1",
            None,
            "DualStack is enabled but this partition does not support DualStack",
        );
        assert!(
            e.to_string().contains("dual-stack")
                && e.to_string().contains("AWS_USE_DUALSTACK_ENDPOINT"),
            "{e}"
        );
        let e = resolve(Service::Ecr, "us-east-1", PLAIN, Some("ftp://x")).unwrap_err();
        assert!(e.to_string().contains("https://"), "{e}");
    }

    #[test]
    fn variant_from_env_then_profile() {
        let ps = test_profiles("[default]\nuse_fips_endpoint = true\n");
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
        let ps = test_profiles(
            "[default]\nendpoint_url = http://profile\nservices = s\n[services s]\nsts =\n  endpoint_url = http://svc-sts\n",
        );
        let none = ProfileSet::default();
        let unset = Env::default();
        let global = Env::from_pairs([("AWS_ENDPOINT_URL", "http://global/")]);
        let global_and_sts = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://global"),
            ("AWS_ENDPOINT_URL_STS", "http://env-sts"),
        ]);
        let ignored = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://g"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        let sso = Env::from_pairs([
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://oidc"),
            ("AWS_ENDPOINT_URL_SSO", "http://sso"),
        ]);
        let cases = [
            // The profile's services section, then its endpoint_url.
            (&unset, &ps, Service::Sts, Some("http://svc-sts")),
            (&unset, &ps, Service::Ecr, Some("http://profile")),
            // AWS_ENDPOINT_URL beats the profile's endpoint_url, not its
            // services section; the service's own variable beats both.
            (&global, &ps, Service::Ecr, Some("http://global")),
            (&global, &ps, Service::Sts, Some("http://svc-sts")),
            (&global_and_sts, &ps, Service::Sts, Some("http://env-sts")),
            (&sso, &none, Service::SsoOidc, Some("http://oidc")),
            (&sso, &none, Service::Sso, Some("http://sso")),
            // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: none of them.
            (&ignored, &ps, Service::Ecr, None),
        ];
        for (env, profiles, service, want) in cases {
            let got = configured_endpoint(service, env, profiles, profiles.profile("default"));
            assert_eq!(got.as_deref(), want, "{service:?} {env:?}");
        }
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
}
