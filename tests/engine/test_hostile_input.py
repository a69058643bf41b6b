"""Issue 11, engine items: real data and hostile input must never end a run, merge events or flip a verdict.

Each case runs at every door it reaches: `ctad detect` in one process and in parallel over files, the Splunk
command through the protocol (splunkd_sim), and `ctad baseline build`.
"""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from cloudtrail_event import CloudTrailEvent, ecs_from_raw, iam_user, timeline, write_s3
from ctad.cli import main
from ctad.core import bounded
from ctad.core import profile as profile_module
from ctad.core.profile import Profile
from ctad.splunk.splunkd_sim import run_search, splunk_row

REPO = Path(__file__).resolve().parents[2]
DETECT = [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")]
CT = ("ct_score", "ct_anomaly", "ct_severity", "ct_reasons", "ct_tactic", "ct_technique", "ct_identity",
      "ct_model", "ct_error")  # fmt: skip


def _write_jsonl(path: Path, lines: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _detect(
    tmp_path: Path, inputs: Sequence[Path], workers: int, *extra: str, name: str = "out"
) -> List[Dict]:
    out = tmp_path / f"{name}-w{workers}.jsonl"
    code = main(["detect", *map(str, inputs), "-o", str(out), "-q", "--workers", str(workers), *extra])
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def _ct(row: Dict[str, Any]) -> Dict[str, Any]:
    return {k: row[k] for k in CT}


def _splunk(rows: List[Dict[str, Any]], tmp_path: Path, args: Sequence[str] = (), sizes=(7, 1, 50_000)):
    """Splunk's `| cloudtraildetect` over the rows, newest first, in uneven chunks."""
    _, _, out, _ = run_search(DETECT, list(args), rows, list(sizes), str(tmp_path))
    assert len(out) == len(rows)
    return out


def _splunk_ct(row: Dict[str, Any]) -> Dict[str, Any]:
    """A Splunk reply row's ct_* fields in the CLI's types, to compare the two doors."""
    reasons = row["ct_reasons"]
    return {
        "ct_score": None if row["ct_score"] == "" else float(row["ct_score"]),
        "ct_anomaly": int(row["ct_anomaly"]),
        "ct_severity": row["ct_severity"],
        "ct_reasons": reasons if isinstance(reasons, list) else ([reasons] if reasons else []),
        **{k: row[k] for k in CT[4:]},
    }


# ------------------------------------------------------------------------------------ 1. numeric bounds
def test_bounded_helpers_never_raise_and_stay_finite():
    assert math.isfinite(bounded.expm1(1e6)) and bounded.expm1(-1e6) == -1.0
    assert math.isnan(bounded.expm1(float("nan")))
    assert bounded.log1p(-5) == 0.0 and bounded.log1p(float("inf")) == math.log1p(bounded.MAX_COUNT)
    assert (
        bounded.to_float(10**400) is None
        and bounded.to_float("nan") is None
        and bounded.to_float("1e999") is None
    )
    assert (
        bounded.to_float("12.5") == 12.5
        and bounded.to_float(True) is None
        and bounded.to_float("9" * 5000) is None
    )
    assert (
        bounded.count(float("nan")) == 0
        and bounded.count(-3) == 0
        and bounded.count(float("inf")) == bounded.MAX_COUNT
    )
    assert bounded.count(10**400) == bounded.MAX_COUNT and bounded.count("17") == 17
    assert bounded.whole(float("nan")) == 0 and bounded.whole(float("-inf")) == -bounded.MAX_COUNT
    assert bounded.clamp(float("nan"), 0.0, 1.0) == 0.0


def test_reasons_for_a_huge_count_or_gap_are_sentences_not_overflow():
    from ctad.core.features import FEATURE_INDEX, FEATURE_NAMES, ApiFacts
    from ctad.core.reasons import Explainer
    from ctad.core.schema import Event

    row = [0.0] * len(FEATURE_NAMES)
    contributions = [0.0] * (len(row) + 1)
    for name, value in (("id_rate_5m", 1500.0), ("log_gap_id", 1e300), ("id_hour_share", 0.0)):
        row[FEATURE_INDEX[name]] = value
        contributions[FEATURE_INDEX[name]] = 1.0
    ev = Event("e", 1.7e9, "s3.amazonaws.com", "ListBuckets", identity="arn:aws:iam::1:user/a")
    reasons = Explainer().reasons(ev, row, contributions, ApiFacts(0, 0, 0, "", "", 0))
    assert "1500 calls by arn:aws:iam::1:user/a in 5 minutes" in reasons
    assert any("inactive for over 100 years" in r for r in reasons)


def _busy_identity(n: int = 1200) -> List[Dict[str, Any]]:
    """One identity making n calls within 5 minutes: a count far above exp()'s range."""
    start = 1714557600
    return [
        CloudTrailEvent(time=start + i * 250 // n, event_id=f"busy-{i:05d}").as_record() for i in range(n)
    ]


def test_busy_identity_with_threshold_zero_is_scored_at_every_door(tmp_path):
    """1,200 calls in 5 minutes by one identity, every row explained (threshold 0): reasons used exp(count)."""
    records = _busy_identity()
    files = [
        write_s3(tmp_path / "in" / f"f{i}.json.gz", records[i : i + 300]) for i in range(0, len(records), 300)
    ]
    single = _detect(tmp_path, files, 1, "--threshold", "0")
    parallel = _detect(tmp_path, files, 2, "--threshold", "0")
    assert single == parallel and len(single) == len(records)
    assert all(r["ct_error"] == "" and r["ct_anomaly"] == 1 for r in single)
    assert any(any("calls by" in s for s in r["ct_reasons"]) for r in single)
    splunk = _splunk(
        [splunk_row(r) for r in reversed(records)], tmp_path, ["threshold=0"], sizes=(333, 1, 50_000)
    )
    by_id = {r["eventID"]: r for r in single}
    assert all(_splunk_ct(r) == _ct(by_id[r["eventID"]]) for r in splunk)


def test_bundled_sample_with_threshold_zero_writes_every_row(tmp_path):
    sample = REPO / "samples" / "sample_account.jsonl.gz"
    rows = _detect(tmp_path, [sample], 2, "--threshold", "0", name="explained")
    assert len(rows) == 32625 and all(r["ct_error"] == "" for r in rows)


def test_profile_with_negative_nan_and_huge_counts_scores_instead_of_raising(tmp_path):
    """A baseline's numbers enter the feature state through `Profile.to_state`, which bounds them."""
    records = timeline(40, identities=2)
    base = tmp_path / "base.json"
    assert (
        main(["baseline", "build", _write_jsonl_records(tmp_path / "h.jsonl", records), "--out", str(base)])
        == 0
    )
    data = json.loads(base.read_text())
    for ident in data["identities"].values():
        ident["n"] = -5
        ident["hours"] = [float("nan")] * 3
        ident["first"] = "not a time"
        for table in ident["seen"].values():
            for entry in table.values():
                entry[0] = -1 if entry[0] % 2 else 1e308
    for api in data["apis"].values():
        api[0] = -7
    base.write_text(json.dumps(data))
    later = [
        CloudTrailEvent(time=1714557600 + 86400 + i, event_id=f"later-{i}").as_record() for i in range(5)
    ]
    src = _write_jsonl_records(tmp_path / "later.jsonl", later)
    rows = _detect(tmp_path, [Path(src)], 1, "--baseline", str(base), "--threshold", "0")
    assert len(rows) == 5 and all(r["ct_error"] == "" and 0 <= r["ct_score"] <= 1 for r in rows)


def _write_jsonl_records(path: Path, records: Sequence[Dict[str, Any]]) -> str:
    return str(_write_jsonl(path, [json.dumps(r) for r in records]))


# ------------------------------------------------------------------------------------------ 2. nesting
def _nested(depth: int) -> Any:
    node: Any = "bottom"
    for i in range(depth):
        node = {"k": node} if i % 2 else [node]
    return node


def _deep_event(depth: int, event_id: str) -> Dict[str, Any]:
    ev = CloudTrailEvent("PutBucketPolicy", event_id=event_id, time="2024-05-01T10:00:05Z").as_record()
    ev["requestParameters"] = {"bucketName": "b", "policy": _nested(depth)}
    return ev


def _nesting_inputs(tmp_path: Path) -> List[Path]:
    ok = [CloudTrailEvent(event_id=f"ok-{i}", time=f"2024-05-01T10:00:0{i}Z").as_record() for i in range(4)]
    s3 = write_s3(tmp_path / "in" / "a.json.gz", [ok[0], _deep_event(300, "deep-s3"), ok[1]])
    lines = [json.dumps(ok[2]), json.dumps(_deep_event(300, "deep-line")), json.dumps(ok[3]),
             '{"eventID": "too-deep", "x": ' + "[" * 1100 + "]" * 1100 + "}"]  # fmt: skip
    return [s3, _write_jsonl(tmp_path / "in" / "b.jsonl", lines)]


def _check_nesting_rows(rows: List[Dict[str, Any]]) -> None:
    assert len(rows) == 7
    errors = {r.get("eventID", r.get("ctad_input_ref")): r["ct_error"] for r in rows if r["ct_error"]}
    assert set(errors) == {"deep-s3", "deep-line", f"{rows[-1].get('ctad_input_ref')}"}
    assert (
        "nested more than 200 levels" in errors["deep-s3"] and "nested more than 200" in errors["deep-line"]
    )
    assert all(r["ct_score"] is not None for r in rows if not r["ct_error"])
    by_id = {r.get("eventID"): r for r in rows}
    assert by_id["deep-s3"]["requestParameters"]["bucketName"] == "b"  # kept, with the depth beyond 200 cut
    assert bounded.NESTING_TRUNCATED in json.dumps(by_id["deep-s3"])
    policy = by_id["deep-line"]["requestParameters"][
        "policy"
    ]  # a JSON line keeps its own text, all 300 levels
    assert bounded.too_deep(policy, limit=299) and bounded.NESTING_TRUNCATED not in json.dumps(policy)


def test_deep_nesting_is_a_row_with_ct_error_in_one_process_and_in_parallel(tmp_path):
    inputs = _nesting_inputs(tmp_path)
    single = _detect(tmp_path, inputs, 1)
    parallel = _detect(tmp_path, inputs, 2)
    assert single == parallel
    _check_nesting_rows(single)
    csv_out = tmp_path / "out.csv"
    assert main(["detect", *map(str, inputs), "-o", str(csv_out), "-q", "--workers", "1"]) == 0
    assert csv_out.read_text().count("nested more than 200 levels") == 2


def test_deep_nesting_without_orjson_gives_the_same_answers(tmp_path):
    """Splunk's Python has no orjson: the standard library path must decide alike (and not recurse to death)."""
    inputs = _nesting_inputs(tmp_path)
    out = tmp_path / "stdlib.jsonl"
    code = ("import sys; sys.modules['orjson'] = None; from ctad.cli import main; "
            f"sys.exit(main(['detect', *{[str(p) for p in inputs]!r}, '-o', {str(out)!r}, '-q', '--workers', '1']))")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    stdlib = [json.loads(line) for line in out.read_text().splitlines()]
    _check_nesting_rows(stdlib)
    with_orjson = _detect(tmp_path, inputs, 1)
    # the last row's message quotes each parser's own words; every other answer is the same
    assert [_ct(r) for r in stdlib[:6]] == [_ct(r) for r in with_orjson[:6]]


def test_deep_nesting_in_splunk_raw_is_a_row_with_ct_error(tmp_path):
    ok = CloudTrailEvent(event_id="ok", time="2024-05-01T10:00:00Z").as_record()
    deep = _deep_event(300, "deep")
    rows = [splunk_row(ok), {"_time": "1714557605.000", "_raw": json.dumps(deep), "sourcetype": "aws:cloudtrail"},
            {"_time": "1714557606.000", "_raw": '{"eventName": "X", "a": ' + "[" * 1100 + "]" * 1100 + "}"}]  # fmt: skip
    out = _splunk(rows, tmp_path)
    assert out[0]["ct_error"] == "" and out[0]["ct_score"] != ""
    assert "nested more than 200 levels" in out[1]["ct_error"]
    assert out[2]["ct_error"] != "" and out[2]["ct_score"] == ""


def test_baseline_build_skips_deep_events(tmp_path, capsys):
    inputs = _nesting_inputs(tmp_path)
    out = tmp_path / "p.json"
    assert main(["baseline", "build", *map(str, inputs), "--out", str(out)]) == 0
    assert Profile.load(out).total == 4
    assert "3 rows skipped" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ 7. duplicate eventIDs
def _shared_id_pair() -> List[Dict[str, Any]]:
    """A benign ListBuckets and a StopLogging by another identity, sharing time and eventID."""
    benign = CloudTrailEvent(event_id="same-id", time="2024-05-01T10:00:00Z").as_record()
    evil = CloudTrailEvent(
        "StopLogging",
        "cloudtrail.amazonaws.com",
        event_id="same-id",
        time="2024-05-01T10:00:00Z",
        ip="203.0.113.9",
        params={"name": "main-trail"},
        identity=iam_user("mallory", key="AKIAEXAMPLE0000009"),
    ).as_record()
    history = timeline(60, identities=2)
    return history + [benign, evil]


def _by_content(rows: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Output rows keyed by their input content (eventIDs are not unique here)."""
    out: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        key = json.dumps({k: v for k, v in row.items() if not k.startswith("ct_")}, sort_keys=True)
        assert key not in out
        out[key] = _ct(row)
    return out


def test_events_sharing_an_event_id_are_two_events_whatever_the_order(tmp_path):
    records = _shared_id_pair()
    results = []
    for n, order in enumerate((records, list(reversed(records)))):
        path = _write_jsonl_records(tmp_path / f"o{n}" / "e.jsonl", order)
        half = len(order) // 2
        files = [_write_jsonl_records(tmp_path / f"p{n}" / "a.jsonl", order[:half]),
                 _write_jsonl_records(tmp_path / f"p{n}" / "b.jsonl", order[half:])]  # fmt: skip
        single = _detect(tmp_path, [Path(path)], 1, name=f"s{n}")
        parallel = _detect(tmp_path, [Path(f) for f in files], 2, name=f"p{n}")
        assert _by_content(single) == _by_content(parallel)
        results.append(_by_content(single))
    assert results[0] == results[1]
    pair = {v["ct_identity"]: v for k, v in results[0].items() if '"same-id"' in k}
    assert set(pair) == {"arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/mallory"}
    assert (
        pair["arn:aws:iam::111122223333:user/mallory"]["ct_severity"]
        != pair["arn:aws:iam::111122223333:user/alice"]["ct_severity"]
    )
    splunk = _splunk([splunk_row(r) for r in reversed(records)], tmp_path)
    for row in splunk:
        assert _splunk_ct(row) == results[0][json.dumps(json.loads(row["_raw"]), sort_keys=True)], row[
            "_raw"
        ][:120]


def test_true_redelivery_is_still_counted_once(tmp_path):
    records = timeline(30, identities=2)
    records.append(dict(records[5]))
    path = _write_jsonl_records(tmp_path / "e.jsonl", records)
    summary = tmp_path / "s.json"
    rows = _detect(tmp_path, [Path(path)], 1, "--summary-json", str(summary))
    assert _ct(rows[5]) == _ct(rows[-1])
    assert json.loads(summary.read_text())["duplicates"] == 1


def _public_lines(shared_data: Path) -> List[str]:
    lines = []
    for path in sorted((shared_data / "cloudtrail").glob("*.jsonl")):
        lines += [line for line in path.read_text().splitlines() if line.strip()]
    return lines


def test_public_events_answer_alike_for_any_order_and_every_door(shared_data, tmp_path):
    """The public attack events share many eventIDs: order, workers and Splunk must not change one answer."""
    lines = _public_lines(shared_data)
    fwd = _write_jsonl(tmp_path / "fwd" / "e.jsonl", lines)
    rev = _write_jsonl(tmp_path / "rev" / "e.jsonl", list(reversed(lines)))
    parts = [_write_jsonl(tmp_path / "parts" / f"{i:02d}.jsonl", lines[i::7]) for i in range(7)]
    forward = _by_content(_detect(tmp_path, [fwd], 1, name="fwd"))
    assert _by_content(_detect(tmp_path, [rev], 1, name="rev")) == forward
    assert _by_content(_detect(tmp_path, parts, 2, name="parts")) == forward
    records = [json.loads(line) for line in reversed(lines)]
    splunk = _splunk([splunk_row(r) for r in records], tmp_path, sizes=(500, 3, 50_000))
    for record, row in zip(records, splunk):
        key = json.dumps(record, sort_keys=True)
        if (
            key in forward
        ):  # rows the reader changes (e.g. `Records` wrappers) are compared by the tests above
            assert _splunk_ct(row) == forward[key], key[:160]


# -------------------------------------------------------------------------------------- 9. implausible times
def _history(days: int = 2, identities: int = 59) -> List[Dict[str, Any]]:
    start = 1714557600
    return [
        CloudTrailEvent(
            time=start + i * days * 86400 // (identities * 3),
            event_id=f"h-{i}",
            identity=iam_user(f"u{i % identities}"),
        ).as_record()
        for i in range(identities * 3)
    ]


def _odd_times() -> List[Dict[str, Any]]:
    return [
        CloudTrailEvent(time="2199-01-01T00:00:00Z", event_id="future").as_record(),
        CloudTrailEvent(time="1970-01-01T00:00:01Z", event_id="epoch").as_record(),
    ]


def test_implausible_times_never_move_the_baseline(tmp_path, capsys):
    history = _history()
    clean = tmp_path / "clean.json"
    poisoned = tmp_path / "poisoned.json"
    assert (
        main(["baseline", "build", _write_jsonl_records(tmp_path / "a.jsonl", history), "--out", str(clean)])
        == 0
    )
    odd = _write_jsonl_records(tmp_path / "b.jsonl", history + _odd_times())
    assert main(["baseline", "build", odd, "--out", str(poisoned)]) == 0
    assert "2 rows skipped" in capsys.readouterr().err
    a, b = Profile.load(clean).describe(), Profile.load(poisoned).describe()
    assert a == b and b["identities"] == 59 and b["trusted"] is False


def test_implausible_times_are_rows_with_ct_error_that_change_no_other_answer(tmp_path):
    history = _history()
    plain = _detect(tmp_path, [Path(_write_jsonl_records(tmp_path / "a.jsonl", history))], 1, name="plain")
    for workers in (1, 2):
        files = [Path(_write_jsonl_records(tmp_path / "b.jsonl", history)),
                 Path(_write_jsonl_records(tmp_path / "c.jsonl", _odd_times()))]  # fmt: skip
        rows = _detect(tmp_path, files, workers, name="odd")
        assert rows[: len(history)] == plain
        future, epoch = rows[len(history) :]
        assert "after this run's clock" in future["ct_error"] and future["ct_score"] is None
        assert "before CloudTrail existed" in epoch["ct_error"] and epoch["ct_score"] is None
    splunk = _splunk([splunk_row(r) for r in reversed(history + _odd_times())], tmp_path)
    assert (
        "implausible eventTime" in splunk[0]["ct_error"] and "implausible eventTime" in splunk[1]["ct_error"]
    )
    by_id = {r["eventID"]: r for r in plain}
    assert all(_splunk_ct(r) == _ct(by_id[r["eventID"]]) for r in splunk[2:])


def test_a_profile_stored_with_implausible_times_neither_prunes_nor_looks_trusted():
    now = 1714557600.0
    profile = Profile()
    profile.data["identities"] = {
        f"u{i}": {"n": 1, "first": now - 3600, "last": now - 3600, "hours": [0] * 24, "weekend": 0,
                  "seen": {k: {} for k in ("api", "ip", "net", "uaf", "region", "key")}} for i in range(3)
    }  # fmt: skip
    profile.data.update(first_time=1.0, last_time=7_258_000_000.0)  # 1970 and 2199, from an older version
    assert profile.trusted is False
    assert profile.prune(90) == 0 and len(profile.data["identities"]) == 3


def test_normalizer_refuses_times_relative_to_its_own_clock():
    from ctad.core.normalize import NormalizeError, Normalizer

    now = 1714557600.0
    normalizer = Normalizer(now=now)
    assert normalizer.normalize(CloudTrailEvent(time=now + 3600).as_record()).time == now + 3600
    with pytest.raises(NormalizeError, match="after this run's clock"):
        normalizer.normalize(CloudTrailEvent(time=now + 2 * 86400).as_record())
    with pytest.raises(NormalizeError, match="before CloudTrail existed"):
        normalizer.normalize(CloudTrailEvent(time="2013-10-31T23:59:59Z").as_record())
    with pytest.raises(NormalizeError, match="finite"):
        normalizer.normalize({**CloudTrailEvent().as_record(), "eventTime": 10**400})


# ------------------------------------------------------------------------------------- Splunk's ctadbaseline
def test_ctadbaseline_refuses_aggregate_rows_with_implausible_times(tmp_path):
    from ctad.splunk.baseline_command import BY_FIELDS

    rows = []
    for record in _history() + _odd_times()[:1]:
        row = splunk_row(record, with_raw=False)
        stats = {f: row.get(f) or "-" for f in BY_FIELDS}
        stats.update(count="1", first=row["_time"], last=row["_time"], ctad_hour="10", weekend_count="0")
        rows.append(stats)
    rows.append({**rows[0], "first": "1.000"})  # one row whose min(_time) is 1970
    baseline = [sys.executable, str(REPO / "bin" / "ctadbaseline.py")]
    _, (final,), out, _ = run_search(baseline, [], rows, [50, 7, 1000], str(tmp_path))
    meta = json.loads(next(r for r in out if r["kind"] == "meta")["value"])
    assert bounded.CLOUDTRAIL_START <= meta["first_time"] <= meta["last_time"] < bounded.latest_plausible()
    assert sum(r["kind"] == "id" for r in out) == 59
    assert "2 of 179 rows skipped" in json.dumps(final)


# ------------------------------------------------------------------------------------------ Elastic's door
def _fake_es_class():
    import importlib.util

    pytest.importorskip("elasticsearch")
    spec = importlib.util.spec_from_file_location(
        "ctad_h1_elastic_fake_es", REPO / "tests" / "elastic" / "fake_es.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.FakeES


def test_elastic_detect_keeps_events_apart_and_refuses_hostile_ones(tmp_path):
    """`ctad elastic detect` over ECS documents: shared eventIDs, a deep event.original, an impossible time."""
    fake_es_class = _fake_es_class()
    records = _shared_id_pair()
    deep = _deep_event(300, "deep")
    future = CloudTrailEvent(time="2199-01-01T00:00:00Z", event_id="future").as_record()
    docs = [ecs_from_raw(r) for r in records] + [ecs_from_raw(deep, keep_original=True)]
    odd = ecs_from_raw(future, keep_original=True)
    odd["@timestamp"] = "2024-05-01T10:00:09.000Z"  # inside the window: only the original record says 2199
    docs.append(odd)
    answers = []
    for n, order in enumerate((docs, list(reversed(docs)))):
        server = fake_es_class()
        url = server.start()
        try:
            ids = server.add_docs("logs-aws.cloudtrail-default", order)
            code = main(["elastic", "detect", "--url", url, "--index", "logs-aws.cloudtrail-*", "--from",
                         "2024-04-01T00:00:00Z", "--to", "2024-06-01T00:00:00Z", "--write", "update",
                         "--summary-json", str(tmp_path / f"s{n}.json")])  # fmt: skip
            assert code == 0
            stored = server.indices["logs-aws.cloudtrail-default"]
            answers.append({json.dumps(doc, sort_keys=True): _ct(stored[i]) for doc, i in zip(order, ids)})
        finally:
            server.stop()
    assert answers[0] == answers[1]
    got = answers[0]
    by_doc = [got[json.dumps(doc, sort_keys=True)] for doc in docs]
    benign, evil = by_doc[len(records) - 2], by_doc[len(records) - 1]
    assert benign["ct_identity"].endswith("user/alice") and evil["ct_identity"].endswith("user/mallory")
    assert "nested more than 200 levels" in by_doc[-2]["ct_error"]
    assert "implausible eventTime" in by_doc[-1]["ct_error"]
    cli = _by_content(_detect(tmp_path, [Path(_write_jsonl_records(tmp_path / "e.jsonl", records))], 1))
    assert [cli[json.dumps(r, sort_keys=True)]["ct_identity"] for r in records] == [
        b["ct_identity"] for b in by_doc[: len(records)]
    ]


def test_aggregate_rows_with_forged_numbers_are_bounded():
    """`| ctadbaseline` folds search results into a profile: a forged count, hour or weekend count cannot raise."""
    from ctad.core.catalog import Catalog
    from ctad.core.normalize import Normalizer

    normalizer = Normalizer(Catalog.load())
    event = normalizer.normalize(CloudTrailEvent().as_record())
    profile = Profile()
    profile.add_aggregate(
        event, 10**400, 1714550000.0, 1714557600.0, hour=float("nan"), weekend_count=float("inf")
    )
    profile.add_aggregate(event, -3, 1714550000.0, 1714557600.0)  # a negative count adds nothing
    profile.add_aggregate(event, 10**300, 1714550000.0, 1714557600.0, hour=0)  # sums stay bounded too
    ident = profile.data["identities"][event.identity]
    # one bound for every count a profile holds (h2's from_rows check), so what is written reads back unclamped
    assert ident["n"] == ident["weekend"] == ident["hours"][0] == profile_module.MAX_COUNT
    assert profile.data["total"] == profile_module.MAX_COUNT
    problems: dict = {}
    Profile.from_rows(list(profile.to_rows()), problems)
    assert problems == {}
    state = profile.to_state(Catalog.load())
    row = state.process(
        normalizer.normalize(CloudTrailEvent(time="2024-05-01T10:00:01Z", event_id="x").as_record())
    )
    assert all(isinstance(v, (int, float)) for v in row)


def test_a_record_beyond_the_parser_limit_does_not_take_its_file_with_it(tmp_path):
    """An S3 file whose one record nests deeper than any parser reads: the file's other events are still rows."""
    ok = [
        json.dumps(CloudTrailEvent(event_id=f"ok-{i}", time=f"2024-05-01T10:00:0{i}Z").as_record())
        for i in range(2)
    ]
    deep = '{"eventID": "too-deep", "p": ' + "[" * 1100 + "]" * 1100 + "}"
    path = tmp_path / "in" / "x.json.gz"
    path.parent.mkdir()
    with gzip.open(path, "wt") as fh:
        fh.write('{"Records": [' + ok[0] + ", " + deep + ", " + ok[1] + "]}")
    for workers in (1, 2):
        rows = _detect(tmp_path, [path], workers)
        assert [r.get("eventID") for r in rows] == ["ok-0", None, "ok-1"]
        assert rows[0]["ct_error"] == rows[2]["ct_error"] == "" and rows[1]["ct_error"].startswith(
            "record 1:"
        )
        assert rows[1]["ctad_input"].startswith('{"eventID": "too-deep"')
    out = tmp_path / "stdlib.jsonl"
    code = ("import sys; sys.modules['orjson'] = None; from ctad.cli import main; "
            f"sys.exit(main(['detect', {str(path)!r}, '-o', {str(out)!r}, '-q', '--workers', '1']))")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    stdlib = [json.loads(line) for line in out.read_text().splitlines()]
    assert [_ct(r) for r in stdlib[::2]] == [_ct(r) for r in rows[::2]] and stdlib[1]["ct_error"].startswith(
        "record 1:"
    )


def test_a_long_run_of_one_event_id_across_scoring_batches(tmp_path, monkeypatch):
    """300 different events sharing one time and eventID (plus re-deliveries): one tie group longer than a
    parallel scoring batch, so batches fill up before any of the group is final."""
    from ctad.engine import pipeline

    monkeypatch.setattr(pipeline, "SCORE_BATCH", 64)
    monkeypatch.setattr(pipeline, "UNIT_ROWS", 30)
    monkeypatch.setattr(pipeline, "TASK_BYTES", 3000)
    records = [
        CloudTrailEvent(
            event_id="same", ip=f"198.51.100.{i % 250}", identity=iam_user("alice", key=f"AKIA{i:016d}")
        ).as_record()
        for i in range(300)
    ]
    records += [dict(records[i]) for i in range(0, 300, 7)]
    files = [Path(_write_jsonl_records(tmp_path / f"f{k}.jsonl", records[k::3])) for k in range(3)]
    summaries = [tmp_path / "s1.json", tmp_path / "s2.json"]
    single = _detect(tmp_path, files, 1, "--summary-json", str(summaries[0]))
    parallel = _detect(tmp_path, files, 2, "--summary-json", str(summaries[1]))
    assert single == parallel and len(single) == 343
    assert [json.loads(p.read_text())["duplicates"] for p in summaries] == [43, 43]
