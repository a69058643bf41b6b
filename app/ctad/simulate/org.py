# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""The simulated organisation: accounts, regions, resources, people and workloads, built once from the seed.

Everything an actor stream or an attack campaign needs to know about an identity (its keys over time, its usual
networks, the tool it runs at a given date) is decided here up front, so attack campaigns can reuse a victim's
real context (an insider keeps their own IP and user agent) without running the victim's event stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ctad.simulate.agents import BROWSERS, OS_PROFILES, ToolAgent, pick_family
from ctad.simulate.apis import BROWSE, Resources
from ctad.simulate.ids import account_id, derive_rng, hexid, instance_id, key_id, principal_id
from ctad.simulate.networks import COUNTRIES, aws_pool, ip_from
from ctad.simulate.services import SERVICE_NOISE

DAY = 86400.0
REGIONS = [
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "eu-central-1",
    "us-east-2",
    "ap-southeast-1",
    "ap-northeast-1",
]
ACCOUNT_NAMES = [
    "prod",
    "staging",
    "shared-services",
    "data",
    "security",
    "dev",
    "sandbox",
    "dr",
    "analytics",
    "payments",
    "ml",
    "edge",
]
FIRST = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "nina",
    "oscar",
    "peggy",
    "quinn",
    "rupert",
    "sybil",
    "trent",
    "ursula",
    "victor",
    "wendy",
    "xavier",
    "yara",
    "zoe",
    "amir",
    "bea",
    "chen",
    "dmitri",
    "esra",
    "fatima",
    "gustavo",
    "hana",
    "ines",
    "jamal",
    "kenji",
    "lena",
    "mateo",
    "noor",
    "olga",
    "priya",
    "raj",
    "sofia",
    "tomas",
    "uma",
    "wei",
    "yusuf",
]
LAST = [
    "smith",
    "jones",
    "garcia",
    "muller",
    "rossi",
    "kowalski",
    "nguyen",
    "patel",
    "kim",
    "silva",
    "cohen",
    "dubois",
    "tanaka",
    "novak",
    "oconnor",
    "haddad",
    "larsen",
    "moreau",
    "schmidt",
    "fischer",
    "ivanova",
]
# (tz offset hours, country of residence)
ZONES = [(-5, "us"), (-8, "us"), (-6, "us"), (0, "gb"), (1, "de"), (1, "fr"), (5.5, "in"), (8, "sg")]
APPS = [
    "orders",
    "billing",
    "search",
    "auth",
    "catalog",
    "notify",
    "reports",
    "ingest",
    "pricing",
    "inventory",
]
KINDS = (("engineer", 0.55), ("admin", 0.12), ("analyst", 0.18), ("data", 0.15))
PERMISSION_SETS = {
    "engineer": "PowerUserAccess",
    "admin": "AdministratorAccess",
    "analyst": "ReadOnlyAccess",
    "data": "DataScientist",
}


@dataclass
class Account:
    id: str
    name: str
    home: str
    regions: List[str]
    res: Resources


@dataclass
class Human:
    name: str
    email: str
    kind: str
    account: Account
    tz: float
    country: str
    sso: bool
    mfa: bool
    start_day: int
    user_pid: str
    keys: List[Tuple[float, str]]  # (valid from, AKIA...) newest last
    rotate_at: Optional[float]
    family: str
    os_profile: tuple
    upgrade_days: int
    upgrade_phase: float
    home_ips: List[Tuple[float, str]]
    office_ip: str
    vpn_ip: str
    uses_vpn: bool
    hybrid: float  # probability of working from the office on a workday
    vacations: List[Tuple[int, int]]
    trips: List[Tuple[int, int, str]]  # (first day, last day, pool kind)
    services: List[str]
    browser: str
    sso_role: str = ""
    sso_role_pid: str = ""
    console_share: float = 0.4
    sessions_per_day: float = 3.0

    @property
    def arn(self) -> str:
        if self.sso:
            return f"arn:aws:sts::{self.account.id}:assumed-role/{self.sso_role}/{self.email}"
        return f"arn:aws:iam::{self.account.id}:user/{self.name}"

    def key_at(self, ts: float) -> str:
        key = self.keys[0][1]
        for since, k in self.keys:
            if since <= ts:
                key = k
        return key

    def agent_at(self, ts: float) -> ToolAgent:
        return self.tool_at(ts, self.family)

    def tool_at(self, ts: float, family: str) -> ToolAgent:
        """A tool of `family` on this person's machine, at the version of their last upgrade before `ts`."""
        pinned = ts - ((ts - self.upgrade_phase) % (self.upgrade_days * DAY))
        return ToolAgent(family, pinned, self.os_profile)

    def home_ip_at(self, ts: float) -> str:
        ip = self.home_ips[0][1]
        for since, addr in self.home_ips:
            if since <= ts:
                ip = addr
        return ip


