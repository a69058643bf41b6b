"""``ctad elastic`` end to end: the real engine and client against the fake cluster."""

from __future__ import annotations

import gzip
import json

import pytest
from ctad.cli import main
from ctad.core.schema import OUTPUT_FIELDS

INDEX = ".ds-logs-aws.cloudtrail-default-2026.11.20-000001"
WINDOW = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T00:00:00Z"]


def _dataset(fake_es, make_ecs):
    """Routine activity, one intrusion (new user, new API, new address) and one document the engine cannot read."""
    docs = [make_ecs(i, user="alice" if i % 2 else "bob") for i in range(80)]
    docs.append(
        make_ecs(90, action="CreateAccessKey", provider="iam.amazonaws.com", user="alice", ip="203.0.113.66")
    )
    broken = {"@timestamp": "2026-11-20T09:40:00Z", "event": {"kind": "event"}, "message": "truncated record"}
    docs.append(broken)
    ids = fake_es.add_docs(INDEX, docs)
    return ids, ids[-1]


def _detect(fake_es, tiny_model, tmp_path, *extra):
    summary = tmp_path / "summary.json"
    code = main(["elastic", "detect", "--url", fake_es.url, "--index", "logs-aws.cloudtrail-*,.ds-logs-aws.*",
                 *WINDOW, "--model", str(tiny_model), "--page-size", "25", "--summary-json", str(summary),
                 *extra])  # fmt: skip
    return code, json.loads(summary.read_text())


def test_detect_updates_every_source_document(fake_es, make_ecs, tiny_model, tmp_path):
    ids, broken_id = _dataset(fake_es, make_ecs)
    code, summary = _detect(fake_es, tiny_model, tmp_path, "--write", "update")
    assert code == 0
    stored = fake_es.indices[INDEX]
    assert all(set(OUTPUT_FIELDS) <= set(stored[i]) for i in ids)
    broken = stored[broken_id]
    assert broken["ct_error"] == "eventName is missing" and broken["ct_score"] is None
    scored = [stored[i] for i in ids if i != broken_id]
    assert all(d["ct_error"] == "" and 0.0 <= d["ct_score"] <= 1.0 for d in scored)
    assert {d["ct_identity"] for d in scored} == {
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:user/bob",
    }
    intrusion = stored[ids[-2]]
    routine = [stored[i]["ct_score"] for i in ids[40:80]]
    assert intrusion["ct_score"] > max(routine)  # the model's rule: novel API from a novel address
    assert summary["read"]["documents"] == 82 and summary["read"]["pit_closed"] is True
    assert summary["detector"]["rows"] == 82 and summary["detector"]["errors"] == 1
    assert summary["write"]["written"] == 82 and summary["write"]["failed"] == 0
    assert fake_es.open_pits() == []


def test_detect_writes_a_results_index_and_local_jsonl(fake_es, make_ecs, tiny_model, tmp_path):
    ids, broken_id = _dataset(fake_es, make_ecs)
    assert main(["elastic", "template", "--url", fake_es.url]) == 0
    out = tmp_path / "results.jsonl.gz"
    code, summary = _detect(
        fake_es, tiny_model, tmp_path, "--write", "index:ctad-anomalies-test", "--out", str(out)
    )
    assert code == 0
    results = fake_es.indices["ctad-anomalies-test"]
    assert len(results) == 82
    by_source = {d["ctad"]["source_id"]: d for d in results.values()}
    assert set(by_source) == set(ids)
    assert by_source[broken_id]["ct_error"] == "eventName is missing"
    assert by_source[ids[0]]["event"]["action"] == "DescribeInstances"
    assert by_source[ids[0]]["user"]["name"] in ("alice", "bob")
    with gzip.open(out, "rt") as fh:
        lines = [json.loads(line) for line in fh]
    assert sorted(line["_id"] for line in lines) == sorted(ids)
    assert {line["_id"]: line["ct_score"] for line in lines} == {
        k: v["ct_score"] for k, v in by_source.items()
    }
    assert summary["results"] == {"rows": 82, "anomalies": summary["detector"]["anomalies"], "errors": 1}


def test_ecs_documents_score_like_the_raw_records(fake_es, make_ecs, tiny_model, tmp_path):
    """The same events as ECS documents (via Elasticsearch) and as raw CloudTrail must get the same answers."""
    from ctad.engine.detect import score_rows

    docs = [make_ecs(i, user=f"u{i % 3}", ip=f"198.51.100.{i % 5}", keep_original=True) for i in range(40)]
    for doc in docs:  # make the ECS path do the work: without event.original the normaliser reads ECS fields
        doc["event"]["original_copy"] = doc["event"].pop("original")
    ids = fake_es.add_docs(INDEX, docs)
    code, _ = _detect(fake_es, tiny_model, tmp_path, "--write", "update")
    assert code == 0
    raw = [json.loads(d["event"]["original_copy"]) for d in docs]
    expected = score_rows(raw, model_dir=str(tiny_model))
    stored = fake_es.indices[INDEX]
    for doc_id, exp in zip(ids, expected):
        got = stored[doc_id]
        assert got["ct_identity"] == exp["ct_identity"]
        assert got["ct_score"] == pytest.approx(exp["ct_score"], abs=1e-6)
        assert got["ct_anomaly"] == exp["ct_anomaly"]


def test_429_rejections_during_detect_are_retried(fake_es, make_ecs, tiny_model, tmp_path):
    ids, _ = _dataset(fake_es, make_ecs)
    for doc_id in ids[:30]:
        fake_es.reject_429[doc_id] = 1
    code, summary = _detect(fake_es, tiny_model, tmp_path, "--write", "update", "--initial-backoff", "0.01")
    assert code == 0 and summary["write"]["written"] == 82 and fake_es.bulk_calls == 2


