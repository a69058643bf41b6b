"""bin/cloudtraildetect.py as a subprocess, driven the way splunkd drives it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ctad.core.schema import OUTPUT_FIELDS
from ctad.splunk.splunkd_sim import (
    Session,
    chunks_of,
    csv_body,
    frame,
    getinfo,
    run_search,
    splunk_row,
)
from splunk_helpers import DETECT, SESSION_KEY

CT = OUTPUT_FIELDS


def ct_of(row):
    return {k: row[k] for k in CT}


def cli_results(records, tmp_path: Path, extra=()):
    """`ctad detect` over the same events (JSON lines): eventID -> ct_* rendered the way the command renders them."""
    src = tmp_path / "events.jsonl"
    with open(src, "w") as fh:
        for r in records:
            fh.write(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}) + "\n")
    out = tmp_path / "out.jsonl"
    subprocess.run(
        [sys.executable, "-m", "ctad", "detect", str(src), "-o", str(out), "-q", *extra], check=True
    )
    res = {}
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        reasons = obj["ct_reasons"]
        res[obj["eventID"]] = {
            "ct_score": "" if obj["ct_score"] is None else "%.6f" % obj["ct_score"],
            "ct_anomaly": str(obj["ct_anomaly"]),
            "ct_severity": obj["ct_severity"],
            "ct_reasons": reasons if len(reasons) > 1 else (reasons[0] if reasons else ""),
            **{k: str(obj[k]) for k in CT[CT.index("ct_reasons") + 1 :]},
        }
    return res


@pytest.fixture(scope="module")
def newest_first(records):
    return list(reversed(records))


@pytest.fixture(scope="module")
def splunk_rows(newest_first):
    return [splunk_row(r) for r in newest_first]


def search(rows, sizes, tmp_path, args=(), **info):
    return run_search(DETECT, list(args), rows, sizes, str(tmp_path), **info)


def test_equal_to_cli_and_independent_of_chunking(records, newest_first, splunk_rows, tmp_path):
    cli = cli_results(records, tmp_path)
    outs = []
    for sizes in ([6638, 5861, 1, 6574], [1000, 1, 37, 1500], [100_000]):
        gi, (final,), out, _ = search(splunk_rows, sizes, tmp_path)
        assert gi["type"] == "stateful"
        assert len(out) == len(splunk_rows)
        outs.append([ct_of(r) for r in out])
    assert outs[0] == outs[1] == outs[2]
    got = {row["eventID"]: ct_of(row) for row in out}
    assert got == cli
    assert sum(r["ct_anomaly"] == "1" for r in out) > 0
    assert any(isinstance(r["ct_reasons"], list) for r in out)  # multivalue reasons survive the round trip


def test_chunks_of_one_row(records, tmp_path):
    recs = records[:300]
    rows = [splunk_row(r) for r in reversed(recs)]
    _, _, one, _ = search(rows, [1], tmp_path)
    _, _, big, _ = search(rows, [50_000], tmp_path)
    assert [ct_of(r) for r in one] == [ct_of(r) for r in big]
    cli = cli_results(recs, tmp_path)
    assert {r["eventID"]: ct_of(r) for r in one} == cli


def test_every_input_field_kept_in_input_order(splunk_rows, tmp_path, formatting):
    rows = splunk_rows[:1500]
    _, _, out, _ = search(rows, [400, 3], tmp_path)
    assert len(out) == len(rows)
    for inp, got in zip(rows, out):
        for k, v in inp.items():
            assert got[k] == v, k
    multi = [r for r in rows if any(isinstance(v, list) for v in r.values())]
    assert multi, "the simulated rows should include multivalue fields"


def test_flat_rows_without_raw_score_like_raw(records, newest_first, tmp_path):
    """KV_MODE=json fields only (no `_raw`): the same events must get the same answers."""
    recs = records[:1200]
    with_raw = [splunk_row(r) for r in reversed(recs)]
    flat = [splunk_row(r, with_raw=False) for r in reversed(recs)]
    _, _, a, _ = search(with_raw, [500], tmp_path)
    _, _, b, _ = search(flat, [500], tmp_path)
    assert all(r["ct_error"] == "" for r in b)
    diff = [(x["eventID"], x["ct_score"], y["ct_score"]) for x, y in zip(a, b) if ct_of(x) != ct_of(y)]
    assert not diff, diff[:5]


@pytest.fixture(params=["worker", "in-process"])
def formatting(request, monkeypatch):
    """Run a test with the formatter worker process and with in-process formatting."""
    monkeypatch.setenv("CTAD_SPLUNK_WORKER", "1" if request.param == "worker" else "0")
    return request.param


def test_makeresults_rows_and_malformed_rows(tmp_path, formatting):
    good = {
        "_time": "1714557600",
        "eventName": "ListBuckets",
        "eventSource": "s3.amazonaws.com",
        "userIdentity.type": "IAMUser",
        "userIdentity.arn": "arn:aws:iam::111122223333:user/alice",
        "sourceIPAddress": "198.51.100.7",
    }
    no_event = {"_time": "1714557600", "foo": "bar"}
    bad_raw = {"_raw": "{not json", "_time": "1714557601"}
    bad_time = dict(good, _time="yesterday", eventTime="soon")
    rows = [
        good,
        no_event,
        bad_raw,
        bad_time,
        dict(good, eventName="GetCallerIdentity", eventSource="sts.amazonaws.com"),
    ]
    body = csv_body(rows)
    # One extra row with too many cells and one with too few, as a broken producer might send.
    body += (
        b'1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\r\n"only"\r\n'
    )
    _, (final,), out, _ = search([], [1], tmp_path, bodies=[body])
    assert len(out) == 7
    errors = [r["ct_error"] for r in out]
    assert errors[0] == "" and errors[4] == ""
    assert out[0]["ct_identity"] == "arn:aws:iam::111122223333:user/alice"
    assert "no eventName" in errors[1] or "unknown shape" in errors[1]
    assert errors[2] and errors[3]
    assert "malformed CSV record" in errors[5] and "malformed CSV record" in errors[6]
    assert out[1]["foo"] == "bar" and out[6]["_time"] == "only"
    levels = {m[0] for m in final["inspector"]["messages"]}
    assert "WARN" in levels
    assert any("could not be scored" in m[1] for m in final["inspector"]["messages"])


def test_header_changes_between_chunks(records, tmp_path, formatting):
    recs = records[:50]
    rows = [splunk_row(r) for r in reversed(recs)]
    first = csv_body(rows[:20])
    # Second chunk: other column order, an extra column and an old ct_score column that must be replaced.
    second_rows = [dict(reversed(list(r.items())), extra_field="x", ct_score="old") for r in rows[20:]]
    second = csv_body(second_rows)
    _, _, out, _ = search([], [1], tmp_path, bodies=[first, second])
    _, _, ref, _ = search(rows, [50], tmp_path)
    assert [ct_of(r) for r in out] == [ct_of(r) for r in ref]
    assert all(r["extra_field"] == "" for r in out[:20]) and all(r["extra_field"] == "x" for r in out[20:])
    assert all(r["ct_score"] != "old" for r in out)
    for inp, got in zip(rows, out):
        assert got["_raw"] == inp["_raw"] and got["eventID"] == inp["eventID"]


def test_huge_raw(records, tmp_path, formatting):
    rec = json.loads(json.dumps({k: v for k, v in records[10].items() if not k.startswith("_")}))
    rec["requestParameters"] = {"policyDocument": "A" * 200_000}
    rec["eventID"] = "huge-1"
    row = splunk_row(rec)
    assert len(row["_raw"]) > 131072
    rows = [row] + [splunk_row(r) for r in records[:20]]
    _, _, out, _ = search(rows, [21], tmp_path)
    assert out[0]["_raw"] == row["_raw"] and out[0]["ct_error"] == ""
    assert out[0]["requestParameters.policyDocument"] == "A" * 200_000


@pytest.mark.parametrize(
    "args, expect",
    [
        (["threshold=2"], "threshold='2'"),
        (["engine=gpu"], "engine='gpu'"),
        (["bogus=1"], "unknown option 'bogus'"),
        (["explain=maybe"], "explain='maybe'"),
        (["model=../../etc"], "'..' is not allowed"),
        (["model=nosuchmodel"], "no such model directory"),
    ],
)
def test_bad_options_give_a_clean_error(args, expect, tmp_path):
    s = Session(DETECT)
    meta, body = s.send(getinfo(args, str(tmp_path)))
    code, err = s.close()
    assert meta["finished"] is True and expect in meta["error"], meta
    assert ["ERROR", meta["error"]] in meta["inspector"]["messages"]
    assert code == 1 and b"Traceback" not in err


def test_baseline_from_kv_store_csv_lookup_and_in_process_agree(records, ctad_home, splunkd, tmp_path):
    from ctad.core.profile import Profile
    from ctad.engine.detect import Detector
    from ctad.splunk.baseline_command import PROFILE_COLUMNS

    cut = len(records) * 2 // 3
    history, window = records[:cut], records[cut:]
    det = Detector()
    run = det.start()
    for r in history:
        run.add(r)
    list(run.results())
    profile_rows = [{k: ("" if v is None else v) for k, v in r.items()} for r in run.profile.to_rows()]
    assert len(profile_rows) > 500  # more than one KV page (CTAD_KV_PAGE=500)
    splunkd.collections["ctad_baseline"] = [
        dict(r, _key=str(i), _user="nobody") for i, r in enumerate(profile_rows)
    ]
    lookup = ctad_home / "lookups" / "test_baseline.csv"
    with open(lookup, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PROFILE_COLUMNS)
        w.writeheader()
        w.writerows(profile_rows)
    rows = [splunk_row(r) for r in reversed(window)]
    gi, _, kv, _ = search(rows, [700], tmp_path, splunkd_uri=splunkd.uri, session_key=SESSION_KEY)
    assert ("500", "500") in splunkd.pages("ctad_baseline"), splunkd.log
    assert {auth for _, _, _, auth in splunkd.log} == {f"Splunk {SESSION_KEY}"}
    assert any("days of history (<7)" in m[1] for m in gi["inspector"]["messages"])
    _, _, lk, _ = search(rows, [700], tmp_path, args=["baseline=test_baseline.csv"])
    det2 = Detector(profile=Profile.from_rows(profile_rows))
    run2 = det2.start()
    for r in rows:
        run2.add(r)
    ref = list(run2.results())
    assert (
        [r["ct_score"] for r in kv]
        == [r["ct_score"] for r in lk]
        == ["" if x["ct_score"] is None else "%.6f" % x["ct_score"] for x in ref]
    )
    # and the baseline matters: hunting mode answers differ
    gi3, _, hunt, _ = search(
        rows, [700], tmp_path, args=["baseline=nothere"], splunkd_uri=splunkd.uri, session_key=SESSION_KEY
    )
    assert any("hunting mode" in m[1] for m in gi3["inspector"]["messages"])
    assert [r["ct_score"] for r in hunt] != [r["ct_score"] for r in kv]


def test_unreachable_splunkd_is_a_warning_not_a_failure(splunk_rows, tmp_path):
    gi, _, out, _ = search(
        splunk_rows[:30], [30], tmp_path, splunkd_uri="https://127.0.0.1:1", session_key="k"
    )
    assert any(m[0] == "WARN" and "hunting mode" in m[1] for m in gi["inspector"]["messages"])
    assert len(out) == 30 and all(r["ct_error"] == "" for r in out)


def test_no_rows_at_all(tmp_path):
    _, (final,), out, _ = search([], [1], tmp_path)
    assert out == [] and final["finished"] is True


def test_recording_through_the_real_command(tmp_path):
    from splunk_helpers import RECORDING, read_replies, replay_into_detect

    if not RECORDING.is_file():
        pytest.skip("../shared/data/splunkd recording is absent in this checkout")
    import gzip

    with gzip.open(RECORDING, "rb") as fh:
        requests = read_replies(fh.read())
    replay_into_detect(requests, tmp_path)


def test_chunks_of_helper():
    assert [len(c) for c in chunks_of(list(range(10)), [3, 1])] == [3, 1, 3, 1, 2]


def test_spilling_to_the_dispatch_dir_gives_the_same_answers(splunk_rows, tmp_path):
    rows = splunk_rows[:2600]
    _, _, small, _ = search(rows, [900], tmp_path, args=["max_memory_rows=1000"])
    _, _, big, _ = search(rows, [900], tmp_path)
    assert [ct_of(r) for r in small] == [ct_of(r) for r in big]
    assert not any(p.name.startswith(("ctad-", "ctad-spill-")) for p in tmp_path.iterdir())  # cleaned up


def test_threshold_and_explain_options(splunk_rows, tmp_path):
    rows = splunk_rows[:800]
    _, _, low, _ = search(rows, [800], tmp_path, args=["threshold=0", "explain=false"])
    assert all(r["ct_anomaly"] == "1" for r in low if r["ct_error"] == "")
    assert all(r["ct_reasons"] == "" for r in low)
    _, _, default, _ = search(rows, [800], tmp_path, args=["engine=python", "worker=false"])
    assert sum(r["ct_anomaly"] == "1" for r in default) < len(default)


def test_formatter_worker_failure_falls_back_in_process(splunk_rows, tmp_path, monkeypatch):
    from ctad.splunk import detect_command as D
    from ctad.splunk.splunkd_sim import chunks_of
    from splunk_helpers import read_replies

    rows = splunk_rows[:400]
    data = frame(getinfo([], str(tmp_path))) + b"".join(
        frame({"action": "execute", "finished": i == 2}, csv_body(list(c)))
        for i, c in enumerate(chunks_of(rows, [150, 150, 100]))
    )

    def run_once():
        out = io.BytesIO()
        assert D.DetectCommand().run(io.BytesIO(data), out) == 0
        return read_replies(out.getvalue())[-1]

    good_meta, good = run_once()
    monkeypatch.setattr(D.Formatter, "finish", lambda self: None)  # the worker died / answered nonsense
    bad_meta, fallback = run_once()
    assert fallback == good
    assert any("formatting in-process" in m[1] for m in bad_meta["inspector"]["messages"])
    assert not any("formatting in-process" in m[1] for m in good_meta["inspector"]["messages"])
