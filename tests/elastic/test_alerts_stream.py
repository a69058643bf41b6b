"""ECS alerts in the ``logs-ctad.alerts-<namespace>`` data stream (issue 12, Elastic): the template the real client
sends, the documents' ECS fields, and re-runs that overwrite instead of duplicating, also after a rollover."""

from __future__ import annotations

import json

from ctad.cli import main

INDEX = ".ds-logs-aws.cloudtrail-default-2026.11.20-000001"
WINDOW = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T00:00:00Z"]
STREAM = "logs-ctad.alerts-test"


def _dataset(fake_es, make_ecs):
    docs = [make_ecs(i, user="alice" if i % 2 else "bob") for i in range(40)]
    docs.append(
        make_ecs(90, action="CreateAccessKey", provider="iam.amazonaws.com", user="alice", ip="203.0.113.66")
    )
    docs.append({"@timestamp": "2026-11-20T09:40:00Z", "event": {"kind": "event"}, "message": "truncated"})
    return fake_es.add_docs(INDEX, docs)


def _detect(fake_es, tiny_model, tmp_path, *extra, name="summary.json"):
    summary = tmp_path / name
    code = main(["elastic", "detect", "--url", fake_es.url, "--index", INDEX, *WINDOW, "--model", str(tiny_model),
                 "--threshold", "0.5", "--page-size", "10", "--chunk-size", "7", "--summary-json", str(summary),
                 "--write", "stream:test", *extra])  # fmt: skip
    return code, json.loads(summary.read_text())


def _stream_docs(fake_es):
    out = {}
    for backing in fake_es.data_streams[STREAM]:
        for doc_id, doc in fake_es.indices[backing].items():
            assert doc_id not in out, f"{doc_id} is in two backing indices: a duplicate alert"
            out[doc_id] = doc
    return out


def test_template_sends_a_data_stream_template_with_lifecycle_and_ecs_mappings(fake_es):
    assert main(["elastic", "template", "--url", fake_es.url, "--retention", "30d"]) == 0
    body = fake_es.templates["logs-ctad.alerts"]
    assert body["index_patterns"] == ["logs-ctad.alerts-*"]
    assert body["data_stream"] == {}
    assert body["composed_of"] == ["ecs@mappings"]
    assert body["template"]["lifecycle"] == {"data_retention": "30d"}
    assert body["priority"] > 200  # above the built-in logs-*-* template
    assert "ctad-anomalies" in fake_es.templates  # the results-index template is still installed


def test_bad_retention_is_refused_before_connecting(capsys):
    assert main(["elastic", "template", "--url", "http://127.0.0.1:9", "--retention", "forever"]) == 2
    assert "retention" in capsys.readouterr().err


def test_every_row_becomes_an_ecs_document_in_the_data_stream(fake_es, make_ecs, tiny_model, tmp_path):
    ids = _dataset(fake_es, make_ecs)
    assert main(["elastic", "template", "--url", fake_es.url]) == 0
    code, summary = _detect(fake_es, tiny_model, tmp_path)
    assert code == 0, summary
    docs = _stream_docs(fake_es)
    assert len(docs) == len(ids)
    assert summary["write"]["created"] == len(ids) and summary["write"]["failed"] == 0
    by_source = {d["ctad"]["source_id"]: d for d in docs.values()}
    intrusion = by_source[ids[40]]
    assert intrusion["event"]["kind"] == "alert", intrusion["ctad"]
    assert intrusion["event"]["module"] == "ctad" and intrusion["event"]["dataset"] == "ctad.alerts"
    assert intrusion["event"]["action"] == "CreateAccessKey"
    assert intrusion["user"]["name"] == "alice" and intrusion["source"]["ip"] == "203.0.113.66"
    assert intrusion["cloud"]["account"]["id"] == "111122223333" and intrusion["cloud"]["provider"] == "aws"
    assert intrusion["event"]["risk_score"] == float(intrusion["ctad"]["risk"]) > 0
    assert intrusion["event"]["severity"] in (21, 47, 73, 99)
    assert intrusion["event"]["reason"] == "; ".join(intrusion["ctad"]["reasons"])
    assert intrusion["rule"]["name"] and intrusion["rule"]["version"] == "elastic-test"
    assert intrusion["ctad"]["incident"]["id"] and intrusion["ctad"]["identity"].endswith("user/alice")
    assert "ct_score" not in intrusion  # ctad's own fields live under ctad.*
    if intrusion["ctad"]["technique"]:
        assert intrusion["threat"]["framework"] == "MITRE ATT&CK"
        assert intrusion["threat"]["technique"]["id"][0] == intrusion["ctad"]["technique"].split(".")[0]
        assert intrusion["threat"]["tactic"]["id"] == [intrusion["ctad"]["tactic"]]
    routine = by_source[ids[0]]
    assert routine["event"]["kind"] in ("event", "alert")
    broken = by_source[ids[41]]
    assert broken["event"]["kind"] == "pipeline_error" and broken["ctad"]["error"] == "eventName is missing"


