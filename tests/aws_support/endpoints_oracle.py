"""botocore's endpoint resolver as an oracle for tests/aws_endpoints.rs.

Reads a JSON list of cases on stdin:
  {"service": "ecr", "region": "...", "fips": bool, "dualstack": bool,
   "endpoint": null | "https://..."}
and prints one JSON object per case: {"url", "signing_region"} or {"error"}.
Each service's client is created once; its ruleset resolver is then asked
with the builtins botocore itself would pass for that configuration.
"""
import json
import sys

import botocore.session

OPERATION = {
    "ecr": "GetAuthorizationToken",
    "ecr-public": "GetAuthorizationToken",
    "sts": "AssumeRole",
    "sso": "GetRoleCredentials",
    "sso-oidc": "CreateToken",
}

session = botocore.session.get_session()
clients = {}
out = []
for case in json.load(sys.stdin):
    svc = case["service"]
    if svc not in clients:
        clients[svc] = session.create_client(
            svc,
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
        )
    client = clients[svc]
    resolver = client._ruleset_resolver
    builtins = dict(resolver._builtins)
    builtins["AWS::Region"] = case["region"]
    builtins["AWS::UseFIPS"] = case["fips"]
    builtins["AWS::UseDualStack"] = case["dualstack"]
    builtins["SDK::Endpoint"] = case["endpoint"]
    resolver._builtins = builtins
    op = client.meta.service_model.operation_model(OPERATION[svc])
    try:
        e = resolver.construct_endpoint(op, None, {})
        schemes = e.properties.get("authSchemes") or [{}]
        out.append(
            {
                "url": e.url,
                "signing_region": schemes[0].get("signingRegion", case["region"]),
            }
        )
    except Exception as ex:  # the SDK refuses: record its message
        out.append({"error": str(ex)})
json.dump(out, sys.stdout)
