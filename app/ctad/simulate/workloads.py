# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""Scheduled benign jobs that looked like attacks on real accounts, planned up front from the seed.

- `iac`: infrastructure-as-code runs (Terraform, or CloudFormation acting with `invokedBy`) by an admin from their
  laptop or by the account's CI role, creating dozens of resources in minutes: roles with inline and attached
  policies, users with login profiles and access keys, bucket policies, functions, security-group egress, secrets
  read back right after creation; about half are torn down (Delete*) hours or days later.
- `bulk-read`: one person downloading thousands of S3 objects in under an hour, with a KMS Decrypt per object
  (made by S3 on their behalf, or by their own client).

Planning happens before generation so attack campaigns can be placed relative to these jobs (an admin's session
abused an hour after their Terraform apply), and each job streams on its own (the generator merges them).
Register a new workload in `WORKLOADS`: a planner `(org, seed, target events per day) -> [job, ...]` where a job
has `t`, `expected_events()` and `stream()`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ctad.simulate import apis
from ctad.simulate.actors import admin_identity, admin_ip, poisson, web_identity, weekday
from ctad.simulate.agents import ToolAgent
from ctad.simulate.events import Caller, assumed_role_identity, iam_user_identity
from ctad.simulate.ids import derive_rng, hexid, key_id, uuid4
from ctad.simulate.networks import ip_from
from ctad.simulate.org import APPS, DAY, Account, Human, Org, Role

Stream = Iterator[Tuple[float, Dict[str, Any]]]
Call = Tuple[
    str, str, Optional[Dict[str, Any]], Any
]  # (source, eventName, requestParameters, response|"auto")

IAC_RUNS_PER_WORKDAY = 0.5  # per account: a few runs a week
IAC_TEARDOWN_SHARE = 0.45  # preview / feature environments destroyed later
BULK_READS_PER_WORKDAY = 0.25  # per organisation: "now and then"
_CI_OS = ("linux", "os/linux#6.5.0-1025-azure", "", "x86_64", "ubuntu.22")


