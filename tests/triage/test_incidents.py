"""Triage works on entity incidents: one chain per `ct_incident`, whole incidents under the cap, the incident's
score and techniques in the agents' context, and a forged incident id in a lookup row joins nothing."""

from __future__ import annotations

import pytest
from ctad.knowledge import KnowledgeBase
from ctad.triage.engine import Triage, TriageConfig
from ctad.triage.evidence import Alert, build_context, group_alerts, read_event
from ctad.triage.reference import Reference

INCIDENT = "ctad-0123456789abcdef"
OTHER = "ctad-fedcba9876543210"


def offline(tmp_path, **kw):
    return Triage(TriageConfig(backend="offline", **kw), knowledge=KnowledgeBase(tmp_path / "kb.sqlite"))


def incident_rows(make_row, incident=INCIDENT, user="ci-deployer", scores=(12, 40, 81)):
    """Recon, a new key, logging off: three techniques by one identity, one incident whose score grows."""
    steps = [("ListUsers", "iam.amazonaws.com", "T1087.004", "TA0007"),
             ("CreateAccessKey", "iam.amazonaws.com", "T1098.001", "TA0003"),
             ("StopLogging", "cloudtrail.amazonaws.com", "T1562.008", "TA0005")]  # fmt: skip
    rows = []
    for i, ((name, source, technique, tactic), score) in enumerate(zip(steps, scores)):
        row = make_row(
            name=name, source=source, technique=technique, tactic=tactic, user=user, i=i * 10, score=0.6
        )
        row.update(ct_incident=incident, ct_incident_score=score, ct_risk=score,
                   ct_incident_severity="critical" if score >= 75 else "medium")  # fmt: skip
        rows.append(row)
    return rows


def alerts(rows):
    return [Alert(i, r, *read_event(r)) for i, r in enumerate(rows)]


def test_one_group_per_incident_whatever_its_techniques(make_row, tmp_path):
    rows = incident_rows(make_row)
    groups = group_alerts(alerts(rows))
    assert len(groups) == 1 and groups[0].size == 3
    build_context(groups[0], _index(rows), Reference.load())
    ctx = groups[0].context["incident"]
    assert ctx == {"id": INCIDENT, "score": 81, "severity": "critical",
                   "techniques": ["T1087.004", "T1098.001", "T1562.008"], "tactics": ["TA0003", "TA0005", "TA0007"]}  # fmt: skip

    eng = offline(tmp_path)
    out = eng.run(rows)
    assert eng.stats.groups == 1
    assert len({(r["triage_verdict"], r["triage_summary"]) for r in out}) == 1  # one answer for the incident

    legacy = [{k: v for k, v in r.items() if not k.startswith("ct_incident")} for r in rows]
    assert len(group_alerts(alerts(legacy))) == 3  # without incidents: bursts by technique, as before


@pytest.mark.parametrize(
    "forged", ["ctad-0123", "CTAD-0123456789ABCDEF", "x" * 5000, "ctad-0123456789abcdef\n"]
)
def test_a_forged_incident_id_does_not_join_rows(make_row, forged):
    rows = incident_rows(make_row, incident=forged)
    assert len(group_alerts(alerts(rows))) == 3
    rows[0]["ct_incident_score"] = "1e999"  # attacker-written: bounded, never an error
    build_context(group_alerts(alerts(rows))[0], _index(rows), Reference.load())


def test_the_cap_keeps_whole_incidents_strongest_first_in_any_order(make_row, tmp_path):
    strong = incident_rows(make_row, scores=(30, 60, 90))
    weak = incident_rows(make_row, incident=OTHER, user="intern", scores=(5, 10, 20))
    loud = make_row(name="DeleteTrail", user="loner", i=55, score=0.99)  # no incident, but a higher ct_score
    for r in weak:
        r["ct_score"] = 0.95
    rows = weak + [loud] + strong
    for order in (rows, list(reversed(rows))):
        out = offline(tmp_path, max_rows=3).run(order)
        triaged = {r["eventID"] for r in out if r["triage_verdict"]}
        assert triaged == {r["eventID"] for r in strong}
        capped = [r for r in out if r["triage_error"].startswith("not triaged: over max_rows")]
        assert len(capped) == 4


def _index(rows):
    from ctad.triage.evidence import RunIndex

    index = RunIndex()
    for r in rows:
        index.add(read_event(r)[0], True)
    return index
