"""public / cross_account: resources made public or shared out of the account (snapshots, images, buckets, keys,
functions, queues, any resource policy). Only what a request *adds* counts: removing a share (a revert) is benign.
"""

from __future__ import annotations

import json
from typing import Any, List, Tuple

from ctad.core.risk_checks.registry import ANY_SOURCE, REGISTRY, TEST_ACCOUNT, Case, Request, json_object

always, check = REGISTRY.always, REGISTRY.check
PUBLIC, CROSS, BOTH = ("public",), ("cross_account",), ("public", "cross_account")
FOREIGN = "999988887777"
_PUBLIC_GRANTEES = ("AllUsers", "AuthenticatedUsers")


def _raised(public: bool, cross: bool) -> Tuple[str, ...]:
    return BOTH if public and cross else PUBLIC if public else CROSS if cross else ()


# Condition keys that pin who may call: an account, an organisation, an identity, a network. A statement for
# Principal "*" with one of these is not public; with only other conditions (sts:ExternalId, a shared string anyone
# who learns it can send; aws:SecureTransport; MFA; dates) it still is: Panther's AWS.IAM.BackdoorRole is a trust
# policy for "*" guarded by an external id alone.
_PINNING_KEYS = frozenset(k.lower() for k in (
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceOrgPaths",
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:userid",
    "aws:username", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceIp", "aws:VpcSourceIp", "kms:CallerAccount",
    "lambda:FunctionArn", "aws:PrincipalServiceName",
))  # fmt: skip


def pins_caller(condition: Any) -> bool:
    """Whether an Allow statement's Condition limits who may call (see _PINNING_KEYS). A condition we cannot read
    (a flattened or malformed value) counts as limiting, as any condition always did."""
    if not condition:
        return False
    if not isinstance(condition, dict):
        return True
    for block in condition.values():
        if not isinstance(block, dict):
            return True
        if any(isinstance(key, str) and key.lower() in _PINNING_KEYS for key in block):
            return True
    return False


def principals(policy: Any) -> List[Tuple[str, bool]]:
    """(principal, pinned) for Allow statements of an IAM-style policy document: `pinned` when a condition limits
    who may call (`pins_caller`)."""
    policy = json_object(policy)
    if not isinstance(policy, dict):
        return []
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        columns = [v for v in statements.values() if isinstance(v, list)]
        if columns and len(columns) == len(statements) and len({len(c) for c in columns}) == 1:
            # Splunk's flattened `Statement{}.Effect` multivalue columns: zip them back into statements.
            keys = list(statements)
            statements = [dict(zip(keys, values)) for values in zip(*statements.values())]
        else:
            statements = [statements]
    out: List[Tuple[str, bool]] = []
    for st in statements if isinstance(statements, list) else []:
        if not isinstance(st, dict) or st.get("Effect", "Allow") != "Allow":
            continue
        cond = pins_caller(st.get("Condition"))
        principal = st.get("Principal")
        if isinstance(principal, str):
            out.append((principal, cond))
        elif isinstance(principal, dict):
            for v in principal.values():
                for p in v if isinstance(v, list) else [v]:
                    if isinstance(p, str):
                        out.append((p, cond))
    return out


def foreign_account(principal: str, own: str) -> bool:
    """True when `principal` (an account id or an ARN) names a 12-digit account other than `own`."""
    digits = (
        "".join(ch for ch in principal.split(":")[4] if ch.isdigit())
        if principal.count(":") >= 5
        else principal
    )
    return len(digits) == 12 and digits.isdigit() and digits != own


# Needs no parameters: Elastic's integration drops an empty requestParameters.
always(ANY_SOURCE, "DeletePublicAccessBlock", "DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock",
       flag="public", cases=[
    Case("bucket's block removed", PUBLIC, {"bucketName": "data", "publicAccessBlock": ""},
         source="s3.amazonaws.com"),
    Case("account's block removed", PUBLIC, None, "DeleteAccountPublicAccessBlock", "s3.amazonaws.com"),
    Case("block read", (), {"bucketName": "data"}, "GetPublicAccessBlock", "s3.amazonaws.com"),
])  # fmt: skip


