"""Cut the committed splunkd transcript from the full recording in ../shared, with its secrets redacted.

    python tests/splunk/data/make_transcript.py [RECORDING] [OUT]

The recording (../shared/data/splunkd/splunkd_8.0.3_chunked_session.gz) is what splunkd 8.0.3 sent a custom
search command: a getinfo chunk and 9 execute chunks. The transcript keeps the getinfo and the execute chunks in
KEEP (three in a row, among them the one-row chunk, and the ``finished`` one), each byte for byte as splunkd wrote
it, so the protocol tests run in a clone without ../shared. Only the getinfo metadata changes: the values of
REDACT are replaced in place (the rest of splunkd's JSON, its key order and escapes, stays) and the chunk is framed
again with its new length. gzip with mtime 0, so the same recording always gives the same bytes (a test checks
that the committed file is exactly this cut of the recording).
"""

from __future__ import annotations

import gzip
import io
import re
import sys
from pathlib import Path
from typing import List, Tuple

HERE = Path(__file__).resolve().parent
OUT = HERE / "splunkd_8.0.3_transcript.gz"
KEEP = (1, 2, 3, 9)  # execute chunks by position in the recording (0 is getinfo): 6638, 5861, 1 and 1444 rows
REDACT = {
    "session_key": "REDACTED-SESSION-KEY",
    "splunkd_uri": "https://splunkd.invalid:8089",
    "dispatch_dir": "/redacted/dispatch/1599172248.26",
    "server_uri": "https://splunkd.invalid:8089",
    "server_name": "redacted-server",
    "splunk_server": "redacted-server",
    "auth_token": "REDACTED-TOKEN",
}
_HEADER = re.compile(rb"chunked 1\.0,(\d+),(\d+)\n")


def chunks(raw: bytes) -> List[Tuple[bytes, bytes]]:
    """(metadata bytes, body bytes) of every chunk, exactly as framed."""
    out = []
    pos = 0
    while pos < len(raw):
        m = _HEADER.match(raw, pos)
        if m is None:
            raise ValueError(f"no chunk header at byte {pos}")
        meta_end = m.end() + int(m.group(1))
        body_end = meta_end + int(m.group(2))
        out.append((raw[m.end() : meta_end], raw[meta_end:body_end]))
        pos = body_end
    return out


def redact(meta: bytes) -> bytes:
    """The metadata with every REDACT key's string value replaced, wherever it sits in splunkd's JSON."""
    for key, value in REDACT.items():
        pattern = re.compile(rb'("' + key.encode() + rb'"\s*:\s*")((?:[^"\\]|\\.)*)(")')
        meta = pattern.sub(lambda m, v=value.encode(): m.group(1) + v + m.group(3), meta)
    return meta


def frame(meta: bytes, body: bytes) -> bytes:
    return b"chunked 1.0,%d,%d\n" % (len(meta), len(body)) + meta + body


def cut(recording: bytes) -> bytes:
    """The transcript (uncompressed) from the recording's bytes (uncompressed)."""
    parts = chunks(recording)
    out = [frame(redact(parts[0][0]), parts[0][1])]
    out += [frame(*parts[i]) for i in KEEP]
    return b"".join(out)


def compress(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def main(argv: List[str]) -> int:
    shared = HERE.parents[3] / "shared" / "data" / "splunkd" / "splunkd_8.0.3_chunked_session.gz"
    recording = Path(argv[1]) if len(argv) > 1 else shared
    target = Path(argv[2]) if len(argv) > 2 else OUT
    with gzip.open(recording, "rb") as fh:
        target.write_bytes(compress(cut(fh.read())))
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
