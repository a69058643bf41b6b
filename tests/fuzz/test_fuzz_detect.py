"""Properties of scoring (``ctad.engine.detect`` Detector / Run) and of the Splunk command over the protocol (issue 11).

Invariants: every row in gives one result out, in add order; a result is a score in [0, 1] with an empty
``ct_error`` or no score with a non-empty one; no exception escapes; results do not depend on the order rows
arrive in, nor on how splunkd cuts them into chunks.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from ctad.core.schema import OUTPUT_FIELDS, SEVERITIES
from ctad.splunk.splunkd_sim import run_search, splunk_row
from fuzz_strategies import (
    budget,
    cloudtrail_events,
    hostile_events,
    rows,
    with_order,
)
from hypothesis import assume, given
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
DETECT = [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")]
_SURROGATE = re.compile("[\ud800-\udfff]")


def run_all(detector, items: List[Any]) -> List[Dict[str, Any]]:
    run = detector.start()
    for item in items:
        run.add(item)
    out = list(run.results())
    assert run.summary.rows == len(items)
    return out


def check_result(res: Dict[str, Any]) -> None:
    assert set(res) == set(OUTPUT_FIELDS)
    score, error = res["ct_score"], res["ct_error"]
    assert isinstance(error, str)
    if error:
        assert score is None and error.strip()
    else:
        assert isinstance(score, float) and math.isfinite(score) and 0.0 <= score <= 1.0
    assert res["ct_anomaly"] in (0, 1)
    assert res["ct_severity"] in SEVERITIES or (error and res["ct_severity"] in ("", None))
    assert isinstance(res["ct_reasons"], list) and len(res["ct_reasons"]) <= 5
    assert all(isinstance(r, str) for r in res["ct_reasons"])
    assert isinstance(res["ct_identity"], str)


@budget(40)
@given(st.lists(rows(), max_size=30))
def test_every_row_gives_one_score_or_one_error(detector, items):
    out = run_all(detector, items)
    assert len(out) == len(items)
    for res in out:
        check_result(res)


@budget(20)
@given(st.lists(st.one_of(hostile_events(keep_id=True), cloudtrail_events()), max_size=30,
                unique_by=lambda r: r["eventID"]))  # fmt: skip
def test_threshold_zero_explains_every_scored_row(explain_all, records):
    for res in run_all(explain_all, records):
        check_result(res)
        if not res["ct_error"]:
            assert res["ct_anomaly"] == 1


def _unique_ids(records: List[Dict[str, Any]]) -> bool:
    ids = [r.get("eventID") for r in records]
    return all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)


@budget(30)
@given(
    with_order(
        st.lists(
            st.one_of(hostile_events(keep_id=True), cloudtrail_events()),
            min_size=1,
            max_size=30,
            unique_by=lambda r: r["eventID"],
        )
    )  # fmt: skip
)
def test_results_do_not_depend_on_row_order(detector, records_order):
    records, order = records_order
    first = run_all(detector, records)
    again = run_all(detector, [records[i] for i in order])
    assert [again[k] for k in sorted(range(len(order)), key=order.__getitem__)] == first


@budget(40)
@given(
    with_order(
        st.lists(st.one_of(hostile_events(id_pool=3), cloudtrail_events(id_pool=3)), min_size=2, max_size=20)
    )  # fmt: skip
)
def test_results_do_not_depend_on_row_order_when_event_ids_collide(detector, records_order):
    records, order = records_order
    first = run_all(detector, records)
    again = run_all(detector, [records[i] for i in order])
    assert [again[k] for k in sorted(range(len(order)), key=order.__getitem__)] == first


# ---------------------------------------------------------------------------------------------- Splunk
@pytest.fixture(scope="module")
def splunk_env(tmp_path_factory):
    """A SPLUNK_HOME of our own (the command caches the parsed model under it)."""
    home = tmp_path_factory.mktemp("splunk_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLUNK_HOME", str(home))
        mp.delenv("CTAD_HOME", raising=False)
        yield home


def _cell_safe(row: Dict[str, Any]) -> Dict[str, Any]:
    """splunkd writes UTF-8: an extracted field cannot hold a lone surrogate, in its value or in its name (a
    hostile key flattened into ``requestParameters.<key>``); ``_raw`` keeps the JSON escape."""

    def fix(v: Any) -> Any:
        if isinstance(v, list):
            return [fix(x) for x in v]
        return _SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v

    return {fix(k): fix(v) for k, v in row.items()}


def _splunk_ct(row: Dict[str, Any]) -> Dict[str, Any]:
    return {k: row.get(k) for k in OUTPUT_FIELDS}


def _same_as_engine(got: Dict[str, Any], ref: Dict[str, Any]) -> None:
    if ref["ct_error"]:
        assert got["ct_error"] and got["ct_score"] == ""
        return
    assert got["ct_error"] == "" and abs(float(got["ct_score"]) - ref["ct_score"]) <= 1e-6
    assert got["ct_anomaly"] == str(ref["ct_anomaly"]) and got["ct_severity"] == ref["ct_severity"]
    assert got["ct_identity"] == ref["ct_identity"]


@budget(3)
@given(
    with_order(
        st.lists(
            st.one_of(hostile_events(keep_id=True), cloudtrail_events()),
            min_size=1,
            max_size=24,
            unique_by=lambda r: r["eventID"],
        )
    ),  # fmt: skip
    st.lists(st.integers(1, 8), min_size=1, max_size=4),
    st.lists(st.integers(1, 8), min_size=1, max_size=4),
)
def test_splunk_results_do_not_depend_on_chunks_or_order(detector, splunk_env, tmp_path_factory, records_order,
                                                          sizes_a, sizes_b):  # fmt: skip
    """The real command over the protocol: newest first in one set of chunks, shuffled in another; both equal
    each other and the engine in this process."""
    records, order = records_order
    assume(_unique_ids(records))
    rows_in = [_cell_safe(splunk_row(r)) for r in records]
    newest_first = list(reversed(rows_in))
    shuffled = [rows_in[i] for i in order]
    work = str(tmp_path_factory.mktemp("dispatch"))
    out_a = run_search(DETECT, [], newest_first, sizes_a, work)[2]
    out_b = run_search(DETECT, [], shuffled, sizes_b, work)[2]
    assert len(out_a) == len(out_b) == len(rows_in)
    by_row_a = {len(rows_in) - 1 - k: _splunk_ct(r) for k, r in enumerate(out_a)}
    by_row_b = {order[k]: _splunk_ct(r) for k, r in enumerate(out_b)}
    assert by_row_a == by_row_b
    reference = run_all(detector, rows_in)
    for k, ref in enumerate(reference):
        _same_as_engine(by_row_a[k], ref)
    assert os.path.isdir(work)
