"""Attacks through established identities: the new scenarios appear with the right labels, and their victims have
weeks of history (and, for the admin and CI cases, their own work right before the attack)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, List, Tuple

import pytest
from ctad.simulate import SimConfig, generate, plan, technique_ids
from ctad.simulate.attacks import ESTABLISHED_SCENARIOS, SCENARIO_SPECS, SCENARIOS
from ctad.simulate.networks import POOLS
from ctad.simulate.org import DAY

NEW = ("ci-role-key", "established-admin")


@pytest.fixture(scope="module")
def run() -> Tuple[Any, List[Dict[str, Any]]]:
    cfg = SimConfig(seed=11, days=14, events=30_000, campaigns=36)
    p = plan(cfg)
    return p, list(generate(cfg, p))


def test_registry() -> None:
    assert set(NEW) <= set(SCENARIOS)
    assert set(ESTABLISHED_SCENARIOS) == {
        "ci-role-key",
        "established-admin",
        "insider",
        "stolen-instance-credentials",
    }
    assert all(SCENARIO_SPECS[s].own_context for s in ("ci-role-key", "established-admin", "insider"))


def test_new_scenarios_appear_with_labels(run) -> None:
    _p, recs = run
    ids = set(technique_ids())
    by_scenario: Dict[str, set] = {}
    for r in recs:
        if r["_label"] == 1:
            by_scenario.setdefault(r["_scenario"], set()).add(r["_campaign"])
            assert r["_technique"] in ids
            assert re.fullmatch(r"c\d{4}-[0-9a-f]{6}", r["_campaign"])
    for sc in NEW:
        assert by_scenario.get(sc), f"no {sc} campaign"


def _history(recs: List[Dict[str, Any]], campaign) -> List[Dict[str, Any]]:
    """Benign records of the campaign's victim identity (a person in any account, or a role's sessions)."""
    v = campaign.victim
    if v.human is not None:
        h = v.human
        arns = {h.arn}
        suffix = "/OrganizationAccountAccessRole/" + h.name
        return [
            r
            for r in recs
            if r["_label"] == 0
            and (
                r["userIdentity"].get("arn") in arns or str(r["userIdentity"].get("arn", "")).endswith(suffix)
            )
        ]
    role_arn = v.role.arn
    return [
        r
        for r in recs
        if r["_label"] == 0
        and r["userIdentity"].get("sessionContext", {}).get("sessionIssuer", {}).get("arn") == role_arn
    ]


def _epoch(text: str) -> float:
    import calendar
    import time

    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def test_established_victims_have_weeks_of_history(run) -> None:
    p, recs = run
    checked = 0
    for c in p.campaigns:
        if c.scenario not in ESTABLISHED_SCENARIOS:
            continue
        attack = [r for r in recs if r["_campaign"] == c.id]
        if not attack:
            continue
        first = _epoch(attack[0]["eventTime"])
        before = [r for r in _history(recs, c) if _epoch(r["eventTime"]) < first]
        assert len(before) >= 20, (c.id, c.scenario, len(before))
        # history reaches back most of the simulated period (0.6 x 14 days here), not just the last hours
        assert first - _epoch(before[0]["eventTime"]) >= 0.5 * p.org.days * DAY, (c.id, c.scenario)
        checked += 1
    assert checked >= 8


def test_admin_attack_follows_own_iac_run(run) -> None:
    p, recs = run
    runs = p.workloads["iac"]
    campaigns = [c for c in p.campaigns if c.scenario == "established-admin"]
    assert campaigns
    for c in campaigns:
        attack = [r for r in recs if r["_campaign"] == c.id]
        first = _epoch(attack[0]["eventTime"])
        own = [x for x in runs if x.human is c.victim.human and 0 < first - x.t <= 6 * 3600]
        assert own, c.id  # minutes to hours after the admin's own IaC work
        # same identity block as the run's session, from the admin's own networks
        ips = set(c.victim.ips)
        assert sum(r["sourceIPAddress"] in ips for r in attack) >= 0.7 * len(attack)


def _in_pool(ip: str, kind: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(c) for c in POOLS[kind])


def test_ci_role_key_from_runner_network_and_tools(run) -> None:
    p, recs = run
    campaigns = [c for c in p.campaigns if c.scenario == "ci-role-key"]
    assert campaigns
    for c in campaigns:
        attack = [
            r for r in recs if r["_campaign"] == c.id and r["userIdentity"].get("arn") == c.victim.ui["arn"]
        ]
        assert attack
        assert c.victim.ui["arn"].endswith("/GitHubActions")
        off_pool = [r["sourceIPAddress"] for r in attack if not _in_pool(r["sourceIPAddress"], "ci:github")]
        assert not [ip for ip in off_pool if not ip.endswith(".amazonaws.com") and ip != "AWS Internal"]
        tools = {("Terraform/" in r["userAgent"]) or r["userAgent"].startswith("aws-cli/") for r in attack}
        assert tools == {True}
        # the role's own pipeline runs the same day (the attack hides among them)
        first = _epoch(attack[0]["eventTime"])
        near = [r for r in _history(recs, c) if abs(_epoch(r["eventTime"]) - first) < DAY]
        assert near
