"""Constants and helpers shared by the Splunk command tests (a uniquely named module: other test dirs have
their own conftest, so `from conftest import ...` would be ambiguous)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DETECT = [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")]
BASELINE = [sys.executable, str(REPO / "bin" / "ctadbaseline.py")]
SESSION_KEY = "test-session-key-123"


def _shared() -> Path:
    """../shared next to the checkout; for a git worktree, next to the main checkout."""
    git = REPO / ".git"
    if git.is_file():  # worktree: "gitdir: <main>/.git/worktrees/<name>"
        text = git.read_text().strip()
        if text.startswith("gitdir:"):
            main = Path(text.split(":", 1)[1].strip()).parents[2]
            if (main.parent / "shared").is_dir():
                return main.parent / "shared"
    return REPO.parent / "shared"


RECORDING = _shared() / "data" / "splunkd" / "splunkd_8.0.3_chunked_session.gz"
# A cut of RECORDING with the getinfo's secrets redacted, committed so protocol tests run in any clone
# (tests/splunk/data/make_transcript.py makes it; tests/splunk/test_transcript.py checks it).
TRANSCRIPT = REPO / "tests" / "splunk" / "data" / "splunkd_8.0.3_transcript.gz"


def transcript_requests():
    """The committed transcript's chunks, as (metadata, body): a getinfo, then four execute chunks."""
    import gzip

    with gzip.open(TRANSCRIPT, "rb") as fh:
        return read_replies(fh.read())


def read_replies(raw: bytes):
    """Every chunk in a byte stream, as (metadata, body)."""
    from ctad.splunk import protocol as P

    chan = P.Channel(io.BytesIO(raw), io.BytesIO())
    out = []
    while True:
        r = chan.read()
        if r is None:
            return out
        out.append(r)


def replay_into_detect(requests, dispatch_dir: Path):
    """splunkd's recorded requests (a getinfo, then execute chunks of a search that is not CloudTrail) replayed
    into cloudtraildetect with splunkd out of reach; checks every row comes back, in splunkd's order, each with a
    ct_error saying it could not be scored. Returns the command's replies, one per request."""
    import csv
    import subprocess

    from ctad.splunk.splunkd_sim import frame, parse_reply_body

    info = requests[0][0]
    info["searchinfo"].update(dispatch_dir=str(dispatch_dir), splunkd_uri="https://127.0.0.1:1")
    data = frame(info) + b"".join(frame(m, b) for m, b in requests[1:])
    proc = subprocess.run(DETECT, input=data, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    replies = read_replies(proc.stdout)
    assert len(replies) == len(requests)  # exactly one reply per request
    _, out = parse_reply_body(replies[-1][1])
    bodies = (io.StringIO(b.decode("utf-8"), newline="") for _, b in requests[1:])
    expected = [r for body in bodies for r in csv.DictReader(body)]
    assert [r["_time"] for r in out] == [r["_time"] for r in expected]  # every row, in splunkd's order
    assert all(r["teststring"] == "\u0e17t" and r["ct_error"] for r in out)  # not CloudTrail: each says so
    assert any("could not be scored" in m[1] for m in replies[-1][0]["inspector"]["messages"])
    return replies
