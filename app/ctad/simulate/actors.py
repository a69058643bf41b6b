# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""Per-actor event streams. Each stream yields `(epoch_seconds, record)` in non-decreasing time and holds at most
one session in memory, so merging hundreds of them keeps memory flat however long the simulation runs.

Rhythms: people follow their own time zone's working day (weekends, holidays, vacations, trips, on-call
evenings); CI follows merges plus a nightly drift check; functions follow application traffic; agents and
scanners are periodic with jitter.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ctad.simulate import apis, services
from ctad.simulate.agents import CONSOLE_FRONTENDS, ToolAgent, browser, versions
from ctad.simulate.apis import Resources, access_denied, params_for, pick, throttle_error, typo_error
from ctad.simulate.events import Caller, assumed_role_identity, iam_user_identity, service_identity
from ctad.simulate.ids import derive_rng, hexid, iso, key_id, principal_id, uuid4
from ctad.simulate.networks import ip_from
from ctad.simulate.org import DAY, Account, Human, Org, Role

Stream = Iterator[Tuple[float, Dict[str, Any]]]
GITHUB_UA_SUFFIX = " configure-aws-credentials-for-github-actions"


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def weekday(ts: float) -> int:
    return (int(ts // DAY) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday


def traffic(ts: float, tz: float = -5.0) -> float:
    """Application load curve 0.35..1.65 peaking mid-afternoon in the main market's time zone."""
    h = ((ts / 3600.0) + tz) % 24
    w = 0.8 if weekday(ts + tz * 3600) >= 5 else 1.0
    return w * (1.0 + 0.65 * math.cos((h - 15.0) / 24.0 * 2 * math.pi))


def _split(role_name: str) -> Tuple[str, str]:
    if "/" in role_name:
        path, name = role_name.rsplit("/", 1)
        return path + "/", name
    return "", role_name


def _response(
    name: str, caller: Caller, params: Optional[Dict[str, Any]], ts: float, rng: random.Random
) -> Optional[Dict[str, Any]]:
    if name == "CreateAccessKey":
        user = (params or {}).get("userName") or caller.ui.get("userName", "")
        return {
            "accessKey": {
                "userName": user,
                "accessKeyId": key_id(rng, "AKIA"),
                "status": "Active",
                "createDate": iso(ts).replace("T", " ").replace("Z", ""),
            }
        }
    if name == "CreateUser":
        user = (params or {}).get("userName", "")
        return {
            "user": {
                "path": "/",
                "userName": user,
                "userId": key_id(rng, "AIDA"),
                "arn": f"arn:aws:iam::{caller.account}:user/{user}",
                "createDate": iso(ts).replace("T", " ").replace("Z", ""),
            }
        }
    if name == "RunInstances":
        return {
            "requestId": uuid4(rng),
            "reservationId": "r-" + hexid(rng, 17),
            "ownerId": caller.account,
            "instancesSet": {
                "items": [
                    {"instanceId": "i-" + hexid(rng, 17), "currentState": {"code": 0, "name": "pending"}}
                ]
            },
        }
    if name == "StartSession":
        sid = "{}-{}".format(
            caller.ui.get("userName") or caller.arn.rsplit("/", 1)[-1].split("@")[0], hexid(rng, 17)
        )
        return {
            "sessionId": sid,
            "tokenValue": "Value hidden due to security reasons.",
            "streamUrl": "wss://ssmmessages.{}.amazonaws.com/v1/data-channel/{}".format("us-east-1", sid),
        }
    if name == "SendCommand":
        return {
            "command": {
                "commandId": uuid4(rng),
                "documentName": (params or {}).get("documentName", ""),
                "status": "Pending",
            }
        }
    if name in ("AssumeRole", "GetSessionToken", "GetFederationToken"):
        return {
            "credentials": {
                "accessKeyId": key_id(rng, "ASIA"),
                "sessionToken": "IQoJb3JpZ2luX2VjE" + hexid(rng, 24),
                "expiration": iso(ts + 3600),
            }
        }
    if name.startswith("Modify") or name.startswith("Put") or name.startswith("Authorize"):
        return {"_return": True} if name.startswith(("Modify", "Authorize")) else None
    return None


class Session:
    """Issue calls for one session: picks errors at realistic rates and builds records."""

    __slots__ = ("caller", "rng", "res", "region", "console_ua", "deny", "typo", "throttle")

    def __init__(
        self,
        caller: Caller,
        res: Resources,
        region: str,
        console_ua: str = "",
        deny: float = 0.012,
        typo: float = 0.008,
        throttle: float = 0.002,
    ) -> None:
        self.caller = caller
        self.rng = caller.rng
        self.res = res
        self.region = region
        self.console_ua = console_ua
        self.deny = deny
        self.typo = typo
        self.throttle = throttle

    def call(
        self,
        ts: float,
        op: apis.Op,
        params: Any = "auto",
        error: Optional[tuple] = None,
        region: Optional[str] = None,
        response: Any = "auto",
    ) -> Dict[str, Any]:
        source, name = op
        rng = self.rng
        region = region or self.region
        if params == "auto":
            params = params_for(name, self.res, rng, region)
        if error is None:
            r = rng.random()
            if r < self.deny:
                error = access_denied(source, name, self.caller.arn, self.caller.account, region, rng)
            elif r < self.deny + self.typo:
                error = typo_error(source, rng)
            elif r < self.deny + self.typo + self.throttle:
                error = throttle_error(source)
        if not error:  # () means "this call succeeds" (no random error)
            error = None
        if response == "auto":
            response = _response(name, self.caller, params, ts, rng) if error is None else None
        ua = None
        if self.console_ua:
            ua = CONSOLE_FRONTENDS.get(source, self.console_ua)
        return self.caller.event(ts, source, name, region, params, response, error, ua=ua)


def _gap(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1.0 / mean)


# ---------------------------------------------------------------------------------------------------- humans
class HumanActor:
    """A person: console and CLI sessions in their working hours, from home, office, VPN or a trip."""

    def __init__(self, h: Human, org: Org, seed: int, rate: float) -> None:
        self.h, self.org, self.rate = h, org, rate
        self.rng = derive_rng(seed, "human-stream", h.name)
        self.browse = [op for op in apis.BROWSE if op[0] in h.services] or apis.BROWSE
        self.writes = apis.ENGINEER_WRITES
        self.holidays = set(org.holidays)

    def expected_per_day(self) -> float:
        return (
            self.h.sessions_per_day * 0.74 * 17.0 * (self.org.days - self.h.start_day) / max(1, self.org.days)
        )

    def _location(self, d: int, day0: float) -> Tuple[str, float]:
        h, rng = self.h, self.rng
        for a, b, pool in h.trips:
            if a <= d <= b:
                trip_rng = derive_rng(self.org.seed, "trip", h.name, a)
                return ip_from(trip_rng, pool), h.tz + trip_rng.choice([-6, -1, 0, 1, 3, 7])
        if weekday(day0) < 5 and rng.random() < h.hybrid:
            return h.office_ip, h.tz
        if h.uses_vpn:
            return h.vpn_ip, h.tz
        return h.home_ip_at(day0), h.tz

    def stream(self) -> Stream:
        h, org, rng = self.h, self.org, self.rng
        t_last = org.start
        rotated = False
        for d in range(h.start_day, org.days):
            day0 = org.start + d * DAY
            if any(a <= d <= b for a, b in h.vacations):
                continue
            lam = h.sessions_per_day * self.rate
            if weekday(day0 + h.tz * 3600) >= 5:
                lam *= 0.07
            if d in self.holidays:
                lam *= 0.1
            n = poisson(rng, lam)
            if not n:
                continue
            ip, tz = self._location(d, day0)
            starts = []
            for _ in range(n):
                if rng.random() < 0.04:
                    local = rng.uniform(19.0, 23.5)  # on-call / evening work
                else:
                    local = rng.gauss(10.0, 1.4) if rng.random() < 0.5 else rng.gauss(14.8, 1.7)
                starts.append(day0 + (local - tz) * 3600.0)
            starts.sort()
            logged_in = False
            for s in starts:
                s = max(s, t_last + rng.uniform(20, 600))
                console = rng.random() < h.console_share
                pre: List[Dict[str, Any]] = []
                if not rotated and h.rotate_at is not None and s >= h.rotate_at and not h.sso:
                    rotated = True
                    console = False
                    pre = ["rotate"]  # type: ignore[list-item]
                for ts, rec in self._session(s, ip, console, not logged_in, bool(pre)):
                    t_last = ts
                    yield ts, rec
                logged_in = logged_in or console

    def _session(self, ts: float, ip: str, console: bool, first_login: bool, rotate: bool) -> Stream:
        h, rng = self.h, self.rng
        acct = h.account
        region = acct.home if rng.random() < 0.9 else rng.choice(acct.regions)
        tls = rng.randrange(2)
        bua = browser(rng, ts, h.browser)
        if h.sso:
            ui = assumed_role_identity(
                acct.id, h.sso_role, h.sso_role_pid, h.email, key_id(rng, "ASIA"), ts, mfa=console
            )
        elif console:
            ui = iam_user_identity(
                acct.id, h.name, h.user_pid, key_id(rng, "ASIA"), console_since=ts, mfa=h.mfa
            )
        else:
            ui = iam_user_identity(acct.id, h.name, h.user_pid, h.key_at(ts - 1 if rotate else ts))
        agent = h.agent_at(ts)
        caller = Caller(ui, acct.id, ip, rng, agent=agent, console=console, tls=tls)
        deny = {"engineer": 0.025, "admin": 0.01, "analyst": 0.06, "data": 0.03}[h.kind]
        if ts < self.org.start + (h.start_day + 10) * DAY and h.start_day > 0:
            deny = 0.2  # a new joiner finding out what they may not do
        elif rng.random() < 0.03:
            deny = 0.35  # "why can't I see this?": exploring outside one's permissions
        sess = Session(caller, acct.res, region, console_ua=bua if console else "", deny=deny)
        t = ts
        if console:
            if first_login:
                login_ui = {k: v for k, v in ui.items() if k not in ("accessKeyId", "sessionContext")}
                if h.sso:
                    login_ui = dict(ui)
                    login_ui.pop("accessKeyId", None)
                lc = Caller(login_ui, acct.id, ip, rng)
                if rng.random() < 0.02:  # mistyped password first
                    yield t, lc.console_login(t, bua, h.mfa, success=False)
                    t += rng.uniform(5, 40)
                yield t, lc.console_login(t, bua, h.mfa)
                t += rng.uniform(2, 8)
                for op in apis.CONSOLE_HOME[: rng.randint(2, 5)]:
                    yield t, sess.call(t, op, params=None)
                    t += rng.uniform(0.05, 0.6)
            n, gap = 1 + int(rng.expovariate(1 / 18.0)), 14.0
        else:
            n, gap = 1 + int(rng.expovariate(1 / 14.0)), 3.0
            if rotate:
                res_user = {"userName": h.name}
                yield t, sess.call(t, ("iam.amazonaws.com", "ListAccessKeys"), params=res_user, error=())
                t += rng.uniform(1, 5)
                yield t, sess.call(t, ("iam.amazonaws.com", "CreateAccessKey"), params=res_user, error=())
                t += rng.uniform(20, 200)
                p = {"userName": h.name, "accessKeyId": h.keys[0][1], "status": "Inactive"}
                yield t, sess.call(t, ("iam.amazonaws.com", "UpdateAccessKey"), params=p, error=())
                t += rng.uniform(2, 30)
            elif rng.random() < 0.35:
                yield t, sess.call(t, ("sts.amazonaws.com", "GetCallerIdentity"), params=None)
                t += rng.uniform(0.5, 4)
        kind = h.kind
        browse, writes = self.browse, self.writes
        for _ in range(min(n, 400)):
            r = rng.random()
            if kind == "admin" and r < 0.1:
                op = pick(rng, apis.ADMIN_WRITES)
                if rng.random() < 0.004:
                    yield t, sess.call(t, ("cloudtrail.amazonaws.com", "StopLogging"), error=())
                    t += rng.uniform(300, 2400)
                    op = ("cloudtrail.amazonaws.com", "StartLogging")
            elif kind == "data" and r < 0.3:
                op = pick(rng, apis.DATA_OPS[:5])
            elif r < (0.015 if kind == "analyst" else 0.06):
                op = pick(rng, writes)
            else:
                op = pick(rng, browse)
            yield t, sess.call(t, op)
            t += _gap(rng, gap) + (rng.uniform(30, 300) if rng.random() < 0.05 else 0.0)


# --------------------------------------------------------------------------------------------- onboarding etc.
CHANGE_TICKETS = (  # (weight, ops) routine admin changes that use the same APIs as attacks
    (3, ("s3:GetBucketPolicy", "s3:PutBucketPolicy")),
    (3, ("ec2:DescribeSecurityGroups", "ec2:AuthorizeSecurityGroupIngress")),
    (
        2,
        (
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:DeleteAccessKey",
            "iam:DeleteLoginProfile",
            "iam:DetachUserPolicy",
        ),
    ),
    (2, ("iam:GetRole", "iam:UpdateAssumeRolePolicy")),
    (2, ("iam:GetUser", "iam:UpdateLoginProfile")),
    (2, ("ec2:DescribeSnapshots", "ec2:ModifySnapshotAttribute", "ec2:ModifyImageAttribute")),
    (1, ("ec2:DescribeInstances", "ec2:GetPasswordData")),
    (
        2,
        (
            "s3:GetBucketLifecycle",
            "s3:PutBucketLifecycle",
            "ec2:DescribeFlowLogs",
            "ec2:DeleteFlowLogs",
            "ec2:CreateFlowLogs",
        ),
    ),
    (2, ("iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey")),
    (1, ("sts:GetFederationToken",)),
    (2, ("iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy")),
    (1, ("cloudtrail:GetTrailStatus", "cloudtrail:StopLogging", "cloudtrail:StartLogging")),
    (1, ("cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors")),
    (1, ("secretsmanager:ListSecrets", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue")),
    (1, ("ssm:DescribeInstanceInformation", "ssm:SendCommand", "ssm:GetCommandInvocation")),
)


def _admin_caller(adm: Human, acct: Account, t: float, rng: random.Random) -> Caller:
    """The admin's own identity in their account; elsewhere the org-access role session named after them."""
    ip = admin_ip(adm, t, rng)
    return Caller(admin_identity(adm, acct, t, rng), acct.id, ip, rng, agent=adm.agent_at(t))


def admin_ip(adm: Human, t: float, rng: random.Random) -> str:
    """Where an admin works from on a given day: the office, or the corporate VPN or home broadband."""
    return adm.office_ip if rng.random() < 0.5 else (adm.vpn_ip if adm.uses_vpn else adm.home_ip_at(t))


def admin_identity(
    adm: Human, acct: Account, t: float, rng: random.Random, key: Optional[str] = None
) -> Dict[str, Any]:
    """The userIdentity an admin acts with in `acct` (their own in their account, the org-access role elsewhere);
    `key` pins the session key (one session shared by several streams)."""
    if acct is adm.account:
        if adm.sso:
            ui = assumed_role_identity(
                acct.id, adm.sso_role, adm.sso_role_pid, adm.email, key or key_id(rng, "ASIA"), t
            )
        else:
            ui = iam_user_identity(acct.id, adm.name, adm.user_pid, adm.key_at(t))
    else:
        pid = principal_id(derive_rng(adm.upgrade_days, "org-access", acct.id), "AROA")
        ui = assumed_role_identity(
            acct.id, "OrganizationAccountAccessRole", pid, adm.name, key or key_id(rng, "ASIA"), t
        )
    return ui


def org_admin_stream(org: Org, seed: int) -> Stream:
    """Admin work tied to the calendar: onboarding new employees (CreateUser, CreateLoginProfile,
    AttachUserPolicy, CreateAccessKey) and change tickets that touch the same APIs attackers use
    (bucket policies, security groups, access keys, trust policies, snapshot sharing, trail maintenance)."""
    rng = derive_rng(seed, "org-admin")
    admins = [h for h in org.humans if h.kind == "admin"]
    if not admins:
        return
    tasks: List[Tuple[float, int, Any]] = []
    for h in org.humans:
        if h.start_day > 0 and not h.sso:
            adm = rng.choice(admins)
            t = org.start + (h.start_day - 1) * DAY + (9.5 - adm.tz) * 3600 + rng.uniform(0, 6 * 3600)
            tasks.append((t, len(tasks), ("onboard", adm, h)))
    weights = [w for w, _ in CHANGE_TICKETS]
    for d in range(org.days):
        day0 = org.start + d * DAY
        if weekday(day0) >= 5 or d in org.holidays:
            continue
        for _ in range(poisson(rng, 0.6 * len(org.accounts))):
            adm = rng.choice(admins)
            ops = rng.choices(CHANGE_TICKETS, weights=weights)[0][1]
            t = day0 + (rng.gauss(13.5, 2.5) - adm.tz) * 3600
            tasks.append((t, len(tasks), ("change", adm, (rng.choice(org.accounts), ops))))
    tasks.sort(key=lambda x: (x[0], x[1]))
    last = org.start
    for t, _n, (kind, adm, what) in tasks:
        t = max(t, last + rng.uniform(30, 300))
        if kind == "onboard":
            h = what
            caller = _admin_caller(adm, h.account, t, rng)
            sess = Session(caller, h.account.res, h.account.home, deny=0, typo=0, throttle=0)
            u = {"userName": h.name}
            steps = (
                ("CreateUser", u),
                ("CreateLoginProfile", dict(u, passwordResetRequired=True)),
                ("AddUserToGroup", dict(u, groupName="developers")),
                ("AttachUserPolicy", dict(u, policyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")),
                ("CreateAccessKey", u),
            )
            for op, p in steps:
                yield t, sess.call(t, ("iam.amazonaws.com", op), params=p)
                t += rng.uniform(3, 60)
        else:
            acct, ops = what
            caller = _admin_caller(adm, acct, t, rng)
            sess = Session(caller, acct.res, acct.home, deny=0.02, typo=0.01, throttle=0)
            for spec in ops:
                op = apis.ops(spec)[0]
                if op[1] == "StopLogging":
                    yield t, sess.call(t, op, error=())
                    t += rng.uniform(600, 3600)  # maintenance window
                    continue
                yield t, sess.call(t, op)
                t += rng.uniform(5, 120)
        last = t


def root_stream(org: Org, seed: int) -> Stream:
    """Break-glass root use: a handful of sign-ins a year, with MFA, from the office, to look at billing."""
    rng = derive_rng(seed, "root")
    t = org.start
    end = org.start + org.days * DAY
    while True:
        t += rng.expovariate(1 / (40 * DAY))
        if t >= end:
            return
        acct = rng.choice(org.accounts)
        h = rng.choice(org.humans)
        ui = {
            "type": "Root",
            "principalId": acct.id,
            "arn": f"arn:aws:iam::{acct.id}:root",
            "accountId": acct.id,
            "accessKeyId": "",
        }
        login = Caller({k: v for k, v in ui.items() if k != "accessKeyId"}, acct.id, h.office_ip, rng)
        bua = browser(rng, t, h.browser)
        yield t, login.console_login(t, bua, True)
        caller = Caller(dict(ui, accessKeyId=key_id(rng, "ASIA")), acct.id, h.office_ip, rng, console=True)
        sess = Session(caller, acct.res, "us-east-1", console_ua=bua, deny=0, typo=0, throttle=0)
        t += rng.uniform(5, 30)
        for op in apis.ops(
            "ce:GetCostAndUsage,GetCostForecast account:GetAccountInformation,GetContactInformation "
            "iam:GetAccountSummary,ListMFADevices billing:GetBillingPreferences"
        ):
            yield t, sess.call(t, op, params=None)
            t += rng.uniform(2, 40)


# -------------------------------------------------------------------------------------------------- machines
def _service_assume(
    rng: random.Random, ts: float, role: Role, service: str, session: str, region: str
) -> Dict[str, Any]:
    path, name = _split(role.name)
    c = Caller(service_identity(service), role.account.id, service, rng, fixed_ua=service, invoked_by=service)
    params = {"roleArn": role.arn, "roleSessionName": session}
    resp = {
        "credentials": {
            "accessKeyId": key_id(rng, "ASIA"),
            "sessionToken": "IQoJb3JpZ2luX2VjE" + hexid(rng, 20),
            "expiration": iso(ts + 6 * 3600),
        }
    }
    extra = {
        "resources": [{"accountId": role.account.id, "type": "AWS::IAM::Role", "ARN": role.arn}],
        "sharedEventID": uuid4(rng),
    }
    return c.event(ts, "sts.amazonaws.com", "AssumeRole", region, params, resp, None, extra=extra)


def web_identity(
    r: Role, ts: float, ip: str, repo: str, rng: random.Random, key: Optional[str] = None
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A GitHub Actions job's AssumeRoleWithWebIdentity record and the session identity it yields (`key` pins
    the session key, so a stolen copy of it can be replayed elsewhere)."""
    acct = r.account.id
    provider = f"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com"
    sub = f"repo:corp/{repo}:ref:refs/heads/main"
    wi_ui = {
        "type": "WebIdentityUser",
        "principalId": f"{provider}:sts.amazonaws.com:{sub}",
        "userName": sub,
        "identityProvider": provider,
    }
    ua = (
        ToolAgent("js", ts, ("linux", "os/linux#6.5.0-1025-azure", "", "x86_64", "")).ua(
            "sts.amazonaws.com", "AssumeRoleWithWebIdentity"
        )
        + GITHUB_UA_SUFFIX
    )
    if key is None:
        key = key_id(rng, "ASIA")
    c = Caller(wi_ui, acct, ip, rng, fixed_ua=ua)
    params = {"roleArn": r.arn, "roleSessionName": "GitHubActions", "durationSeconds": 3600}
    resp = {
        "credentials": {
            "accessKeyId": key,
            "sessionToken": "IQoJb3JpZ2luX2VjE" + hexid(rng, 20),
            "expiration": iso(ts + 3600),
        },
        "subjectFromWebIdentityToken": sub,
        "assumedRoleUser": {
            "assumedRoleId": f"{r.pid}:GitHubActions",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{r.name}/GitHubActions",
        },
        "provider": provider,
        "audience": "sts.amazonaws.com",
    }
    rec = c.event(ts, "sts.amazonaws.com", "AssumeRoleWithWebIdentity", r.region, params, resp)
    ui = assumed_role_identity(
        acct,
        r.name,
        r.pid,
        "GitHubActions",
        key,
        ts,
        web_identity={"federatedProvider": provider, "attributes": {}},
    )
    return rec, ui


class RoleActor:
    """A workload role; `stream()` dispatches on the role's kind."""

    def __init__(self, role: Role, org: Org, seed: int, rate: float) -> None:
        self.role, self.org, self.rate = role, org, max(rate, 1e-3)
        self.rng = derive_rng(seed, "role-stream", role.idx, role.account.id, role.name)
        self.end = org.start + org.days * DAY
        self.t0 = org.start + role.start_day * DAY

    def expected_per_day(self) -> float:
        r = self.role
        live = (self.org.days - r.start_day) / max(1, self.org.days)
        return ROLE_KINDS[r.kind].per_day(r, live)

    def stream(self) -> Stream:
        return ROLE_KINDS[self.role.kind].stream(self)

    # --- CI: terraform plans/applies and deployments ---------------------------------------------------
    def _runs(self, per_workday: float, nightly_hour: Optional[float]) -> Iterator[Tuple[float, bool]]:
        rng, org = self.rng, self.org
        for d in range(self.role.start_day, org.days):
            day0 = org.start + d * DAY
            times = []
            if weekday(day0) < 5 and d not in org.holidays:
                for _ in range(poisson(rng, per_workday * self.rate)):
                    times.append((day0 + rng.uniform(13, 23) * 3600, True))
            if nightly_hour is not None:
                times.append((day0 + nightly_hour * 3600 + rng.uniform(0, 600), False))
            yield from sorted(times)

    def _web_identity(self, ts: float, ip: str, repo: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        return web_identity(self.role, ts, ip, repo, self.rng)

    def _ci(self) -> Stream:
        r, rng = self.role, self.rng
        for start, is_merge in self._runs(r.period, 2.0 + rng.uniform(0, 3)):
            ip = ip_from(rng, "ci:github")
            rec, ui = self._web_identity(start, ip, "infrastructure")
            yield start, rec
            caller = Caller(
                ui,
                r.account.id,
                ip,
                rng,
                agent=ToolAgent("terraform", start - 3 * DAY, ("linux", "", "", "x86_64", "")),
            )
            # now and then a policy change leaves the pipeline short of permissions for a run (deny storm)
            deny = 0.25 if rng.random() < 0.03 else 0.003
            sess = Session(caller, r.account.res, r.region, deny=deny, typo=0.002, throttle=0.004)
            t = start + rng.uniform(8, 40)
            for _ in range(int(rng.uniform(60, 240))):
                yield t, sess.call(t, pick(rng, apis.TERRAFORM_READS))
                t += rng.expovariate(1 / 0.25)
            if is_merge and rng.random() < 0.6:
                t += rng.uniform(20, 180)
                for _ in range(rng.randint(1, 14)):
                    yield t, sess.call(t, pick(rng, apis.TERRAFORM_WRITES))
                    t += rng.expovariate(1 / 1.5)

    def _deploy(self) -> Stream:
        r, rng = self.role, self.rng
        for start, _ in self._runs(r.period, None):
            ip = ip_from(rng, "ci:github")
            rec, ui = self._web_identity(start, ip, rng.choice(r.account.res.functions).split("-")[0])
            yield start, rec
            caller = Caller(
                ui,
                r.account.id,
                ip,
                rng,
                agent=ToolAgent(
                    "aws-cli",
                    start - 10 * DAY,
                    ("linux", "os/linux#6.5.0-1025-azure", "", "x86_64", "ubuntu.22"),
                ),
            )
            sess = Session(caller, r.account.res, r.region, deny=0.002, typo=0.002, throttle=0.0)
            t = start + rng.uniform(5, 30)
            for op in apis.DEPLOY[: rng.randint(5, len(apis.DEPLOY))]:
                yield t, sess.call(t, op)
                t += rng.uniform(0.5, 40)

    # --- functions, tasks and instances ---------------------------------------------------------------------
    def _periodic(self, period: float, tz: float = -5.0) -> Iterator[float]:
        rng = self.rng
        t = self.t0 + rng.uniform(0, period)
        p = period / self.rate
        while t < self.end:
            yield t
            t += rng.expovariate(traffic(t, tz) / p)

    def _lambda(self) -> Stream:
        r, rng = self.role, self.rng
        fn = r.sessions[0]
        acct = r.account
        caller = None
        expires = 0.0
        # each function has its own small repertoire (what its code calls), weighted by repetition
        mix = [op for op in self.rng.sample(apis.LAMBDA_OPS, 3) for _ in range(self.rng.randint(1, 4))]
        if r.extra.get("bedrock"):
            mix += [("bedrock.amazonaws.com", "InvokeModel")] * 3
        # some functions are misconfigured: one call in their repertoire is denied every time, for days
        broken = mix[0] if self.rng.random() < 0.2 else None
        for t in self._periodic(r.period):
            fresh = t >= expires
            if fresh:  # cold start: Lambda assumes the execution role, function reads its config
                yield t, _service_assume(rng, t, r, "lambda.amazonaws.com", fn, r.region)
                expires = t + rng.uniform(1800, 4 * 3600)
                ui = assumed_role_identity(acct.id, r.name, r.pid, fn, key_id(rng, "ASIA"), t)
                agent = ToolAgent(
                    r.family,
                    self.t0 - 20 * DAY,
                    (
                        "linux",
                        "os/linux#5.10.224-234.867.amzn2.x86_64",
                        "Linux/5.10.224-234.867.amzn2.x86_64",
                        "x86_64",
                        "",
                    ),
                    exec_env=r.exec_env,
                )
                caller = Caller(ui, acct.id, rng.choice(r.ips), rng, agent=agent, tls=1)
                sess = Session(caller, acct.res, r.region, deny=0.0005, typo=0.0005, throttle=0.001)
                t += rng.uniform(0.05, 0.4)
                yield (
                    t,
                    sess.call(
                        t,
                        ("secretsmanager.amazonaws.com", "GetSecretValue"),
                        params={"secretId": acct.res.secrets[len(fn) % len(acct.res.secrets)]},
                    ),
                )
                t += 0.05
            op = pick(rng, mix)
            if broken is not None and op == broken:
                err = access_denied(op[0], op[1], caller.arn, acct.id, r.region, rng)
                yield t, sess.call(t, op, error=err)
                continue
            yield t, sess.call(t, op, params=None if op[1] == "PutEvents" else "auto")

    def _ecs(self) -> Stream:
        r, rng = self.role, self.rng
        acct = r.account
        expires = 0.0
        for t in self._periodic(r.period):
            if t >= expires:
                task = hexid(rng, 32)
                yield t, _service_assume(rng, t, r, "ecs-tasks.amazonaws.com", task, r.region)
                expires = t + rng.uniform(3 * 3600, 30 * 3600)
                ui = assumed_role_identity(acct.id, r.name, r.pid, task, key_id(rng, "ASIA"), t)
                agent = ToolAgent(
                    r.family,
                    self.t0 - 40 * DAY,
                    ("linux", "", "Linux/5.10.225-213.878.amzn2.x86_64", "x86_64", ""),
                    exec_env=r.exec_env,
                )
                caller = Caller(ui, acct.id, rng.choice(r.ips), rng, agent=agent, tls=1)
                sess = Session(caller, acct.res, r.region, deny=0.0005, typo=0.0, throttle=0.001)
                t += rng.uniform(1, 5)
                yield t, sess.call(t, ("secretsmanager.amazonaws.com", "GetSecretValue"))
            op = pick(
                rng,
                (
                    ("kms.amazonaws.com", "Decrypt"),
                    ("s3.amazonaws.com", "GetObject"),
                    ("s3.amazonaws.com", "PutObject"),
                ),
            )
            yield t, sess.call(t, op)

    def _instance(self) -> Stream:
        r, rng = self.role, self.rng
        acct = r.account
        iid = r.sessions[0]
        v = versions(self.t0)
        minor = int(v["gosdk"].split(".")[1])
        ua = "aws-sdk-go/1.50.%d (go%s; linux; amd64) amazon-ssm-agent/3.3.%d.0" % (
            minor,
            v["go"],
            380 + minor * 7,
        )
        expires = 0.0
        res = Resources(**{k: getattr(acct.res, k) for k in Resources.__slots__})
        res.instances = [iid]
        for n, t in enumerate(self._periodic(r.period, tz=0), 1):
            if t >= expires:
                yield t, _service_assume(rng, t, r, "ec2.amazonaws.com", iid, r.region)
                expires = t + rng.uniform(5 * 3600, 7 * 3600)
                ui = assumed_role_identity(acct.id, r.name, r.pid, iid, key_id(rng, "ASIA"), t, ec2=True)
                caller = Caller(ui, acct.id, r.ips[0], rng, fixed_ua=ua, tls=0)
                sess = Session(caller, res, r.region, deny=0.0, typo=0.0, throttle=0.0005)
                t += rng.uniform(1, 20)
            yield t, sess.call(t, ("ssm.amazonaws.com", "UpdateInstanceInformation"))
            if n % 7 == 0:
                t += rng.uniform(0.1, 2)
                yield t, sess.call(t, pick(rng, apis.INSTANCE_AGENT[1:]))

    # --- scanners, AWS services, backups ---------------------------------------------------------------
    def _scanner(self) -> Stream:
        r, rng = self.role, self.rng
        acct = r.account
        denied = set(r.extra.get("denied", ()))  # type: ignore[arg-type]
        sess_name = r.sessions[0]
        for start in self._periodic(r.period, tz=0):
            session = (
                "%s-%d" % (sess_name, int(start)) if sess_name != "datadog" else "datadog-aws-integration"
            )
            ui = assumed_role_identity(acct.id, r.name, r.pid, session, key_id(rng, "ASIA"), start)
            caller = Caller(
                ui,
                acct.id,
                rng.choice(r.ips),
                rng,
                agent=ToolAgent(
                    r.family, start - 15 * DAY, ("linux", "os/linux", "Linux/5.10", "x86_64", "")
                ),
            )
            sess = Session(caller, acct.res, r.region, deny=0.0, typo=0.0, throttle=0.006)
            t = start
            if sess_name == "datadog":  # frequent narrow polls
                ops = rng.sample(apis.SCANNER, 6)
            else:
                ops = list(apis.SCANNER)
            regions = acct.regions if sess_name == "datadog" else acct.regions + apis.ALL_REGIONS
            for i, op in enumerate(ops):
                regs = (
                    ["us-east-1"] if op[0] in apis.GLOBAL_SOURCES or op[0] == "s3.amazonaws.com" else regions
                )
                for reg in dict.fromkeys(regs):
                    err = (
                        access_denied(op[0], op[1], caller.arn, acct.id, reg, rng)
                        if (i % 60) in denied
                        else None
                    )
                    yield t, sess.call(t, op, error=err, region=reg)
                    t += rng.expovariate(1 / 0.3)

    def _service_linked(
        self,
        service: str,
        session: str,
        ops: List[apis.Op],
        n: Tuple[int, int],
        ip: str = "",
        ua: str = "",
        start_hour: Optional[float] = None,
    ) -> Stream:
        r, rng = self.role, self.rng
        acct = r.account
        path, name = _split(r.name)
        it = (
            self._periodic(r.period, tz=0)
            if start_hour is None
            else (
                self.org.start + d * DAY + start_hour * 3600 + rng.uniform(0, 1800)
                for d in range(self.org.days)
            )
        )
        for start in it:
            ui = assumed_role_identity(acct.id, name, r.pid, session, key_id(rng, "ASIA"), start, path=path)
            ui["invokedBy"] = service
            caller = Caller(ui, acct.id, ip or service, rng, fixed_ua=ua or service, invoked_by=service)
            sess = Session(caller, acct.res, r.region, deny=0.0, typo=0.0, throttle=0.002)
            t = start
            for _ in range(rng.randint(*n)):
                yield t, sess.call(t, pick(rng, ops))
                t += rng.expovariate(1 / 2.0)

    def _config(self) -> Stream:
        return self._service_linked(
            "config.amazonaws.com", "AWSConfig-Describe", apis.CONFIG_RECORDER, (2, 10)
        )

    def _service(self) -> Stream:
        return self._service_linked(
            "trustedadvisor.amazonaws.com",
            f"TrustedAdvisor_{self.role.account.id}",
            apis.SCANNER[:20],
            (3, 12),
            ip="AWS Internal",
            ua="AWS Internal",
        )

    def _backup(self) -> Stream:
        return self._service_linked(
            "backup.amazonaws.com",
            "AWSBackup-AWSBackupDefaultServiceRole",
            apis.BACKUP,
            (12, 40),
            start_hour=3.0,
        )

    def _svc_user(self) -> Stream:
        """A long-lived IAM user with an access key used by an integration (on-prem job, SaaS vendor, legacy CI):
        machine rhythm, fixed egress IPs, one tool, a narrow repertoire."""
        r, rng = self.role, self.rng
        acct = r.account
        user = r.name
        ui = {
            "type": "IAMUser",
            "principalId": r.pid,
            "arn": "arn:aws:iam::%s:user/%s" % (acct.id, user),
            "accountId": acct.id,
            "accessKeyId": str(r.extra["key"]),
            "userName": user,
        }
        agent = ToolAgent(
            r.family,
            self.t0 - 60 * DAY,
            ("linux", "os/linux#5.15.0-1057-azure", "Linux/5.15.0-1057-azure", "x86_64", "ubuntu.22"),
        )
        caller = Caller(ui, acct.id, r.ips[0], rng, agent=agent, tls=rng.randrange(2))
        sess = Session(caller, acct.res, r.region, deny=0.01, typo=0.004, throttle=0.002)
        mix = [op for op in rng.sample(apis.SVC_USER_OPS, 4) for _ in range(rng.randint(1, 3))]
        for start in self._periodic(r.period, tz=0):
            caller.ip = rng.choice(r.ips)
            t = start
            for _ in range(rng.randint(1, 6)):
                yield t, sess.call(t, pick(rng, mix))
                t += rng.expovariate(1 / 1.5)

    def _patch(self) -> Stream:
        """Nightly SSM maintenance window: Run Command patching (benign SendCommand at scale)."""
        return self._service_linked(
            "ssm.amazonaws.com",
            "maintenance-window",
            apis.ops(
                "ssm:SendCommand,GetCommandInvocation,ListCommandInvocations,DescribeInstanceInformation"
            ),
            (4, 16),
            start_hour=2.0,
        )

    def _dr_share(self) -> Stream:
        """Nightly job sharing backup snapshots with the organisation's DR account (benign ModifySnapshotAttribute)."""
        r, rng = self.role, self.rng
        acct = r.account
        for d in range(self.org.days):
            t = self.org.start + d * DAY + 4.5 * 3600 + rng.uniform(0, 900)
            yield t, _service_assume(rng, t, r, "lambda.amazonaws.com", r.sessions[0], r.region)
            ui = assumed_role_identity(acct.id, r.name, r.pid, r.sessions[0], key_id(rng, "ASIA"), t)
            caller = Caller(
                ui,
                acct.id,
                r.ips[0],
                rng,
                agent=ToolAgent(
                    "boto3",
                    self.org.start - 30 * DAY,
                    ("linux", "os/linux#5.10.224-234.867.amzn2.x86_64", "", "x86_64", ""),
                    exec_env=r.exec_env,
                ),
                tls=1,
            )
            sess = Session(caller, acct.res, r.region, deny=0.0, typo=0.0, throttle=0.0)
            t += 1.0
            yield (
                t,
                sess.call(
                    t,
                    ("ec2.amazonaws.com", "DescribeSnapshots"),
                    params={"ownerSet": {"items": [{"owner": "self"}]}},
                ),
            )
            for _ in range(rng.randint(1, 4)):
                t += rng.uniform(0.2, 2)
                yield t, sess.call(t, ("ec2.amazonaws.com", "ModifySnapshotAttribute"))
            if weekday(t) == 6:
                t += 1.0
                yield t, sess.call(t, ("rds.amazonaws.com", "ModifyDBSnapshotAttribute"))

    def _aws_service(self) -> Stream:
        return services.stream(
            self.role, str(self.role.extra["spec"]), self._periodic(self.role.period, tz=0), self.rng
        )

    def _rotation(self) -> Stream:
        return services.rotation_stream(self.role, self._periodic(self.role.period, tz=0), self.rng, self.t0)


class RoleKind(NamedTuple):
    """What a role kind does: the RoleActor method that streams its events, and how many it makes a day."""

    stream: Callable[[RoleActor], Stream]
    # expected events/day before the actor's rate, for volume planning; `live` is the share of the run the role exists
    per_day: Callable[[Role, float], float]


def _scanner_per_day(r: Role, live: float) -> float:
    if r.sessions and r.sessions[0] == "datadog":
        per_sweep = 6 * 1.3
    else:
        n_global = sum(
            1 for op in apis.SCANNER if op[0] in apis.GLOBAL_SOURCES or op[0] == "s3.amazonaws.com"
        )
        regions = len(set(r.account.regions + apis.ALL_REGIONS))
        per_sweep = n_global + (len(apis.SCANNER) - n_global) * regions
    return 86400.0 / r.period * per_sweep


# Role kind -> its stream and volume, one entry per kind (kinds are set in org.build_org). Adding a kind: a
# RoleActor method and one line here.
ROLE_KINDS: Dict[str, RoleKind] = {
    "ci": RoleKind(RoleActor._ci, lambda r, live: (r.period * 0.74 * 175.0 + 160.0) * live),
    "deploy": RoleKind(RoleActor._deploy, lambda r, live: r.period * 0.74 * 9.0 * live),
    "lambda": RoleKind(RoleActor._lambda, lambda r, live: (86400.0 / r.period) * 0.97 * live + 20.0),
    "ecs": RoleKind(RoleActor._ecs, lambda r, live: 86400.0 / r.period * 0.95 * live + 5.0),
    "instance": RoleKind(RoleActor._instance, lambda r, live: 86400.0 / r.period * 1.15 * live),
    "scanner": RoleKind(RoleActor._scanner, _scanner_per_day),
    "config": RoleKind(RoleActor._config, lambda r, live: 86400.0 / r.period * 6.0),
    "service": RoleKind(RoleActor._service, lambda r, live: 86400.0 / r.period * 6.0),
    "backup": RoleKind(RoleActor._backup, lambda r, live: 45.0),
    "svc-user": RoleKind(RoleActor._svc_user, lambda r, live: 86400.0 / r.period * 3.5 * live),
    "patch": RoleKind(RoleActor._patch, lambda r, live: 18.0),
    "dr-share": RoleKind(RoleActor._dr_share, lambda r, live: 8.0),
    "aws-service": RoleKind(
        RoleActor._aws_service,
        lambda r, live: services.SERVICE_NOISE[str(r.extra["spec"])].expected_per_day(),
    ),
    "rotation": RoleKind(RoleActor._rotation, lambda r, live: 86400.0 / r.period * 9.0),
}