@dataclass
class Role:
    """A workload role (CI, deploy, function, instance profile, scanner, backup, service-linked)."""

    kind: str
    name: str
    account: Account
    pid: str
    region: str
    start_day: int = 0
    sessions: List[str] = field(default_factory=list)  # instance ids / function names / task ids
    ips: List[str] = field(default_factory=list)
    family: str = "boto3"
    exec_env: str = ""
    period: float = 3600.0
    extra: Dict[str, object] = field(default_factory=dict)
    idx: int = 0  # position in Org.roles: seeds the role's stream (names can repeat across workloads)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account.id}:role/{self.name}"


@dataclass
class Org:
    seed: int
    start: float
    days: int
    accounts: List[Account]
    humans: List[Human]
    roles: List[Role]
    holidays: List[int]


def _weighted(rng: random.Random, items) -> str:
    r, acc = rng.random(), 0.0
    for v, w in items:
        acc += w
        if r < acc:
            return v
    return items[0][0]


def _resources(rng: random.Random, acct: str, name: str, org_accounts: List[str]) -> Resources:
    apps = rng.sample(APPS, 6)
    return Resources(
        account=acct,
        buckets=[
            "{}-{}-{}".format(name, a, rng.choice(["data", "assets", "logs", "exports", "backups"]))
            for a in apps
        ]
        + [f"{name}-terraform-state-{acct}", f"aws-cloudtrail-logs-{acct}-{hexid(rng, 8)}"],
        instances=[instance_id(rng) for _ in range(rng.randint(6, 14))],
        functions=[
            "{}-{}".format(a, rng.choice(["handler", "worker", "api", "cron", "consumer"])) for a in apps
        ],
        secrets=[
            "{}/{}/{}".format(name, a, rng.choice(["db-password", "api-key", "stripe-token", "oauth-client"]))
            for a in apps
        ],
        params=[
            "/{}/{}/{}".format(name, a, rng.choice(["db_url", "feature_flags", "api_endpoint", "queue_url"]))
            for a in apps
        ],
        roles=["{}-{}-role".format(a, rng.choice(["lambda", "task", "ec2", "exec"])) for a in apps],
        users=[],
        sgs=["sg-" + hexid(rng, 17) for _ in range(6)],
        snapshots=["snap-" + hexid(rng, 17) for _ in range(8)],
        amis=["ami-" + hexid(rng, 17) for _ in range(4)],
        clusters=["{}-{}".format(name, rng.choice(["main", "apps", "batch"]))],
        tables=["{}-{}".format(a, rng.choice(["events", "sessions", "state"])) for a in apps[:4]],
        keys=[
            f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
            for _ in range(3)
        ],
        db=[f"{name}-{a}-db" for a in apps[:2]],
        log_groups=[f"/aws/lambda/{a}-handler" for a in apps[:4]] + [f"/ecs/{a}" for a in apps[4:]],
        org_accounts=[a for a in org_accounts if a != acct] or [acct],
    )


def _holidays(start: float, days: int) -> List[int]:
    import time as _t

    fixed = {(1, 1), (12, 25), (12, 26), (7, 4), (5, 1), (12, 31), (11, 28), (5, 27), (9, 2)}
    out = []
    for d in range(days):
        tm = _t.gmtime(start + d * DAY)
        if (tm.tm_mon, tm.tm_mday) in fixed:
            out.append(d)
    return out


