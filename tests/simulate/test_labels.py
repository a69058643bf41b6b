"""Labels: attack events carry technique/campaign/scenario/tactic, benign events carry 0 and empty strings, and
include/exclude filters are honoured."""

from __future__ import annotations

import re

import pytest
from ctad.simulate import SimConfig, generate, technique_ids
from ctad.simulate.attacks import SCENARIOS, select_techniques, techniques

from .conftest import small_config


def test_label_fields(small_run) -> None:
    ids = set(technique_ids())
    attacks = [r for r in small_run if r["_label"] == 1]
    benign = [r for r in small_run if r["_label"] == 0]
    assert attacks and benign
    assert len(attacks) + len(benign) == len(small_run)
    for r in attacks:
        assert r["_technique"] in ids
        assert r["_scenario"] in SCENARIOS
        assert re.fullmatch(r"c\d{4}-[0-9a-f]{6}", r["_campaign"])
        assert r["_tactic"] == "" or re.fullmatch(r"TA\d{4}", r["_tactic"])
        assert r["_tactic"] == techniques()[r["_technique"]].tactic
    for r in benign:
        assert (r["_technique"], r["_scenario"], r["_campaign"], r["_tactic"]) == ("", "", "", "")
    # each campaign is one scenario and one victim account
    by_campaign = {}
    for r in attacks:
        by_campaign.setdefault(r["_campaign"], set()).add((r["_scenario"], r["recipientAccountId"]))
    assert len(by_campaign) >= 10
    assert all(len(v) == 1 for v in by_campaign.values())


def test_exclude_techniques_absent() -> None:
    stratus = technique_ids("stratus")
    excluded = stratus[:20] + ["traildiscover:*"]
    recs = list(generate(small_config(days=4, events=4000, campaigns=40, exclude_techniques=excluded)))
    seen = {r["_technique"] for r in recs if r["_label"] == 1}
    assert seen
    assert not seen & set(stratus[:20])
    assert not any(t.startswith("traildiscover:") for t in seen)


def test_include_techniques_only() -> None:
    keep = ["aws.defense-evasion.cloudtrail-stop", "aws.persistence.iam-create-admin-user"]
    recs = list(generate(small_config(days=4, events=3000, campaigns=6, include_techniques=keep)))
    seen = {r["_technique"] for r in recs if r["_label"] == 1}
    assert seen == set(keep)
    names = {r["eventName"] for r in recs if r["_technique"] == "aws.defense-evasion.cloudtrail-stop"}
    assert "StopLogging" in names


def test_scenarios_only() -> None:
    """One attack story on request (a purple team's question); the default plan is untouched by the option."""
    only = ["established-admin", "insider"]
    cfg = small_config(days=8, events=6000, campaigns=6, include_techniques=["aws.*"], scenarios=only)
    attacks = [r for r in generate(cfg) if r["_label"] == 1]
    assert attacks and {r["_scenario"] for r in attacks} <= set(only)
    assert {r["_technique"] for r in attacks} <= set(technique_ids("stratus"))
    default = small_config(days=4, events=3000, campaigns=6)
    assert list(generate(default)) == list(
        generate(small_config(days=4, events=3000, campaigns=6, scenarios=[]))
    )


def test_unknown_or_impossible_scenario_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        list(generate(small_config(days=2, events=1000, campaigns=1, scenarios=["nope"])))
    # external probes only ever replay the honeybucket discovery: no Stratus technique fits them
    with pytest.raises(ValueError, match="no campaign can be planned"):
        list(generate(small_config(days=2, events=1000, campaigns=1, scenarios=["external-probe"],
                                   include_techniques=["aws.*"])))  # fmt: skip


def test_no_attacks_flag() -> None:
    recs = list(generate(SimConfig(seed=3, days=2, events=2000, attacks=False)))
    assert recs and all(r["_label"] == 0 for r in recs)


def test_unknown_technique_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown technique"):
        select_techniques(include=["aws.not-a-technique"])


def test_technique_catalogue() -> None:
    t = techniques()
    assert len(technique_ids("stratus")) == 44
    assert len(technique_ids("traildiscover")) > 300
    assert technique_ids("otrf") == ["otrf:ec2-proxy-s3-exfiltration", "otrf:s3-honeybucket-discovery"]
    assert t["aws.defense-evasion.cloudtrail-stop"].tactic == "TA0005"
    assert ("cloudtrail.amazonaws.com", "StopLogging") in t["aws.defense-evasion.cloudtrail-stop"].apis
    # Panther rules that only monitor routine operations are not replayed as attacks
    assert "panther:AWS.ECR.CRUD" not in t
