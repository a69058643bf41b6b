# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""Replay real attack CloudTrail onto simulated identities and timelines.

Sources (shipped in `attack_data/`, see its NOTICE): Stratus Red Team detonations and technique table,
TrailDiscover's attack-relevant calls with ATT&CK tactics, Panther rule tests expected to alert, and the OTRF
AWS scenarios. A *technique* is one unit the training code can hold out whole (`technique_ids()`); a *campaign*
is one injected attack run: a scenario (leaked key, stolen instance credentials, compromised console user,
insider, recon burst, slow attack, external probe) carrying one or more techniques.

Every replayed event is re-identified: principal, keys, account ids (also inside ARNs, messages and request
parameters), regions, times, event/request ids, source IP and user agent; giveaways such as
`stratus-red-team` or `grimoire` in names and user agents are rewritten into names and tools drawn from the
same pools the benign simulation uses. The label travels in `_label`, `_technique`, `_scenario`, `_campaign`
and `_tactic`.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ctad.core.risk_checks.storage import SSE_C
from ctad.simulate.actors import admin_identity
from ctad.simulate.agents import OS_PROFILES, ToolAgent, browser, pick_family
from ctad.simulate.apis import ALL_REGIONS, DATA_EVENT_NAMES, GLOBAL_SOURCES, access_denied, read_only
from ctad.simulate.events import (
    Caller,
    assumed_role_identity,
    event_version,
    iam_user_identity,
    s3_additional,
    service_region,
    tls_details,
)
from ctad.simulate.ids import (
    account_id,
    derive_rng,
    hexid,
    instance_id,
    iso,
    key_id,
    principal_id,
    s3_request_id,
    uuid4,
)
from ctad.simulate.networks import attacker_network, ip_from
from ctad.simulate.org import DAY, Human, Org, Role

DATA_DIR = Path(__file__).resolve().parent / "attack_data"
STRATUS_TACTICS = {
    "credential-access": "TA0006",
    "defense-evasion": "TA0005",
    "discovery": "TA0007",
    "execution": "TA0002",
    "exfiltration": "TA0010",
    "impact": "TA0040",
    "initial-access": "TA0001",
    "lateral-movement": "TA0008",
    "persistence": "TA0003",
    "privilege-escalation": "TA0004",
    "collection": "TA0009",
}
# Panther rules that monitor ordinary operations (their "true" tests are not attacks): never replayed as attacks.
PANTHER_NOT_ATTACKS = {
    "AWS.ECR.CRUD",
    "AWS.ECR.EVENTS",
    "AWS.LAMBDA.CRUD",
    "AWS.RDS.InstanceRebooted",
    "AWS.RDS.ClusterFailover",
    "AWS.RDS.ManualSnapshotCreated",
    "AWS.CloudTrail.Created",
    "AWS.ConfigService.Created",
    "AWS.EC2.Monitoring",
    "AWS.Console.Sign-In",
    "AWS.CloudTrail.UserAccessKeyAuth",
    "AWS.IAM.Group.Read.Only.Events",
    "AWS.CloudTrail.IAMEntityCreatedWithoutCloudFormation",
    "AWS.EC2.ManualSecurityGroupChange",
    "AWS.Modify.Cloud.Compute.Infrastructure",
    "AWS.EC2.StopInstances",
}
_SERVICE_VALUE = re.compile(r"^(AWS Internal|[a-z0-9.-]+\.amazonaws\.com)$")
_ACCOUNT_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{12})(?![0-9])")
_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9*]{12,20}\b")
_INSTANCE = re.compile(r"\bi-[0-9a-zA-Z]{8,17}\b")
_GIVEAWAY = re.compile(
    r"stratus[-_ ]?red[-_ ]?team|stratus|grimoire|traildiscover|mordor|pacu|cloudgoat", re.IGNORECASE
)
_TIME_IN_SESSION = re.compile(r"(aws-go-sdk-|botocore-session-)\d+")
_REGION_LIKE = re.compile(r"\b(?:[a-z]{2}(?:gov|iso|isob)?-[a-z]+-\d[a-z]?)\b")
_PLACEHOLDER_ACCOUNTS = {
    "123456789012",
    "111111111111",
    "111122223333",
    "123123123123",
    "123456789123",
    "012345678901",
    "000000000000",
    "999999999999",
}
_ALL_REGIONS = ALL_REGIONS
BENIGN_WORDS = [
    "ops",
    "maint",
    "platform",
    "infra",
    "svc",
    "automation",
    "support",
    "backup",
    "sync",
    "admin",
]


@dataclass(frozen=True)
class Technique:
    """One hold-out unit: id, provenance, ATT&CK tactic id (or ""), the (eventSource, eventName) it exercises."""

    id: str
    source: str
    tactic: str
    apis: Tuple[Tuple[str, str], ...]
    n_events: int


def _read(name: str) -> List[Dict[str, Any]]:
    with gzip.open(DATA_DIR / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _tactic_of(text: str) -> str:
    m = re.match(r"(TA\d{4})", text or "")
    return m.group(1) if m else ""


def _synthetic_stratus(tid: str, pairs: str) -> List[Dict[str, Any]]:
    """Events for Stratus techniques documented without detonation logs, built from their API list."""
    out = []
    for i, pair in enumerate(p.strip() for p in pairs.replace(" (data events)", "").split(",")):
        if ":" not in pair:
            continue
        svc, name = pair.split(":", 1)
        params: Dict[str, Any] = {}
        if name == "PutBucketLifecycle":
            params = {
                "bucketName": "BUCKET",
                "LifecycleConfiguration": {
                    "Rule": {
                        "ID": "nuke",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Expiration": {"Days": 1},
                    }
                },
            }
        elif name == "PutBucketPolicy":
            params = {
                "bucketName": "BUCKET",
                "bucketPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::EXTERNAL:root"},
                            "Action": ["s3:GetObject", "s3:GetBucketLocation", "s3:ListBucket"],
                            "Resource": ["arn:aws:s3:::BUCKET/*", "arn:aws:s3:::BUCKET"],
                        }
                    ],
                },
            }
        elif name in (
            "DeleteObjects",
            "DeleteObject",
            "PutObject",
            "CopyObject",
            "ListObjects",
            "ListObjectVersions",
        ):
            params = (
                {"bucketName": "BUCKET", "key": "data/%05d.csv" % i}
                if name != "ListObjectVersions"
                else {"bucketName": "BUCKET", "versions": ""}
            )
            if name == "PutObject":
                params[SSE_C] = "AES256"
        elif name == "DeregisterImage":
            params = {"imageId": "ami-0123456789abcdef0"}
        elif svc == "sagemaker":
            params = {"notebookInstanceName": "research-notebook"}
        elif svc == "ses":
            params = {}
        repeat = 3 if name in ("DeleteObjects", "DeleteObject", "CopyObject", "PutObject") else 1
        for _ in range(repeat):
            out.append(
                {
                    "eventSource": svc + ".amazonaws.com",
                    "eventName": name,
                    "requestParameters": params or None,
                    "eventTime": "2024-01-01T00:00:%02dZ" % min(59, len(out) * 2),
                }
            )
    return out


