"""The PIT + search_after reader against the real client and the strict fake cluster."""

from __future__ import annotations

import pytest
from ctad.elastic.reader import ReadStats, build_query, parse_query, read_documents
from elasticsearch import BadRequestError, NotFoundError

INDEX = ".ds-logs-aws.cloudtrail-default-2026.11.20-000001"


def _load(fake_es, make_ecs, n, index=INDEX, **kw):
    return fake_es.add_docs(index, [make_ecs(i, **kw) for i in range(n)])


def test_reads_every_document_once_in_time_order_across_pages(fake_es, es_client, make_ecs):
    ids = _load(fake_es, make_ecs, 537)
    stats = ReadStats()
    docs = list(
        read_documents(
            es_client, "logs-aws.cloudtrail-*,.ds-logs-aws.cloudtrail-*", page_size=50, stats=stats
        )
    )
    assert sorted(d["_id"] for d in docs) == sorted(ids)
    assert all(d["_index"] == INDEX for d in docs)
    stamps = [d["@timestamp"] for d in docs]
    assert stamps == sorted(stamps)
    assert docs[0]["event"]["action"] == "DescribeInstances"  # _source kept as is
    assert stats.documents == 537 and stats.pages == 11  # 10 full pages + the short last one
    assert stats.pit_closed and fake_es.open_pits() == []


def test_each_page_uses_the_pit_id_from_the_previous_response(fake_es, es_client, make_ecs):
    _load(fake_es, make_ecs, 120)
    list(read_documents(es_client, INDEX, page_size=25))
    (pit,) = fake_es.pits.values()
    # the fake rotates the id on every response: generation k+1 must follow generation k
    assert pit["uses"] == [f"pit1.{g}" for g in range(len(pit["uses"]))]
    assert len(pit["uses"]) == 5


def test_ties_on_timestamp_are_broken_by_shard_doc(fake_es, es_client, make_ecs):
    ids = fake_es.add_docs(INDEX, [make_ecs(i, minutes=0) for i in range(230)])
    docs = list(read_documents(es_client, INDEX, page_size=40))
    assert len(docs) == 230 and sorted(d["_id"] for d in docs) == sorted(ids)


def test_time_range_is_gte_from_lt_to_and_user_query_applies(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i, user="alice" if i % 2 else "bob") for i in range(100)])
    window = list(
        read_documents(
            es_client, INDEX, time_from="2026-11-20T08:10:00Z", time_to="2026-11-20T08:30:00Z", page_size=7
        )
    )
    assert [d["@timestamp"][11:16] for d in window] == [f"08:{m:02d}" for m in range(10, 30)]
    bobs = list(read_documents(es_client, INDEX, query=parse_query('{"term": {"user.name": "bob"}}')))
    assert len(bobs) == 50 and {d["user"]["name"] for d in bobs} == {"bob"}
    lucene = list(read_documents(es_client, INDEX, query=parse_query("user.name:alice")))
    assert len(lucene) == 50 and {d["user"]["name"] for d in lucene} == {"alice"}


def test_pit_is_closed_when_a_search_fails(fake_es, es_client, make_ecs):
    _load(fake_es, make_ecs, 300)
    fake_es.fail_search_call = 3
    stats = ReadStats()
    got = []
    with pytest.raises(BadRequestError):
        for doc in read_documents(es_client, INDEX, page_size=50, stats=stats):
            got.append(doc)
    assert len(got) == 100  # two good pages, then the failure surfaced
    assert fake_es.open_pits() == [] and stats.pit_closed


def test_pit_is_closed_when_the_consumer_stops_early(fake_es, es_client, make_ecs):
    _load(fake_es, make_ecs, 300)
    gen = read_documents(es_client, INDEX, page_size=50)
    first = [next(gen) for _ in range(60)]
    assert len(first) == 60 and len(fake_es.open_pits()) == 1
    gen.close()
    assert fake_es.open_pits() == []


def test_missing_index_raises_and_opens_nothing(fake_es, es_client):
    with pytest.raises(NotFoundError):
        list(read_documents(es_client, "no-such-index"))
    assert fake_es.pits == {}


