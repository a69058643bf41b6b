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
