"""Lone UTF-16 surrogates (attacker-written userAgent, arn, bucket name) at the CLI and Elastic writers.

`"al\\ud800ice"` is valid JSON text but not Unicode: orjson refused the whole event (it then got ct_error, so a
chosen userAgent could hide any event), the stdlib accepted it and every UTF-8 writer then failed (the CSV output
ended with a traceback). Now the event is scored, with U+FFFD in place of each lone surrogate, and every writer
can write it.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.elastic.export import ExportStats, export_line
from ctad.elastic.writer import WriteTarget, build_action, clean_ct


def _record(i: int, ua: str = "aws-cli/2.15.0", user: str = "alice") -> dict:
    return CloudTrailEvent(time="2026-01-05T10:00:%02dZ" % i, ua=ua, event_id=f"e{i}", ip="203.0.113.9",
                           account="123456789012", identity=iam_user(user, "123456789012"),
                           params={"bucketName": "b\ufffducket"}).as_record()  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_scores_and_writes_an_event_with_lone_surrogates(tmp_path, suffix, workers):
    lines = [json.dumps(_record(i)) for i in range(5)]
    hostile = json.dumps(_record(5, ua="evil\ufffdagent", user="al\ufffdice"))
    lines.append(hostile.replace("\\ufffd", "\\ud800", 2).replace("\\ufffd", "\\udc00"))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    run = subprocess.run([sys.executable, "-m", "ctad", "detect", str(src), "-o", str(out), "-q",
                          "--workers", workers], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text(encoding="utf-8")  # strict: the file is valid UTF-8
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines(keepends=True)))
    else:
        rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 6
    (evil,) = [r for r in rows if r["eventID"] == "e5"]
    assert evil["ct_error"] == "" and evil["ct_score"] not in ("", None), evil
    assert evil["ct_identity"] == "arn:aws:iam::123456789012:user/al\ufffdice"
    if suffix == ".csv":
        assert evil["userAgent"] == "evil\ufffdagent"


def test_elastic_writer_and_export_replace_lone_surrogates():
    ct = {"ct_score": 0.5, "ct_anomaly": 1, "ct_severity": "high", "ct_reasons": ["new bucket b\udc00"],
          "ct_identity": "arn:aws:iam::1:user/al\ud800ice", "ct_error": ""}  # fmt: skip
    fields = clean_ct(ct)
    assert fields["ct_identity"] == "arn:aws:iam::1:user/al\ufffdice"
    assert fields["ct_reasons"] == ["new bucket b\ufffd"]
    action = build_action(
        {"_index": "logs", "_id": "1", "key": {"user_agent.original": "evil\ud800"}},
        ct,
        WriteTarget(mode="index", index="ctad-results"),
        "run1",
    )
    json.dumps(action, ensure_ascii=False).encode(
        "utf-8"
    )  # the client's encoding would otherwise send garbage
    doc = {"_id": "1", "_index": "logs", "event": {"original": json.dumps(_record(1, ua="x\ud800"))}}
    line = export_line(doc, "auto", ExportStats())
    assert "x\ufffd" in json.loads(line.encode("utf-8"))["userAgent"]
