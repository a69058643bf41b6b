"""A flagged Splunk row whose `_raw` nests deeper than detection reads (bounded.MAX_NESTING) is triaged from its
extracted fields, while the record the injection scan walks is still the parsed `_raw`.

Detection refuses such an event with a ct_error (docs/DESIGN.md, "Nesting"); before this, triage's reader only
expected the old RecursionError and turned every such row into "unreadable event"."""

from __future__ import annotations

import json

import pytest
from ctad.core.normalize import NormalizeError
from ctad.splunk.splunkd_sim import splunk_row
from ctad.triage.evidence import read_event


@pytest.mark.parametrize("levels", [201, 300, 1000])
def test_deep_raw_is_read_from_extracted_fields(make_row, levels):
    row = make_row(i=0, params={"name": "DEEP"})
    record = {k: v for k, v in row.items() if not k.startswith("ct_")}
    cells = dict(splunk_row(record), **{k: v for k, v in row.items() if k.startswith("ct_")})
    cells["_raw"] = json.dumps(record).replace('"DEEP"', '{"a":' * levels + "1" + "}" * levels)
    ev, raw = read_event(cells)
    assert ev["name"] == "StopLogging" and ev["identity"] == row["ct_identity"]
    if levels < 900:  # within the parser's reach: the injection scan still walks the whole record
        assert raw["requestParameters"]["name"]["a"]["a"]


def test_a_row_that_is_no_event_still_raises(make_row):
    """Only nesting sends the reader to the fields: a shallow _raw without an event and no fields is an error."""
    with pytest.raises(NormalizeError):
        read_event({"_raw": '{"not": "an event"}', "ct_anomaly": "1"})
