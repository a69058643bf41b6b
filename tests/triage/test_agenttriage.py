"""bin/agenttriage.py through splunkd's chunked protocol: a getinfo chunk then an execute chunk, offline backend."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def chunk(meta: dict, body: str = "") -> bytes:
    m = json.dumps(meta).encode()
    b = body.encode()
    return f"chunked 1.0,{len(m)},{len(b)}\n".encode() + m + b


def test_agenttriage_protocol_offline(make_row, tmp_path):
    rows = [make_row(), make_row(anomaly=0, i=3)]
    buf = io.StringIO()
    fields = ["_raw", "ct_anomaly", "ct_score", "ct_identity", "ct_technique", "ct_tactic", "ct_severity"]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        raw = {k: v for k, v in r.items() if not k.startswith("ct_")}
        w.writerow({"_raw": json.dumps(raw), **{k: r[k] for k in fields[1:]}})
    getinfo = {
        "action": "getinfo",
        "preview": False,
        "searchinfo": {
            "args": ["backend=offline"],
            "raw_args": ["backend=offline"],
            "dispatch_dir": str(tmp_path),
            "session_key": "x",
            "splunkd_uri": "https://127.0.0.1:1",
            "app": "ctad_cloudtrail",
            "username": "admin",
            "owner": "admin",
            "search": "| agenttriage backend=offline",
            "sid": "1",
            "splunk_version": "9.2.0",
            "maxresultrows": 50000,
            "command": "agenttriage",
            "earliest_time": "0",
            "latest_time": "0",
        },
    }
    data = chunk(getinfo) + chunk({"action": "execute", "finished": True}, buf.getvalue())
    proc = subprocess.run(
        [sys.executable, str(REPO / "bin" / "agenttriage.py")], input=data, capture_output=True, timeout=60
    )
    out = proc.stdout.decode()
    assert '"type":"stateful"' in out.replace(" ", "") or '"type": "stateful"' in out
    raw = proc.stdout
    pos = raw.index(b"chunked 1.0,", 1)
    header_end = raw.index(b"\n", pos)
    meta_len, body_len = (int(x) for x in raw[pos + len(b"chunked 1.0,") : header_end].split(b","))
    body = raw[header_end + 1 + meta_len : header_end + 1 + meta_len + body_len].decode()
    table = list(csv.DictReader(io.StringIO(body)))
    assert len(table) == 2, proc.stderr.decode()[-2000:]
    assert table[0]["triage_verdict"] == "true_positive" and table[0]["triage_backend"] == "offline"
    assert table[1]["triage_verdict"] == ""
