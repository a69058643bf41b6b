"""streaming_bulk write-back: update and results-index round trips, 429 retries, every row accounted for."""

from __future__ import annotations

import io
import json
import math

import pytest
from ctad.elastic.reader import read_documents
from ctad.elastic.templates import ct_field_mappings, install_results_template, results_template
from ctad.elastic.writer import (
    CT_FIELDS,
    WriteTarget,
    clean_ct,
    get_path,
    parse_write_target,
    result_id,
    row_meta,
    write_results,
)

INDEX = ".ds-logs-aws.cloudtrail-default-2026.11.20-000001"


def _ct(n: int) -> dict:
    """A result dict the way the detector hands it over (score derived from the row number, not constant)."""
    return {
        "ct_score": round((n % 10) / 10, 2),
        "ct_anomaly": 1 if n % 10 == 9 else 0,
        "ct_severity": "high" if n % 10 == 9 else "informational",
        "ct_reasons": [f"reason {n}"] if n % 10 == 9 else [],
        "ct_tactic": "TA0007" if n % 10 == 9 else "",
        "ct_technique": "",
        "ct_identity": f"arn:aws:iam::111122223333:user/u{n % 3}",
        "ct_model": "test-1",
        "ct_error": "",
    }


def _rows(client, with_key=False):
    for n, doc in enumerate(read_documents(client, INDEX, page_size=100)):
        yield row_meta(doc, with_key), _ct(n)


def test_update_writes_ct_fields_onto_the_source_documents(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(250)])
    report = write_results(es_client, _rows(es_client), WriteTarget("update"), chunk_size=60)
    assert (report.attempted, report.written, report.failed) == (250, 250, 0)
    stored = list(fake_es.indices[INDEX].values())
    assert all(set(CT_FIELDS) <= set(doc) for doc in stored)
    assert sum(doc["ct_anomaly"] for doc in stored) == 25
    assert stored[0]["event"]["action"] == "DescribeInstances"  # partial update kept the rest
    assert fake_es.bulk_calls == 5  # 250 rows / 60 per chunk
    actions = [
        json.loads(line) for m, p, b in fake_es.requests if p == "/_bulk" for line in b.splitlines()[::2]
    ]
    assert all(a["update"]["retry_on_conflict"] == 3 for a in actions[:5])


def test_results_index_round_trip_with_template(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i, user=f"u{i % 4}") for i in range(120)])
    assert install_results_template(es_client)["acknowledged"] is True
    target = parse_write_target("index:ctad-anomalies-test")
    report = write_results(es_client, _rows(es_client, with_key=True), target, run_id="r1")
    assert report.written == 120 and report.failed == 0
    results = fake_es.indices["ctad-anomalies-test"]
    assert len(results) == 120
    source_ids = set(fake_es.indices[INDEX])
    for rid, doc in results.items():
        assert doc["ctad"]["source_index"] == INDEX and doc["ctad"]["source_id"] in source_ids
        assert rid == result_id(INDEX, doc["ctad"]["source_id"])
        assert (
            doc["event"]["action"] == "DescribeInstances" and doc["cloud"]["account"]["id"] == "111122223333"
        )
        assert doc["aws"]["cloudtrail"]["user_identity"]["arn"].startswith("arn:aws:iam::111122223333:user/u")
        assert "@timestamp" in doc and set(CT_FIELDS) <= set(doc)
    # a rerun overwrites instead of duplicating
    again = write_results(es_client, _rows(es_client, with_key=True), target, run_id="r2")
    assert again.written == 120 and len(fake_es.indices["ctad-anomalies-test"]) == 120
    assert {d["ctad"]["run_id"] for d in results.values()} == {"r2"}


def test_anomalies_only_skips_the_rest_but_keeps_errors(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(40)])

    def rows():
        for meta, ct in _rows(es_client, with_key=True):
            if meta["_id"].endswith("-5"):
                ct = dict(ct, ct_error="could not read the event")
            yield meta, ct

    report = write_results(es_client, rows(), WriteTarget("index", "ctad-anomalies-x"), anomalies_only=True)
    assert report.written == 5 and report.skipped == 35  # 4 anomalies + the error row


def test_429_items_are_retried_with_backoff(fake_es, es_client, make_ecs):
    ids = fake_es.add_docs(INDEX, [make_ecs(i) for i in range(50)])
    for doc_id in ids[10:20]:
        fake_es.reject_429[doc_id] = 2
    report = write_results(
        es_client, _rows(es_client), WriteTarget("update"), max_retries=3, initial_backoff=0.01
    )
    assert report.written == 50 and report.failed == 0
    assert fake_es.bulk_calls == 3  # the original request + two retries carrying only the rejected items
    assert all("ct_score" in fake_es.indices[INDEX][i] for i in ids)


