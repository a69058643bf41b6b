"""Knowledge priors, calibration and incidents: the rules `ctad.core.scoring` and `ctad.core.incidents` promise."""

from __future__ import annotations

import math
import random

import pytest
from ctad.core.features import FEATURE_INDEX, FEATURE_NAMES
from ctad.core.incidents import IncidentTracker, event_risk, incident_severity
from ctad.core.scoring import calibrate, combine, final_scores, prior, shift_for


def row(**values: float) -> list:
    r = [0.0] * len(FEATURE_NAMES)
    for name, value in values.items():
        r[FEATURE_INDEX[name]] = value
    return r


def test_high_impact_first_time_gets_a_prior_whatever_the_identity_busyness():
    quiet = row(req_logging_off=1, impact=5, id_log_events=math.log1p(3))
    busy = row(
        req_logging_off=1, impact=5, id_log_events=math.log1p(1_000_000), id_rate_1h=5000, id_age_days=400
    )
    assert prior(quiet) == prior(busy) == pytest.approx(0.9)


def test_only_this_very_action_done_routinely_lowers_the_prior():
    first = prior(row(req_cross_account=1, impact=5))
    once = prior(row(req_cross_account=1, impact=5, id_action_log_count=math.log1p(1)))
    often = prior(row(req_cross_account=1, impact=5, id_action_log_count=math.log1p(99)))
    assert first > once > often > 0
    assert once == pytest.approx(first / 2)


def test_no_prior_below_high_impact_and_hostile_numbers_are_safe():
    assert prior(row(api_risk=3, impact=3)) == 0.0
    assert prior(row(api_risk=5, impact=5)) == pytest.approx(0.6)
    for bad in (float("nan"), float("inf"), -float("inf"), 1e308, -1e308):
        r = row(req_public=1, impact=5, id_action_log_count=bad)
        assert 0.0 <= prior(r) <= 0.9
        r = row(req_public=bad, impact=bad, api_risk=bad)
        assert 0.0 <= prior(r) <= 0.9


def test_calibration_puts_the_threshold_at_one_half_and_keeps_the_ranking():
    thr = 0.0079
    shift = shift_for(thr)
    assert calibrate(thr, shift) == pytest.approx(0.5)
    rng = random.Random(1)
    ps = sorted(rng.random() ** 6 for _ in range(500))
    cal = [calibrate(p, shift) for p in ps]
    assert cal == sorted(cal) and all(0.0 <= c <= 1.0 for c in cal)
    assert math.isnan(calibrate(float("nan"), shift))
    assert calibrate(0.0, 30.0) <= 1.0 and calibrate(1.0, -30.0) >= 0.0


def test_final_scores_noisy_or():
    r = row(req_logging_off=1, impact=5)
    assert combine(0.1, 0.9) == pytest.approx(0.91)
    assert final_scores([0.1], [r], 0.0) == [pytest.approx(0.91)]
    assert math.isnan(final_scores([float("nan")], [r], 0.0)[0])


def test_incidents_group_by_identity_with_gaps_and_are_causal():
    tr = IncidentTracker(gap=1800)
    a1 = tr.add("role/ci", 1000.0, "e1", "ec2:DescribeInstances", 20)
    a2 = tr.add("role/ci", 2000.0, "e2", "cloudtrail:StopLogging", 99)
    b1 = tr.add("user/bob", 2100.0, "e3", "s3:ListBuckets", 10)
    a3 = tr.add("role/ci", 2000.0 + 1801, "e4", "ec2:DescribeInstances", 20)  # gap too long: a new incident
    assert a1[0] == a2[0] != b1[0] and a3[0] != a1[0]
    assert a1[1] == 20 and a2[1] == round(100 * (1 - 0.8 * 0.01)) and a2[2] == "critical"
    assert a3[1] == 20 and a3[2] == "low"


def test_a_burst_of_one_call_counts_once():
    tr = IncidentTracker()
    scores = [tr.add("r", 10.0 + i, f"e{i}", "ec2:GetPasswordData", 30)[1] for i in range(29)]
    assert scores == [30] * 29


def test_incident_ids_are_stable_and_risk_is_bounded():
    one = IncidentTracker().add("r", 5.0, "e", "a:b", 10)[0]
    assert one == IncidentTracker().add("r", 5.0, "e", "a:b", 50)[0] and one.startswith("ctad-")
    assert event_risk("informational", 0.9) == 0
    assert event_risk("critical", float("nan")) == 0
    assert 1 <= event_risk("low", 0.0) <= event_risk("critical", 5.0) == 100
    assert [incident_severity(s) for s in (0, 25, 50, 75, 100)] == [
        "low",
        "medium",
        "high",
        "critical",
        "critical",
    ]