def _doc(statements: List[Dict[str, Any]]) -> str:
    """IAM policy documents are recorded as JSON strings in requestParameters."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------- IaC components
@dataclass
class _Stack:
    """What one IaC run creates, so later components (and the teardown) refer to earlier ones."""

    name: str
    account: Account
    region: str
    rng: random.Random
    roles: List[str] = field(default_factory=list)
    buckets: List[str] = field(default_factory=list)
    create: List[Call] = field(default_factory=list)
    delete: List[List[Call]] = field(default_factory=list)  # per component, reversed at teardown

    def add(self, create: List[Call], delete: List[Call]) -> None:
        self.create.extend(create)
        self.delete.append(delete)


def _iam(name: str, params: Dict[str, Any], response: Any = "auto") -> Call:
    return ("iam.amazonaws.com", name, params, response)


def _c_role(s: _Stack, i: int) -> None:
    g, acct = s.rng, s.account.id
    name = "%s-%s-%d" % (s.name, g.choice(["lambda", "task", "exec", "worker"]), i)
    svc = g.choice(["lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ec2.amazonaws.com"])
    trust = _doc([{"Effect": "Allow", "Principal": {"Service": svc}, "Action": "sts:AssumeRole"}])
    inline = _doc(
        [
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "logs:PutLogEvents",
                    "secretsmanager:GetSecretValue",
                ],
                "Resource": [
                    "arn:aws:s3:::%s-*/*" % s.name,
                    "arn:aws:logs:%s:%s:log-group:/aws/%s*" % (s.region, acct, s.name),
                    "arn:aws:secretsmanager:%s:%s:secret:%s/*" % (s.region, acct, s.name),
                ],
            }
        ]
    )
    managed = g.choice(
        [
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
        ]
    )
    tags = [{"key": "stack", "value": s.name}, {"key": "managed-by", "value": "iac"}]
    s.roles.append("arn:aws:iam::%s:role/%s" % (acct, name))
    r = {"roleName": name}
    s.add(
        [
            _iam("CreateRole", dict(r, path="/", assumeRolePolicyDocument=trust, tags=tags)),
            _iam("PutRolePolicy", dict(r, policyName=s.name + "-inline", policyDocument=inline)),
            _iam("AttachRolePolicy", dict(r, policyArn=managed)),
            _iam("GetRole", r),
            _iam("ListRolePolicies", r),
            _iam("ListAttachedRolePolicies", r),
        ],
        [
            _iam("DetachRolePolicy", dict(r, policyArn=managed)),
            _iam("DeleteRolePolicy", dict(r, policyName=s.name + "-inline")),
            _iam("DeleteRole", r),
        ],
    )


def _c_user(s: _Stack, i: int) -> None:
    """An IAM user the stack manages (a deploy user, or a person's user with console access) and its key."""
    g, acct = s.rng, s.account.id
    name = "%s-%s" % (s.name, g.choice(["deploy", "ci", "reader", "ops", "partner"]))
    u = {"userName": name}
    key = key_id(g, "AKIA")
    created = "2024-01-01 00:00:00"
    calls = [
        _iam("CreateUser", dict(u, path="/", tags=[{"key": "stack", "value": s.name}])),
    ]
    console = g.random() < 0.5
    if console:
        calls.append(_iam("CreateLoginProfile", dict(u, passwordResetRequired=True)))
    calls += [
        _iam(
            "CreateAccessKey",
            u,
            {"accessKey": {"userName": name, "accessKeyId": key, "status": "Active", "createDate": created}},
        ),
        _iam(
            "PutUserPolicy",
            dict(
                u,
                policyName="deploy",
                policyDocument=_doc(
                    [
                        {
                            "Effect": "Allow",
                            "Action": "s3:PutObject",
                            "Resource": "arn:aws:s3:::%s-*/*" % s.name,
                        }
                    ]
                ),
            ),
        ),
        _iam("GetUser", u),
        _iam("ListAccessKeys", u),
    ]
    delete = [
        _iam("DeleteAccessKey", dict(u, accessKeyId=key)),
        _iam("DeleteUserPolicy", dict(u, policyName="deploy")),
    ]
    if console:
        delete.append(_iam("DeleteLoginProfile", u))
    delete.append(_iam("DeleteUser", u))
    s.add(calls, delete)
    del acct


def _c_bucket(s: _Stack, i: int) -> None:
    """A bucket with a policy for the stack's own role (same account, never public)."""
    g, acct = s.rng, s.account.id
    b = "%s-%s-%s" % (s.name, g.choice(["data", "assets", "artifacts", "uploads"]), acct[-6:])
    s.buckets.append(b)
    host = {"bucketName": b, "Host": b + ".s3.amazonaws.com"}
    principal = s.roles[-1] if s.roles else "arn:aws:iam::%s:root" % acct
    policy = _doc(
        [
            {
                "Sid": "StackRoleAccess",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::%s" % b, "arn:aws:s3:::%s/*" % b],
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::%s" % b, "arn:aws:s3:::%s/*" % b],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )
    s3 = "s3.amazonaws.com"
    s.add(
        [
            (
                s3,
                "CreateBucket",
                dict(host, CreateBucketConfiguration={"LocationConstraint": s.region}),
                "auto",
            ),
            (s3, "PutBucketPublicAccessBlock", dict(host, publicAccessBlock=""), "auto"),
            (s3, "PutBucketEncryption", dict(host, encryption=""), "auto"),
            (s3, "PutBucketVersioning", dict(host, versioning=""), "auto"),
            (s3, "PutBucketPolicy", dict(host, bucketPolicy=policy, policy=[""]), "auto"),
            (s3, "PutBucketTagging", dict(host, tagging=""), "auto"),
            (s3, "GetBucketPolicy", dict(host, policy=""), "auto"),
            (s3, "GetBucketAcl", dict(host, acl=""), "auto"),
        ],
        [
            (s3, "DeleteBucketPolicy", dict(host, policy=""), "auto"),
            (s3, "DeleteBucket", dict(host), "auto"),
        ],
    )


def _c_function(s: _Stack, i: int) -> None:
    g, acct = s.rng, s.account.id
    fn = "%s-%s" % (s.name, g.choice(["api", "worker", "cron", "consumer"]))
    role = s.roles[-1] if s.roles else "arn:aws:iam::%s:role/%s" % (acct, g.choice(s.account.res.roles))
    lam = "lambda.amazonaws.com"
    f = {"functionName": fn}
    s.add(
        [
            (
                lam,
                "CreateFunction20150331",
                dict(
                    f,
                    runtime=g.choice(["python3.12", "nodejs20.x"]),
                    role=role,
                    handler="app.handler",
                    timeout=30,
                    memorySize=256,
                    publish=True,
                ),  # fmt: skip
                "auto",
            ),
            (
                lam,
                "AddPermission20150331v2",
                dict(
                    f,
                    statementId="AllowAPIGateway",
                    action="lambda:InvokeFunction",
                    principal="apigateway.amazonaws.com",
                ),  # fmt: skip
                "auto",
            ),
            (lam, "GetFunction20150331v2", f, "auto"),
            (lam, "GetPolicy20150331v2", f, "auto"),
        ],
        [(lam, "DeleteFunction20150331", f, "auto")],
    )


def _c_security_group(s: _Stack, i: int) -> None:
    g = s.rng
    sg = "sg-" + hexid(g, 17)
    ec2 = "ec2.amazonaws.com"
    cidr = "10.%d.0.0/16" % g.randint(0, 40)
    ingress = {
        "items": [
            {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": cidr}]}}
        ]
    }
    egress = {"items": [{"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
    s.add(
        [
            (
                ec2,
                "CreateSecurityGroup",
                {
                    "groupName": "%s-sg-%d" % (s.name, i),
                    "groupDescription": "managed by iac",
                    "vpcId": "vpc-" + hexid(g, 17),
                },  # fmt: skip
                {"requestId": uuid4(g), "_return": True, "groupId": sg},
            ),
            (ec2, "AuthorizeSecurityGroupIngress", {"groupId": sg, "ipPermissions": ingress}, "auto"),
            (ec2, "AuthorizeSecurityGroupEgress", {"groupId": sg, "ipPermissions": egress}, "auto"),
            (ec2, "DescribeSecurityGroups", {"groupSet": {"items": [{"groupId": sg}]}}, "auto"),
        ],
        [(ec2, "DeleteSecurityGroup", {"groupId": sg}, "auto")],
    )


def _c_secret(s: _Stack, i: int) -> None:
    """A secret the stack creates and Terraform reads straight back (benign CreateSecret + GetSecretValue)."""
    g = s.rng
    name = "%s/%s" % (s.name, g.choice(["db-password", "api-key", "oauth-client", "signing-key"]))
    sm = "secretsmanager.amazonaws.com"
    s.add(
        [
            (
                sm,
                "CreateSecret",
                {"name": name, "description": "managed by iac", "clientRequestToken": uuid4(g)},
                "auto",
            ),
            (sm, "PutSecretValue", {"secretId": name, "clientRequestToken": uuid4(g)}, "auto"),
            (sm, "DescribeSecret", {"secretId": name}, "auto"),
            (sm, "GetSecretValue", {"secretId": name}, "auto"),
            (sm, "GetResourcePolicy", {"secretId": name}, "auto"),
        ],
        [(sm, "DeleteSecret", {"secretId": name, "recoveryWindowInDays": 7}, "auto")],
    )


def _c_log_group(s: _Stack, i: int) -> None:
    lg = {"logGroupName": "/aws/%s/%d" % (s.name, i)}
    logs = "logs.amazonaws.com"
    s.add(
        [
            (logs, "CreateLogGroup", lg, "auto"),
            (logs, "PutRetentionPolicy", dict(lg, retentionInDays=s.rng.choice([14, 30, 90])), "auto"),
            (logs, "DescribeLogGroups", {"logGroupNamePrefix": lg["logGroupName"]}, "auto"),
        ],
        [(logs, "DeleteLogGroup", lg, "auto")],
    )


def _c_key(s: _Stack, i: int) -> None:
    g, acct = s.rng, s.account.id
    kid = "%08x-%04x-4%03x-a%03x-%012x" % (g.getrandbits(32), g.getrandbits(16), g.getrandbits(12),
                                           g.getrandbits(12), g.getrandbits(48))  # fmt: skip
    arn = "arn:aws:kms:%s:%s:key/%s" % (s.region, acct, kid)
    kms = "kms.amazonaws.com"
    alias = "alias/%s-%d" % (s.name, i)
    s.add(
        [
            (
                kms,
                "CreateKey",
                {"description": "managed by iac", "keyUsage": "ENCRYPT_DECRYPT"},
                {"keyMetadata": {"keyId": kid, "arn": arn, "keyState": "Enabled"}},
            ),  # fmt: skip
            (kms, "CreateAlias", {"aliasName": alias, "targetKeyId": kid}, "auto"),
            (kms, "EnableKeyRotation", {"keyId": kid}, "auto"),
            (kms, "DescribeKey", {"keyId": arn}, "auto"),
        ],
        [
            (kms, "DeleteAlias", {"aliasName": alias}, "auto"),
            (kms, "ScheduleKeyDeletion", {"keyId": kid, "pendingWindowInDays": 7}, "auto"),
        ],
    )


def _c_queue(s: _Stack, i: int) -> None:
    q = "%s-%s-%d" % (s.name, s.rng.choice(["events", "jobs", "dlq"]), i)
    url = "https://sqs.%s.amazonaws.com/%s/%s" % (s.region, s.account.id, q)
    sqs = "sqs.amazonaws.com"
    s.add(
        [
            (sqs, "CreateQueue", {"queueName": q}, "auto"),
            (sqs, "SetQueueAttributes", {"queueUrl": url, "attributes": {"VisibilityTimeout": "60"}}, "auto"),
            (sqs, "GetQueueAttributes", {"queueUrl": url, "attributeNames": ["All"]}, "auto"),
        ],
        [(sqs, "DeleteQueue", {"queueUrl": url}, "auto")],
    )


# name -> (weight, builder, order: roles and keys before what refers to them)
IAC_COMPONENTS: Dict[str, Tuple[float, Callable[[_Stack, int], None], int]] = {
    "role": (3.0, _c_role, 0),
    "user": (1.0, _c_user, 1),
    "key": (1.0, _c_key, 2),
    "log-group": (2.0, _c_log_group, 3),
    "security-group": (2.0, _c_security_group, 4),
    "bucket": (2.0, _c_bucket, 5),
    "secret": (2.0, _c_secret, 6),
    "queue": (1.0, _c_queue, 7),
    "function": (2.0, _c_function, 8),
}
_CREATES_PER_COMPONENT = 4.6  # mean calls per component incl. read-backs (for volume planning)


# ---------------------------------------------------------------------------------------------------- IaC runs
@dataclass
class IacRun:
    """One IaC apply (and maybe its later destroy) by an admin from their laptop or by the account's CI role."""

    index: int
    t: float
    account: Account
    tool: str  # terraform | cloudformation
    stack: str
    components: Tuple[str, ...]
    seed: int
    human: Optional[Human] = None
    role: Optional[Role] = None
    ip: str = ""
    teardown: Optional[float] = None

    @property
    def executor(self) -> str:
        return "admin" if self.human is not None else "ci"

    def expected_events(self) -> float:
        n = len(self.components) * _CREATES_PER_COMPONENT + 47.0 + 20.0
        return n + (len(self.components) * 2.2 + 25.0 if self.teardown is not None else 0.0)

    def agent(self) -> ToolAgent:
        """The tool that drives the run: Terraform, or for CloudFormation the executor's CLI."""
        if self.human is not None:
            if self.tool == "terraform":
                return self.human.tool_at(self.t, "terraform")
            return self.human.agent_at(self.t)
        if self.tool == "terraform":
            return ToolAgent("terraform", self.t - 3 * DAY, ("linux", "", "", "x86_64", ""))
        return ToolAgent("aws-cli", self.t - 10 * DAY, _CI_OS)

    def session_key(self, destroy: bool = False) -> str:
        """The apply's (or the destroy's) session key: known at plan time, so a campaign can steal this session."""
        return key_id(derive_rng(self.seed, "iac-key", self.index, destroy), "ASIA")

    def identity(
        self, t: float, rng: random.Random, destroy: bool = False
    ) -> Tuple[List[Tuple[float, Dict[str, Any]]], Dict[str, Any]]:
        """(records that open the session, the session identity) at `t` for this run's executor."""
        key = self.session_key(destroy)
        if self.human is not None:
            return [], admin_identity(self.human, self.account, t, rng, key=key)
        assert self.role is not None
        rec, ui = web_identity(self.role, t, self.ip, "infrastructure", rng, key=key)
        return [(t, rec)], ui

    def stream(self) -> Stream:
        rng = derive_rng(self.seed, "iac-run", self.index)
        stack = _Stack(self.stack, self.account, self.account.home, rng)
        for name in sorted(self.components, key=lambda c: IAC_COMPONENTS[c][2]):
            IAC_COMPONENTS[name][1](stack, len(stack.delete))
        yield from self._apply(rng, self.t, stack.create, destroy=False)
        if self.teardown is not None:
            calls = [c for group in reversed(stack.delete) for c in group]
            yield from self._apply(rng, self.teardown, calls, destroy=True)

    def _apply(self, rng: random.Random, t: float, calls: Sequence[Call], destroy: bool) -> Stream:
        from ctad.simulate.actors import Session

        opening, ui = self.identity(t, rng, destroy)
        yield from opening
        t += rng.uniform(5, 30) if opening else 0.0
        caller = Caller(ui, self.account.id, self.ip, rng, agent=self.agent())
        sess = Session(caller, self.account.res, self.account.home, deny=0.0, typo=0.0, throttle=0.003)
        region = self.account.home
        if self.tool == "terraform":
            yield t, sess.call(t, ("sts.amazonaws.com", "GetCallerIdentity"), params=None)
            for _ in range(rng.randint(15, 80) if not destroy else rng.randint(10, 30)):
                t += rng.expovariate(1 / 0.15)
                yield t, sess.call(t, apis.pick(rng, apis.TERRAFORM_READS))
            worker = sess
        else:  # the executor asks CloudFormation; the service then calls with their identity and invokedBy
            verb = "DeleteStack" if destroy else "CreateStack"
            params: Dict[str, Any] = {"stackName": self.stack}
            if not destroy:
                params.update(
                    templateURL="https://s3.%s.amazonaws.com/cf-templates-%s-%s/%s.yaml"
                    % (region, hexid(rng, 12), region, self.stack),
                    capabilities=["CAPABILITY_NAMED_IAM"],
                )
            yield t, sess.call(t, ("cloudformation.amazonaws.com", "ValidateTemplate"), params=None, error=())
            t += rng.uniform(0.5, 3)
            yield t, sess.call(t, ("cloudformation.amazonaws.com", verb), params=params, error=())
            cfn = "cloudformation.amazonaws.com"
            svc_ui = dict(ui, invokedBy=cfn)
            svc = Caller(svc_ui, self.account.id, cfn, rng, fixed_ua=cfn, invoked_by=cfn)
            worker = Session(svc, self.account.res, region, deny=0.0, typo=0.0, throttle=0.002)
        poll = t
        for source, name, params, response in calls:
            t += rng.expovariate(1 / 0.7)
            yield t, worker.call(t, (source, name), params=params, response=response)
            if worker is not sess and t - poll > 8.0:  # the CLI polls the stack while it builds
                poll = t
                t += 0.2
                op = "DescribeStackEvents" if rng.random() < 0.7 else "DescribeStacks"
                yield t, sess.call(t, ("cloudformation.amazonaws.com", op), params={"stackName": self.stack})


def plan_iac(org: Org, seed: int, per_day: float) -> List[IacRun]:
    """A few runs per account per week, on workdays: by an admin in their hours or by CI in the afternoon."""
    rng = derive_rng(seed, "iac-plan")
    admins = [h for h in org.humans if h.kind == "admin"]
    ci: Dict[str, Role] = {}
    for r in org.roles:
        if r.kind == "ci":
            ci.setdefault(r.account.id, r)
    names = list(IAC_COMPONENTS)
    weights = [IAC_COMPONENTS[n][0] for n in names]
    end = org.start + org.days * DAY
    runs: List[IacRun] = []
    for d in range(org.days):
        day0 = org.start + d * DAY
        if weekday(day0) >= 5 or d in org.holidays:
            continue
        for acct in org.accounts:
            for _ in range(poisson(rng, IAC_RUNS_PER_WORKDAY)):
                active = [h for h in admins if h.start_day <= d]
                by_admin = bool(active) and (acct.id not in ci or rng.random() < 0.5)
                human = role = None
                if by_admin:
                    human = rng.choice(active)
                    t = day0 + (rng.uniform(9.5, 17.5) - human.tz) * 3600
                    ip = admin_ip(human, t, rng)
                else:
                    role = ci.get(acct.id)
                    if role is None:
                        continue
                    t = day0 + rng.uniform(13, 23) * 3600
                    ip = ip_from(rng, "ci:github")
                comps = tuple(rng.choices(names, weights=weights, k=rng.randint(5, 14)))
                stack = "%s-%s-%s" % (
                    rng.choice(APPS),
                    rng.choice(["preview", "feature", "staging", "sandbox", "svc", "env"]),
                    hexid(rng, 4),
                )
                tool = "cloudformation" if rng.random() < 0.25 else "terraform"
                teardown = t + rng.uniform(2 * 3600, 4 * DAY) if rng.random() < IAC_TEARDOWN_SHARE else None
                if teardown is not None and teardown > end - 3600:
                    teardown = None
                if not org.start <= t < end - 1800:
                    continue
                runs.append(IacRun(len(runs), t, acct, tool, stack, comps, seed, human, role, ip, teardown))
    runs.sort(key=lambda r: (r.t, r.index))
    return runs


# ------------------------------------------------------------------------------------------------- bulk reads
@dataclass
class BulkRead:
    """One person pulling a whole prefix out of a bucket (thousands of GetObject data events in under an hour),
    each object decrypted through KMS by S3 on their behalf (`kms_by` "s3") or by their own client ("client")."""

    index: int
    t: float
    human: Human
    bucket: str
    prefix: str
    objects: int
    minutes: float
    kms_by: str
    ip: str
    seed: int

    def expected_events(self) -> float:
        return 2.0 * self.objects + self.objects / 1000.0 + 2.0

    def stream(self) -> Stream:
        from ctad.simulate.actors import Session

        rng = derive_rng(self.seed, "bulk-read", self.index)
        h, acct = self.human, self.human.account
        region = acct.home
        t = self.t
        if h.sso:
            ui = assumed_role_identity(acct.id, h.sso_role, h.sso_role_pid, h.email, key_id(rng, "ASIA"), t)
        else:
            ui = iam_user_identity(acct.id, h.name, h.user_pid, h.key_at(t))
        agent = h.agent_at(t)
        caller = Caller(ui, acct.id, self.ip, rng, agent=agent, tls=rng.randrange(2))
        sess = Session(caller, acct.res, region, deny=0.0, typo=0.0, throttle=0.0005)
        ua = agent.command_ua("s3." + rng.choice(["sync", "cp"])) if agent.family == "aws-cli" else None
        kms = "kms.amazonaws.com"
        key_arn = "arn:aws:kms:%s:%s:key/%s" % (
            region,
            acct.id,
            acct.res.keys[self.index % len(acct.res.keys)],
        )
        resources = {"resources": [{"accountId": acct.id, "type": "AWS::KMS::Key", "ARN": key_arn}]}
        if self.kms_by == "s3":
            s3 = "s3.amazonaws.com"
            kms_caller = Caller(dict(ui, invokedBy=s3), acct.id, s3, rng, fixed_ua=s3, invoked_by=s3)
        else:
            kms_caller = caller
        host = "%s.s3.%s.amazonaws.com" % (self.bucket, region)
        gap = self.minutes * 60.0 / max(1, self.objects)
        for i in range(self.objects):
            if i % 1000 == 0:
                p = {"bucketName": self.bucket, "Host": host, "prefix": self.prefix + "/", "list-type": "2"}
                if i:
                    p["continuation-token"] = hexid(rng, 32)
                yield t, caller.event(t, "s3.amazonaws.com", "ListObjects", region, p, None, None, ua=ua)
                t += rng.uniform(0.05, 0.4)
            key = "%s/%s/part-%05d.parquet" % (
                self.prefix,
                "dt=2024-%02d-%02d" % (1 + i // 900 % 12, 1 + i % 28),
                i,
            )
            params = {"bucketName": self.bucket, "Host": host, "key": key}
            if ua is None:
                yield t, sess.call(t, ("s3.amazonaws.com", "GetObject"), params=params)
            else:
                yield t, caller.event(t, "s3.amazonaws.com", "GetObject", region, params, None, None, ua=ua)
            td = t + rng.uniform(0.005, 0.08)
            ctx = {"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::%s/%s" % (self.bucket, key)},
                   "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}  # fmt: skip
            if self.kms_by != "s3":
                ctx["keyId"] = key_arn
            yield td, kms_caller.event(td, kms, "Decrypt", region, ctx, None, None, extra=resources)
            t = td + rng.expovariate(1.0 / gap)


def plan_bulk_reads(org: Org, seed: int, per_day: float) -> List[BulkRead]:
    """About one bulk download a week per organisation, by a data person, an engineer or an admin."""
    rng = derive_rng(seed, "bulk-plan")
    readers = [h for h in org.humans if h.kind in ("data", "admin", "engineer")] or list(org.humans)
    end = org.start + org.days * DAY
    out: List[BulkRead] = []
    for d in range(org.days):
        day0 = org.start + d * DAY
        if weekday(day0) >= 5 or d in org.holidays or rng.random() >= BULK_READS_PER_WORKDAY:
            continue
        active = [h for h in readers if h.start_day <= d]
        if not active:
            continue
        h = rng.choice(active)
        t = day0 + (rng.uniform(9.5, 17.0) - h.tz) * 3600
        if not org.start <= t < end - 3 * 3600:
            continue
        buckets = [
            b
            for b in h.account.res.buckets
            if not b.startswith("aws-cloudtrail-logs-") and "terraform-state" not in b
        ]
        # thousands of objects, but never more than a small org's whole day of traffic
        objects = int(min(rng.uniform(1000, 3500), max(300.0, 0.6 * per_day)))
        ip = h.office_ip if rng.random() < 0.5 else (h.vpn_ip if h.uses_vpn else h.home_ip_at(t))
        kms_by = "s3" if rng.random() < 0.8 else "client"
        prefix = rng.choice(["exports", "data", "reports", "warehouse", "raw"])
        out.append(
            BulkRead(
                len(out), t, h, rng.choice(buckets), prefix, objects, rng.uniform(15, 55), kms_by, ip, seed
            )
        )
    return out


Planner = Callable[[Org, int, float], Sequence[Any]]
# name -> planner; each planned job has `t`, `expected_events()` and `stream()`.
WORKLOADS: Dict[str, Planner] = {
    "iac": plan_iac,
    "bulk-read": plan_bulk_reads,
}