def build_org(
    seed: int,
    start: float,
    days: int,
    n_accounts: int,
    n_humans: int,
    n_ci: int,
    n_instances: int,
    n_functions: int,
    n_scanners: int,
) -> Org:
    """Lay out the organisation (deterministic in every argument)."""
    rng = derive_rng(seed, "org")
    ids = [account_id(rng) for _ in range(n_accounts)]
    accounts: List[Account] = []
    main_regions = rng.sample(REGIONS[:4], 2)
    for i, acct in enumerate(ids):
        name = ACCOUNT_NAMES[i % len(ACCOUNT_NAMES)] + ("" if i < len(ACCOUNT_NAMES) else str(i))
        home = main_regions[0] if i % 3 != 2 else main_regions[1]
        regions = [home] + ([main_regions[1]] if home != main_regions[1] and rng.random() < 0.6 else [])
        accounts.append(Account(acct, name, home, regions, _resources(rng, acct, name, ids)))

    humans: List[Human] = []
    names = set()
    for i in range(n_humans):
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            uname = f"{first}.{last}"
            if uname not in names or len(names) > 900:
                break
        if uname in names:
            uname = "%s%d" % (uname, i)
        names.add(uname)
        kind = "admin" if i < max(1, n_humans // 10) else _weighted(rng, KINDS)
        acct = accounts[0] if rng.random() < 0.5 else rng.choice(accounts)
        tz, country = rng.choice(ZONES)
        sso = rng.random() < 0.55
        start_day = 0 if rng.random() < 0.85 or days < 4 else rng.randint(1, max(1, days - 2))
        hr = derive_rng(seed, "human", uname)
        keys = [(start - 400 * DAY, key_id(hr, "AKIA"))]
        rotate_at = None
        if not sso and hr.random() < 0.35:
            rotate_at = start + hr.uniform(0.2, 0.9) * days * DAY
            keys.append((rotate_at + 600, key_id(hr, "AKIA")))
        home_ips = [(start - DAY, ip_from(hr, "res:" + country))]
        for _ in range(hr.randint(0, max(0, days // 30))):
            home_ips.append((start + hr.uniform(0, days) * DAY, ip_from(hr, "res:" + country)))
        home_ips.sort()
        vacations = []
        for _ in range(hr.randint(0, 1 + days // 60)):
            d0 = hr.randrange(0, max(1, days))
            vacations.append((d0, d0 + hr.randint(2, 9)))
        trips = []
        if hr.random() < 0.25:
            d0 = hr.randrange(0, max(1, days))
            trips.append(
                (d0, d0 + hr.randint(1, 5), hr.choice(["hotel", "mobile", "res:" + hr.choice(COUNTRIES)]))
            )
        svc_pool = sorted({s for s, _ in BROWSE})
        services = hr.sample(svc_pool, hr.randint(4, 9)) + ["sts.amazonaws.com"]
        h = Human(
            name=uname,
            email=f"{uname}@corp.example",
            kind=kind,
            account=acct,
            tz=tz,
            country=country,
            sso=sso,
            mfa=sso or hr.random() < 0.85,
            start_day=start_day,
            user_pid=principal_id(hr, "AIDA"),
            keys=keys,
            rotate_at=rotate_at,
            family=pick_family(hr),
            os_profile=hr.choice(OS_PROFILES),
            upgrade_days=hr.randint(14, 90),
            upgrade_phase=start + hr.uniform(0, 60) * DAY,
            home_ips=home_ips,
            office_ip=ip_from(derive_rng(seed, "office", country), "office"),
            vpn_ip=ip_from(derive_rng(seed, "vpn", country, hr.randint(0, 2)), "corp-vpn"),
            uses_vpn=hr.random() < 0.4,
            hybrid=hr.choice([0.0, 0.2, 0.4, 0.6]),
            vacations=vacations,
            trips=trips,
            services=services,
            browser=BROWSERS[hr.randrange(len(BROWSERS))],
            console_share={"engineer": 0.3, "admin": 0.45, "analyst": 0.8, "data": 0.35}[kind],
            sessions_per_day={"engineer": 3.5, "admin": 3.0, "analyst": 2.5, "data": 3.0}[kind]
            * hr.uniform(0.5, 1.6),
        )
        if sso:
            h.sso_role = "AWSReservedSSO_{}_{}".format(
                PERMISSION_SETS[kind], hexid(derive_rng(seed, "sso", kind), 16)
            )
            h.sso_role_pid = principal_id(derive_rng(seed, "ssopid", kind, acct.id), "AROA")
        if not sso:
            acct.res.users.append(uname)
        humans.append(h)
    for a in accounts:
        a.res.users.extend([f"svc-{x}" for x in rng.sample(APPS, 3)])
        if not a.res.users:
            a.res.users.append("svc-legacy")

    roles: List[Role] = []

    def role(kind: str, name: str, acct: Account, **kw) -> Role:
        r = Role(
            kind=kind,
            name=name,
            account=acct,
            pid=principal_id(rng, "AROA"),
            region=kw.pop("region", acct.home),
            idx=len(roles),
            **kw,
        )
        roles.append(r)
        return r

    for i in range(n_ci):
        acct = accounts[i % len(accounts)]
        role(
            "ci",
            "github-actions-terraform" if i < len(accounts) else "github-actions-terraform-%d" % i,
            acct,
            family="terraform",
            ips=[],
            period=rng.choice([1.5, 2.5, 4.0]),
        )
        if i < len(accounts):
            role("deploy", "github-actions-deploy", acct, family="js", period=rng.choice([3.0, 5.0, 8.0]))
    for i in range(n_instances):
        acct = accounts[i % len(accounts)]
        iid = acct.res.instances[i % len(acct.res.instances)]
        app = rng.choice(APPS)
        role(
            "instance",
            f"{app}-ec2-instance-role",
            acct,
            sessions=[iid],
            ips=[ip_from(rng, aws_pool(acct.home))],
            family="ssm-agent",
            period=300.0,
            start_day=0 if rng.random() < 0.9 else rng.randrange(max(1, days)),
        )
    for i in range(n_functions):
        acct = accounts[i % len(accounts)]
        fn = acct.res.functions[i % len(acct.res.functions)]
        fam = rng.choice(["boto3", "boto3", "js", "java"])
        env = {"boto3": "AWS_Lambda_python3.12", "js": "AWS_Lambda_nodejs20.x", "java": "AWS_Lambda_java21"}[
            fam
        ]
        role(
            "lambda",
            f"{fn}-lambda-role",
            acct,
            sessions=[fn],
            family=fam,
            exec_env=env,
            period=rng.choice([60.0, 300.0, 900.0, 1800.0]),
            ips=[ip_from(rng, aws_pool(acct.home)) for _ in range(4)],
            start_day=0 if rng.random() < 0.85 else rng.randrange(max(1, days)),
            extra={"bedrock": rng.random() < 0.25},
        )
        if i % 3 == 0:
            role(
                "ecs",
                f"{acct.res.clusters[0]}-ecs-task-role",
                acct,
                family="java",
                exec_env="AWS_ECS_FARGATE",
                period=rng.choice([600.0, 1800.0]),
                ips=[ip_from(rng, aws_pool(acct.home)) for _ in range(2)],
            )
    vendors = [
        ("WizAccess-Role", "Wiz", "go-v2", 6 * 3600.0),
        ("DatadogIntegrationRole", "datadog", "go-v2", 1800.0),
        ("prowler-scanner", "prowler", "boto3", 24 * 3600.0),
    ]
    for i in range(n_scanners):
        acct = accounts[i % len(accounts)]
        rname, sess, fam, period = vendors[i % len(vendors)]
        role(
            "scanner",
            rname,
            acct,
            sessions=[sess],
            family=fam,
            period=period,
            ips=[ip_from(rng, aws_pool("us-east-1" if i % 2 == 0 else "us-east-2")) for _ in range(6)],
            extra={"denied": rng.sample(range(60), 5)},
        )
    for acct in accounts:
        role("config", "aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig", acct, period=900.0)
        role("backup", "service-role/AWSBackupDefaultServiceRole", acct, period=DAY)
        role("service", "AWSServiceRoleForTrustedAdvisor", acct, period=6 * 3600.0)
        role("patch", "ssm-maintenance-window-role", acct, period=DAY)
    # long-lived IAM users with access keys used by integrations (the usual source of leaked keys)
    integrations = [
        ("svc-jenkins", "java", "office", 900.0),
        ("svc-backup-onprem", "boto3", "office", 3600.0),
        ("svc-monitoring", "go-v2", "aws:us-east-1", 300.0),
        ("svc-dns-sync", "boto3", "hosting", 1800.0),
        ("svc-reporting", "js", "hosting", 3 * 3600.0),
        ("svc-legacy-etl", "aws-cli", "office", 2 * 3600.0),
    ]
    for i, acct in enumerate(accounts):
        for j in range(2 if len(accounts) < 6 else 1):
            name, fam, pool, period = integrations[(2 * i + j) % len(integrations)]
            r = role(
                "svc-user",
                name,
                acct,
                family=fam,
                period=period,
                ips=[ip_from(rng, pool) for _ in range(rng.randint(1, 2))],
                extra={"key": key_id(derive_rng(seed, "svc-key", acct.id, name), "AKIA")},
            )
            r.pid = principal_id(derive_rng(seed, "svc-pid", acct.id, name), "AIDA")
            if name not in acct.res.users:
                acct.res.users.append(name)
    for acct in accounts[: max(1, len(accounts) // 2)]:
        role(
            "dr-share",
            "dr-snapshot-sharer-role",
            acct,
            sessions=["dr-snapshot-sharer"],
            family="boto3",
            exec_env="AWS_Lambda_python3.12",
            period=DAY,
            ips=[ip_from(rng, aws_pool(acct.home))],
        )
    # AWS services acting in every account (log delivery, GuardDuty, Auto Scaling, ...): see services.py
    for acct in accounts:
        for spec in SERVICE_NOISE:
            noise = SERVICE_NOISE[spec]
            role("aws-service", noise.role or noise.service, acct, extra={"spec": spec}, period=noise.period)
        role(
            "rotation",
            "secrets-rotation-lambda-role",
            acct,
            sessions=["secrets-rotation"],
            family="boto3",
            period=DAY / max(1, len(acct.res.secrets) // 3),
            ips=[ip_from(rng, aws_pool(acct.home)) for _ in range(2)],
        )
    return Org(
        seed=seed,
        start=start,
        days=days,
        accounts=accounts,
        humans=humans,
        roles=roles,
        holidays=_holidays(start, days),
    )
