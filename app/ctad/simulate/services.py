# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""AWS services acting in the account: log delivery, GuardDuty, Inspector, RDS, ELB, Auto Scaling, Lambda, Compute
Optimizer, IAM Identity Center and Secrets Manager rotation.

On real accounts this traffic is a large share of CloudTrail (one real account's five days were mostly service log
delivery) and it looks odd to a naive model: `AWSService` principals, `invokedBy`, service-linked roles under
`aws-service-role/`, service names or `AWS Internal` as source IP and user agent, writes such as RunInstances,
CreateNetworkInterface or PutSecretValue with no human behind them. A model that never saw it flags it on day one.

Each entry of `SERVICE_NOISE` is one registered service; `build_org` gives every account one `aws-service` role per
entry and `RoleActor` streams it through `stream()` here.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from ctad.simulate import apis
from ctad.simulate.agents import ToolAgent
from ctad.simulate.apis import Resources, pick
from ctad.simulate.events import Caller, assumed_role_identity, service_identity
from ctad.simulate.ids import hexid, key_id, uuid4

if TYPE_CHECKING:
    from ctad.simulate.org import Role

Stream = Iterator[Tuple[float, Dict[str, Any]]]
ParamsFn = Callable[[Resources, str, float, random.Random], Optional[Dict[str, Any]]]


@dataclass(frozen=True)
class ServiceNoise:
    """One AWS service's background calls in an account.

    `role` empty means the service calls as itself (`userIdentity.type` AWSService); otherwise it is the
    service-linked role (path included) the service assumes, with `session` as the session name.
    """

    service: str
    ops: str  # apis.ops() spec
    period: float  # mean seconds between batches (scaled by the machines' rate)
    batch: Tuple[int, int]
    role: str = ""
    session: str = ""
    ip: str = ""  # default: the service name, as CloudTrail records it
    ua: str = ""
    params: Optional[ParamsFn] = None

    def expected_per_day(self) -> float:
        return 86400.0 / self.period * (self.batch[0] + self.batch[1]) / 2.0


def _delivery_params(prefix: str) -> ParamsFn:
    """Log delivery: the service checks the bucket ACL and writes one object per region and delivery window."""

    def fn(res: Resources, name: str, ts: float, rng: random.Random) -> Optional[Dict[str, Any]]:
        bucket = next((b for b in res.buckets if b.startswith("aws-cloudtrail-logs-")), res.buckets[-1])
        if name == "GetBucketAcl":
            return {"bucketName": bucket, "Host": bucket + ".s3.amazonaws.com", "acl": ""}
        day = time.strftime("%Y/%m/%d", time.gmtime(ts))
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(ts))
        return {
            "bucketName": bucket,
            "Host": bucket + ".s3.amazonaws.com",
            "key": "%s/AWSLogs/%s/%s/%s_%s_%s.json.gz"
            % (prefix, res.account, day, res.account, stamp, hexid(rng, 16)),
            "x-amz-acl": "bucket-owner-full-control",
            "x-amz-server-side-encryption": "AES256",
        }

    return fn


def _slr(service: str, name: str) -> str:
    return f"aws-service-role/{service}/{name}"


