"""`ctad elastic detect` over consecutive time windows with `--baseline B --update-baseline` continues entity
incidents as `ctad detect` does (the baseline carries the open incidents): every event gets the incident fields
one window over the whole span gives it (issue #10 item 3)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from ctad.cli import main
from ctad.elastic.writer import result_id

INDEX = ".ds-logs-aws.cloudtrail-default-2024.03.04-000001"
THRESHOLD = "0.1"
GAP = "120"
FIELDS = ("ct_score", "ct_risk", "ct_incident", "ct_incident_score", "ct_incident_severity")


@pytest.fixture(scope="module")
def records() -> List[Dict[str, Any]]:
    from ctad.simulate import SimConfig, generate

    recs = [{k: v for k, v in r.items() if not k.startswith("_")}
            for r in generate(SimConfig(seed=5, days=2, events=1500, campaigns=5))]  # fmt: skip
    return sorted(recs, key=lambda r: (r["eventTime"], r["eventID"]))


def detect(url: str, results: str, tmp_path, time_from: str, time_to: str, *extra: str) -> None:
    code = main(["elastic", "detect", "--url", url, "--index", INDEX, "--from", time_from, "--to", time_to,
                 "--threshold", THRESHOLD, "--incident-gap", GAP, "--write", f"index:{results}", *extra])  # fmt: skip
    assert code == 0


def test_windows_with_a_baseline_continue_incidents(records, fake_es, to_ecs, tmp_path):
    ids = fake_es.add_docs(INDEX, [to_ecs(r, keep_original=True) for r in records])
    detect(fake_es.url, "one", tmp_path, "2000-01-01T00:00:00Z", "now")
    one = [fake_es.indices["one"][result_id(INDEX, i)] for i in ids]

    # window starts in the middle of the largest incidents, where a scheduled run would cut them
    times: Dict[str, List[str]] = {}
    for r, res in zip(records, one):
        if res["ct_incident"]:
            times.setdefault(res["ct_incident"], []).append(r["eventTime"])
    spread = sorted((sorted(set(t)) for t in times.values() if len(set(t)) >= 3), key=lambda t: (-len(t), t))
    cuts = sorted({t[len(t) // 2] for t in spread[:2]})
    assert len(cuts) == 2
    baseline = str(tmp_path / "baseline.json")
    for start, end in zip(["2000-01-01T00:00:00Z", *cuts], [*cuts, "now"]):
        detect(fake_es.url, "split", tmp_path, start, end, "--baseline", baseline, "--update-baseline")
    split = [fake_es.indices["split"][result_id(INDEX, i)] for i in ids]

    crossing = [iid for iid, t in times.items() if any(t[0] < c <= t[-1] for c in cuts)]
    assert crossing  # incidents that run across a window start
    for r, a, b in zip(records, split, one):
        assert {k: a.get(k) for k in FIELDS} == {k: b.get(k) for k in FIELDS}, r["eventID"]
