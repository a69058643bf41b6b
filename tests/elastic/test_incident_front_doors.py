"""Entity incidents are the same at every front door: `ctad detect` (one process and parallel), `| cloudtraildetect`
(rows newest first, random chunk sizes) and `ctad elastic detect` give every event the same ct_* fields, incident
ids and running incident scores included, for the same events and the same `incident_gap`.

Lives beside the Elastic tests for their fake cluster and ECS conversion; the Splunk side is the real command
driven through `ctad.splunk.splunkd_sim`, the way splunkd drives it.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest
from ctad.cli import main
from ctad.core.schema import OUTPUT_FIELDS
from ctad.elastic.writer import result_id
from ctad.splunk.splunkd_sim import run_search, splunk_row

REPO = Path(__file__).resolve().parents[2]
DETECT = [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")]
INDEX = ".ds-logs-aws.cloudtrail-default-2024.03.04-000001"
RESULTS = "ctad-anomalies-incidents"
# A low threshold so that two days of simulated estate give dozens of anomalies in a few dozen incidents.
THRESHOLD = "0.1"


@pytest.fixture(scope="module")
def records() -> List[Dict[str, Any]]:
    from ctad.simulate import SimConfig, generate

    recs = [
        {k: v for k, v in r.items() if not k.startswith("_")}
        for r in generate(SimConfig(seed=5, days=2, events=1500, campaigns=5))
    ]
    assert len(recs) > 3000
    return recs


def as_text(ct: Dict[str, Any]) -> Dict[str, Any]:
    """ct_* values the way the Splunk command renders them (fixed 6-decimal score, multivalue reasons)."""
    out: Dict[str, Any] = {}
    for name in OUTPUT_FIELDS:
        value = ct.get(name)
        if name == "ct_score":
            out[name] = "" if value is None else "%.6f" % value
        elif name == "ct_reasons":
            out[name] = value if len(value) > 1 else (value[0] if value else "")
        else:
            out[name] = "" if value is None else str(value)
    return out


def cli(records: List[Dict[str, Any]], tmp_path: Path, workers: int, gap: int) -> List[Dict[str, Any]]:
    src = tmp_path / "events.jsonl"
    if not src.exists():
        src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / f"out-{workers}-{gap}.jsonl"
    subprocess.run([sys.executable, "-m", "ctad", "detect", str(src), "-o", str(out), "-q", "--workers",
                    str(workers), "--threshold", THRESHOLD, "--incident-gap", str(gap), "--summary-json",
                    str(out) + ".summary"], check=True)  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(records)
    summary = json.loads(Path(str(out) + ".summary").read_text())
    assert summary["incidents"] == len({r["ct_incident"] for r in rows if r["ct_incident"]})
    return [as_text(r) for r in rows]


def splunk(records: List[Dict[str, Any]], tmp_path: Path, gap: int, seed: int) -> List[Dict[str, Any]]:
    rng = random.Random(seed)
    newest_first = [splunk_row(r) for r in reversed(records)]
    sizes = [rng.choice((1, 7, 250, 1000, 3000)) for _ in range(len(newest_first))]
    args = [f"threshold={THRESHOLD}", f"incident_gap={gap}"]
    _, _, out, err = run_search(DETECT, args, newest_first, sizes, str(tmp_path))
    assert len(out) == len(records), err.decode("utf-8", "replace")[-2000:]
    return [{k: row[k] for k in OUTPUT_FIELDS} for row in reversed(out)]


def incidents(rows: List[Dict[str, Any]]) -> Counter:
    return Counter(r["ct_incident"] for r in rows if r["ct_incident"])


def test_every_front_door_gives_the_same_incidents(records, tmp_path, fake_es, to_ecs):
    one = cli(records, tmp_path, 1, 10)
    assert cli(records, tmp_path, 2, 10) == one

    by_incident = incidents(one)
    assert len(by_incident) >= 5 and max(by_incident.values()) >= 5  # several incidents, some of many events
    for row in one:  # every anomaly with risk is in an incident, every quiet row in none
        assert (row["ct_risk"] != "0") == bool(row["ct_incident"]) == (row["ct_anomaly"] == "1"), row
    # An incident belongs to one identity, and its running score never falls as its events arrive.
    order = sorted(range(len(records)), key=lambda i: (records[i]["eventTime"], records[i]["eventID"]))
    for iid in by_incident:
        rows = [one[i] for i in order if one[i]["ct_incident"] == iid]
        assert len({r["ct_identity"] for r in rows}) == 1
        scores = [int(r["ct_incident_score"]) for r in rows]
        assert scores == sorted(scores) and 0 < scores[-1] <= 100

    for seed in (1, 2):  # newest first, random chunking, twice
        assert splunk(records, tmp_path / f"s{seed}", 10, seed) == one

    assert main(["elastic", "template", "--url", fake_es.url]) == 0  # so the results' mapping is enforced
    # event.original kept, as the integration's "preserve original event" option does: without it the ECS fields
    # lack sessionCredentialFromConsole, so console sessions score differently (a normaliser gap, reported).
    ids = fake_es.add_docs(INDEX, [to_ecs(r, keep_original=True) for r in records])
    code = main(["elastic", "detect", "--url", fake_es.url, "--index", INDEX, "--from", "2000-01-01T00:00:00Z",
                 "--to", "now", "--threshold", THRESHOLD, "--incident-gap", "10", "--write", f"index:{RESULTS}",
                 "--summary-json", str(tmp_path / "es.json")])  # fmt: skip
    assert code == 0
    stored = fake_es.indices[RESULTS]
    elastic = [as_text(stored[result_id(INDEX, i)]) for i in ids]
    assert elastic == one
    assert json.loads((tmp_path / "es.json").read_text())["detector"]["incidents"] == len(by_incident)
    some = next(stored[result_id(INDEX, i)] for i, r in zip(ids, one) if r["ct_incident"])
    assert type(some["ct_risk"]) is int and type(some["ct_incident_score"]) is int  # mapped `integer`


def test_incident_gap_reaches_the_engine_from_cli_and_splunk(records, tmp_path):
    """gap 0 splits what gap 120 joins; both front doors apply the option alike."""
    tight, loose = cli(records, tmp_path, 1, 0), cli(records, tmp_path, 1, 120)
    assert len(incidents(tight)) > len(incidents(loose))
    assert [r["ct_anomaly"] for r in tight] == [r["ct_anomaly"] for r in loose]
    assert splunk(records, tmp_path / "s0", 0, 3) == tight
    assert splunk(records, tmp_path / "s120", 120, 4) == loose


@pytest.mark.parametrize("value", ["-1", "10081", "ten", "1.5"])
def test_bad_incident_gap_is_a_clean_error(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            ["detect", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--incident-gap", value]
        )
    assert exc.value.code == 2 and "--incident-gap" in capsys.readouterr().err
    info, _, out, _ = run_search(DETECT, [f"incident_gap={value}"], [], [1], str(tmp_path))
    assert out == [] and info["finished"] and "incident_gap" in info.get("error", ""), info
