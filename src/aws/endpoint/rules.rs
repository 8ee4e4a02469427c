//! The AWS SDKs' endpoint rules, evaluated over AWS's own data (see
//! `data/README.md`): each service's rule set (the Smithy endpoint rules
//! language) and `partitions.json`. The five rule sets we carry use only
//! `isSet`, `not`, `booleanEquals`, `stringEquals`, `getAttr` and
//! `aws.partition`; anything else in the data is an error, never a guess.
//! Evaluation follows botocore's `endpoint_provider.py` (and the Rust SDK's
//! generated resolvers): rules in order, a tree whose children all miss
//! falls through to the next rule, an error rule refuses.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use serde_json::{Map, Value};

mod eval;
mod region_regex;

pub use eval::evaluate;
use region_regex::regex_match;

const PARTITIONS: &str = include_str!("data/partitions.json");
const ECR: &[u8] = include_bytes!("data/ecr.json.gz");
const ECR_PUBLIC: &[u8] = include_bytes!("data/ecr-public.json.gz");
const STS: &[u8] = include_bytes!("data/sts.json.gz");
const SSO: &[u8] = include_bytes!("data/sso.json.gz");
const SSO_OIDC: &[u8] = include_bytes!("data/sso-oidc.json.gz");

/// Which rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleSetId {
    Ecr,
    EcrPublic,
    Sts,
    Sso,
    SsoOidc,
}

/// What the SDK passes in (its built-ins).
#[derive(Debug, Clone, Default)]
pub struct Params<'a> {
    pub region: Option<&'a str>,
    pub use_fips: bool,
    pub use_dual_stack: bool,
    pub endpoint: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// From `authSchemes` (STS signs its global endpoint for us-east-1).
    pub signing_region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// An error rule matched: the SDK refuses this configuration.
    Refused(String),
    /// The data is not what this evaluator understands (never expected).
    Data(String),
}

type Scope = HashMap<String, Value>;

fn gunzip(bytes: &[u8]) -> Result<Value, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| format!("embedded endpoint rules unreadable: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("embedded endpoint rules unreadable: {e}"))
}

fn partitions() -> Result<&'static Value, RuleError> {
    static P: OnceLock<Result<Value, String>> = OnceLock::new();
    P.get_or_init(|| {
        serde_json::from_str(PARTITIONS).map_err(|e| format!("embedded partitions.json: {e}"))
    })
    .as_ref()
    .map_err(|e| RuleError::Data(e.clone()))
}

pub fn rule_set(id: RuleSetId) -> Result<&'static Value, RuleError> {
    static SETS: [OnceLock<Result<Value, String>>; 5] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let (slot, bytes) = match id {
        RuleSetId::Ecr => (&SETS[0], ECR),
        RuleSetId::EcrPublic => (&SETS[1], ECR_PUBLIC),
        RuleSetId::Sts => (&SETS[2], STS),
        RuleSetId::Sso => (&SETS[3], SSO),
        RuleSetId::SsoOidc => (&SETS[4], SSO_OIDC),
    };
    slot.get_or_init(|| gunzip(bytes))
        .as_ref()
        .map_err(|e| RuleError::Data(e.clone()))
}

/// A partition's outputs (`name`, `dnsSuffix`, `dualStackDnsSuffix`, ...)
/// for a region, as `aws.partition` gives them: an exact region match in
/// any partition first, then the partitions' regexes in order, else aws. This is the Rust SDK's order; botocore checks
/// both per partition, which gives the same answers for this data (the
/// endpoint test compares them).
pub fn partition_for(region: &str) -> Result<Map<String, Value>, RuleError> {
    partition_in(partitions()?, region)
}