SERVICE_NOISE: Dict[str, ServiceNoise] = {
    "cloudtrail-delivery": ServiceNoise(
        "cloudtrail.amazonaws.com",
        "s3:GetBucketAcl,PutObject,PutObject",
        600.0,
        (1, 3),
        params=_delivery_params("cloudtrail"),
    ),
    "config-delivery": ServiceNoise(
        "config.amazonaws.com", "s3:GetBucketAcl,PutObject", 3600.0, (1, 2), params=_delivery_params("config")
    ),
    "guardduty": ServiceNoise(
        "guardduty.amazonaws.com",
        "ec2:DescribeInstances,DescribeSecurityGroups,DescribeVpcEndpoints,DescribeNetworkInterfaces,DescribeImages "
        "s3:ListBuckets,GetBucketAcl,GetBucketPolicyStatus,GetBucketPublicAccessBlock,GetBucketLogging,"
        "GetBucketEncryption iam:GetRole organizations:DescribeOrganization,ListAccounts",
        3600.0,
        (3, 14),
        role=_slr("guardduty.amazonaws.com", "AWSServiceRoleForAmazonGuardDuty"),
        session="AmazonGuardDuty",
    ),
    "inspector2": ServiceNoise(
        "inspector2.amazonaws.com",
        "ec2:DescribeInstances,DescribeImages,DescribeVpcs ecr:DescribeRepositories,DescribeImages,ListImages "
        "lambda:ListFunctions20150331,GetFunction20150331v2 ssm:DescribeInstanceInformation,ListInventoryEntries,"
        "SendCommand,GetCommandInvocation organizations:DescribeOrganization",
        3600.0,
        (4, 16),
        role=_slr("inspector2.amazonaws.com", "AWSServiceRoleForAmazonInspector2"),
        session="Inspector2",
    ),
    "rds": ServiceNoise(
        "rds.amazonaws.com",
        "ec2:DescribeNetworkInterfaces,DescribeSecurityGroups,DescribeSubnets,DescribeVpcs,DescribeVpcAttribute,"
        "CreateNetworkInterface kms:Decrypt,GenerateDataKey",
        3600.0,
        (2, 8),
        role=_slr("rds.amazonaws.com", "AWSServiceRoleForRDS"),
        session="RDS",
    ),
    "lambda": ServiceNoise(
        "lambda.amazonaws.com",
        "ec2:CreateNetworkInterface,DescribeNetworkInterfaces,DeleteNetworkInterface,DescribeSubnets,"
        "DescribeSecurityGroups",
        2400.0,
        (1, 5),
        role=_slr("lambda.amazonaws.com", "AWSServiceRoleForLambda"),
        session="AWSLambda",
    ),
    "elasticloadbalancing": ServiceNoise(
        "elasticloadbalancing.amazonaws.com",
        "ec2:DescribeNetworkInterfaces,DescribeSubnets,DescribeSecurityGroups,DescribeInstances,DescribeVpcs,"
        "CreateNetworkInterface,AttachNetworkInterface,DescribeAddresses",
        2400.0,
        (2, 8),
        role=_slr("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing"),
        session="ElasticLoadBalancing",
    ),
    "autoscaling": ServiceNoise(
        "autoscaling.amazonaws.com",
        "ec2:DescribeInstances,DescribeInstanceStatus,DescribeLaunchTemplateVersions,RunInstances,CreateTags,"
        "TerminateInstances elasticloadbalancing:RegisterTargets,DeregisterTargets,DescribeTargetHealth",
        2700.0,
        (2, 9),
        role=_slr("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling"),
        session="AutoScaling",
    ),
    "compute-optimizer": ServiceNoise(
        "compute-optimizer.amazonaws.com",
        "ec2:DescribeInstances,DescribeVolumes,DescribeInstanceTypes autoscaling:DescribeAutoScalingGroups "
        "monitoring:GetMetricData lambda:ListFunctions20150331",
        6 * 3600.0,
        (4, 12),
        role=_slr("compute-optimizer.amazonaws.com", "AWSServiceRoleForComputeOptimizer"),
        session="ComputeOptimizer",
        ip="AWS Internal",
        ua="AWS Internal",
    ),
    "sso": ServiceNoise(
        "sso.amazonaws.com",
        "iam:ListRoles,GetRole,ListAttachedRolePolicies,ListRolePolicies,GetSAMLProvider,UpdateSAMLProvider",
        4 * 3600.0,
        (2, 8),
        role=_slr("sso.amazonaws.com", "AWSServiceRoleForSSO"),
        session="AWS-SSO",
    ),
}
_OPS: Dict[str, List[apis.Op]] = {name: apis.ops(spec.ops) for name, spec in SERVICE_NOISE.items()}


