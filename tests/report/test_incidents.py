"""The report leads with entity incidents: one row per incident (strongest first, whatever the input order), each
with its identity, score, severity, actions, techniques and time span; forged incident ids join nothing."""

from __future__ import annotations

import random

from ctad.report.aggregate import Aggregator
from ctad.report.render import build_report

A, B = "ctad-00000000000000aa", "ctad-00000000000000bb"
ALICE = "arn:aws:iam::123456789012:user/alice"
CI = "arn:aws:iam::123456789012:role/<b>ci</b>"


def row(i, incident, identity, name, score, sev, technique, anomaly=1, **extra):
    out = {"eventTime": f"2024-05-01T10:{i:02d}:00Z", "eventID": f"e{i}", "eventSource": "iam.amazonaws.com",
           "eventName": name, "ct_score": 0.9, "ct_anomaly": anomaly, "ct_severity": "high" if anomaly else "",
           "ct_reasons": ["why"] if anomaly else [], "ct_risk": 40 if anomaly else 0, "ct_incident": incident,
           "ct_incident_score": score, "ct_incident_severity": sev, "ct_tactic": "TA0003" if technique else "",
           "ct_technique": technique, "ct_identity": identity, "ct_model": "m", "ct_error": ""}  # fmt: skip
    out.update(extra)
    return out


def rows():
    return [
        row(1, A, ALICE, "ListUsers", 20, "low", "T1087.004"),
        row(2, B, CI, "CreateAccessKey", 70, "high", "T1098.001"),
        row(3, A, ALICE, "CreateLoginProfile", 55, "high", "T1098"),
        row(4, B, CI, "StopLogging", 91, "critical", "T1562.008", triage_verdict="true_positive"),
        row(5, "", ALICE, "ListRoles", 0, "", "", anomaly=0),
        row(6, "ctad-<script>x</script>", ALICE, "GetUser", 99, "critical", ""),  # forged: joins nothing
        row(7, A, ALICE, "ListUsers", 55, "high", "T1087.004"),
    ]


def summary(agg):
    d = agg.finish()
    return [(i.id, i.identity, i.score, i.severity, i.events, i.first, i.last, i.api_list, i.technique_list,
             i.verdict_list) for i in d.incidents], d.incidents_total  # fmt: skip


def test_incidents_are_the_same_in_any_order():
    seen = set()
    for seed in range(6):
        shuffled = rows()
        random.Random(seed).shuffle(shuffled)
        agg = Aggregator()
        agg.add_all(shuffled)
        got = summary(agg)
        seen.add(repr(got))
    assert len(seen) == 1
    incidents, total = got
    assert total == 2
    (b_id, b_who, b_score, b_sev, b_n, *_), (a_id, _, a_score, a_sev, a_n, _, _, a_apis, a_tech, _) = (
        incidents
    )
    assert (b_id, b_who, b_score, b_sev, b_n) == (B, CI, 91, "critical", 2)
    assert (a_id, a_score, a_sev, a_n) == (A, 55, "high", 3)
    assert a_apis == ["ListUsers", "CreateLoginProfile"] and a_tech == ["T1087.004", "T1098"]
    assert incidents[0][9] == ["true_positive"]


def test_report_shows_incidents_before_the_timeline_and_the_rows():
    html, data = build_report(((r, "", f"fixture:{i}") for i, r in enumerate(rows())), top_n=50)
    assert data.incidents_total == 2
    assert html.index('id="incidents"') < html.index('id="timeline"') < html.index('id="anomalies"')
    section = html[html.index('id="incidents"') : html.index('id="timeline"')]
    assert section.count('<tr class="incident">') == 2
    assert section.index(B) < section.index(A)  # strongest first
    assert "&lt;b&gt;ci&lt;/b&gt;" in section and "<b>ci</b>" not in section  # identity is text
    assert "ctad-&lt;script" not in html and "<script>" not in html
    assert "in 2 incidents" in html
    assert f"incident {A}" in html  # each anomaly row names its incident


def test_no_incident_section_without_incidents():
    html, data = build_report((r, "", "") for r in [row(1, "", ALICE, "ListUsers", 0, "", "", anomaly=0)])
    assert data.incidents == [] and 'id="incidents"' not in html
