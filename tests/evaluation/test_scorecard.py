"""The scorecard's pure-Python metrics and incident grouping, held to scikit-learn and to hand-worked cases."""

from __future__ import annotations

import random

import pytest
from ctad.core.incidents import ALERT_INCIDENT_SCORE
from ctad.evaluation.scorecard import (
    FileScore,
    Flagged,
    average_precision,
    incidents_by_identity,
    label_of,
    recall_at_fpr,
    roc_auc,
)


def _random_case(seed: int, n: int, levels: int, base_rate: float):
    rng = random.Random(seed)
    labels = [1 if rng.random() < base_rate else 0 for _ in range(n)]
    labels[0], labels[1] = 0, 1  # both classes, whatever the draw
    scores = [rng.randrange(levels) / levels for _ in range(n)]  # few levels: many ties
    return labels, scores


CASES = [(seed, n, levels, rate) for seed, (n, levels, rate) in enumerate(
    [(40, 3, 0.5), (300, 7, 0.1), (2000, 50, 0.02), (2000, 2000, 0.3), (5000, 11, 0.005)])]  # fmt: skip


@pytest.mark.parametrize("seed,n,levels,rate", CASES)
def test_metrics_equal_sklearn_on_random_data_with_ties(seed, n, levels, rate):
    metrics = pytest.importorskip("sklearn.metrics")
    labels, scores = _random_case(seed, n, levels, rate)
    assert roc_auc(labels, scores) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(
        metrics.average_precision_score(labels, scores), abs=1e-12
    )
    fpr, tpr, _ = metrics.roc_curve(labels, scores, drop_intermediate=False)
    for max_fpr in (0.0, 0.01, 0.1, 0.5, 1.0):
        expected = max(t for f, t in zip(fpr, tpr) if f <= max_fpr)
        assert recall_at_fpr(labels, scores, max_fpr) == pytest.approx(expected, abs=1e-12), max_fpr


def test_hand_worked_values():
    # Scores 0.9 (attack), 0.5 (attack, benign tied), 0.1 (benign): the tie counts one half.
    labels, scores = [1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]
    assert roc_auc(labels, scores) == pytest.approx((1 + 1 + 0.5 + 1) / 4)  # the four attack/benign pairs
    # Threshold 0.9: recall 1/2, precision 1; threshold 0.5: recall 1, precision 2/3.
    assert average_precision(labels, scores) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert recall_at_fpr(labels, scores, 0.49) == pytest.approx(0.5)  # the tie would flag a benign event
    assert recall_at_fpr(labels, scores, 0.5) == pytest.approx(1.0)


def test_missing_scores_rank_below_every_score():
    labels = [1, 0, 1, 0, 0, 1]
    with_gaps = [0.8, 0.3, None, float("nan"), 0.0, 0.3]
    floor = [0.8, 0.3, -1.0, -1.0, 0.0, 0.3]
    for metric in (roc_auc, average_precision, recall_at_fpr):
        assert metric(labels, with_gaps) == pytest.approx(metric(labels, floor))


def test_undefined_without_both_classes():
    assert roc_auc([0, 0], [0.1, 0.2]) is None
    assert average_precision([0, 0], [0.1, 0.2]) is None
    assert recall_at_fpr([1, 1], [0.1, 0.2]) is None
    with pytest.raises(ValueError):
        roc_auc([0, 1], [0.1])


def test_incidents_split_on_gaps_over_30_minutes_per_identity_whatever_the_order():
    t0 = 1_700_000_000.0
    flagged = [
        Flagged("alice", t0, False),
        Flagged("alice", t0 + 600, False),
        Flagged("alice", t0 + 600 + 1800, True),  # exactly 30 minutes later: the same incident
        Flagged("alice", t0 + 600 + 1800 + 1801, False),  # just over: a new one
        Flagged("bob", t0 + 60, False),  # another identity at the same time: its own incident
    ]
    expected = [(4 - 1, 1), (1, 0), (1, 0)]
    for seed in range(5):
        shuffled = list(flagged)
        random.Random(seed).shuffle(shuffled)
        got = [(i.events, i.attack_events) for i in incidents_by_identity(shuffled)]
        assert sorted(got, reverse=True) == expected


def _result(score, anomaly, identity="arn:aws:iam::1:user/a", error="", incident=None):
    out = {"ct_score": score, "ct_anomaly": anomaly, "ct_identity": identity, "ct_error": error}
    if incident is not None:
        out["ct_incident"] = incident
    return out


