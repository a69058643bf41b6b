"""The committed splunkd transcript (tests/splunk/data/): what splunkd 8.0.3 really sent, cut and redacted.

These run in any clone: the protocol layer and `cloudtraildetect` are checked against splunkd's own bytes, not our
idea of them (LF row ends where our simulator writes CRLF, splunkd's quoting, a one-row chunk, the multibyte cell).
With ../shared, the transcript is also checked to be exactly a cut of the full recording, so nothing but the
redacted getinfo values differs from what splunkd wrote.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
from pathlib import Path

import pytest
from ctad.splunk import protocol as P
from splunk_helpers import RECORDING, TRANSCRIPT, read_replies, replay_into_detect, transcript_requests

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_transcript  # noqa: E402

HEADER = ["_time", "teststring", "__mv__time", "__mv_teststring"]


@pytest.fixture(scope="module")
def requests():
    return transcript_requests()


def expected_rows(requests):
    return [r for _, b in requests[1:] for r in csv.DictReader(io.StringIO(b.decode("utf-8"), newline=""))]


def test_transcript_is_a_splunkd_search(requests):
    (info, body), *execute = requests
    assert info["action"] == "getinfo" and body == b""
    searchinfo = info["searchinfo"]
    assert searchinfo["splunk_version"] == "8.0.3" and searchinfo["args"] == []
    assert searchinfo["maxresultrows"] == 50000
    assert [m["action"] for m, _ in execute] == ["execute"] * 4
    assert [m["finished"] for m, _ in execute] == [False, False, False, True]
    sizes = []
    for _, body in execute:
        header, rows = P.parse_csv(body)
        rows = list(rows)
        assert header == HEADER
        assert all(r[1] == "\u0e17t" and r[2:] == ["", ""] for r in rows)
        assert b"\r" not in body  # splunkd 8.0.3 ends rows in LF (our simulator writes CRLF: both must work)
        assert len(P.split_records(body)) == len(rows) + 1
        sizes.append(len(rows))
    assert sizes == [6638, 5861, 1, 1441]
    # Newest first within a chunk, nearly (a few ties broken either way), but chunks come in no time order
    # (the second is newer than the first, the last older than the gap): nothing may assume an order.
    times = [float(r["_time"]) for r in expected_rows(requests)]
    rises = sum(a < b for a, b in zip(times, times[1:]))
    assert 0 < rises < len(times) // 50
    assert times != sorted(times, reverse=True) and times != sorted(times)


def test_transcript_holds_no_secrets():
    raw = gzip.decompress(TRANSCRIPT.read_bytes())
    (info, _), *_ = read_replies(raw)
    searchinfo = info["searchinfo"]
    assert searchinfo["session_key"] == "REDACTED-SESSION-KEY"
    assert searchinfo["splunkd_uri"] == "https://splunkd.invalid:8089"
    assert searchinfo["dispatch_dir"].startswith("/redacted/")
    getinfo = raw[: raw.index(b"chunked 1.0,", 1)]
    assert not re.search(rb"[A-Za-z0-9^_+/=-]{40,}", getinfo)  # a splunkd session key is ~100 such characters
    assert b"/opt/" not in getinfo and b"127.0.0.1" not in getinfo


def test_transcript_is_a_cut_of_the_recording():
    if not RECORDING.is_file():
        pytest.skip("../shared/data/splunkd recording is absent in this checkout")
    with gzip.open(RECORDING, "rb") as fh:
        recording = fh.read()
    assert make_transcript.compress(make_transcript.cut(recording)) == TRANSCRIPT.read_bytes()
    full = make_transcript.chunks(recording)
    cut = make_transcript.chunks(gzip.decompress(TRANSCRIPT.read_bytes()))
    assert cut[1:] == [full[i] for i in make_transcript.KEEP]  # execute chunks: splunkd's bytes, untouched
    assert cut[0][0] != full[0][0] and b"REDACTED-SESSION-KEY" in cut[0][0]


class Tag(P.Command):
    """A stateful pass-through written from the input's own record bytes, plus one column."""

    name = "tag"

    def configure(self):
        self.bodies = []

    def execute(self, body, finished):
        self.bodies.append(body)
        if not finished:
            return b""
        header, out = None, []
        for b in self.bodies:
            records = P.split_records(b)
            header = header or records[0]
            out += [r + b",t" for r in records[1:]]
        return header + b",tag\r\n" + b"\r\n".join(out) + b"\r\n"


def test_transcript_through_the_protocol_layer(requests):
    out = io.BytesIO()
    assert Tag().run(io.BytesIO(gzip.decompress(TRANSCRIPT.read_bytes())), out) == 0
    replies = read_replies(out.getvalue())
    assert len(replies) == len(requests)  # exactly one reply per request
    assert replies[0][0] == {"type": "stateful", "generating": False, "required_fields": ["*"]}
    assert all(m == {"finished": False} and b == b"" for m, b in replies[1:-1])
    rows = list(csv.DictReader(io.StringIO(replies[-1][1].decode("utf-8"), newline="")))
    expected = expected_rows(requests)
    assert [r["_time"] for r in rows] == [r["_time"] for r in expected]
    assert all(r["tag"] == "t" and r["teststring"] == "\u0e17t" for r in rows)


def test_transcript_through_cloudtraildetect(requests, tmp_path):
    replies = replay_into_detect(requests, tmp_path)
    assert all(m == {"finished": False} and b == b"" for m, b in replies[1:-1])