def test_a_row_without_timestamp_still_makes_a_document_the_stream_accepts():
    from ctad.core.schema import OUTPUT_FIELDS
    from ctad.elastic.writer import clean_ct

    fields = clean_ct(dict.fromkeys(OUTPUT_FIELDS, None) | {"ct_error": "eventName is missing"})
    from ctad.elastic.alerts import build_alert

    doc = build_alert(
        {}, fields, source_index="i", source_id="x", run_id="r", ingested="2026-12-06T10:00:00.000Z"
    )
    assert doc["@timestamp"] == "2026-12-06T10:00:00.000Z" and doc["ctad"]["timestamp_missing"] is True
    assert doc["event"]["kind"] == "pipeline_error" and doc["event"]["reason"] == "eventName is missing"


def test_rerun_overwrites_and_a_rollover_does_not_duplicate(fake_es, make_ecs, tiny_model, tmp_path):
    ids = _dataset(fake_es, make_ecs)
    assert main(["elastic", "template", "--url", fake_es.url]) == 0
    code, _ = _detect(fake_es, tiny_model, tmp_path)
    assert code == 0
    first = _stream_docs(fake_es)
    code, again = _detect(fake_es, tiny_model, tmp_path, name="again.json")
    assert code == 0
    assert again["write"]["overwritten"] == len(ids) and again["write"]["created"] == 0
    assert len(_stream_docs(fake_es)) == len(ids)
    # after a rollover the write index is new: a bare create by id would land a second copy there
    import urllib.request

    req = urllib.request.Request(f"{fake_es.url}/{STREAM}/_rollover", method="POST",
                                 headers={"Accept": "application/vnd.elasticsearch+json;compatible-with=9"})  # fmt: skip
    urllib.request.urlopen(req).read()
    assert len(fake_es.data_streams[STREAM]) == 2
    code, third = _detect(fake_es, tiny_model, tmp_path, name="third.json")
    assert code == 0 and third["write"]["overwritten"] == len(ids)
    after = _stream_docs(fake_es)  # asserts no id is in two backing indices
    assert set(after) == set(first)
    assert fake_es.indices[fake_es.data_streams[STREAM][1]] == {}
    # same verdict again: the alert keeps its first event.ingested, so the Security rule does not fire twice
    for doc_id, doc in after.items():
        assert doc["event"]["ingested"] == first[doc_id]["event"]["ingested"]


def test_create_conflict_is_already_present_not_a_failure(fake_es, make_ecs, tiny_model, tmp_path):
    ids = _dataset(fake_es, make_ecs)
    assert main(["elastic", "template", "--url", fake_es.url]) == 0
    code, _ = _detect(fake_es, tiny_model, tmp_path)
    assert code == 0
    fake_es.hide_from_id_lookups = True  # as if written less than a refresh ago by another run
    code, summary = _detect(fake_es, tiny_model, tmp_path, name="again.json")
    assert code == 0
    assert summary["write"]["already_present"] == len(ids) and summary["write"]["failed"] == 0
    assert len(_stream_docs(fake_es)) == len(ids)


def test_lookup_failure_fails_every_row_counted(fake_es, make_ecs, tiny_model, tmp_path):
    ids = _dataset(fake_es, make_ecs)
    fake_es.fail_id_lookups = True
    failed = tmp_path / "failed.jsonl"
    code, summary = _detect(fake_es, tiny_model, tmp_path, "--failed-out", str(failed))
    fake_es.expect_shape_errors = True
    assert code == 1
    assert summary["write"]["failed"] == len(ids) and summary["write"]["written"] == 0
    assert len(failed.read_text().splitlines()) == len(ids)


def test_stream_namespace_is_checked(fake_es, tmp_path, capsys):
    code = main(["elastic", "detect", "--url", fake_es.url, "--write", "stream:Bad-NS"])
    assert code == 2
    assert "namespace" in capsys.readouterr().err


def test_an_overwrite_clears_what_the_new_result_no_longer_has():
    from ctad.core.schema import OUTPUT_FIELDS
    from ctad.elastic.writer import WriteTarget, build_stream_action

    ct = dict.fromkeys(OUTPUT_FIELDS, None) | {"ct_anomaly": 0, "ct_score": 0.1}
    meta = {"_index": "src", "_id": "1", "key": {"@timestamp": "2026-11-20T08:00:00Z"}}
    target = WriteTarget("stream", "logs-ctad.alerts-x")
    created = build_stream_action(meta, ct, target, "r", "2026-12-06T10:00:00.000Z")
    assert created["_op_type"] == "create" and "threat" not in created["_source"]
    action = build_stream_action(meta, ct, target, "r", "2026-12-06T10:00:00.000Z", (".ds-x-000001", "alert"))
    assert action["_op_type"] == "update" and action["_index"] == ".ds-x-000001"
    doc = action["doc"]
    assert (
        doc["threat"] is None and doc["event"]["reason"] is None
    )  # the old alert's ATT&CK ids and reasons go
    assert doc["event"]["ingested"] == "2026-12-06T10:00:00.000Z"  # alert -> event: kind changed, seen again
    assert "triage" not in doc["ctad"]  # a verdict already written is left alone