def test_engine_incidents_are_used_when_every_flagged_row_has_one():
    card = FileScore("x")
    card.add(0, "", _result(0.9, 1, incident="inc-1"), 100.0)
    card.add(1, "T1", _result(0.9, 1, incident="inc-1"), 99_999.0)  # far apart, but the engine says one
    card.add(0, "", _result(0.9, 1, incident="inc-2"), 100.0)
    card.add(0, "", _result(0.1, 0, incident=""), 100.0)
    fig = card.figures()
    assert fig["incident_grouping"] == "ct_incident"
    assert (fig["incidents"], fig["false_incidents"]) == (2, 1)

    card = FileScore("y")  # without the field: the identity/gap fallback
    card.add(0, "", _result(0.9, 1), 100.0)
    card.add(1, "T1", _result(0.9, 1), 99_999.0)
    fig = card.figures()
    assert fig["incident_grouping"].startswith("fallback")
    assert (fig["incidents"], fig["false_incidents"]) == (2, 1)


def test_error_rows_count_as_not_flagged_and_every_row_is_accounted_for():
    card = FileScore("x")
    card.add(1, "T1", _result(0.9, 1), 1.0)
    card.add(1, "T2", _result(None, 0, error="eventName is missing"), None)
    # A flag beside an error is not a hit.
    card.add(1, "T2", _result(0.99, 1, error="eventName is missing"), None)
    card.add(0, "", _result(0.2, 0), 2.0)
    card.add_unreadable("line 7: not valid JSON (bad)")
    card.add_unlabelled()
    fig = card.figures()
    assert fig["rows"] == 6 == fig["events"] + fig["unreadable_rows"] + fig["unlabelled_rows"]
    assert (fig["attack_events"], fig["benign_events"]) == (3, 1)
    assert (fig["error_rows"], fig["error_attack_rows"], fig["error_benign_rows"]) == (2, 2, 0)
    assert fig["error_messages"] == [("eventName is missing", 2)]
    assert fig["recall"] == pytest.approx(1 / 3)
    assert fig["missed_techniques"] == ["T2"]
    assert fig["roc_auc"] == pytest.approx(1 / 3)  # the two unscored attacks rank below the benign event


@pytest.mark.parametrize(
    "value,expected",
    [(0, 0), (1, 1), (True, 1), (False, 0), ("1", 1), (" 0 ", 0), (1.0, 1), (2, None), ("yes", None),
     (0.5, None), (None, None), ([1], None), (float("nan"), None), (10**400, None)],
)  # fmt: skip
def test_label_of(value, expected):
    assert label_of({"_label": value}) == expected


def _scored(score, anomaly, incident, incident_score):
    out = _result(score, anomaly, incident=incident)
    out["ct_incident_score"] = incident_score
    return out


def test_alerted_incidents_are_those_at_the_alert_line():
    """What pages the SOC: an incident whose score reached the Incident alert's line (high or critical)."""
    card = FileScore("x")
    card.add(0, "", _scored(0.9, 1, "inc-low", 20), 1.0)  # false, below the line
    card.add(0, "", _scored(0.9, 1, "inc-fp", 30), 2.0)  # false, reaches the line with its second event
    card.add(0, "", _scored(0.9, 1, "inc-fp", 55), 3.0)
    card.add(1, "T1", _scored(0.9, 1, "inc-tp", 90), 4.0)  # the attack, alerted
    card.add(
        1, "T2", _scored(0.9, 1, "inc-tp2", "49.9"), 5.0
    )  # an attack below the line (text, as Splunk sends)
    card.add(0, "", _scored(0.9, 1, "inc-odd", float("nan")), 6.0)  # no usable score: never alerted
    card.add(0, "", _scored(0.9, 1, "inc-huge", 10**400), 7.0)  # past any float: no usable score either
    fig = card.figures()
    assert fig["alert_incident_score"] == ALERT_INCIDENT_SCORE == 50
    assert (fig["incidents"], fig["false_incidents"]) == (6, 4)
    assert (fig["alerted_incidents"], fig["false_alerted_incidents"], fig["attack_incidents_alerted"]) == (
        2,
        1,
        1,
    )


def test_alerted_incidents_are_unknown_without_incident_scores():
    card = FileScore("x")
    card.add(0, "", _result(0.9, 1, incident="inc-1"), 1.0)
    fig = card.figures()
    assert fig["incidents"] == 1
    assert fig["alerted_incidents"] is None and fig["false_alerted_incidents"] is None
    empty = FileScore("y").figures()
    assert (empty["alerted_incidents"], empty["false_alerted_incidents"]) == (0, 0)
