//! Our endpoint resolution against botocore's, the oracle: every service we
//! call (ECR, ECR Public, STS, SSO, SSO OIDC), every region partitions.json
//! lists plus a made-up one per partition (and one in no partition), FIPS
//! and dual-stack on and off, with and without a configured endpoint. Where
//! botocore refuses, we must refuse too, in one line naming the setting.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use helm_ecr::aws::endpoint::{self, known_regions, Service, Variant};

use common::Lab;

/// A region no one has launched yet, per partition: the regexes decide.
const MADE_UP: [(&str, &str); 9] = [
    ("aws", "us-north-9"),
    ("aws-cn", "cn-south-7"),
    ("aws-us-gov", "us-gov-north-5"),
    ("aws-iso", "us-iso-north-5"),
    ("aws-iso-b", "us-isob-north-5"),
    ("aws-iso-e", "eu-isoe-north-5"),
    ("aws-iso-f", "us-isof-north-5"),
    ("aws-eusc", "eusc-de-north-5"),
    // Matches no partition: the SDKs fall back to aws.
    ("aws", "zz-mars-1"),
];

const SERVICES: [(Service, &str); 5] = [
    (Service::Ecr, "ecr"),
    (Service::EcrPublic, "ecr-public"),
    (Service::Sts, "sts"),
    (Service::Sso, "sso"),
    (Service::SsoOidc, "sso-oidc"),
];

const CUSTOM: &str = "https://vpce-0abc.example.internal";

#[derive(Debug)]
struct Case {
    service: Service,
    name: &'static str,
    region: String,
    fips: bool,
    dualstack: bool,
    endpoint: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let partitions = known_regions().unwrap();
    let ids: Vec<&str> = partitions.iter().map(|(id, _)| id.as_str()).collect();
    for want in [
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-eusc",
    ] {
        assert!(ids.contains(&want), "partitions.json lacks {want}: {ids:?}");
    }
    for id in &ids {
        assert!(
            MADE_UP.iter().any(|(p, _)| p == id),
            "no made-up region for partition {id}: add one to MADE_UP"
        );
    }
    let mut regions: Vec<String> = partitions
        .iter()
        .flat_map(|(_, r)| r.iter().cloned())
        .collect();
    for (partition, region) in MADE_UP {
        assert_eq!(endpoint::partition_name(region), partition, "{region}");
        regions.push(region.to_string());
    }
    let mut out = Vec::new();
    for (service, name) in SERVICES {
        for region in &regions {
            for (fips, dualstack) in [(false, false), (true, false), (false, true), (true, true)] {
                for endpoint in [None, Some(CUSTOM)] {
                    out.push(Case {
                        service,
                        name,
                        region: region.clone(),
                        fips,
                        dualstack,
                        endpoint,
                    });
                }
            }
        }
    }
    out
}

fn botocore(cases: &[Case]) -> Vec<serde_json::Value> {
    let lab = Lab::get();
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "service": c.name,
                "region": c.region,
                "fips": c.fips,
                "dualstack": c.dualstack,
                "endpoint": c.endpoint,
            })
        })
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/aws_support/endpoints_oracle.py"
    );
    let mut child = Command::new(&lab.python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the lab's python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "botocore oracle failed");
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.len(), cases.len());
    v
}

#[test]
fn every_service_region_and_variant_matches_botocore() {
    let cases = cases();
    let want = botocore(&cases);
    let mut resolved = 0;
    let mut refused = 0;
    for (c, want) in cases.iter().zip(&want) {
        let v = Variant {
            fips: c.fips,
            dualstack: c.dualstack,
        };
        let got = endpoint::resolve(c.service, &c.region, v, c.endpoint);
        match (got, want.get("url")) {
            (Ok(got), Some(url)) => {
                assert_eq!(got.url, url.as_str().unwrap(), "{c:?}");
                assert_eq!(
                    got.signing_region,
                    want["signing_region"].as_str().unwrap(),
                    "{c:?}"
                );
                resolved += 1;
            }
            (Err(e), None) => {
                let theirs = want["error"].as_str().unwrap_or("").to_ascii_lowercase();
                assert!(!e.to_string().contains('\n'), "{e}");
                // Our line names the setting to change.
                if theirs.contains("custom endpoint") {
                    assert!(e.to_string().contains(CUSTOM), "{c:?}: {e}");
                }
                if c.fips {
                    assert!(
                        e.to_string().contains("AWS_USE_FIPS_ENDPOINT"),
                        "{c:?}: {e}"
                    );
                }
                if c.dualstack {
                    assert!(
                        e.to_string().contains("AWS_USE_DUALSTACK_ENDPOINT"),
                        "{c:?}: {e}"
                    );
                }
                refused += 1;
            }
            (got, _) => panic!("{c:?}: we say {got:?}, botocore says {want}"),
        }
    }
    // Both outcomes were exercised: the comparison is not vacuous.
    assert!(resolved > 1000 && refused > 500, "{resolved} {refused}");
}

#[test]
fn the_facts_we_know_from_the_sdks() {
    let v = |fips, dualstack| Variant { fips, dualstack };
    let url = |s, r: &str, var| endpoint::resolve(s, r, var, None).unwrap().url;
    for (service, region, variant, want) in [
        (
            Service::Ecr,
            "us-east-1",
            v(true, false),
            "https://api.ecr-fips.us-east-1.amazonaws.com",
        ),
        (
            Service::Ecr,
            "eu-west-1",
            v(false, true),
            "https://ecr.eu-west-1.api.aws",
        ),
        (
            Service::Ecr,
            "us-east-2",
            v(true, true),
            "https://ecr-fips.us-east-2.api.aws",
        ),
        (
            Service::Sts,
            "us-gov-west-1",
            v(true, false),
            "https://sts.us-gov-west-1.amazonaws.com",
        ),
    ] {
        assert_eq!(
            url(service, region, variant),
            want,
            "{service:?} {region} {variant:?}"
        );
    }
    for region in ["us-iso-east-1", "us-isob-east-1", "eusc-de-east-1"] {
        let u = url(Service::Ecr, region, v(false, true));
        assert!(u.starts_with(&format!("https://ecr.{region}.")), "{u}");
    }
}