def test_explicit_slices_partition_the_documents(fake_es, es_client, make_ecs):
    ids = _load(fake_es, make_ecs, 400)
    parts = [
        [d["_id"] for d in read_documents(es_client, INDEX, page_size=30, slice_id=s, slice_max=3)]
        for s in range(3)
    ]
    assert all(parts), "every slice should get some documents"
    flat = [i for p in parts for i in p]
    assert sorted(flat) == sorted(ids) and len(set(flat)) == len(flat)
    bodies = [b for m, p, b in fake_es.requests if p == "/_search"]
    assert {b["slice"]["max"] for b in bodies} == {3}


def test_parallel_slices_read_everything_once_and_close_the_pit(fake_es, es_client, make_ecs):
    ids = _load(fake_es, make_ecs, 700)
    stats = ReadStats()
    docs = list(read_documents(es_client, INDEX, page_size=60, slices=4, stats=stats))
    assert sorted(d["_id"] for d in docs) == sorted(ids)
    assert stats.documents == 700 and len(fake_es.pits) == 1 and fake_es.open_pits() == []


def test_parallel_slice_error_propagates_and_closes_the_pit(fake_es, es_client, make_ecs):
    _load(fake_es, make_ecs, 700)
    fake_es.fail_search_call = 5
    with pytest.raises(BadRequestError):
        list(read_documents(es_client, INDEX, page_size=60, slices=3))
    assert fake_es.open_pits() == []


def test_shard_failures_are_reported_not_hidden(fake_es, es_client, make_ecs):
    _load(fake_es, make_ecs, 90)
    fake_es.shard_failure_call = 2
    stats = ReadStats()
    assert len(list(read_documents(es_client, INDEX, page_size=40, stats=stats))) == 90
    assert stats.shard_failures == 1 and "node_not_connected_exception" in stats.warnings[0]


def test_fake_cluster_rejects_a_sort_without_the_tiebreak(fake_es, es_client, make_ecs):
    """The fake is strict: a PIT search sorted only on @timestamp would be refused (so our tests mean something)."""
    _load(fake_es, make_ecs, 3)
    pit = es_client.open_point_in_time(index=INDEX, keep_alive="1m")
    fake_es.expect_shape_errors = True
    with pytest.raises(BadRequestError):
        es_client.search(pit={"id": pit["id"]}, sort=[{"@timestamp": "asc"}], size=10)
    with pytest.raises(BadRequestError):  # index in the path together with a PIT
        es_client.search(
            index=INDEX, pit={"id": pit["id"]}, sort=[{"@timestamp": "asc"}, {"_shard_doc": "asc"}]
        )
    assert len(fake_es.shape_errors) == 2
    es_client.close_point_in_time(id=pit["id"])


def test_query_building_and_validation():
    assert build_query() == {"match_all": {}}
    q = build_query("now-2h", "now", {"term": {"a": 1}})
    assert q == {
        "bool": {"filter": [{"range": {"@timestamp": {"gte": "now-2h", "lt": "now"}}}, {"term": {"a": 1}}]}
    }
    assert parse_query("  ") is None
    with pytest.raises(ValueError):
        parse_query("{not json")
    with pytest.raises(ValueError):
        parse_query('{"term": {}, "range": {}}')
    with pytest.raises(ValueError):
        next(read_documents(None, INDEX, page_size=0))
    with pytest.raises(ValueError):
        next(read_documents(None, INDEX, slice_id=3, slice_max=3))


def test_parallel_read_stopped_early_stops_the_threads_and_closes_the_pit(fake_es, es_client, make_ecs):
    import threading

    _load(fake_es, make_ecs, 3000)  # more than the queue holds: readers must block

    def readers():
        return [t for t in threading.enumerate() if t.name.startswith("ctad-es-slice-")]

    gen = read_documents(es_client, INDEX, page_size=50, slices=3)
    assert len([next(gen) for _ in range(120)]) == 120
    assert len(readers()) >= 1
    gen.close()
    assert fake_es.open_pits() == [] and readers() == []
