"""Attack replay: every technique's events are re-identified onto the org (accounts, keys, regions) and keep
the technique's API calls."""

from __future__ import annotations

import json

import pytest
from ctad.simulate import SimConfig, generate, technique_ids
from ctad.simulate.attacks import _catalog, techniques
from ctad.simulate.generator import plan


@pytest.fixture(scope="module")
def replayed():
    """One campaign per Stratus technique (44) plus the OTRF scenarios, on a small org."""
    ids = technique_ids("stratus") + technique_ids("otrf")
    cfg = SimConfig(seed=21, days=6, events=3000, campaigns=2 * len(ids), include_techniques=ids)
    p = plan(cfg)
    recs = [r for r in generate(cfg, p) if r["_label"] == 1]
    return p, recs


def test_every_included_technique_replayed(replayed) -> None:
    _p, recs = replayed
    seen = {r["_technique"] for r in recs}
    assert seen == set(technique_ids("stratus") + technique_ids("otrf"))


def test_apis_preserved(replayed) -> None:
    _p, recs = replayed
    t = techniques()
    prelude = {("sts.amazonaws.com", "GetCallerIdentity"), ("signin.amazonaws.com", "ConsoleLogin")}
    for r in recs:
        assert (r["eventSource"], r["eventName"]) in set(t[r["_technique"]].apis) | prelude


def test_reidentified_onto_org(replayed) -> None:
    p, recs = replayed
    org_accounts = {a.id for a in p.org.accounts}
    _techs, events = _catalog()
    src_accounts = set()
    for tid in technique_ids("stratus"):
        for e in events[tid]:
            ui = e.get("userIdentity") or {}
            if ui.get("accountId"):
                src_accounts.add(ui["accountId"])
    for r in recs:
        assert r["recipientAccountId"] in org_accounts
        ui = r["userIdentity"]
        if ui.get("type") != "AWSAccount":  # probes may come from other AWS accounts or anonymously
            assert ui["accountId"] in org_accounts
        text = json.dumps(r)
        assert not any(a in text for a in src_accounts), text[:300]


def test_stolen_instance_credentials_used_off_instance(replayed) -> None:
    p, recs = replayed
    by_name = {}
    for role in p.org.roles:
        by_name.setdefault(role.name, []).append(role)
    hits = [
        r
        for r in recs
        if r["_scenario"] == "stolen-instance-credentials" and r["userIdentity"].get("type") == "AssumedRole"
    ]
    victims = 0
    for r in hits:
        same = by_name.get(r["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"])
        if not same:
            continue  # a role the attacker pivoted into
        victims += 1
        assert {x.kind for x in same} <= {"instance", "lambda"}
        workload_ips = {ip for x in same for ip in x.ips}
        assert r["sourceIPAddress"] not in workload_ips  # the whole point: used from outside the workload
        session = r["userIdentity"]["arn"].rsplit("/", 1)[1]
        assert session in {x.sessions[0] for x in same}
        if same[0].kind == "instance":
            assert r["userIdentity"]["sessionContext"]["ec2RoleDelivery"] == "2.0"
    assert victims
