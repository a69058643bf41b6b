"""Bulk actions are valid UTF-8 whatever the read document held: lone surrogates in `_id`, `_index`, key fields
and the target index come out as U+FFFD (the client serialises with surrogatepass; Elasticsearch refuses the
bytes that gives)."""

from __future__ import annotations

import json

import pytest
from ctad.elastic.writer import WriteTarget, build_action, result_id, row_meta

DOC = {
    "_index": "logs-aws\ud800",
    "_id": "id-\udfff-1",
    "source": {"ip": "198.51.100.7\ud83d"},
    "event": {"action": "ListBuckets"},
}
CT = {"ct_score": 0.5, "ct_anomaly": 1, "ct_reasons": ["r\ud800"], "ct_identity": "arn\udfff", "ct_error": ""}


@pytest.mark.parametrize("mode", ["update", "index"])
def test_bulk_action_with_lone_surrogates_is_valid_utf8(mode):
    target = WriteTarget("update") if mode == "update" else WriteTarget("index", "ctad-results\ud800")
    meta = row_meta(DOC, target.needs_key_fields)
    meta = json.loads(json.dumps(meta, default=str))  # the spool's round trip
    action = build_action(meta, CT, target, "run\ud800")
    text = json.dumps(action, ensure_ascii=False)
    text.encode("utf-8")  # raises on a lone surrogate left anywhere in the action
    if mode == "update":
        assert action["_index"] == "logs-aws\ufffd" and action["_id"] == "id-\ufffd-1"
    else:
        assert action["_index"] == "ctad-results\ufffd"
        assert action["_source"]["ctad"]["source_id"] == "id-\ufffd-1"
        assert action["_id"] == result_id("logs-aws\ufffd", "id-\ufffd-1")


def test_build_action_scrubs_meta_not_made_by_row_meta():
    """A caller's meta (not from row_meta) is scrubbed by build_action itself."""
    meta = {"_index": "i\ud800", "_id": "d\udfff", "key": {"source.ip": "1.2.3.4\ud800"}}
    action = build_action(meta, CT, WriteTarget("index", "out"), "r")
    json.dumps(action, ensure_ascii=False).encode("utf-8")
    assert action["_source"]["source"]["ip"] == "1.2.3.4\ufffd"