@check(ANY_SOURCE, "ModifySnapshotAttribute", "ModifyImageAttribute", flags=BOTH, cases=[
    Case("snapshot shared", CROSS, {"snapshotId": "snap-1", "attributeType": "CREATE_VOLUME_PERMISSION",
                                    "createVolumePermission": {"add": {"items": [{"userId": FOREIGN}]}}},
         source="ec2.amazonaws.com"),
    Case("snapshot made public", PUBLIC, {"snapshotId": "snap-1",
                                          "createVolumePermission": {"add": {"items": [{"group": "all"}]}}},
         source="ec2.amazonaws.com"),
    Case("AMI shared", CROSS, {"imageId": "ami-1", "launchPermission": {"add": {"items": [{"userId": FOREIGN}]}}},
         "ModifyImageAttribute", "ec2.amazonaws.com"),
    Case("snapshot unshared", (), {"snapshotId": "snap-1",
                                   "createVolumePermission": {"remove": {"items": [{"userId": FOREIGN}]}}},
         source="ec2.amazonaws.com"),
    Case("snapshot shared within the account", (), {"snapshotId": "snap-1",
         "createVolumePermission": {"add": {"items": [{"userId": TEST_ACCOUNT}]}}}, source="ec2.amazonaws.com"),
])  # fmt: skip
def ec2_share(req: Request) -> Tuple[str, ...]:
    params = req.params
    public = cross = False
    perm = params.get("createVolumePermission") or params.get("launchPermission") or {}
    add = perm.get("add", {}) if isinstance(perm, dict) else {}
    items = add.get("items", []) if isinstance(add, dict) else []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            if item.get("group") == "all":
                public = True
            uid = str(item.get("userId", ""))
            if uid and uid != req.own_account:
                cross = True
    return _raised(public, cross)


@check(ANY_SOURCE, "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute", flags=BOTH, cases=[
    Case("DB snapshot shared", CROSS, {"dBSnapshotIdentifier": "prod", "attributeName": "restore",
                                       "valuesToAdd": [FOREIGN]}, source="rds.amazonaws.com"),
    Case("cluster snapshot made public", PUBLIC, {"dBClusterSnapshotIdentifier": "prod", "attributeName": "restore",
                                                  "valuesToAdd": ["all"]},
         "ModifyDBClusterSnapshotAttribute", "rds.amazonaws.com"),
    Case("DB snapshot unshared", (), {"dBSnapshotIdentifier": "prod", "attributeName": "restore",
                                      "valuesToRemove": [FOREIGN]}, source="rds.amazonaws.com"),
])  # fmt: skip
def rds_share(req: Request) -> Tuple[str, ...]:
    public = cross = False
    values = req.params.get("valuesToAdd") or []
    for v in values if isinstance(values, list) else [values]:
        if v == "all":
            public = True
        elif isinstance(v, str) and v.isdigit() and v != req.own_account:
            cross = True
    return _raised(public, cross)