/// A partition's outputs with its name; a region may override them.
fn outputs(p: &Value, region_entry: Option<&Value>) -> Map<String, Value> {
    let mut out = p
        .get("outputs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(id) = p.get("id") {
        out.insert("name".into(), id.clone());
    }
    if let Some(Value::Object(o)) = region_entry {
        for (k, v) in o {
            if k != "description" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn partition_in(data: &Value, region: &str) -> Result<Map<String, Value>, RuleError> {
    let list = data
        .get("partitions")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| RuleError::Data("partitions.json lists no partitions".into()))?;
    for p in list {
        if let Some(entry) = p.get("regions").and_then(|r| r.get(region)) {
            return Ok(outputs(p, Some(entry)));
        }
    }
    for p in list {
        let re = p.get("regionRegex").and_then(Value::as_str).unwrap_or("");
        if regex_match(re, region)? {
            return Ok(outputs(p, None));
        }
    }
    let aws = list
        .iter()
        .find(|p| p.get("id") == Some(&Value::from("aws")));
    Ok(outputs(aws.unwrap_or(&list[0]), None))
}

/// Every partition's outputs, with its name (for host-name checks).
pub fn all_partitions() -> Result<Vec<Map<String, Value>>, RuleError> {
    let list = partitions()?
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or_else(|| RuleError::Data("partitions.json lists no partitions".into()))?;
    Ok(list.iter().map(|p| outputs(p, None)).collect())
}

/// The regions partitions.json lists, per partition (for tests and checks).
pub fn known_regions() -> Result<Vec<(String, Vec<String>)>, RuleError> {
    let list = partitions()?
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or_else(|| RuleError::Data("partitions.json lists no partitions".into()))?;
    Ok(list
        .iter()
        .map(|p| {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let regions = p
                .get("regions")
                .and_then(Value::as_object)
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            (id, regions)
        })
        .collect())
}

/// Resolve an endpoint from a rule set.
pub fn resolve(id: RuleSetId, params: &Params<'_>) -> Result<Endpoint, RuleError> {
    evaluate(rule_set(id)?, partitions()?, params)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_regexes() {
        let aws = r"^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$";
        for (r, want) in [
            ("us-east-1", true),
            ("mx-central-1", true),
            ("eu-west-10", true),
            ("us-gov-west-1", false),
            ("us-east-1x", false),
            ("xx-east-1", false),
            ("us-east-", false),
            ("us--1", false),
        ] {
            assert_eq!(regex_match(aws, r), Ok(want), "{r}");
        }
        let eusc = r"^eusc\-(de)\-\w+\-\d+$";
        assert_eq!(regex_match(eusc, "eusc-de-east-1"), Ok(true));
        assert_eq!(regex_match(eusc, "eusc-fr-east-1"), Ok(false));
        assert_eq!(regex_match("a?b*c", "xxbbc"), Ok(true));
        assert!(regex_match("[a-z]+", "a").is_err());
        for (id, _) in known_regions().unwrap() {
            let p = partitions().unwrap()["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id.as_str())
                .unwrap();
            assert!(regex_match(p["regionRegex"].as_str().unwrap(), "").is_ok());
        }
    }

    #[test]
    fn partitions_by_name_then_regex_then_aws() {
        let name = |r: &str| {
            partition_for(r).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(name("us-east-1"), "aws");
        assert_eq!(name("aws-global"), "aws");
        assert_eq!(name("cn-north-9"), "aws-cn");
        assert_eq!(name("us-gov-west-1"), "aws-us-gov");
        assert_eq!(name("us-isob-east-7"), "aws-iso-b");
        assert_eq!(name("eu-isoe-west-1"), "aws-iso-e");
        assert_eq!(name("eusc-de-east-1"), "aws-eusc");
        assert_eq!(name("mars-base-1"), "aws");
        assert_eq!(
            partition_for("cn-north-1").unwrap()["dualStackDnsSuffix"],
            "api.amazonwebservices.com.cn"
        );
    }

    fn resolve_url(id: RuleSetId, region: &str, fips: bool, ds: bool) -> Result<String, RuleError> {
        resolve(
            id,
            &Params {
                region: Some(region),
                use_fips: fips,
                use_dual_stack: ds,
                endpoint: None,
            },
        )
        .map(|e| e.url)
    }

    #[test]
    fn known_sdk_answers() {
        use RuleSetId::*;
        let ok = |id, r, f, d, want: &str| {
            assert_eq!(
                resolve_url(id, r, f, d).as_deref(),
                Ok(want),
                "{id:?} {r} {f} {d}"
            )
        };
        ok(
            Ecr,
            "us-east-1",
            false,
            false,
            "https://api.ecr.us-east-1.amazonaws.com",
        );
        ok(
            Ecr,
            "us-east-1",
            true,
            false,
            "https://api.ecr-fips.us-east-1.amazonaws.com",
        );
        ok(
            Ecr,
            "us-east-1",
            false,
            true,
            "https://ecr.us-east-1.api.aws",
        );
        ok(
            Ecr,
            "us-east-1",
            true,
            true,
            "https://ecr-fips.us-east-1.api.aws",
        );
        ok(
            Sts,
            "us-gov-west-1",
            true,
            false,
            "https://sts.us-gov-west-1.amazonaws.com",
        );
        ok(
            Sts,
            "us-east-1",
            false,
            false,
            "https://sts.us-east-1.amazonaws.com",
        );
        let global = resolve(
            Sts,
            &Params {
                region: Some("aws-global"),
                ..Params::default()
            },
        )
        .unwrap();
        assert_eq!(global.url, "https://sts.amazonaws.com");
        assert_eq!(global.signing_region.as_deref(), Some("us-east-1"));
        // Dual-stack exists in the isolated partitions too.
        assert!(resolve_url(Ecr, "us-iso-east-1", false, true).is_ok());
        assert!(resolve_url(Ecr, "eusc-de-east-1", false, true).is_ok());
    }

    #[test]
    fn refusals_come_from_the_rules() {
        let e = resolve(
            RuleSetId::Ecr,
            &Params {
                region: Some("us-east-1"),
                use_fips: true,
                endpoint: Some("http://127.0.0.1:1"),
                ..Params::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            e,
            RuleError::Refused(
                "Invalid Configuration: FIPS and custom endpoint are not supported".into()
            )
        );
        let e = resolve(RuleSetId::Ecr, &Params::default()).unwrap_err();
        assert_eq!(
            e,
            RuleError::Refused("Invalid Configuration: Missing Region".into())
        );
        // A partition without FIPS (none today; ECR names each known
        // partition explicitly, so a new one goes by the generic rules).
        let mut p: Value = serde_json::from_str(PARTITIONS).unwrap();
        for part in p["partitions"].as_array_mut().unwrap() {
            if part["id"] == "aws-iso" {
                part["id"] = "aws-new".into();
                part["outputs"]["supportsFIPS"] = false.into();
            }
        }
        let set = rule_set(RuleSetId::Ecr).unwrap();
        let e = evaluate(
            set,
            &p,
            &Params {
                region: Some("us-iso-east-1"),
                use_fips: true,
                ..Params::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            e,
            RuleError::Refused("FIPS is enabled but this partition does not support FIPS".into())
        );
    }
}
