"""`SimConfig` and `generate(config)`: merge every actor's stream and the attack campaigns into one time-ordered,
labelled record stream.

Memory stays flat: each actor generator holds one session; the merge heap holds one pending record per actor;
campaigns are small and materialised up front. Rates are calibrated from each actor's expected events per day so
the total lands near `events` without a pilot run.
"""

from __future__ import annotations

import calendar
import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ctad.simulate.actors import HumanActor, RoleActor, Stream, org_admin_stream, root_stream
from ctad.simulate.attacks import plan_campaigns, select_techniques
from ctad.simulate.org import DAY, Org, build_org
from ctad.simulate.workloads import WORKLOADS

# Organisation-wide streams that are neither one person nor one role (name -> stream factory).
ORG_STREAMS: Dict[str, Callable[[Org, int], Stream]] = {
    "org-admin": org_admin_stream,
    "root": root_stream,
}

# Expected events/day of the base org (3 accounts, 12 people, ...); used to size an org when counts are auto.
_BASE_PER_DAY = 11000.0


@dataclass
class SimConfig:
    """Parameters of one simulation. Same config (including seed) -> byte-identical output.

    Counts left as None are sized from `events` (a bigger target means a bigger organisation, not just busier
    people). `campaigns` None means `campaigns_per_day * days` (at least 1 when attacks are on).
    """

    seed: int = 7
    start: str = "2024-03-04"  # UTC date (a Monday); simulation starts at 00:00Z
    days: int = 14
    events: Optional[int] = 100_000  # approximate benign target; None = natural rates of the org
    accounts: Optional[int] = None
    humans: Optional[int] = None
    ci_roles: Optional[int] = None
    instances: Optional[int] = None
    functions: Optional[int] = None
    scanners: Optional[int] = None
    attacks: bool = True
    campaigns: Optional[int] = None
    campaigns_per_day: float = 0.6
    include_techniques: Sequence[str] = field(default_factory=list)
    exclude_techniques: Sequence[str] = field(default_factory=list)
    scenarios: Sequence[str] = field(default_factory=list)  # only these attack stories (empty: all of them)

    def start_epoch(self) -> float:
        try:
            return float(calendar.timegm(time.strptime(self.start[:10], "%Y-%m-%d")))
        except ValueError as exc:
            raise ValueError(f"SimConfig.start must be a date like 2024-03-04, got {self.start!r}") from exc

    def validate(self) -> None:
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.events is not None and self.events < 0:
            raise ValueError("events must be >= 0")
        for name in ("accounts", "humans", "ci_roles", "instances", "functions", "scanners", "campaigns"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.accounts is not None and self.accounts < 1:
            raise ValueError("accounts must be >= 1")


@dataclass
class Plan:
    """What `generate` will run: the org, per-actor rates and the campaigns (inspectable before generating)."""

    org: Org
    humans: List[HumanActor]
    roles: List[RoleActor]
    campaigns: list
    allowed_techniques: List[str]
    expected_benign: float
    workloads: Dict[str, list] = field(default_factory=dict)  # planned jobs per registered workload


def _sizes(cfg: SimConfig) -> Dict[str, int]:
    per_day = (cfg.events / cfg.days) if cfg.events else _BASE_PER_DAY
    m = max(0.25, per_day / _BASE_PER_DAY)
    grow = max(1.0, m) ** 0.6  # a 100x busier org is ~16x bigger and its machines ~6x busier
    auto = {
        "accounts": max(1, min(40, round(3 * grow**0.5))),
        "humans": max(3, min(3000, round(12 * grow))),
        "ci_roles": None,
        "instances": max(1, min(2000, round(5 * grow))),
        "functions": max(1, min(2000, round(5 * grow))),
        "scanners": 1 if grow < 4 else 2,
    }
    out = {}
    for k, v in auto.items():
        given = getattr(cfg, k)
        out[k] = int(given) if given is not None else v  # type: ignore[assignment]
    if out["ci_roles"] is None:
        out["ci_roles"] = out["accounts"]
    return out


def plan(cfg: SimConfig) -> Plan:
    cfg.validate()
    start = cfg.start_epoch()
    s = _sizes(cfg)
    org = build_org(
        cfg.seed,
        start,
        cfg.days,
        s["accounts"],
        s["humans"],
        s["ci_roles"],
        s["instances"],
        s["functions"],
        s["scanners"],
    )
    humans = [HumanActor(h, org, cfg.seed, 1.0) for h in org.humans]
    roles = [RoleActor(r, org, cfg.seed, 1.0) for r in org.roles]
    per_day = (cfg.events / cfg.days) if cfg.events is not None else _BASE_PER_DAY
    # scheduled jobs (IaC runs, bulk reads) keep their realistic size; people and machines fill the rest
    jobs = {name: list(planner(org, cfg.seed, per_day)) for name, planner in WORKLOADS.items()}
    fixed = sum(j.expected_events() for js in jobs.values() for j in js) / cfg.days
    h_exp = sum(a.expected_per_day() for a in humans)
    m_exp = sum(a.expected_per_day() for a in roles)
    total = h_exp + m_exp
    if cfg.events is not None:
        target = max(per_day - fixed, 0.5 * per_day)
        h_rate = min(1.5, max(0.6, target / max(total, 1.0)))
        m_rate = max(0.01, (target - h_exp * h_rate) / max(m_exp, 1.0))
        for a in humans:
            a.rate = h_rate
        for a in roles:
            a.rate = m_rate
        total = h_exp * h_rate + m_exp * m_rate
    allowed: List[str] = []
    campaigns: list = []
    if cfg.attacks:
        allowed = select_techniques(cfg.include_techniques, cfg.exclude_techniques)
        n = (
            cfg.campaigns
            if cfg.campaigns is not None
            else max(1, int(round(cfg.campaigns_per_day * cfg.days)))
        )
        campaigns = plan_campaigns(
            org, cfg.seed, n, allowed, iac_runs=jobs.get("iac", ()), scenarios=cfg.scenarios
        )
    return Plan(org, humans, roles, campaigns, allowed, (total + fixed) * cfg.days, jobs)


def _campaign_stream(campaigns: list, allowed: set) -> Iterator[Tuple[float, Dict[str, Any]]]:
    recs: List[Tuple[float, int, Dict[str, Any]]] = []
    n = 0
    for c in campaigns:
        for t, r in c.records(allowed):
            recs.append((t, n, r))
            n += 1
    recs.sort(key=lambda x: (x[0], x[1]))
    for t, _n, r in recs:
        yield t, r


def generate(config: SimConfig, plan_: Optional[Plan] = None) -> Iterator[Dict[str, Any]]:
    """Time-ordered CloudTrail records (dicts) with `_label`/`_technique`/`_scenario`/`_campaign`/`_tactic`.

    Nested objects may be shared between records of one session: copy a record before mutating it.
    """
    p = plan_ or plan(config)
    org = p.org
    end = org.start + org.days * DAY
    streams: List[Iterator[Tuple[float, Dict[str, Any]]]] = [a.stream() for a in p.humans]
    streams += [a.stream() for a in p.roles]
    streams += [make(org, config.seed) for make in ORG_STREAMS.values()]
    streams += [job.stream() for js in p.workloads.values() for job in js]
    if p.campaigns:
        streams.append(_campaign_stream(p.campaigns, set(p.allowed_techniques)))
    heap: List[Tuple[float, int, Dict[str, Any]]] = []
    for i, s in enumerate(streams):
        for t, rec in s:
            heap.append((t, i, rec))
            break
    heapq.heapify(heap)
    replace, pop = heapq.heapreplace, heapq.heappop
    last = -math.inf
    begin = org.start
    while heap:
        t, i, rec = heap[0]
        if t >= end:
            pop(heap)
            continue
        if t >= begin:
            last = t
            yield rec
        nxt = next(streams[i], None)
        if nxt is None:
            pop(heap)
        else:
            nt, nrec = nxt
            if nt < last:  # streams are sorted; guard anyway so output order is never violated
                nt = last
                nrec["eventTime"] = rec["eventTime"]
            replace(heap, (nt, i, nrec))
