"""Output rows: the input row's own JSON text with the ct_* fields spliced in (JSON lines, gzip or CSV).

Why a module of its own: the single-process run (`ctad.engine.cli`) and the parallel pipeline's workers
(`ctad.engine.pipeline`) must write the same bytes for the same row, so both take the writer and the splice from
here; neither imports the other for them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from typing import Any, BinaryIO, Dict, Mapping, Optional, TextIO, Tuple

from ctad.core import bounded
from ctad.core.jsonio import UTF8_ERRORS, dumps, loads
from ctad.core.schema import OUTPUT_FIELDS, CtFields
from ctad.engine.readers import InputRow

CSV_FIELDS = (
    "eventTime",
    "eventID",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "errorCode",
    "recipientAccountId",
)


def _splice(body: bytes, ct: CtFields) -> bytes:
    """The input object's JSON text with the ct_* fields added, without re-parsing it when possible."""
    return splice_inner(body, dumps(ct)[1:-1])


_JSON_SPACE = frozenset(b" \t\r\n")


def compact_object(data: bytes, start: int, end: int) -> bool:
    """True when data[start:end] is a non-empty `{...}` with no whitespace just inside its braces and no ct_*
    fields yet: the ct_* fields then go in before its closing brace, as `splice_inner` puts them."""
    return (
        end - start > 2
        and data[start] == 0x7B  # {
        and data[end - 1] == 0x7D  # }
        and data[start + 1] not in _JSON_SPACE
        and data[end - 2] not in _JSON_SPACE
        and data.find(b'"ct_score"', start, end) < 0
    )


def splice_inner(body: bytes, ct_inner: bytes) -> bytes:
    """`_splice` for ct_* fields already serialised (`"ct_score":0.1,...`, without braces)."""
    if compact_object(body, 0, len(body)):
        return b"".join((body[:-1], b",", ct_inner, b"}"))  # one copy, not three
    if body[:1] == b"{" and body[-1:] == b"}" and b'"ct_score"' not in body:
        inner = body[1:-1].strip()
        return b"{" + inner + (b"," if inner else b"") + ct_inner + b"}"
    try:
        obj = loads(body)  # lone surrogates come back as U+FFFD, so `dumps` below can write the object
    except (ValueError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        obj = {"ctad_input": body.decode("utf-8", "replace")[:2000]}
    obj.update(json.loads(b"{" + ct_inner + b"}"))
    return dumps(obj)


def _flat_get(obj: Any, path: str) -> str:
    node = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None or isinstance(node, (dict, list)):
        return "" if node is None else json.dumps(bounded.cut_nesting(node))
    return str(node)


class OutputWriter:
    """JSON lines (optionally gzipped) or CSV with key fields, ct_* and `_raw`."""

    def __init__(self, path: str, header: bool = True, stream: Optional[BinaryIO] = None) -> None:
        """`stream`: write there instead of opening `path` (whose suffix still picks the format)."""
        self.path = path
        self.kind = "csv" if path.endswith(".csv") else "jsonl"
        self._fh: Any = None
        self._own = stream is None and path != "-"
        target: Any = sys.stdout.buffer if path == "-" and stream is None else stream
        if self.kind == "csv":
            if target is None:
                self._text: TextIO = open(path, "w", newline="", encoding="utf-8", errors=UTF8_ERRORS)  # noqa: SIM115
            else:
                self._text = io.TextIOWrapper(
                    target, newline="", encoding="utf-8", errors=UTF8_ERRORS, write_through=True
                )
            self._csv = csv.writer(self._text)
            if header:
                self._csv.writerow(list(CSV_FIELDS) + list(OUTPUT_FIELDS) + ["_raw"])
        elif path.endswith(".gz"):
            self._fh = gzip.GzipFile(path if target is None else None, "wb", compresslevel=4, fileobj=target)
        else:
            self._fh = target if target is not None else open(path, "wb")  # noqa: SIM115

    def write(self, body: bytes, ct: CtFields) -> None:
        if self.kind == "jsonl":
            self._fh.write(_splice(body, ct) + b"\n")
            return
        self._write_csv(body, ct)

    def write_inner(self, body: bytes, ct_inner: bytes) -> None:
        """`write` for ct_* fields already serialised (the parallel writer's form)."""
        if self.kind == "jsonl":
            self._fh.write(splice_inner(body, ct_inner) + b"\n")
            return
        self._write_csv(body, json.loads(b"{" + ct_inner + b"}"))

    def _write_csv(self, body: bytes, ct: Mapping[str, Any]) -> None:
        try:
            obj = loads(body)  # a lone surrogate as U+FFFD: the CSV file is UTF-8
        except (ValueError, RecursionError):
            obj = {}
        row = [_flat_get(obj, f) for f in CSV_FIELDS]
        for name in OUTPUT_FIELDS:
            value = ct.get(name)
            row.append("\n".join(value) if isinstance(value, list) else ("" if value is None else value))
        row.append(body.decode("utf-8", "replace"))
        self._csv.writerow(row)

    def close(self) -> None:
        if self.kind == "csv":
            if self._own:
                self._text.close()
            else:
                self._text.flush()
                self._text.detach()
        elif self._own or isinstance(self._fh, gzip.GzipFile):
            self._fh.close()  # a GzipFile over a stream writes its trailer and leaves the stream open
        else:
            self._fh.flush()


def row_body(item: InputRow) -> Tuple[bytes, str]:
    """The JSON text an output row starts from, on one line (the input's own text when it has one), and why the
    row cannot be scored though it was read ("" when it can).

    An event nested deeper than `bounded.MAX_NESTING` is refused here as the Splunk and Elastic doors refuse it
    (`Normalizer`), whichever JSON library is installed: orjson cannot write it back at all, and the standard
    library only up to its recursion limit. Its own text is kept when the input had one; a record of an S3 file
    is written back with what lies beyond the limit cut."""
    problem = ""
    if item.error:
        ref: Dict[str, Any] = {"ctad_input_ref": item.source}
        if item.text is not None:  # text that could not be read (nested beyond the parser): its beginning
            ref["ctad_input"] = item.text[:2000].decode("utf-8", "replace")
        body = dumps(ref)
    elif item.text is not None:
        body = item.text
        if bounded.too_deep(item.obj, body):
            problem = bounded.nesting_error()
    else:
        try:
            body = dumps(item.obj)
        except (TypeError, ValueError, RecursionError):  # orjson: "Recursion limit reached" (a TypeError)
            body = b""
        if not body or bounded.too_deep(item.obj, body):
            problem = bounded.nesting_error()
            body = dumps(bounded.cut_nesting(item.obj))
    return (body.replace(b"\n", b" ") if b"\n" in body else body), problem


def is_stream(path: str) -> bool:
    """Standard output, or a path that is a pipe or a device: written once, front to back, never at offsets."""
    return path == "-" or (os.path.exists(path) and not os.path.isfile(path))
