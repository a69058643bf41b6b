"""`| cloudtraildetect` continues the open incidents of earlier searches from the anomalies the `CTAD - Detect`
saved search stored in the `ctad_anomalies` KV store (issue #10 item 3): two consecutive windows through the
command, the second seeded from the first's stored anomalies, give the rows of one window over both.

The baseline the second window reads is the engine's own profile of the first window written as lookup rows (what
`| ctadbaseline` approximates), and the windows are more than an hour apart, so the sliding windows a lookup baseline
does not carry have expired: every difference left would be the incidents'. The incident gap spans that hour.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from ctad.core.normalize import parse_time
from ctad.core.schema import OUTPUT_FIELDS
from ctad.engine.detect import Detector
from ctad.splunk.lookups import SEED_FIELDS
from ctad.splunk.splunkd_sim import run_search, splunk_row
from splunk_helpers import DETECT, REPO, SESSION_KEY

THRESHOLD = "0.1"
GAP = 240  # minutes: an incident runs on across the two hours between the windows
SHIFT = 2 * 3600.0  # the quiet time put between the windows


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def windows() -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Two windows of simulated CloudTrail, the second starting in the middle of the largest incident that has
    anomalies on both sides (found by a run over everything), two hours later than it happened."""
    from ctad.simulate import SimConfig, generate

    recs = [{k: v for k, v in r.items() if not k.startswith("_")}
            for r in generate(SimConfig(seed=5, days=2, events=1500, campaigns=5))]  # fmt: skip
    recs.sort(key=lambda r: (r["eventTime"], r["eventID"]))
    run = Detector(threshold=float(THRESHOLD), incident_gap=60.0 * GAP).start()
    for r in recs:
        run.add(r)
    times: Dict[str, List[str]] = {}
    for r, ct in zip(recs, run.results()):
        if ct["ct_incident"]:
            times.setdefault(ct["ct_incident"], []).append(r["eventTime"])
    spread = sorted((sorted(set(t)) for t in times.values() if len(set(t)) >= 3), key=lambda t: (-len(t), t))
    cut = spread[0][len(spread[0]) // 2]
    first = [r for r in recs if r["eventTime"] < cut]
    second = [
        dict(r, eventTime=iso(parse_time(r["eventTime"]) + SHIFT)) for r in recs if r["eventTime"] >= cut
    ]
    return first, second


def detect(rows: Sequence[Dict[str, Any]], tmp_path, name: str, args: Sequence[str] = (), **info: Any):
    """The command over `rows` (newest first, uneven chunks, as splunkd sends them); (output oldest first, the
    final reply's messages)."""
    newest_first = [splunk_row(r) for r in reversed(rows)]
    sizes = [997, 1, 3000]
    work = tmp_path / name
    work.mkdir()
    argv = [f"threshold={THRESHOLD}", f"incident_gap={GAP}", *args]
    _, (final,), out, err = run_search(DETECT, argv, newest_first, sizes, str(work), **info)
    assert len(out) == len(rows), err.decode("utf-8", "replace")[-2000:]
    messages = [tuple(m) for m in final.get("inspector", {}).get("messages", [])]
    return list(reversed(out)), messages


def ct(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: r[k] for k in OUTPUT_FIELDS} for r in rows]


