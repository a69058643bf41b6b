"""CTI matching over the public CloudTrail samples in ../shared (skipped when absent) and the shipped lookup."""

from __future__ import annotations

import json

from ctad.cti import CTIIndex, make_indicator
from ctad.cti.feeds import default_lookup_csv


def test_shipped_lookup_loads_cleanly():
    path = default_lookup_csv()
    assert path is not None, "lookups/cti_indicators.csv not found"
    index = CTIIndex.load([str(path)])
    assert len(index) > 0 and index.skipped == [] and index.warnings == []


def test_every_public_sample_is_matched_without_error(shared_data):
    files = sorted((shared_data / "cloudtrail").glob("*.jsonl"))
    events = [json.loads(line) for f in files for line in f.open(encoding="utf-8") if line.strip()]
    assert len(events) > 1000
    # indicators taken from the data itself: the first IP, user agent, key id and account of the detonations
    first = next(
        e
        for e in events
        if e.get("userIdentity", {}).get("accessKeyId") and e.get("sourceIPAddress", "")[:1].isdigit()
    )
    index = CTIIndex()
    index.add(make_indicator(first["sourceIPAddress"], "ip", "sample"))
    index.add(make_indicator(first["userIdentity"]["accessKeyId"], "access_key_id", "sample"))
    index.add(make_indicator(first["recipientAccountId"], "account_id", "sample"))
    hits = {m["matched_field"] for m in index.match(first)}
    assert {"sourceIPAddress", "userIdentity.accessKeyId", "recipientAccountId"} <= hits
    matched = sum(1 for e in events if index.match(e))
    assert 1 <= matched < len(events)