def test_exhausted_429_retries_are_counted_and_dead_lettered(fake_es, es_client, make_ecs):
    ids = fake_es.add_docs(INDEX, [make_ecs(i) for i in range(30)])
    for doc_id in ids[:4]:
        fake_es.reject_429[doc_id] = 10
    sink = io.StringIO()
    report = write_results(
        es_client,
        _rows(es_client),
        WriteTarget("update"),
        max_retries=2,
        initial_backoff=0.01,
        failed_sink=sink,
    )
    assert (report.written, report.failed) == (26, 4)
    assert report.by_status == {429: 4}
    dead = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert sorted(d["_id"] for d in dead) == sorted(ids[:4])
    assert all(d["status"] == 429 and "es_rejected_execution_exception" in d["error"] for d in dead)
    assert all(set(d["ct"]) == set(CT_FIELDS) for d in dead)


def test_whole_request_429_is_retried(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(20)])
    fake_es.bulk_request_429 = 1
    report = write_results(es_client, _rows(es_client), WriteTarget("update"), initial_backoff=0.01)
    assert report.written == 20 and fake_es.bulk_calls == 2


def test_missing_documents_fail_alone(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(10)])
    rows = list(_rows(es_client))
    rows.insert(3, ({"_index": INDEX, "_id": "gone"}, _ct(3)))
    rows.insert(5, ({"_index": None, "_id": None}, _ct(4)))  # e.g. a document read from a file
    sink = io.StringIO()
    report = write_results(es_client, rows, WriteTarget("update"), failed_sink=sink)
    assert (report.attempted, report.written, report.failed) == (12, 10, 2)
    assert report.by_status == {404: 1, "no-id": 1}
    assert len(sink.getvalue().splitlines()) == 2


def test_connection_lost_mid_write_counts_every_unsent_row(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(100)])
    rows = list(_rows(es_client))

    def feed():
        for n, row in enumerate(rows):
            if n == 50:
                fake_es.dead = True  # the cluster drops every connection from now on
            yield row

    sink = io.StringIO()
    report = write_results(es_client, feed(), WriteTarget("update"), chunk_size=20, failed_sink=sink)
    assert report.aborted.startswith("ConnectionError")
    assert report.attempted == 100 and report.written + report.failed == 100
    assert report.written == 40  # two chunks made it before the cut
    assert report.by_status["aborted"] + report.by_status["not-sent"] == 60
    assert len(sink.getvalue().splitlines()) == 60
    written = {i for i, d in fake_es.indices[INDEX].items() if "ct_score" in d}
    dead = {json.loads(line)["_id"] for line in sink.getvalue().splitlines()}
    assert written.isdisjoint(dead) and len(written | dead) == 100


def test_clean_ct_makes_rows_safe_for_the_mapping():
    out = clean_ct({"ct_score": float("nan"), "ct_anomaly": True, "ct_reasons": "one", "ct_tactic": None})
    assert out["ct_score"] is None and out["ct_anomaly"] == 1 and out["ct_reasons"] == ["one"]
    assert out["ct_tactic"] == "" and list(out) == list(CT_FIELDS)
    assert clean_ct({"ct_score": "0.25"})["ct_score"] == 0.25
    assert not math.isnan(clean_ct({"ct_score": "x"})["ct_score"] or 0)


def test_write_target_parsing():
    assert parse_write_target("none") is None and parse_write_target(None) is None
    assert parse_write_target("update") == WriteTarget("update")
    assert parse_write_target("index") == WriteTarget("index", "ctad-anomalies-default")
    assert parse_write_target("index:ctad-anomalies-prod").index == "ctad-anomalies-prod"
    for bad in ("index:Bad Name", "index:_x", "upsert", "index:-x"):
        with pytest.raises(ValueError):
            parse_write_target(bad)


def test_get_path_reads_nested_dotted_and_mixed_sources():
    doc = {"event": {"action": "A"}, "cloud.region": "r", "aws": {"cloudtrail.user_identity": {"arn": "x"}}}
    assert get_path(doc, "event.action") == "A"
    assert get_path(doc, "cloud.region") == "r"
    assert get_path(doc, "aws.cloudtrail.user_identity.arn") == "x"
    assert get_path(doc, "event.provider") is None and get_path("notadict", "a") is None


def test_template_maps_every_ct_field():
    tpl = results_template()
    assert tpl["index_patterns"] == ["ctad-anomalies-*"]
    props = ct_field_mappings()["properties"]
    assert set(props) == set(CT_FIELDS)
    assert props["ct_score"]["type"] == "float" and props["ct_anomaly"]["type"] == "byte"


def test_fake_cluster_enforces_the_template_mapping(fake_es, es_client):
    """A boolean in the byte field is refused like Elasticsearch would: why clean_ct normalises ct_anomaly."""
    from elasticsearch import helpers

    install_results_template(es_client)
    ok, errors = helpers.bulk(
        es_client,
        [
            {"_index": "ctad-anomalies-x", "_id": "1", "ct_anomaly": True},
            {"_index": "ctad-anomalies-x", "_id": "2", "ct_anomaly": 1},
        ],
        raise_on_error=False,
    )
    assert ok == 1 and errors[0]["index"]["status"] == 400