def stored(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What `CTAD - Detect` writes to ctad_anomalies for these output rows (its anomalies, _key = eventID)."""
    out = []
    for r in rows:
        if r["ct_anomaly"] == "1":
            record = {k: r.get(k, "") for k in SEED_FIELDS}
            record.update(_key=r["eventID"], _time=float(r["_time"]), ct_risk=int(r["ct_risk"]),
                          ct_incident_score=int(r["ct_incident_score"]), ct_anomaly=1)  # fmt: skip
            out.append(record)
    return out


@pytest.fixture(scope="module")
def first_profile_rows(windows) -> List[Dict[str, Any]]:
    run = Detector(threshold=float(THRESHOLD), incident_gap=60.0 * GAP).start()
    for r in windows[0]:
        run.add(r)
    list(run.results())
    return [dict(row, _key=str(i)) for i, row in enumerate(run.profile.to_rows())]


@pytest.fixture
def setup(windows, first_profile_rows, splunkd, tmp_path):
    """One window over both (the reference), the first window alone, and a splunkd holding the first window's
    baseline and stored anomalies."""
    first, second = windows
    one, _ = detect(first + second, tmp_path, "one", ["baseline=none_yet"])
    alone, _ = detect(first, tmp_path, "first", ["baseline=none_yet"])
    assert ct(alone) == ct(one[: len(first)])
    splunkd.collections["ctad_baseline"] = list(first_profile_rows)
    splunkd.collections["ctad_anomalies"] = stored(alone)
    info = {"splunkd_uri": splunkd.uri, "session_key": SESSION_KEY}
    return one, alone, info


def test_the_second_window_continues_the_first_windows_incidents(windows, setup, tmp_path, splunkd):
    one, alone, info = setup
    first, second = windows
    later, messages = detect(second, tmp_path, "second", **info)
    assert not [m for m in messages if m[0] == "WARN" and "incident" in m[1]], messages
    assert ct(later) == ct(one[len(first) :])
    # the window really starts inside incidents of the first, which keep their ids
    continued = {r["ct_incident"] for r in later if r["ct_incident"]} & {r["ct_incident"] for r in alone}
    assert continued
    # only the KV reads that continuing needs: a time range, then those incidents' earlier anomalies
    queries = [q.get("query", "") for _, p, q, _ in splunkd.log if p.endswith("/ctad_anomalies")]
    assert len(queries) == 2 and '"$gte"' in queries[0] and '"$or"' in queries[1], queries


def test_without_continuation_the_incidents_restart(windows, setup, tmp_path):
    one, alone, info = setup
    first, _ = windows
    later, _ = detect(windows[1], tmp_path, "second", ["continue_incidents=false"], **info)
    mine = ct(later)
    reference = ct(one[len(first) :])
    assert [r["ct_score"] for r in mine] == [r["ct_score"] for r in reference]
    assert [r["ct_incident"] for r in mine] != [r["ct_incident"] for r in reference]
    assert not {r["ct_incident"] for r in mine if r["ct_incident"]} & {r["ct_incident"] for r in alone}


@pytest.mark.parametrize(
    "reply",
    [
        (500, {"Content-Type": "application/json"}, b'{"messages": []}'),
        (200, {"Content-Type": "text/html"}, b"<html>login</html>"),
        (200, {"Content-Type": "application/json"}, b'{"not": "a list"}'),
    ],
    ids=["outage", "html", "object"],
)
def test_a_kv_store_that_cannot_be_read_warns_and_every_row_comes_out(
    windows, setup, tmp_path, splunkd, reply
):
    one, _, info = setup
    plain, _ = detect(windows[1], tmp_path, "plain", ["continue_incidents=false"], **info)
    splunkd.raw["storage/collections/data/ctad_anomalies"] = reply
    later, messages = detect(windows[1], tmp_path, "second", **info)
    assert ct(later) == ct(plain)
    assert any(m[0] == "WARN" and "open incidents not continued" in m[1] for m in messages), messages


def test_hostile_stored_anomalies_are_skipped_with_a_warning(windows, setup, tmp_path, splunkd):
    one, _, info = setup
    first, second = windows
    start = parse_time(second[0]["eventTime"])
    hostile = [
        {"_key": "h1", "_time": start - 60, "ct_identity": "arn:aws:iam::1:user/x", "ct_incident": "ctad-NOTHEX",
         "ct_risk": 90, "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"},
        {"_key": "h2", "_time": start - 60, "ct_identity": "arn:aws:iam::1:user/y", "ct_incident": "ctad-" + "a" * 16,
         "ct_risk": "1e999", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"},
        {"_key": "h3", "_time": "soon", "ct_identity": "arn:aws:iam::1:user/z", "ct_incident": "ctad-" + "b" * 16,
         "ct_risk": 50},
        {"_key": "h4", "_time": start - 30, "ct_identity": "arn:aws:iam::1:user/w", "ct_incident": "ctad-" + "c" * 16,
         "ct_risk": 500, "eventSource": "x" * 5000, "eventName": "Y"},
    ]  # fmt: skip
    splunkd.collections["ctad_anomalies"] += hostile
    later, messages = detect(second, tmp_path, "second", **info)
    assert ct(later) == ct(
        one[len(first) :]
    )  # no event of these identities: the real incidents still continue
    warn = [m[1] for m in messages if m[0] == "WARN"]
    assert any("open incident entries in KV store collection ctad_anomalies skipped" in w for w in warn), warn


def conf_stanza(name: str, stanza: str) -> Dict[str, str]:
    text = (REPO / "default" / f"{name}.conf").read_text()
    body = text.split(f"[{stanza}]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r"^(\S+) = (.*)$", body, flags=re.M))


def test_the_detect_saved_search_stores_what_continuing_needs():
    search = conf_stanza("savedsearches", "CTAD - Detect")["search"]
    table = search.split("| table ", 1)[1].split("|", 1)[0].split()
    assert set(SEED_FIELDS) <= set(table), set(SEED_FIELDS) - set(table)
    assert "outputlookup" in search and "ctad_anomalies" in search.split("outputlookup", 1)[1]
    fields = {f.strip() for f in conf_stanza("transforms", "ctad_anomalies")["fields_list"].split(",")}
    assert set(SEED_FIELDS) <= fields
    collection = conf_stanza("collections", "ctad_anomalies")
    assert all(f"field.{f}" in collection for f in SEED_FIELDS)
