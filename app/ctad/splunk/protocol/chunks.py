"""Chunk framing: the transport of splunkd's chunked custom search command protocol (v2).

Both directions send ``chunked 1.0,<meta_len>,<body_len>\\n`` + JSON metadata + body. `Channel` reads one request
chunk at a time and writes exactly one reply per request (splunk-sdk 2.x's RecordWriterV2 never sends
``partial: true`` chunks either: "the SCP v2 protocol does not provide a way to send partial chunks yet"), so a
stateful command answers earlier execute chunks with an empty body and the whole result set in its reply to the
``finished`` chunk. `Body` holds a reply too big to keep twice in memory. What the body holds is `csvbody`'s
business; this module never looks inside it.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any, Dict, Optional, Tuple, Union

from ctad.core.errors import CtadError
from ctad.core.jsonio import utf8

_HEADER = re.compile(rb"chunked\s+1\.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")
MAX_META_BYTES = 64 * 1024 * 1024


class ProtocolError(CtadError, RuntimeError):
    """splunkd sent something this protocol does not allow (bad transport header, truncated chunk...)."""


class Channel:
    """Reads request chunks from splunkd and writes exactly one reply per request."""

    def __init__(self, infile: IO[bytes], outfile: IO[bytes]) -> None:
        self.infile = infile
        self.outfile = outfile

    def read(self) -> Optional[Tuple[Dict[str, Any], bytes]]:
        """(metadata, body) of the next chunk, or None at end of input."""
        line = self.infile.readline()
        while line in (b"\n", b"\r\n"):  # tolerate blank lines between chunks
            line = self.infile.readline()
        if not line:
            return None
        m = _HEADER.match(line)
        if m is None:
            raise ProtocolError(f"bad transport header: {line[:80]!r}")
        meta_len, body_len = int(m.group(1)), int(m.group(2))
        if meta_len > MAX_META_BYTES:
            raise ProtocolError(f"metadata of {meta_len} bytes is too large")
        meta_bytes = self._read_exact(meta_len)
        body = self._read_exact(body_len)
        try:
            meta = json.loads(meta_bytes.decode("utf-8", "replace")) if meta_len else {}
        except ValueError as exc:
            raise ProtocolError(f"metadata is not JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise ProtocolError("metadata is not a JSON object")
        return meta, body

    def _read_exact(self, n: int) -> bytes:
        if n <= 0:
            return b""
        data = self.infile.read(n)
        if len(data) < n:  # a pipe may return short reads
            parts = [data]
            got = len(data)
            while got < n:
                more = self.infile.read(n - got)
                if not more:
                    raise ProtocolError(f"chunk truncated: expected {n} bytes, got {got}")
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data

    def write(self, meta: Dict[str, Any], body: Union[bytes, Body, None] = None) -> None:
        m = utf8(json.dumps(meta, separators=(",", ":"), ensure_ascii=False, default=str))
        if body is None:
            body = b""
        if isinstance(body, (bytes, bytearray)):
            self.outfile.write(b"chunked 1.0,%d,%d\n" % (len(m), len(body)))
            self.outfile.write(m)
            self.outfile.write(body)
        else:
            self.outfile.write(b"chunked 1.0,%d,%d\n" % (len(m), body.size))
            self.outfile.write(m)
            body.copy_to(self.outfile)
        self.outfile.flush()


class Body:
    """A reply body too big to hold twice: built in a spooled temp file, then copied out with its length."""

    def __init__(self, directory: Optional[str] = None, max_memory: int = 8 * 1024 * 1024) -> None:
        import tempfile

        self._fh = tempfile.SpooledTemporaryFile(max_size=max_memory, dir=directory)  # noqa: SIM115
        self.size = 0

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self.size += len(data)

    def copy_to(self, out: IO[bytes]) -> None:
        self._fh.seek(0)
        while True:
            block = self._fh.read(1 << 20)
            if not block:
                break
            out.write(block)
        self._fh.close()
