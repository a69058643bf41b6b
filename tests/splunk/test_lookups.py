"""Baseline resolution: transforms.conf KV lookup -> collection, CSV lookup -> file, paging, missing, errors."""

from __future__ import annotations

import pytest
from ctad.splunk.lookups import BaselineSourceError, baseline_rows
from splunk_helpers import SESSION_KEY


def info(splunkd):
    return {"splunkd_uri": splunkd.uri, "session_key": SESSION_KEY}


def test_transforms_collection_and_paging(splunkd, monkeypatch):
    rows = [{"_key": str(i), "kind": "api", "identity": "a", "value": str(i)} for i in range(1203)]
    splunkd.collections["coll_x"] = rows
    splunkd.confs["transforms", "my_lookup"] = {"collection": "coll_x", "external_type": "kvstore"}
    got, where = baseline_rows(info(splunkd), "my_lookup")
    assert where == "KV store collection coll_x" and [r["value"] for r in got] == [r["value"] for r in rows]
    assert sorted(int(skip) for _, skip in splunkd.pages("coll_x")) == [0, 500, 1000]


def test_transforms_csv_lookup(splunkd, ctad_home):
    (ctad_home / "lookups" / "b.csv").write_text(
        "kind,identity,value,count,first,last,extra\nmeta,,{},0,,,\n"
    )
    splunkd.confs["transforms", "b_lookup"] = {"filename": "b.csv"}
    got, where = baseline_rows(info(splunkd), "b_lookup")
    assert where == "lookup file b.csv" and got[0]["kind"] == "meta"


def test_missing_collection_is_none_and_bad_key_is_an_error(splunkd):
    assert baseline_rows(info(splunkd), "nothing")[0] is None
    with pytest.raises(BaselineSourceError, match="HTTP 401"):
        splunkd.collections["c"] = []
        baseline_rows({"splunkd_uri": splunkd.uri, "session_key": "wrong"}, "c")