# ------------------------------------------------------------------------------------------- attack corpora
Events = List[Dict[str, Any]]
ApiKey = Tuple[str, str]


@dataclass
class Loaded:
    """What one corpus holds: its techniques (id, ATT&CK tactic or None to take it from the first of its events
    whose API another corpus maps to a tactic, events) and what it says of single APIs ((eventSource, eventName),
    tactic)."""

    techniques: List[Tuple[str, Optional[str], Events]]
    api_tactics: List[Tuple[ApiKey, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Corpus:
    """A registered attack corpus: its provenance name (`Technique.source`, `technique_ids(source)`), its loader,
    and its rank as an authority on API tactics (lower wins when two corpora map one API differently)."""

    name: str
    load: Callable[[], Loaded]
    api_tactic_rank: int = 99


# In the order their techniques are catalogued. Adding a corpus: a loader below decorated with @corpus, its file
# in attack_data/ (with its NOTICE entry); nothing else changes.
CORPORA: Dict[str, Corpus] = {}


def corpus(name: str, api_tactic_rank: int = 99) -> Callable[[Callable[[], Loaded]], Callable[[], Loaded]]:
    def register(load: Callable[[], Loaded]) -> Callable[[], Loaded]:
        CORPORA[name] = Corpus(name, load, api_tactic_rank)
        return load

    return register


@corpus("stratus", api_tactic_rank=1)
def _stratus() -> Loaded:
    """Stratus Red Team detonation logs, and events built from the technique table where a technique has none."""
    strat: Dict[str, Events] = {}
    for e in _read("stratus_detonations.jsonl.gz"):
        strat.setdefault(e["scenario"], []).append(e)
    with open(DATA_DIR / "stratus_techniques.tsv", encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh][1:]
    out = Loaded([])
    for tid, _kind, pairs in rows:
        tactic = STRATUS_TACTICS.get(tid.split(".")[1], "")
        out.techniques.append((tid, tactic, strat.get(tid) or _synthetic_stratus(tid, pairs)))
        for p in pairs.split(","):
            if ":" in p:
                svc, name = p.strip().split(":", 1)
                out.api_tactics.append(((svc + ".amazonaws.com", name.split(" ")[0]), tactic))
    return out


@corpus("traildiscover", api_tactic_rank=0)  # per-call tactics: more specific than a Stratus technique's
def _traildiscover() -> Loaded:
    """TrailDiscover's attack-relevant calls, one technique per scenario, with their ATT&CK tactics."""
    td: Dict[str, Events] = {}
    td_tactic: Dict[str, str] = {}
    out = Loaded([])
    for e in _read("traildiscover.jsonl.gz"):
        sid = e["scenario"]
        td.setdefault(sid, []).append(e)
        tac = _tactic_of((e.get("_mitre_tactics") or [""])[0])
        td_tactic[sid] = tac
        if tac:
            out.api_tactics.append(((e.get("eventSource", ""), e.get("eventName", "")), tac))
    out.techniques = [(sid, td_tactic.get(sid, ""), evs) for sid, evs in td.items()]
    return out


@corpus("panther")
def _panther() -> Loaded:
    """Panther rule tests expected to alert, one technique per rule (tactic from the APIs it calls)."""
    pan: Dict[str, Events] = {}
    for e in _read("panther_rule_tests.jsonl.gz"):
        if e.get("label") == 1 and e["scenario"] not in PANTHER_NOT_ATTACKS:
            pan.setdefault(e["scenario"], []).append(e)
    return Loaded([("panther:" + rule, None, evs) for rule, evs in pan.items()])


@corpus("otrf")
def _otrf() -> Loaded:
    """The OTRF AWS scenarios' attack events: a honeybucket discovery and an EC2-proxied S3 exfiltration."""
    otrf: Dict[str, Events] = {}
    for e in _read("otrf_scenarios.jsonl.gz"):
        if e.get("label") == 1:
            name = (
                "otrf:s3-honeybucket-discovery"
                if "honeybucket" in e["scenario"]
                else "otrf:ec2-proxy-s3-exfiltration"
            )
            otrf.setdefault(name, []).append(e)
    return Loaded(
        [
            ("otrf:s3-honeybucket-discovery", "TA0007", otrf.get("otrf:s3-honeybucket-discovery", [])),
            ("otrf:ec2-proxy-s3-exfiltration", "TA0010", otrf.get("otrf:ec2-proxy-s3-exfiltration", [])),
        ]
    )


@lru_cache(maxsize=1)
def _catalog() -> Tuple[Dict[str, Technique], Dict[str, Events]]:
    techs: Dict[str, Technique] = {}
    events: Dict[str, Events] = {}
    loaded = {name: c.load() for name, c in CORPORA.items()}
    api_tactic: Dict[ApiKey, str] = {}
    # the best-ranked corpus that maps an API names its tactic (sorted is stable: ties keep registration order)
    for c in sorted(CORPORA.values(), key=lambda c: c.api_tactic_rank):
        for key, tactic in loaded[c.name].api_tactics:
            api_tactic.setdefault(key, tactic)
    for name, result in loaded.items():
        for tid, tactic, evs in result.techniques:
            if tactic is None:
                keys = ((e.get("eventSource", ""), e.get("eventName", "")) for e in evs)
                tactic = next((t for t in (api_tactic.get(k, "") for k in keys) if t), "")
            evs = [e for e in evs if e.get("eventName") and e.get("eventSource")]
            if not evs:
                continue
            evs.sort(key=lambda e: str(e.get("eventTime") or ""))
            events[tid] = evs
            apis = tuple(dict.fromkeys((e["eventSource"], e["eventName"]) for e in evs))
            techs[tid] = Technique(tid, name, tactic, apis, len(evs))
    return techs, events


def techniques() -> Dict[str, Technique]:
    """All replayable techniques by id."""
    return dict(_catalog()[0])


def technique_ids(source: Optional[str] = None) -> List[str]:
    """Sorted technique ids (optionally of one source: stratus, traildiscover, panther, otrf) for grouped splits."""
    return sorted(t.id for t in _catalog()[0].values() if source is None or t.source == source)


def select_techniques(
    include: Optional[Iterable[str]] = None, exclude: Optional[Iterable[str]] = None
) -> List[str]:
    """Technique ids after include/exclude filters; entries may be exact ids or prefixes ending in '*'."""
    ids = technique_ids()

    def match(tid: str, pats: Sequence[str]) -> bool:
        return any(tid == p or (p.endswith("*") and tid.startswith(p[:-1])) for p in pats)

    inc = list(include or [])
    exc = list(exclude or [])
    unknown = [p for p in inc + exc if not p.endswith("*") and p not in ids]
    if unknown:
        raise ValueError(
            "unknown technique id(s): {} (see ctad.simulate.attacks.technique_ids())".format(
                ", ".join(unknown[:5])
            )
        )
    if inc:
        ids = [t for t in ids if match(t, inc)]
    return [t for t in ids if not match(t, exc)]


def scenarios_for(tech: Technique) -> Tuple[str, ...]:
    tid = tech.id
    if tid == "otrf:s3-honeybucket-discovery":
        return ("external-probe",)
    if tid in (
        "otrf:ec2-proxy-s3-exfiltration",
        "aws.credential-access.ec2-steal-instance-credentials",
        "panther:AWS.CloudTrail.IMDSCredentialExfiltration",
    ):
        return ("stolen-instance-credentials",)
    if (
        "console" in tid.lower()
        and ("login" in tid.lower() or "sign" in tid.lower())
        or any(n == "ConsoleLogin" for _, n in tech.apis)
    ):
        return ("compromised-console",)
    established = ("insider", "ci-role-key", "established-admin")
    if tech.tactic == "TA0007":
        return ("recon-burst", "leaked-key", "stolen-instance-credentials") + established
    return ("leaked-key", "stolen-instance-credentials", "compromised-console", "slow-attack") + established


# ---------------------------------------------------------------------------------------------- campaigns
@dataclass
class Victim:
    kind: str  # iam-user | sso-user | instance | lambda | dormant-user | anonymous
    account: str
    ui: Dict[str, Any]
    ips: List[str]
    agent: Any
    console_ua: str
    human: Optional[Human] = None
    role: Optional[Role] = None
    tz: float = 0.0
    alt_agent: Any = None  # a second tool of the victim's own (own-context scenarios mix it in)


class Campaign:
    """One injected attack run, materialised as a time-sorted list of labelled records (small)."""

    def __init__(
        self,
        org: Org,
        seed: int,
        index: int,
        technique_ids_: List[str],
        scenario: str,
        start: float,
        iac_runs: Sequence[Any] = (),
    ) -> None:
        self.org = org
        self.spec = SCENARIO_SPECS[scenario]
        self.iac_runs = iac_runs
        self.earliest, self.latest = campaign_span(org, self.spec.established)
        self.rng = derive_rng(seed, "campaign", index)
        self.id = "c%04d-%s" % (index, hexid(self.rng, 6))
        self.techniques = technique_ids_
        self.primary = ""  # the technique the campaign is about (labels its prelude); set by plan_campaigns
        self.scenario = scenario
        self.start = start
        rng = self.rng
        self.net_kind, self.ips = attacker_network(rng)
        self.external_account = account_id(rng)
        self.region_map: Dict[str, str] = {}
        self.key_map: Dict[str, str] = {}
        self.inst_map: Dict[str, str] = {}
        self.acct_map: Dict[str, str] = {}
        self.principals: Dict[str, Dict[str, Any]] = {}
        self.word = rng.choice(BENIGN_WORDS)
        lag = rng.uniform(0, 150) * DAY
        self.agent = ToolAgent(pick_family(rng), start - lag, rng.choice(OS_PROFILES))
        self.browser_ua = browser(rng, start)
        self.tls = rng.randrange(2)
        self.victim = self.spec.victim(self)  # may move `start` next to the victim's own work

    # --- timeline -------------------------------------------------------------------------------------
    def records(self, allowed: set) -> List[Tuple[float, Dict[str, Any]]]:
        """Labelled, re-identified records of this campaign in time order (techniques not in `allowed` dropped)."""
        events = _catalog()[1]
        rng = self.rng
        t = self.start
        out: List[Tuple[float, Dict[str, Any]]] = []
        primary = self.primary or self.techniques[0]
        if self.scenario == "compromised-console":
            out.append((t, self._login(t, primary)))
            t += rng.uniform(5, 60)
        elif rng.random() < self.spec.whoami:
            src = {
                "eventSource": "sts.amazonaws.com",
                "eventName": "GetCallerIdentity",
                "requestParameters": None,
            }
            out.append((t, self._replay(src, t, primary)))
            t += rng.uniform(2, 90)
        for n, tid in enumerate(self.techniques):
            if tid not in allowed:
                continue
            srcs = events[tid]
            if self.scenario == "external-probe" or len(srcs) > 60:
                k = rng.randint(5, min(40, len(srcs)))
                first = rng.randrange(0, len(srcs) - k + 1)
                srcs = srcs[first : first + k]
            prev = None
            for e in srcs:
                et = _epoch(e.get("eventTime"))
                if prev is not None and et is not None:
                    gap = min(max(et - prev, 0.2), 900.0) * rng.uniform(0.6, 2.5)
                else:
                    gap = rng.uniform(0.5, 20) if prev is not None else 0.0
                prev = et if et is not None else prev
                if self.scenario == "external-probe":
                    gap = rng.uniform(60, 6 * 3600)
                t += gap
                out.append((t, self._replay(e, t, tid)))
                if (
                    self.scenario == "recon-burst"
                    and rng.random() < 0.4
                    and e["eventSource"] not in GLOBAL_SOURCES
                ):
                    for reg in rng.sample(_ALL_REGIONS, rng.randint(1, 5)):
                        t += rng.uniform(0.1, 1.5)
                        out.append((t, self._replay(e, t, tid, region_override=reg)))
            if self.scenario == "slow-attack":
                t += rng.uniform(0.4, 2.5) * DAY
            else:
                t += rng.uniform(10, 1800) if n else rng.uniform(5, 300)
        if self.scenario == "recon-burst":
            out = self._deny_most(out)
        out.sort(key=lambda x: x[0])
        return out

    def _deny_most(self, recs: List[Tuple[float, Dict[str, Any]]]) -> List[Tuple[float, Dict[str, Any]]]:
        rng = self.rng
        p = rng.uniform(0.4, 0.9)
        for _t, rec in recs:
            if rec["eventName"] != "GetCallerIdentity" and rng.random() < p and "errorCode" not in rec:
                code, msg = access_denied(
                    rec["eventSource"],
                    rec["eventName"],
                    rec["userIdentity"].get("arn", ""),
                    rec["recipientAccountId"],
                    rec["awsRegion"],
                    rng,
                )
                _set_error(rec, code, msg)
        return recs

    def _labels(self, tid: str) -> Dict[str, Any]:
        tech = _catalog()[0].get(tid)
        return {
            "_label": 1,
            "_technique": tid,
            "_scenario": self.scenario,
            "_campaign": self.id,
            "_tactic": tech.tactic if tech else "",
        }

    def _login(self, t: float, tid: str) -> Dict[str, Any]:
        """ConsoleLogin built by the same code as benign sign-ins (no shape differences to learn)."""
        v, rng = self.victim, self.rng
        ui = {k: val for k, val in v.ui.items() if k != "accessKeyId"}
        if ui.get("type") == "IAMUser":
            ui.pop("sessionContext", None)
        mfa = bool(v.human and v.human.mfa and not v.human.sso and rng.random() < 0.3)
        c = Caller(ui, v.account, self.ips[0], rng, labels=self._labels(tid))
        return c.console_login(t, self.browser_ua, mfa)

    # --- re-identification -------------------------------------------------------------------------------
    def _region(self, src_region: Optional[str]) -> str:
        v = self.victim
        home = self._home_region()
        if not src_region:
            return home
        got = self.region_map.get(src_region)
        if got is None:
            acct = next((a for a in self.org.accounts if a.id == v.account), self.org.accounts[0])
            if not self.region_map or self.rng.random() < 0.7:
                got = home
            else:
                got = self.rng.choice(acct.regions + ["us-east-1", "ap-south-1", "sa-east-1"])
            self.region_map[src_region] = got
        return got

    def _home_region(self) -> str:
        acct = next((a for a in self.org.accounts if a.id == self.victim.account), self.org.accounts[0])
        return acct.home

    def _principal(self, src_ui: Dict[str, Any], t: float) -> Dict[str, Any]:
        """Map each distinct source principal to a campaign principal: the first to the victim, later assumed
        roles to pivot sessions of roles in the victim's account."""
        v, rng = self.victim, self.rng
        typ = (src_ui or {}).get("type") or ""
        if typ in ("AWSService",):
            return copy.deepcopy(src_ui)
        if v.kind == "anonymous" or typ == "AWSAccount":
            if typ == "AWSAccount" and src_ui.get("accountId") not in ("ANONYMOUS_PRINCIPAL", "", None):
                acct = self.external_account
                return {"type": "AWSAccount", "principalId": acct, "accountId": acct}
            return {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}
        key = (src_ui or {}).get("arn") or typ or "?"
        got = self.principals.get(key)
        if got is not None:
            return got
        if typ == "Root":
            got = {
                "type": "Root",
                "principalId": v.account,
                "arn": f"arn:aws:iam::{v.account}:root",
                "accountId": v.account,
                "accessKeyId": key_id(rng, "ASIA"),
            }
        elif not self.principals or typ not in ("AssumedRole", "FederatedUser"):
            got = v.ui
        elif typ == "FederatedUser":
            name = self.word + "-" + hexid(rng, 4)
            got = {
                "type": "FederatedUser",
                "principalId": f"{v.account}:{name}",
                "arn": f"arn:aws:sts::{v.account}:federated-user/{name}",
                "accountId": v.account,
                "accessKeyId": key_id(rng, "ASIA"),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "IAMUser",
                        "principalId": v.ui.get("principalId", ""),
                        "arn": v.ui.get("arn", ""),
                        "accountId": v.account,
                        "userName": v.ui.get("userName", ""),
                    },
                    "attributes": {"creationDate": iso(t), "mfaAuthenticated": "false"},
                },
            }
        else:
            acct = next((a for a in self.org.accounts if a.id == v.account), self.org.accounts[0])
            role = rng.choice(acct.res.roles)
            session = _TIME_IN_SESSION.sub(
                lambda m: m.group(1) + str(int(t * 1e9)), str(src_ui.get("arn") or "").rsplit("/", 1)[-1]
            )
            if _GIVEAWAY.search(session) or "@" in session or not session:
                session = "botocore-session-%d" % int(t)
            got = _ar_ui(
                v.account,
                role,
                principal_id(derive_rng(self.org.seed, "role", v.account, role), "AROA"),
                session,
                key_id(rng, "ASIA"),
                t,
            )
        self.principals[key] = got
        return got

    def _subst_text(self, text: str, src_accounts: set, arn_map: Dict[str, str]) -> str:
        for old, new in arn_map.items():
            if old and old in text:
                text = text.replace(old, new)
        v = self.victim

        def acct(m: re.Match[str]) -> str:
            a = m.group(1)
            if a in src_accounts or a in _PLACEHOLDER_ACCOUNTS:
                return v.account
            if any(x.id == a for x in self.org.accounts):
                return a
            return self.acct_map.setdefault(a, self.external_account)

        text = _ACCOUNT_IN_TEXT.sub(acct, text)
        text = _KEY.sub(self._key, text)
        acct_obj = next((a for a in self.org.accounts if a.id == v.account), self.org.accounts[0])
        text = _INSTANCE.sub(
            lambda m: self.inst_map.setdefault(m.group(0), self.rng.choice(acct_obj.res.instances)), text
        )
        text = _GIVEAWAY.sub(self.word, text)
        text = text.replace("BUCKET", acct_obj.res.buckets[len(self.id) % len(acct_obj.res.buckets)])
        text = text.replace("EXTERNAL", self.external_account)
        for old, new in self.region_map.items():
            text = text.replace(old, new)
        return text

    _src_key = ""

    def _key(self, m: re.Match[str]) -> str:
        old = m.group(0)
        got = self.key_map.get(old)
        if got is None:
            mine = self.victim.ui.get("accessKeyId")
            got = mine if old == self._src_key and mine else key_id(self.rng, m.group(1))
            self.key_map[old] = got
        return got

    def _replay(self, src: Dict[str, Any], t: float, tid: str, region_override: str = "") -> Dict[str, Any]:
        rng, v = self.rng, self.victim
        src_ui = src.get("userIdentity") or {}
        self._src_key = src_ui.get("accessKeyId") or ""
        src_accounts = {
            a
            for a in (
                src_ui.get("accountId"),
                src.get("recipientAccountId"),
                (src_ui.get("sessionContext") or {}).get("sessionIssuer", {}).get("accountId"),
            )
            if isinstance(a, str) and a.isdigit()
        }
        ui = self._principal(src_ui, t)
        arn_map: Dict[str, str] = {}
        if src_ui.get("arn") and ui.get("arn"):
            arn_map[src_ui["arn"]] = ui["arn"]
        issuer = (src_ui.get("sessionContext") or {}).get("sessionIssuer") or {}
        new_issuer = (ui.get("sessionContext") or {}).get("sessionIssuer") or {}
        if issuer.get("arn") and new_issuer.get("arn"):
            arn_map[issuer["arn"]] = new_issuer["arn"]
        if src_ui.get("userName") and ui.get("userName") and len(src_ui["userName"]) > 3:
            arn_map["user/" + src_ui["userName"]] = "user/" + ui["userName"]
        source = src["eventSource"]
        name = src["eventName"]
        region = service_region(source, region_override or self._region(src.get("awsRegion")))
        if src.get("awsRegion") and src["awsRegion"] not in self.region_map:
            self.region_map[src["awsRegion"]] = region
        body: Dict[str, Any] = {}
        for k in (
            "requestParameters",
            "responseElements",
            "additionalEventData",
            "resources",
            "errorMessage",
            "serviceEventDetails",
        ):
            if src.get(k) is not None:
                body[k] = src[k]
        if body:
            body = json.loads(self._subst_text(json.dumps(body), src_accounts, arn_map))
        src_ip = str(src.get("sourceIPAddress") or "")
        if _SERVICE_VALUE.match(src_ip):
            ip = src_ip
        elif self.spec.own_context:
            ip = v.ips[0] if rng.random() < 0.8 else rng.choice(v.ips)
        else:
            ip = self.ips[0] if len(self.ips) == 1 or rng.random() < 0.7 else rng.choice(self.ips)
        src_ua = str(src.get("userAgent") or "")
        console = self.scenario == "compromised-console"
        if _SERVICE_VALUE.match(src_ua) and not src_ua.startswith("console."):
            ua = src_ua
        elif console:
            ua = (
                self.browser_ua
                if not src_ua.startswith(("console.", "AWS Internal", "[S3Console"))
                else src_ua
            )
        elif self.scenario == "external-probe" and src_ua and not _GIVEAWAY.search(src_ua):
            ua = src_ua
        elif self.spec.own_context:
            agent = v.alt_agent if v.alt_agent is not None and rng.random() < 0.3 else v.agent
            ua = agent.ua(source, name)
        else:
            ua = self.agent.ua(source, name)
        rec: Dict[str, Any] = {
            "eventVersion": "",
            "userIdentity": ui,
            "eventTime": iso(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
        }
        keep_error = bool(src.get("errorCode")) and (
            self.scenario == "recon-burst"
            or not str(src.get("scenario", "")).startswith("traildiscover:")
            or rng.random() < 0.3
        )
        if keep_error:
            # TrailDiscover recorded most calls failing in its test account; replays mostly succeed instead so
            # "AccessDenied" stays a behaviour signal, not a property of the attack data set.
            rec["errorCode"] = src["errorCode"]
            if body.get("errorMessage"):
                rec["errorMessage"] = body["errorMessage"]
        rec["requestParameters"] = body.get("requestParameters")
        rec["responseElements"] = None if src.get("errorCode") else body.get("responseElements")
        if "additionalEventData" in body and source in ("s3.amazonaws.com", "signin.amazonaws.com"):
            rec["additionalEventData"] = body["additionalEventData"]
            if isinstance(rec["additionalEventData"], dict) and "x-amz-id-2" in rec["additionalEventData"]:
                rec["additionalEventData"]["x-amz-id-2"] = "%x" % rng.getrandbits(200)
        elif source == "s3.amazonaws.com":
            rec["additionalEventData"] = s3_additional(rng)
        rec["requestID"] = s3_request_id(rng) if source == "s3.amazonaws.com" else uuid4(rng)
        rec["eventID"] = uuid4(rng)
        ro = src.get("readOnly")
        rec["readOnly"] = ro if isinstance(ro, bool) else read_only(name)
        if "resources" in body:
            rec["resources"] = body["resources"]
        data = name in DATA_EVENT_NAMES or src.get("eventCategory") == "Data"
        rec["eventType"] = src.get("eventType") or "AwsApiCall"
        if "serviceEventDetails" in body:
            rec["serviceEventDetails"] = body["serviceEventDetails"]
        rec["managementEvent"] = not data
        rec["recipientAccountId"] = v.account
        if src.get("sharedEventID"):
            rec["sharedEventID"] = uuid4(rng)
        rec["eventVersion"] = event_version(source, data)
        rec["eventCategory"] = "Data" if data else "Management"
        if not _SERVICE_VALUE.match(ip):
            rec["tlsDetails"] = tls_details(source, region, self.tls)
        if console and ui.get("type") in ("IAMUser", "AssumedRole"):
            rec["sessionCredentialFromConsole"] = "true"
        rec.update(self._labels(tid))
        return rec


def _set_error(rec: Dict[str, Any], code: str, msg: str) -> None:
    """Insert errorCode/errorMessage where AWS puts them (after userAgent) keeping key order."""
    items = list(rec.items())
    rec.clear()
    for k, val in items:
        rec[k] = val
        if k == "userAgent":
            rec["errorCode"] = code
            rec["errorMessage"] = msg
    rec["responseElements"] = None


def _epoch(text: Any) -> Optional[float]:
    if not isinstance(text, str) or len(text) < 19:
        return None
    import calendar
    import time as _t

    try:
        return float(calendar.timegm(_t.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def _ar_ui(
    account: str, role: str, pid: str, session: str, key: str, since: float, ec2: bool = False
) -> Dict[str, Any]:
    path = ""
    if "/" in role:
        path, role = role.rsplit("/", 1)
        path += "/"
    ctx: Dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": pid,
            "arn": f"arn:aws:iam::{account}:role/{path}{role}",
            "accountId": account,
            "userName": role,
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": iso(since), "mfaAuthenticated": "false"},
    }
    if ec2:
        ctx["ec2RoleDelivery"] = "2.0"
    return {
        "type": "AssumedRole",
        "principalId": f"{pid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": ctx,
    }


def _human_ui(h: Human, t: float, rng: random.Random, console: bool) -> Dict[str, Any]:
    if h.sso:
        return _ar_ui(h.account.id, h.sso_role, h.sso_role_pid, h.email, key_id(rng, "ASIA"), t)
    ui: Dict[str, Any] = {
        "type": "IAMUser",
        "principalId": h.user_pid,
        "arn": f"arn:aws:iam::{h.account.id}:user/{h.name}",
        "accountId": h.account.id,
        "accessKeyId": key_id(rng, "ASIA") if console else h.key_at(t),
        "userName": h.name,
    }
    if console:
        ui["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(t), "mfaAuthenticated": "false"},
        }
    return ui


# ------------------------------------------------------------------------------------------------ scenarios
def campaign_span(org: Org, established: bool) -> Tuple[float, float]:
    """When a campaign may start. Established-identity scenarios wait until the victim has weeks of history
    (up to 21 days, at most 60% of a short simulation), so what the model learns is "this identity, which has
    done plenty before, now does this", not "this identity is new"."""
    warm = min(org.days * 0.6, 21.0) if established else min(org.days * 0.25, 3.0)
    return org.start + warm * DAY, org.start + org.days * DAY - 0.25 * DAY


def _workday_time(c: Campaign, lo: float, hi: float, tz: float) -> float:
    """A time between local hours `lo` and `hi` on the first workday at or after the campaign's planned start."""
    org, rng = c.org, c.rng
    d0 = int((c.start - org.start) // DAY)
    for d in list(range(d0, org.days)) + list(range(d0 - 1, -1, -1)):
        day0 = org.start + d * DAY
        if (int(day0 // DAY) + 3) % 7 < 5 and d not in org.holidays:
            t = day0 + (rng.uniform(lo, hi) - tz) * 3600
            if c.earliest <= t < c.latest:
                return t
    return min(max(c.start, c.earliest), c.latest)


def _v_stolen_instance(c: Campaign) -> Victim:
    """An instance-profile or Lambda session that has run for weeks, now used from outside AWS."""
    org, rng, t = c.org, c.rng, c.start
    roles = [r for r in org.roles if r.kind in ("instance", "lambda") and r.start_day == 0]
    roles = roles or [
        r for r in org.roles if r.kind in ("instance", "lambda") and r.start_day * DAY + org.start < t
    ]
    r = rng.choice(roles) if roles else rng.choice(org.roles)
    sess = r.sessions[0] if r.sessions else instance_id(rng)
    since = t - rng.uniform(600, 5 * 3600)
    ui = _ar_ui(r.account.id, r.name, r.pid, sess, key_id(rng, "ASIA"), since, ec2=r.kind == "instance")
    kind = "instance" if r.kind == "instance" else "lambda"
    return Victim(kind, r.account.id, ui, c.ips, c.agent, "", role=r)


def _v_external(c: Campaign) -> Victim:
    acct = c.rng.choice(c.org.accounts).id
    ui = {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}
    return Victim("anonymous", acct, ui, c.ips, c.agent, "")


def _humans(c: Campaign, established: bool) -> List[Human]:
    org = c.org
    if established:
        got = [h for h in org.humans if h.start_day == 0]
        if got:
            return got
    return [h for h in org.humans if h.start_day * DAY + org.start < c.start] or list(org.humans)


def _v_insider(c: Campaign) -> Victim:
    """A person with weeks of history acting with their own identity, network and tool."""
    rng, t = c.rng, c.start
    h = rng.choice(_humans(c, True))
    ips = [h.home_ip_at(t), h.office_ip, h.vpn_ip]
    ui = _human_ui(h, t, rng, console=False)
    kind = "sso-user" if h.sso else "iam-user"
    return Victim(kind, h.account.id, ui, ips, h.agent_at(t), browser(rng, t, h.browser), human=h, tz=h.tz)


def _v_console(c: Campaign) -> Victim:
    rng, t = c.rng, c.start
    h = rng.choice(_humans(c, False))
    ui = _human_ui(h, t, rng, console=True)
    kind = "sso-user" if h.sso else "iam-user"
    return Victim(kind, h.account.id, ui, c.ips, c.agent, c.browser_ua, human=h, tz=h.tz)


def _v_leaked_key(c: Campaign) -> Victim:
    """A person's, an integration's (most leaked keys in the wild) or a forgotten user's long-term key."""
    org, rng, t = c.org, c.rng, c.start
    iam = [h for h in _humans(c, False) if not h.sso]
    svc = [r for r in org.roles if r.kind == "svc-user"]
    x = rng.random()
    if iam and x < 0.5:
        h = rng.choice(iam)
        ui = iam_user_identity(h.account.id, h.name, h.user_pid, h.key_at(t))
        return Victim("iam-user", h.account.id, ui, c.ips, c.agent, "", human=h, tz=h.tz)
    if svc and x < 0.9:
        r = rng.choice(svc)
        ui = iam_user_identity(r.account.id, r.name, r.pid, str(r.extra["key"]))
        return Victim("service-user", r.account.id, ui, c.ips, c.agent, "", role=r)
    acct = rng.choice(org.accounts)
    active = {r.name for r in svc if r.account is acct}
    user = rng.choice(
        [u for u in acct.res.users if u.startswith("svc-") and u not in active] or ["svc-legacy"]
    )
    ui = {
        "type": "IAMUser",
        "principalId": principal_id(derive_rng(org.seed, "dormant", acct.id, user), "AIDA"),
        "arn": "arn:aws:iam::%s:user/%s" % (acct.id, user),
        "accountId": acct.id,
        "accessKeyId": key_id(derive_rng(org.seed, "dormant-key", acct.id, user), "AKIA"),
        "userName": user,
    }
    return Victim("dormant-user", acct.id, ui, c.ips, c.agent, "")


_CI_OS = ("linux", "os/linux#6.5.0-1025-azure", "", "x86_64", "ubuntu.22")


def _v_ci_role_key(c: Campaign) -> Victim:
    """A CI role's session key stolen from a GitHub-hosted runner (a poisoned workflow step or dependency) and used
    from the runners' own network with the pipeline's own tools, inside or right after a real run."""
    org, rng = c.org, c.rng
    runs = [x for x in c.iac_runs if x.role is not None and c.earliest <= x.t < c.latest - 3600]
    roles = [r for r in org.roles if r.kind == "ci" and r.start_day == 0] or [
        r for r in org.roles if r.kind == "ci"
    ]
    if runs and rng.random() < 0.7:
        run = rng.choice(runs)
        role, key = run.role, run.session_key()
        c.start = run.t + rng.uniform(60, 50 * 60)  # the same job's credentials, within their hour
        since, ips = run.t, [run.ip]
    else:
        role = rng.choice(roles)
        c.start = _workday_time(c, 13, 23, 0.0)
        key, since = key_id(rng, "ASIA"), c.start - rng.uniform(60, 1800)
        ips = [ip_from(rng, "ci:github")]
    ips += [ip_from(rng, "ci:github") for _ in range(2)]
    acct = role.account.id
    provider = f"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com"
    ui = assumed_role_identity(
        acct,
        role.name,
        role.pid,
        "GitHubActions",
        key,
        since,
        web_identity={"federatedProvider": provider, "attributes": {}},
    )
    agent = ToolAgent("terraform", c.start - 3 * DAY, ("linux", "", "", "x86_64", ""))
    alt = ToolAgent("aws-cli", c.start - 10 * DAY, _CI_OS)  # a workflow step calling the CLI on the runner
    return Victim("ci-role", acct, ui, ips, agent, "", role=role, alt_agent=alt)


def _v_established_admin(c: Campaign) -> Victim:
    """An admin who runs IaC and console work, abused minutes to hours after their own run: same identity, same
    network, mostly the same tools (their CLI and the run's Terraform)."""
    org, rng = c.org, c.rng
    runs = [x for x in c.iac_runs if x.human is not None and c.earliest <= x.t < c.latest - 6 * 3600]
    if runs:
        run = rng.choice(runs)
        h, acct = run.human, run.account
        gap = rng.uniform(10 * 60, 5 * 3600)
        c.start = run.t + 600 + gap
        key = run.session_key() if gap < 50 * 60 else None
        ips = [run.ip, h.office_ip, h.vpn_ip if h.uses_vpn else h.home_ip_at(c.start)]
        alt = run.agent()
    else:
        admins = [h for h in _humans(c, True) if h.kind == "admin"] or [
            h for h in org.humans if h.kind == "admin"
        ]
        h = rng.choice(admins or org.humans)
        acct = h.account
        c.start = _workday_time(c, 10, 18, h.tz)
        key = None
        ips = [h.office_ip, h.vpn_ip if h.uses_vpn else h.home_ip_at(c.start)]
        alt = h.tool_at(c.start, "terraform")
    ui = admin_identity(h, acct, c.start, rng, key=key)
    kind = ("sso-user" if h.sso else "iam-user") if acct is h.account else "org-access"
    return Victim(
        kind,
        acct.id,
        ui,
        ips,
        h.agent_at(c.start),
        browser(rng, c.start, h.browser),
        human=h,
        tz=h.tz,
        alt_agent=alt,
    )


def _maybe_one(rng: random.Random) -> int:
    return 1 if rng.random() < 0.5 else 0


def _has_ci(org: Org) -> bool:
    return any(r.kind == "ci" for r in org.roles)


def _has_admin(org: Org) -> bool:
    return any(h.kind == "admin" for h in org.humans)


@dataclass(frozen=True)
class Scenario:
    """How one kind of attack story is planned.

    `established`: the victim identity has weeks of history before the attack (training's `established` split
    holds these out). `own_context`: the attacker acts from the victim's own networks with the victim's own tools.
    """

    victim: Callable[[Campaign], Victim]
    weight: float = 1.0
    established: bool = False
    own_context: bool = False
    extra: Callable[[random.Random], int] = _maybe_one  # techniques beyond the main one
    recon_first: float = 0.0  # chance of a few discovery calls before acting
    whoami: float = 0.0  # chance of a GetCallerIdentity first
    available: Callable[[Org], bool] = lambda org: True


SCENARIO_SPECS: Dict[str, Scenario] = {
    "leaked-key": Scenario(_v_leaked_key, recon_first=0.6, whoami=0.7),
    "stolen-instance-credentials": Scenario(
        _v_stolen_instance, established=True, recon_first=0.6, whoami=0.7
    ),
    "compromised-console": Scenario(_v_console, extra=lambda rng: 0, recon_first=0.6),
    "insider": Scenario(_v_insider, established=True, own_context=True),
    "recon-burst": Scenario(_v_leaked_key, weight=0.8, extra=lambda rng: rng.randint(8, 30), whoami=0.7),
    "slow-attack": Scenario(_v_leaked_key, extra=lambda rng: 2, recon_first=0.6, whoami=0.7),
    "external-probe": Scenario(_v_external, weight=0.4, extra=lambda rng: 0),
    "ci-role-key": Scenario(
        _v_ci_role_key, established=True, own_context=True, recon_first=0.4, whoami=0.7, available=_has_ci
    ),
    "established-admin": Scenario(
        _v_established_admin, established=True, own_context=True, recon_first=0.3, available=_has_admin
    ),
}
SCENARIOS = tuple(SCENARIO_SPECS)
# Scenarios where the attacker is an identity with weeks of history (training's `established` hold-out).
ESTABLISHED_SCENARIOS = tuple(name for name, spec in SCENARIO_SPECS.items() if spec.established)


def plan_campaigns(
    org: Org,
    seed: int,
    n: int,
    allowed: List[str],
    iac_runs: Sequence[Any] = (),
    scenarios: Sequence[str] = (),
) -> List[Campaign]:
    """Spread `n` campaigns over the period (after a warm-up so identities have a history), cycling through the
    allowed techniques so every technique is used before any repeats. `iac_runs` (planned IaC jobs) let
    established-identity campaigns strike right after their victim's own infrastructure work. `scenarios`, when
    given, are the only attack stories used (a purple team's question is often one story: "what if the admin's
    own session is abused?"); left empty, every scenario takes its turn and the plan is unchanged."""
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    if n <= 0 or not allowed:
        return []
    techs = _catalog()[0]
    rng = derive_rng(seed, "campaign-plan")
    # Scenario first (so every kind of attack story shows up), then that scenario's next technique from a
    # shuffled queue, so techniques are used evenly; external probes are rarer, as in practice.
    queues: Dict[str, List[str]] = {}
    for tid in allowed:
        for sc in scenarios_for(techs[tid]):
            queues.setdefault(sc, []).append(tid)
    used: Dict[str, int] = {}
    scen = [
        sc
        for sc in SCENARIOS
        if sc in queues and SCENARIO_SPECS[sc].available(org) and (not scenarios or sc in scenarios)
    ]
    if not scen:
        raise ValueError(
            "no campaign can be planned: scenario(s) {} fit none of the chosen techniques or this organisation "
            "(ci-role-key needs CI roles, established-admin an admin)".format(", ".join(scenarios))
        )
    out: List[Campaign] = []
    cycle: List[str] = []
    for i in range(n):
        if not cycle:
            cycle = list(scen)
            rng.shuffle(cycle)
            # weighted thinning: low-weight scenarios sit out some rounds
            cycle = [sc for sc in cycle if rng.random() < SCENARIO_SPECS[sc].weight] or cycle
        scenario = cycle.pop()
        spec = SCENARIO_SPECS[scenario]
        # the least-used compatible technique (random among ties): every technique gets its turn
        # (real multi-event detonations first among equally used ones: Stratus and OTRF runs tell whole stories)
        cands = queues[scenario]
        key = {t: (used.get(t, 0), 0 if techs[t].source in ("stratus", "otrf") else 1) for t in cands}
        low = min(key.values())
        primary = rng.choice([t for t in cands if key[t] == low])
        used[primary] = used.get(primary, 0) + 1
        chosen = [primary]
        for _ in range(spec.extra(rng)):
            cand = [
                t
                for t in allowed
                if scenario in scenarios_for(techs[t])
                and t not in chosen
                and (scenario != "recon-burst" or techs[t].tactic == "TA0007")
            ]
            if cand:
                pick_ = rng.choice(cand)
                chosen.append(pick_)
                used[pick_] = used.get(pick_, 0) + 1
        if spec.recon_first and rng.random() < spec.recon_first:
            # look around first: a few discovery calls before acting
            disc = [
                t
                for t in allowed
                if techs[t].tactic == "TA0007" and t not in chosen and scenario in scenarios_for(techs[t])
            ]
            for t in rng.sample(disc, min(len(disc), rng.randint(2, 5))):
                chosen.insert(0, t)
                used[t] = used.get(t, 0) + 1
        span_start, span_end = campaign_span(org, spec.established)
        start = rng.uniform(
            span_start, max(span_start + 1, span_end - (3 * DAY if scenario == "slow-attack" else 0))
        )
        c = Campaign(org, seed, i, chosen, scenario, start, iac_runs=iac_runs)
        c.primary = primary
        if scenario == "insider" and c.victim.human is not None and rng.random() < 0.6:
            # insiders prefer evenings and weekends in their own time zone
            day0 = start - (start % DAY)
            c.start = day0 + ((rng.uniform(20, 26)) - c.victim.tz) * 3600
            c.start = min(max(c.start, span_start), span_end)
        out.append(c)
    return out
