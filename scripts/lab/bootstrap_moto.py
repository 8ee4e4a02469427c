"""Spend moto's unauthenticated calls on the lab's identities, then prove them.

moto (INITIAL_NO_AUTH_ACTION_COUNT=6) lets exactly six calls through unsigned;
every later call has its SigV4 signature and IAM policy checked. The six
create: a user, a policy allowing ecr:* and sts:*, the attachment, an access
key, a role trusting any principal, and the role's attachment. The key is then
used once, signed, for GetAuthorizationToken, which both proves the chain and
yields the registry password the htpasswd file must hold.

Usage: python bootstrap_moto.py ENDPOINT REGION
Prints shell assignments (NAME=VALUE, one a line) on stdout.
"""

import base64
import json
import sys

import boto3

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecr:*", "sts:*"], "Resource": "*"}
        ],
    }
)
TRUST_ANYONE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def client(service, endpoint, region, key="bootstrap", secret="bootstrap"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def main():
    endpoint, region = sys.argv[1], sys.argv[2]
    iam = client("iam", endpoint, region)
    iam.create_user(UserName="helm-ecr-lab")
    policy_arn = iam.create_policy(
        PolicyName="helm-ecr-lab-ecr", PolicyDocument=POLICY
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName="helm-ecr-lab", PolicyArn=policy_arn)
    key = iam.create_access_key(UserName="helm-ecr-lab")["AccessKey"]
    role_arn = iam.create_role(
        RoleName="helm-ecr-lab-role", AssumeRolePolicyDocument=TRUST_ANYONE
    )["Role"]["Arn"]
    iam.attach_role_policy(RoleName="helm-ecr-lab-role", PolicyArn=policy_arn)

    ecr = client("ecr", endpoint, region, key["AccessKeyId"], key["SecretAccessKey"])
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, password = (
        base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    )
    if user != "AWS":
        sys.exit(f"unexpected ECR token user {user!r}")
    account = role_arn.split(":")[4]
    print(f"LAB_ACCOUNT={account}")
    print(f"LAB_ACCESS_KEY_ID={key['AccessKeyId']}")
    print(f"LAB_SECRET_ACCESS_KEY={key['SecretAccessKey']}")
    print(f"LAB_ROLE_ARN={role_arn}")
    print(f"LAB_REGISTRY_PASSWORD={password}")


if __name__ == "__main__":
    main()
