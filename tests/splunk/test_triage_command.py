"""bin/agenttriage.py on the protocol layer: one reply per chunk, every input field kept, clean option errors."""

from __future__ import annotations

import sys

from ctad.splunk.splunkd_sim import Session, getinfo, run_search
from splunk_helpers import REPO

TRIAGE = [sys.executable, str(REPO / "bin" / "agenttriage.py")]


def test_rows_pass_through_with_triage_fields(tmp_path):
    rows = [
        {"_time": str(1714557600 + i), "ct_anomaly": "0", "ct_reasons": ["a$b", "c"] if i % 2 else "single",
         "eventName": "ListBuckets", "note": f"row {i}"}
        for i in range(25)
    ]  # fmt: skip
    gi, _, out, _ = run_search(
        TRIAGE, ["backend=offline"], rows, [10, 1, 14], str(tmp_path), buffered=False, command="agenttriage"
    )
    assert gi["type"] == "stateful"
    assert len(out) == 25
    for inp, got in zip(rows, out):
        assert got["note"] == inp["note"] and got["ct_reasons"] == inp["ct_reasons"]
        assert got["triage_verdict"] == "" and "triage_backend" in got


def test_bad_option(tmp_path):
    s = Session(TRIAGE)
    meta, _ = s.send(getinfo(["max_rows=-1", "backend=gpt"], str(tmp_path), command="agenttriage"))
    code, err = s.close()
    assert meta["finished"] is True and "max_rows='-1'" in meta["error"] and "backend='gpt'" in meta["error"]
    assert code == 1 and b"Traceback" not in err
