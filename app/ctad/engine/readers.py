"""Read CloudTrail from files the way users have them, one row at a time, never losing a row.

S3 delivery files (`{"Records": [...]}`, `.json` / `.json.gz`), directories of them (walked in sorted order so a
second read yields the same sequence), JSON lines (`.jsonl`, `.ndjson`, optionally gzipped), a JSON array, or
EventBridge envelopes. What cannot be read becomes an `InputRow` with `error` set, so the output still has a row
for it and the summary counts it.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from ctad.core.jsonio import loads
from ctad.core.normalize import MAX_VALUE_BYTES

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".gz")


class InputRow(NamedTuple):
    """One input event (or what stood where one should be) and the bytes it came from. A named tuple: one is
    made per event, and a tuple costs a third of a dataclass to make."""

    obj: Any
    text: Optional[
        bytes
    ]  # the JSON text of the row when it is a whole JSON object on its own (reused on output)
    error: str
    source: str


def _open_stream(path: Path) -> io.BufferedIOBase:
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def gunzip(data: bytes) -> bytes:
    """Every member of a gzip file, in one C call per member (GzipFile.read loops in Python, ~2x slower)."""
    parts = []
    while data:
        d = zlib.decompressobj(31)
        parts.append(d.decompress(data))
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        data = d.unused_data
        if not data.strip(b"\x00"):  # gzip tolerates zero padding after the last member
            break
    return b"".join(parts)


SMALL_FILE = 8 << 20  # read and decompressed in one go up to this size (S3 delivery files are small)


def _small_file(source: str) -> Optional[bytes]:
    """The whole file, decompressed; None when it must be streamed (a truncated or corrupt gzip: the streaming
    reader yields the rows before the damage, then says where it stopped)."""
    with open(source, "rb") as fh:
        data = fh.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gunzip(data)
        except (EOFError, zlib.error):
            return None
    return data


def _is_document(head: bytes) -> bool:
    """A document that starts with `{"Records"` or `[` is one JSON value; anything else is JSON lines."""
    head = head[:64].lstrip()
    return head.startswith(b"[") or (head.startswith(b"{") and head[1:].lstrip().startswith(b'"Records"'))


def _document_rows(data: bytes, source: str) -> Iterator[InputRow]:
    try:
        obj = _decode(data)
    except ValueError as exc:
        members = _split_records(data)
        if members is None:
            if _first_line_is_json(data):
                # Not one JSON value after all but JSON lines that begin with an array (`[]`, then `{...}`): every
                # line gets its own row, rather than one error for the whole file.
                yield from _line_rows(data.splitlines(), source)
                return
            yield InputRow(None, None, f"{source}: not valid JSON ({str(exc)[:100]})", source)
            return
        # One member the parser refuses (nested beyond its limit) must not take the file's other events with it.
        for i, text in enumerate(members):
            ref = f"{source}#{i}"
            try:
                rec, _ = _decode_clean(text)
            except ValueError as member_exc:
                yield InputRow(None, text, f"record {i}: not valid JSON ({str(member_exc)[:100]})", ref)
                continue
            yield InputRow(rec, None, "" if isinstance(rec, dict) else "record is not a JSON object", ref)
        return
    yield from _rows_from_object(obj, None, source)


def _first_line_is_json(data: bytes) -> bool:
    """True when the text has several non-blank lines and the first is a JSON value on its own (JSON lines), not
    the opening of a value spread over lines (a pretty-printed document, which stays one row)."""
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        _decode(lines[0].strip())
    except ValueError:
        return False
    return True


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def _split_records(data: bytes) -> Optional[List[bytes]]:
    """The texts of the members of a `{"Records": [...]}` document that did not parse as a whole, or None.

    Found by a bracket scan (strings skipped whole by one regular expression; no recursion), so a member nested
    deeper than any parser allows is cut out as text and the others are read one by one."""
    depth = 0
    seen = b""  # at depth 1: b'"Records"', then b":" once its colon follows
    start = -1  # where the current member starts, once inside the Records array
    members: List[bytes] = []
    for match in _TOKENS.finditer(data):
        token = match.group()
        if start >= 0:
            if depth == 2 and token in (b",", b"]"):
                members.append(data[start : match.start()].strip())
                if token == b"]":
                    return [m for m in members if m]
                start = match.end()
                continue
        elif depth == 1 and token == b'"Records"':
            seen = token
            continue
        elif seen and token == b":":
            seen = b":"
            continue
        elif seen == b":" and token == b"[":
            start = match.end()
        seen = b""
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
    return None


def list_files(paths: Iterable[Union[str, Path]]) -> List[Path]:
    """Every input file under the given paths, directories walked in sorted order."""
    return [Path(p) for p in list_file_names(paths)]


def list_file_names(paths: Iterable[Union[str, Path]]) -> List[str]:
    """`list_files` as strings: an S3 export of a month holds ~60k files, and a Path each costs more than a str."""
    out: List[str] = []
    for p in paths:
        path = os.fspath(p)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    if name.endswith(JSON_SUFFIXES) or "." not in name:
                        out.append(os.path.join(root, name))
        else:
            out.append(path)
    return out


def _decode(data: bytes) -> Any:
    return _decode_clean(data)[0]


def _decode_clean(data: bytes) -> Tuple[Any, bool]:
    """(object, True if `data` was valid UTF-8 JSON and can be reused verbatim on output)."""
    try:
        return loads(data), True
    except ValueError:
        # Non-UTF-8 bytes: keep the event, with the bad bytes replaced, rather than lose it.
        return loads(data.decode("utf-8", "replace")), False


def _rows_from_object(obj: Any, text: Optional[bytes], source: str) -> Iterator[InputRow]:
    records = obj["Records"] if isinstance(obj, dict) and isinstance(obj.get("Records"), list) else obj
    if isinstance(records, list):
        if not records:  # an input that holds no event still gives a row saying so, as an empty file does
            yield InputRow(None, None, f"{source}: an empty JSON array, no event in it", source)
        for i, rec in enumerate(records):
            yield InputRow(
                rec, None, "" if isinstance(rec, dict) else "record is not a JSON object", f"{source}#{i}"
            )
    else:
        yield InputRow(obj, text, "" if isinstance(obj, dict) else "record is not a JSON object", source)


def _line_rows(lines: Iterable[bytes], source: str) -> Iterator[InputRow]:
    """JSON lines: each non-blank line is one row (or the rows of the Records object or array it holds)."""
    lineno = 0
    for line in lines:
        lineno += 1
        stripped = line.strip()
        if not stripped:
            continue
        ref = f"{source}:{lineno}"
        if len(stripped) > MAX_VALUE_BYTES:
            yield InputRow(None, None, f"line {lineno} is {len(stripped)} bytes, over the 1 MB limit", ref)
            continue
        try:
            obj, clean = _decode_clean(stripped)
        except ValueError as exc:
            yield InputRow(None, None, f"line {lineno}: not valid JSON ({str(exc)[:100]})", ref)
            continue
        if isinstance(obj, dict) and isinstance(obj.get("Records"), list):
            yield from _rows_from_object(obj, None, ref)
        elif isinstance(obj, dict):
            yield InputRow(obj, stripped if clean else None, "", ref)
        else:
            yield from _rows_from_object(obj, None, ref)


def iter_file(path: Union[str, Path]) -> Iterator[InputRow]:
    source = str(path)
    try:
        size = os.stat(source).st_size
    except OSError as exc:
        yield InputRow(None, None, f"cannot read {source}: {exc.strerror}", source)
        return
    if size == 0:
        yield InputRow(None, None, f"empty file: {source}", source)
        return
    try:
        data = _small_file(source) if size <= SMALL_FILE else None
        if data is not None and _is_document(data):  # the common case (S3 delivery files): no stream at all
            yield from _document_rows(data, source)
            return
        stream = io.BufferedReader(io.BytesIO(data)) if data is not None else _open_stream(Path(source))  # type: ignore[arg-type]
    except OSError as exc:
        yield InputRow(None, None, f"cannot read {source}: {exc}", source)
        return
    with stream:
        try:
            if data is None and _is_document(stream.peek(64) if hasattr(stream, "peek") else b""):
                yield from _document_rows(
                    gunzip(Path(source).read_bytes()) if isinstance(stream, gzip.GzipFile) else stream.read(),
                    source,
                )
                return
            yield from _line_rows(stream, source)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            yield InputRow(None, None, f"{source}: truncated or corrupt file ({exc})", source)


def iter_rows(paths: Iterable[Union[str, Path]]) -> Iterator[InputRow]:
    """All rows of all inputs, in a deterministic order; `-` reads JSON lines from standard input."""
    for p in paths:
        if str(p) == "-":
            import sys

            for lineno, line in enumerate(sys.stdin.buffer, 1):
                if line.strip():
                    try:
                        obj, clean = _decode_clean(line.strip())
                        yield InputRow(obj, line.strip() if clean else None, "", f"stdin:{lineno}")
                    except ValueError as exc:
                        yield InputRow(
                            None, None, f"line {lineno}: not valid JSON ({str(exc)[:100]})", f"stdin:{lineno}"
                        )
            continue
        path = Path(p)
        if not path.exists():
            yield InputRow(None, None, f"no such file or directory: {path}", str(path))
            continue
        for f in list_files([path]):
            yield from iter_file(f)
