"""Entity incidents continue across runs: scheduled `ctad detect --baseline B --update-baseline` runs over
consecutive time windows give every row the incident fields one run over the whole span gives (issue #10 item 3).

The baseline carries the open incidents (`Profile.open_incidents`); the state is untrusted, so a garbled one warns
and is ignored, and every row still comes out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from ctad.cli import main
from ctad.core.incidents import IncidentTracker, read_open_incidents
from ctad.core.profile import Profile

THRESHOLD = "0.1"  # dozens of anomalies in two simulated days
GAP = "120"  # minutes: long enough that incidents run across the window boundaries below
INCIDENT_FIELDS = ("ct_incident", "ct_incident_score", "ct_incident_severity")


@pytest.fixture(scope="module")
def records() -> List[Dict[str, Any]]:
    from ctad.simulate import SimConfig, generate

    recs = [
        {k: v for k, v in r.items() if not k.startswith("_")}
        for r in generate(SimConfig(seed=5, days=2, events=1500, campaigns=5))
    ]
    return sorted(recs, key=lambda r: (r["eventTime"], r["eventID"]))


def detect(rows: Sequence[Dict[str, Any]], tmp: Path, name: str, *extra: str) -> List[Dict[str, Any]]:
    src, out = tmp / f"{name}.jsonl", tmp / f"{name}.out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["detect", str(src), "-o", str(out), "-q", "--threshold", THRESHOLD, "--incident-gap", GAP, *extra]
    assert main(argv) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(got) == len(rows)
    return got


def windows(records: List[Dict[str, Any]], cuts: Sequence[str]) -> List[List[Dict[str, Any]]]:
    """Consecutive time windows of the (time-sorted) records, each new one starting at a cut time."""
    bounds = [0, *(next(i for i, r in enumerate(records) if r["eventTime"] >= cut) for cut in sorted(cuts))]
    bounds.append(len(records))
    return [records[a:b] for a, b in zip(bounds, bounds[1:])]


def cuts_inside_incidents(one: List[Dict[str, Any]], how_many: int) -> List[str]:
    """Window starts in the middle of the largest incidents of one run: where a scheduled search hurts most."""
    times: Dict[str, List[str]] = {}
    for r in one:
        if r["ct_incident"]:
            times.setdefault(r["ct_incident"], []).append(r["eventTime"])
    spread = sorted((sorted(set(t)) for t in times.values() if len(set(t)) >= 3), key=lambda t: (-len(t), t))
    return sorted({t[len(t) // 2] for t in spread[:how_many]})


def scheduled(
    records: List[Dict[str, Any]], cuts: Sequence[str], tmp: Path, workers: int
) -> List[Dict[str, Any]]:
    baseline = tmp / f"baseline-{workers}.json.gz"
    out: List[Dict[str, Any]] = []
    for i, window in enumerate(windows(records, cuts)):
        out += detect(window, tmp, f"w{workers}-{i}", "--baseline", str(baseline), "--update-baseline",
                      "--workers", str(workers))  # fmt: skip
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_scheduled_windows_give_the_incidents_of_one_run(records, tmp_path, workers):
    one = detect(records, tmp_path, f"one-{workers}", "--workers", str(workers))
    cuts = cuts_inside_incidents(one, 3)
    assert len(cuts) == 3
    split = scheduled(records, cuts, tmp_path, workers)
    assert [r["eventID"] for r in split] == [r["eventID"] for r in one]

    # the windows really cut incidents: those incidents have rows in two windows
    owner = {r["eventID"]: i for i, part in enumerate(windows(records, cuts)) for r in part}
    spans: Dict[str, set] = {}
    for r in one:
        if r["ct_incident"]:
            spans.setdefault(r["ct_incident"], set()).add(owner[r["eventID"]])
    assert sum(len(s) > 1 for s in spans.values()) >= 3, spans
    assert sum(1 for r in one if r["ct_incident"]) >= 20
    for a, b in zip(split, one):
        assert {k: a[k] for k in INCIDENT_FIELDS} == {k: b[k] for k in INCIDENT_FIELDS}, (a["eventID"], a, b)
        assert a["ct_risk"] == b["ct_risk"]


def test_the_baseline_keeps_only_incidents_that_can_continue(records, tmp_path):
    first, rest = windows(records, ["2024-03-05T12:00:00Z"])
    baseline = tmp_path / "b.json"
    detect(first, tmp_path, "first", "--baseline", str(baseline), "--workers", "1")
    profile = Profile.load(baseline)
    kept = profile.open_incidents
    assert kept and all(set(e) == {"identity", "id", "last", "apis"} for e in kept)
    end = profile.data["last_time"]
    assert all(end - e["last"] <= 7 * 86400 for e in kept)
    checked, problems = read_open_incidents(kept)
    assert problems == {} and len(checked) == len(kept)

    # an incident older than a week before the newest event is not kept: nothing could continue it
    tracker = IncidentTracker(gap=60)
    tracker.add("old", end - 8 * 86400, "e1", "s3:GetObject", 40)
    tracker.add("new", end - 6 * 86400, "e2", "s3:GetObject", 40)
    assert [e["identity"] for e in tracker.export(end)] == ["new"]


ABSENT = object()  # a baseline saved before incidents continued: no "incidents" key, so none open, no warning
HOSTILE = [
    ABSENT,
    "not a list",
    [42, None, "x"],
    [{"identity": "arn:aws:iam::1:role/ci", "id": "'; drop table", "last": 1.7e9, "apis": {"s3:GetObject": 50}}],
    [{"identity": "arn:aws:iam::1:role/ci", "id": "ctad-0123456789abcdef", "last": "NaN", "apis": {}}],
    [{"identity": "arn:aws:iam::1:role/ci", "id": "ctad-0123456789abcdef", "last": 7.3e9, "apis": {}}],
    [{"identity": "arn:aws:iam::1:role/ci", "id": "ctad-0123456789abcdef", "last": 1.7e9, "apis": ["x"]}],
    [{"identity": "arn:aws:iam::1:role/ci", "id": "ctad-0123456789abcdef", "last": 1.7e9,
      "apis": {"s3:GetObject": "1e400"}}],
    [{"identity": "x" * 10_000, "id": "ctad-0123456789abcdef", "last": 1.7e9, "apis": {}}],
]  # fmt: skip


@pytest.mark.parametrize("state", HOSTILE, ids=range(len(HOSTILE)))
def test_a_garbled_incident_state_warns_and_is_ignored(records, tmp_path, capsys, state):
    first, rest = windows(records, ["2024-03-05T12:00:00Z"])
    baseline = tmp_path / "b.json"
    detect(first, tmp_path, "first", "--baseline", str(baseline), "--workers", "1")
    clean = tmp_path / "clean.json"
    data = json.loads(baseline.read_text())
    data["incidents"] = []
    clean.write_text(json.dumps(data))
    expected = detect(rest, tmp_path, "expected", "--baseline", str(clean), "--workers", "1")
    capsys.readouterr()

    if state is ABSENT:
        del data["incidents"]
    else:
        data["incidents"] = state
    baseline.write_text(json.dumps(data))
    got = detect(rest, tmp_path, "rest", "--baseline", str(baseline), "--workers", "1")
    assert got == expected  # every row out, as with no open incident
    err = capsys.readouterr().err
    if state is ABSENT:
        assert "warning" not in err
    else:
        assert "warning:" in err and "open incident entries" in err and "skipped" in err, err


def test_seeded_state_is_checked_and_bounded():
    good = {"identity": "arn:aws:iam::1:user/a", "id": "ctad-0123456789abcdef", "last": 1.7e9,
            "apis": {"iam:CreateUser": 250, "s3:GetObject": -3, "ec2:RunInstances": 40}}  # fmt: skip
    older = dict(good, id="ctad-00000000000000ff", last=1.6e9)
    many = dict(
        good, identity="arn:aws:iam::1:user/b", apis={f"svc:Api{i:04d}": 1 + i % 100 for i in range(300)}
    )
    checked, problems = read_open_incidents([older, good, many])
    assert [c.identity for c in checked] == ["arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b"]
    a, b = checked
    assert a.id == "ctad-0123456789abcdef" and dict(a.apis) == {"iam:CreateUser": 100, "ec2:RunInstances": 40}
    kept = dict(b.apis)
    dropped = [r for api, r in many["apis"].items() if api not in kept]
    assert len(kept) == 256 and max(dropped) <= min(kept.values())
    assert problems == {
        "risk outside 0..100 (clamped)": 2,  # in both entries for user/a
        "more than one incident for an identity (the latest kept)": 1,
        "more than 256 APIs (the strongest kept)": 1,
    }
    assert read_open_incidents([good, older])[0] == checked[:1]  # the same whatever the order

    tracker = IncidentTracker(gap=600)
    assert tracker.seed(checked) == 2
    iid, score, severity = tracker.add("arn:aws:iam::1:user/a", 1.7e9 + 300, "e9", "s3:GetObject", 10)
    assert (iid, score, severity) == ("ctad-0123456789abcdef", 100, "critical")
    assert tracker.count == 1  # the continued incident counts for this run; the untouched one does not
    iid, _, _ = tracker.add("arn:aws:iam::1:user/b", 1.7e9 + 3600, "e10", "s3:GetObject", 10)
    assert iid != "ctad-0123456789abcdef" and iid.startswith("ctad-")  # beyond the gap: a new incident