def test_unwritable_rows_make_the_run_fail_loudly(fake_es, make_ecs, tiny_model, tmp_path, capsys):
    ids, _ = _dataset(fake_es, make_ecs)
    for doc_id in ids[:3]:
        fake_es.reject_429[doc_id] = 99
    failed = tmp_path / "failed.jsonl"
    code, summary = _detect(fake_es, tiny_model, tmp_path, "--write", "update", "--max-retries", "1",
                            "--initial-backoff", "0.01", "--failed-out", str(failed))  # fmt: skip
    assert code == 1
    assert summary["write"]["failed"] == 3 and summary["write"]["failed_by_status"] == {"429": 3}
    assert sorted(json.loads(line)["_id"] for line in failed.read_text().splitlines()) == sorted(ids[:3])
    assert "3 of 82 rows were not written" in capsys.readouterr().err


def test_baseline_is_created_then_used(fake_es, make_ecs, tiny_model, tmp_path):
    _dataset(fake_es, make_ecs)
    baseline = tmp_path / "profile.json.gz"
    code, first = _detect(fake_es, tiny_model, tmp_path, "--baseline", str(baseline))
    assert code == 0 and baseline.exists() and first["baseline"] is None
    code, second = _detect(fake_es, tiny_model, tmp_path, "--baseline", str(baseline))
    assert code == 0 and second["baseline"] is not None


def test_export_original_and_ecs(fake_es, make_ecs, tmp_path, capsys):
    with_original = [make_ecs(i, keep_original=True) for i in range(30)]
    without = [make_ecs(100 + i) for i in range(5)]
    ids = fake_es.add_docs(INDEX, with_original + without)
    out = tmp_path / "export.jsonl"
    assert (
        main(["elastic", "export", "--url", fake_es.url, "--index", INDEX, *WINDOW, "--out", str(out)]) == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 35 and sorted(line["_id"] for line in lines) == sorted(ids)
    raw = [line for line in lines if "eventName" in line]
    assert len(raw) == 30 and all(line["userIdentity"]["type"] == "IAMUser" for line in raw)
    assert sum(1 for line in lines if "event" in line) == 5
    report = json.loads(capsys.readouterr().err)
    assert report["export"] == {"written": 35, "original": 30, "ecs": 5, "original_missing": 0}

    out2 = tmp_path / "export-ecs.jsonl.gz"
    assert main(["elastic", "export", "--url", fake_es.url, "--index", INDEX, *WINDOW, "--out", str(out2),
                 "--format", "ecs"]) == 0  # fmt: skip
    with gzip.open(out2, "rt") as fh:
        ecs = [json.loads(line) for line in fh]
    assert len(ecs) == 35 and all("event" in d and "eventName" not in d for d in ecs)


def test_exported_lines_feed_the_engine(fake_es, make_ecs, tiny_model, tmp_path):
    from ctad.engine.detect import score_rows

    fake_es.add_docs(INDEX, [make_ecs(i, keep_original=i % 2 == 0) for i in range(20)])
    out = tmp_path / "export.jsonl"
    assert (
        main(["elastic", "export", "--url", fake_es.url, "--index", INDEX, *WINDOW, "--out", str(out)]) == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    results = score_rows(rows, model_dir=str(tiny_model))
    assert len(results) == 20 and all(r["ct_error"] == "" for r in results)


def test_template_print_is_the_shipped_json(capsys):
    assert main(["elastic", "template", "--print"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["index_patterns"] == ["ctad-anomalies-*"]
    assert printed["template"]["mappings"]["properties"]["ct_score"] == {"type": "float"}


def test_option_and_connection_errors_are_messages_not_tracebacks(tmp_path, capsys, monkeypatch):
    for var in ("CTAD_ES_URL", "CTAD_ES_API_KEY", "CTAD_ES_USER", "CTAD_ES_PASSWORD", "CTAD_ES_CA_CERTS"):
        monkeypatch.delenv(var, raising=False)
    assert main(["elastic", "detect"]) == 2
    assert "no Elasticsearch URL" in capsys.readouterr().err
    assert main(["elastic", "export", "--url", "http://127.0.0.1:9", "--api-key", "k", "--user", "u",
                 "--password", "p", "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "either an API key" in capsys.readouterr().err
    assert main(["elastic", "detect", "--url", "http://127.0.0.1:9", "--write", "upsert"]) == 2
    assert "--write must be" in capsys.readouterr().err
    assert main(["elastic", "export", "--url", "http://127.0.0.1:9", "--slice", "x", "--out", "-"]) == 2
    assert (
        main(["elastic", "detect", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "no" / "x")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    # nothing listens on port 9: the read fails with a one-line reason
    code = main(["elastic", "export", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "x.jsonl"),
                 "--request-timeout", "2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and "ConnectionError" in err and "Traceback" not in err


def test_api_key_auth(make_ecs, tmp_path, capsys, monkeypatch):
    import ctad_tests_fake_es as fake_mod

    server = fake_mod.FakeES(api_key="a2V5aWQ6c2VjcmV0")
    url = server.start()
    try:
        server.add_docs(INDEX, [make_ecs(i) for i in range(5)])
        out = tmp_path / "x.jsonl"
        assert main(["elastic", "export", "--url", url, "--index", INDEX, *WINDOW, "--out", str(out)]) == 3
        assert "AuthenticationException" in capsys.readouterr().err
        monkeypatch.setenv("CTAD_ES_API_KEY", "a2V5aWQ6c2VjcmV0")
        assert main(["elastic", "export", "--url", url, "--index", INDEX, *WINDOW, "--out", str(out)]) == 0
        assert len(out.read_text().splitlines()) == 5
        assert server.shape_errors == []
    finally:
        server.stop()