def stream(role: Role, spec_name: str, starts: Iterator[float], rng: random.Random) -> Stream:
    """Batches of one service's calls at the times `starts` yields (the role actor's periodic clock)."""
    spec = SERVICE_NOISE[spec_name]
    ops = _OPS[spec_name]
    acct = role.account
    ip = spec.ip or spec.service
    ua = spec.ua or spec.service
    for start in starts:
        if spec.role:
            path, name = spec.role.rsplit("/", 1)
            ui = assumed_role_identity(
                acct.id, name, role.pid, spec.session, key_id(rng, "ASIA"), start, path=path + "/"
            )
            ui["invokedBy"] = spec.service
        else:
            ui = service_identity(spec.service)
        caller = Caller(ui, acct.id, ip, rng, fixed_ua=ua, invoked_by=spec.service)
        t = start
        for _ in range(rng.randint(*spec.batch)):
            source, op = pick(rng, ops)
            region = role.region if rng.random() < 0.85 else rng.choice(acct.regions)
            if spec.params is not None:
                params = spec.params(acct.res, op, t, rng)
            else:
                params = apis.params_for(op, acct.res, rng, region)
            yield t, caller.event(t, source, op, region, params)
            t += rng.expovariate(1 / 1.5)


def rotation_stream(role: Role, starts: Iterator[float], rng: random.Random, t0: float) -> Stream:
    """Secrets Manager rotation: the service's RotationStarted/RotationSucceeded events around the rotation
    function's own calls (DescribeSecret, GetSecretValue, GetRandomPassword, PutSecretValue,
    UpdateSecretVersionStage): benign secret reads and writes by a function, not a person."""
    acct = role.account
    svc = "secretsmanager.amazonaws.com"
    agent = ToolAgent(
        "boto3",
        t0 - 30 * 86400.0,
        ("linux", "os/linux#5.10.224-234.867.amzn2.x86_64", "", "x86_64", ""),
        exec_env="AWS_Lambda_python3.12",
    )
    service = Caller(service_identity(svc), acct.id, svc, rng, fixed_ua=svc, invoked_by=svc)
    for start in starts:
        secret = rng.choice(acct.res.secrets)
        arn = "arn:aws:secretsmanager:%s:%s:secret:%s-%s" % (role.region, acct.id, secret, hexid(rng, 6))
        token = uuid4(rng)
        rec = _service_event(service, start, svc, "RotationStarted", role.region, acct.id, arn)
        yield start, rec
        t = start + rng.uniform(0.3, 3.0)
        ui = assumed_role_identity(acct.id, role.name, role.pid, role.sessions[0], key_id(rng, "ASIA"), t)
        fn = Caller(ui, acct.id, rng.choice(role.ips), rng, agent=agent, tls=1)
        steps = (
            ("DescribeSecret", {"secretId": arn}),
            ("GetSecretValue", {"secretId": arn, "versionStage": "AWSCURRENT"}),
            ("GetRandomPassword", {"passwordLength": 32, "excludeCharacters": "/@\"'\\"}),
            (
                "PutSecretValue",
                {"secretId": arn, "clientRequestToken": token, "versionStages": ["AWSPENDING"]},
            ),
            ("GetSecretValue", {"secretId": arn, "versionStage": "AWSPENDING", "versionId": token}),
            ("DescribeSecret", {"secretId": arn}),
            (
                "UpdateSecretVersionStage",
                {"secretId": arn, "versionStage": "AWSCURRENT", "moveToVersionId": token},
            ),
        )
        for name, params in steps:
            yield t, fn.event(t, svc, name, role.region, params)
            t += rng.uniform(0.05, 1.5)
        yield t, _service_event(service, t, svc, "RotationSucceeded", role.region, acct.id, arn)


def _service_event(
    caller: Caller, t: float, source: str, name: str, region: str, account: str, arn: str
) -> Dict[str, Any]:
    rec = caller.event(t, source, name, region, None)
    rec["userIdentity"] = {"type": "AWSService", "accountId": account, "invokedBy": source}
    rec["eventType"] = "AwsServiceEvent"
    rec["readOnly"] = False
    rec["serviceEventDetails"] = {"secretArn": arn}
    return rec