@check(ANY_SOURCE, "PutBucketAcl", flags=PUBLIC, cases=[
    Case("canned public-read", PUBLIC, {"bucketName": "data", "x-amz-acl": ["public-read"]},
         source="s3.amazonaws.com"),
    Case("grant to AllUsers", PUBLIC, {"bucketName": "data", "AccessControlPolicy": {"AccessControlList": {"Grant": {
        "Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}}}},
         source="s3.amazonaws.com"),
    Case("private ACL", (), {"bucketName": "data", "x-amz-acl": ["private"]}, source="s3.amazonaws.com"),
])  # fmt: skip
def public_acl(req: Request) -> Tuple[str, ...]:
    params = req.params
    acl = str(params.get("x-amz-acl", "")) + json.dumps(params.get("AccessControlPolicy", ""))
    return PUBLIC if "public-read" in acl or any(g in acl for g in _PUBLIC_GRANTEES) else ()


@check(ANY_SOURCE, "PutPublicAccessBlock", "PutAccountPublicAccessBlock", flags=PUBLIC, cases=[
    Case("block loosened", PUBLIC, {"bucketName": "data", "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True}}, source="s3.amazonaws.com"),
    Case("block fully on", (), {"bucketName": "data", "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": "true"}}, source="s3.amazonaws.com"),
])  # fmt: skip
def access_block_loosened(req: Request) -> Tuple[str, ...]:
    conf = req.params.get("PublicAccessBlockConfiguration") or {}
    if isinstance(conf, dict) and conf and not all(v in (True, "true") for v in conf.values()):
        return PUBLIC
    return ()


@check("lambda.amazonaws.com", "AddPermission", flags=BOTH, cases=[
    Case("function open to everyone", PUBLIC, {"functionName": "f", "action": "lambda:InvokeFunction",
                                               "principal": "*", "statementId": "s"}),
    Case("function shared with another account", CROSS, {"functionName": "f", "action": "lambda:InvokeFunction",
                                                          "principal": f"arn:aws:iam::{FOREIGN}:root"}),
    Case("function invoked by S3", (), {"functionName": "f", "action": "lambda:InvokeFunction",
                                        "principal": "s3.amazonaws.com", "sourceAccount": TEST_ACCOUNT}),
    Case("as CloudTrail names it (API version suffix)", PUBLIC, {"functionName": "f", "principal": "*",
         "action": "lambda:InvokeFunction", "statementId": "backdoor"}, "AddPermission20150331v2"),
])  # fmt: skip
def lambda_permission(req: Request) -> Tuple[str, ...]:
    principal = str(req.params.get("principal", ""))
    if principal == "*":
        return PUBLIC
    return CROSS if foreign_account(principal, req.own_account) else ()


@check(ANY_SOURCE, "PutBucketPolicy", "PutKeyPolicy", "PutResourcePolicy", "SetRepositoryPolicy", "CreateRole",
       "UpdateAssumeRolePolicy", "SetQueueAttributes", "SetTopicAttributes", "PutRegistryPolicy",
       "PutFileSystemPolicy", flags=BOTH, cases=[
    Case("bucket policy for everyone", PUBLIC, {"bucketName": "data", "bucketPolicy": {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}, source="s3.amazonaws.com"),
    Case("role trusting another account", CROSS, {"roleName": "x", "assumeRolePolicyDocument": json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"},
                        "Action": "sts:AssumeRole"}]})}, "CreateRole", "iam.amazonaws.com"),
    Case("queue policy for everyone (flattened columns)", PUBLIC, {"queueUrl": "q", "attributes": {"Policy": {
        "Statement": {"Effect": ["Allow"], "Principal": ["*"]}}}}, "SetQueueAttributes", "sqs.amazonaws.com"),
    Case("conditioned public policy", (), {"bucketName": "data", "bucketPolicy": {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}},
         source="s3.amazonaws.com"),
    Case("role for anyone who knows an external id (Panther AWS.IAM.BackdoorRole)", PUBLIC, {"roleName": "r",
         "policyDocument": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
         "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "12345"}}}]})},
         "UpdateAssumeRolePolicy", "iam.amazonaws.com"),
    Case("role for anyone in the organisation", (), {"roleName": "r", "policyDocument": json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"AWS:PrincipalOrgID": "o-abc123"}}}]})}, "UpdateAssumeRolePolicy",
         "iam.amazonaws.com"),
    Case("key policy for the own account", (), {"keyId": "k", "policy": json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TEST_ACCOUNT}:root"}, "Action": "kms:*"}]})},
         "PutKeyPolicy", "kms.amazonaws.com"),
])  # fmt: skip
def resource_policy(req: Request) -> Tuple[str, ...]:
    params = req.params
    attributes = params.get("attributes")
    doc = (
        params.get("bucketPolicy")
        or params.get("policy")
        or params.get("resourcePolicy")
        or params.get("policyText")
        or params.get("assumeRolePolicyDocument")
        or params.get("policyDocument")
        or (attributes.get("Policy") if isinstance(attributes, dict) else None)
    )
    public = cross = False
    for principal, has_condition in principals(doc):
        if principal == "*" and not has_condition:
            public = True
        elif foreign_account(principal, req.own_account):
            cross = True
    return _raised(public, cross)
