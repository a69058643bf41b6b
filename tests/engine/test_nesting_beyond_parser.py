"""An event nested beyond the JSON parser's limit gets the same answer as one nested within it: a ct_error
naming the nesting, at every door, whatever the interpreter's recursion limit.

Before: a Splunk `_raw` (or ECS `event.original`) the parser refused fell back to the extracted fields and was
scored, while the same row was refused wherever the standard library's parser reached deeper (a raised recursion
limit, as under hypothesis): the answer depended on the process, which the fuzz suite's chunks/order property
found.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cloudtrail_event import CloudTrailEvent
from ctad.core import bounded
from ctad.core.catalog import Catalog
from ctad.core.normalize import NormalizeError, Normalizer
from ctad.engine.detect import Detector
from ctad.splunk.splunkd_sim import run_search

REPO = Path(__file__).resolve().parents[2]
DETECT = [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")]
DEPTH = 1100  # past orjson's 1,024 and the standard library's default stack


def deep_rows(event_id: str = "deep-1") -> list:
    """A Splunk row (extracted fields of the shallow part + `_raw`), an ECS document (+ `event.original`) and a
    JSON text row of one event whose `requestParameters.filter` nests DEPTH lists; the deep text is spliced in,
    as no serialiser writes it."""
    event = CloudTrailEvent(event_id=event_id, params={"bucketName": "b", "filter": "DEEP"})
    text = json.dumps(event.as_record()).replace('"DEEP"', "[" * DEPTH + '"x"' + "]" * DEPTH)
    splunk = event.as_splunk_row()
    splunk["_raw"] = text
    ecs = event.as_ecs()
    ecs["event"]["original"] = text
    return [splunk, ecs, text]


@pytest.fixture(scope="module")
def normalizer():
    return Normalizer(Catalog.load())


def test_text_too_deep_reads_brackets_not_strings():
    assert bounded.text_too_deep("[" * 201 + "]" * 201)
    assert not bounded.text_too_deep("[" * 200 + "]" * 200)
    assert not bounded.text_too_deep('{"a": "' + "[" * 500 + '"}')  # brackets inside a string do not nest
    assert not bounded.text_too_deep('["\\"' + "[" * 300 + '"]')  # nor after an escaped quote
    assert bounded.text_too_deep(b'{"a":' * 300)  # bytes, and text that is not JSON at all
    assert not bounded.text_too_deep(None) and not bounded.text_too_deep(42)


@pytest.mark.parametrize("recursion_limit", [None, 20_000])
def test_beyond_the_parser_is_a_nesting_error_at_every_door(normalizer, recursion_limit):
    """Splunk _raw with extracted fields, ECS event.original with ECS fields, a JSON text row: the same error,
    whether the standard library's parser fails (default limit) or reaches the bottom (a raised one)."""
    old_limit = sys.getrecursionlimit()
    if recursion_limit:
        sys.setrecursionlimit(recursion_limit)
    try:
        for row in deep_rows():
            with pytest.raises(NormalizeError, match="nested more than 200 levels"):
                normalizer.normalize(row)
    finally:
        sys.setrecursionlimit(old_limit)


def test_unparsable_raw_that_is_not_deep_still_falls_back_to_fields(normalizer):
    """Only depth decides: a _raw cut short (Splunk's TRUNCATE) is still scored from its extracted fields."""
    row = CloudTrailEvent().as_splunk_row()
    row["_raw"] = row["_raw"][:60]
    assert normalizer.normalize(row).name == "ListBuckets"


def test_splunk_command_and_engine_agree_on_a_row_beyond_the_parser(tmp_path):
    rows = [CloudTrailEvent(event_id="ok", time="2024-05-01T09:59:00Z").as_splunk_row(), deep_rows()[0]]
    out = run_search(DETECT, [], rows, [1, 1], str(tmp_path))[2]
    run = Detector().start()
    for r in rows:
        run.add(r)
    engine = list(run.results())
    assert [r["ct_error"] for r in out][0] == "" and engine[0]["ct_error"] == ""
    assert "nested more than 200 levels" in out[1]["ct_error"] and out[1]["ct_score"] == ""
    assert engine[1]["ct_error"] == out[1]["ct_error"]
