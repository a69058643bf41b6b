"""The execute body codec: splunkd's CSV dialect, the ``__mv_`` multivalue twins, rows as cells or records.

splunkd writes every field followed by an ``__mv_<field>`` twin column holding the multivalue encoding ``$a$;$b$``
(``$`` doubled), rows end in CRLF (LF in splunkd 8.0.3's own recording), newest events first, 1 to 50,000 rows a
chunk. Why not splunklib's reader and writer: their per-record dict work is the measured bottleneck (FIELD-NOTES:
~27k rows/s pass-through, ~14k rows/s with a 1.3 KB ``_raw``). Here whole chunks go through the C ``csv`` module,
and output rows can be written from the input's own record bytes (`split_records`) with the new cells appended.
Importing this module raises csv's field size limit (a CloudTrail ``_raw`` can exceed 131072 characters).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from itertools import compress
from operator import itemgetter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ctad.core.jsonio import utf8

MV = "__mv_"
_NEEDS_QUOTE = re.compile(r'[",\r\n]')


def raise_field_limit() -> None:
    """Python's csv refuses fields over 131072 characters; a CloudTrail `_raw` can be 256 KB or more."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # C long is 32-bit on some platforms
            limit //= 2


raise_field_limit()


# ------------------------------------------------------------------------------------------- multivalue
def decode_mv(text: str) -> List[str]:
    """``$a$;$b$`` -> ["a", "b"] (``$$`` is a literal ``$``).

    A scan with str.find, linear in the cell's length whatever it holds: the regex this replaces backtracked
    quadratically on a malformed cell (``$$x`` repeated: minutes for 100 KB). Malformed input is read leniently:
    text outside ``$...$`` is skipped, a missing ``;`` tolerated, an unterminated last item dropped.
    """
    out: List[str] = []
    n = len(text)
    pos = 0
    while True:
        start = text.find("$", pos)
        if start < 0:
            return out
        parts = []
        i = start + 1
        while True:
            k = text.find("$", i)
            if k < 0:
                return out
            if k + 1 < n and text[k + 1] == "$":  # "$$": a literal "$", the item goes on
                parts.append(text[i : k + 1])
                i = k + 2
                continue
            parts.append(text[i:k])
            break
        out.append("".join(parts))
        pos = k + 1
        if pos < n and text[pos] == ";":
            pos += 1


def encode_mv(values: Sequence[Any]) -> Tuple[str, str]:
    """A list -> (single-value cell, ``__mv_`` cell) the way splunklib writes them."""
    items = ["" if v is None else str(v) for v in values]
    if len(items) == 1:
        return items[0], ""
    if not items:
        return "", ""
    return "\n".join(items), "$" + "$;$".join(v.replace("$", "$$") for v in items) + "$"


def csv_cell(value: str) -> str:
    """One cell in Splunk's CSV dialect (QUOTE_MINIMAL, doubled quotes)."""
    if _NEEDS_QUOTE.search(value) is None:
        return value
    return '"' + value.replace('"', '""') + '"'


# ------------------------------------------------------------------------------------------------ CSV
def parse_csv(body: bytes) -> Tuple[List[str], Iterator[List[str]]]:
    """(header, iterator of cell lists) of one execute body; CRLF or LF rows, quoted newlines kept."""
    if b"\0" in body or body.count(b"\r") != body.count(b"\r\n"):
        return _parse_csv_marked(body)
    # A text wrapper decodes lazily: io.StringIO(body.decode()) would hold the chunk twice more, once as UCS-4.
    stream = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", errors="replace", newline="")
    reader = csv.reader(stream, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        return [], iter(())
    return header, reader


def _parse_csv_marked(body: bytes) -> Tuple[List[str], Iterator[List[str]]]:
    """`parse_csv` for a body holding NUL or a bare CR, each of which csv mishandles.

    NUL (KV_MODE=json decodes ``\\u0000``): Python < 3.11's csv refuses the whole body. A bare CR outside quotes:
    csv ends the record there, while splunkd (and `split_records`) end records at LF only, so one row would come
    out as two. Each stands in for a private-use character the body does not contain while csv splits the body
    and is put back in the cells: every Python reads the same cells and rows as splunkd wrote them.
    """
    text = body.decode("utf-8", "replace")
    marks = iter(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    swaps: List[Tuple[str, str]] = []  # (mark, original)
    for original, pattern in (("\0", re.compile("\0")), ("\r", re.compile("\r(?!\n|\\Z)"))):
        if original not in text or not pattern.search(text):
            continue
        mark = next(marks, None)
        if mark is None:  # the body holds every private-use character: no mark left, U+FFFD instead
            text = pattern.sub("\ufffd", text)
            continue
        text = pattern.sub(mark, text)
        swaps.append((mark, original))

    def restore(cell: str) -> str:
        for mark, original in swaps:
            if mark in cell:
                cell = cell.replace(mark, original)
        return cell

    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    rows = ([restore(c) for c in cells] if swaps else cells for cells in reader)
    try:
        header = next(rows)
    except StopIteration:
        return [], iter(())
    return header, rows


def split_records(body: bytes) -> List[bytes]:
    """The body's records as raw bytes (header first), line terminators removed, quoted newlines kept.

    A record ends at a newline outside quotes: splitting on ``\\n`` and joining lines while the running count
    of ``"`` is odd gives exactly the records ``csv.reader`` sees, without building any cell.
    """
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out: List[bytes] = []
    append = out.append
    pending: List[bytes] = []
    odd = False
    for line in lines:
        if pending:
            pending.append(line)
            if line.count(b'"') & 1:
                odd = not odd
            if not odd:
                rec = b"\n".join(pending)
                pending = []
                append(rec[:-1] if rec.endswith(b"\r") else rec)
            continue
        if line.count(b'"') & 1:
            pending = [line]
            odd = True
            continue
        append(line[:-1] if line.endswith(b"\r") else line)
    if pending:  # unbalanced quote at the end: keep what is there as one record
        append(b"\n".join(pending))
    return out


def row_dict(
    header: Sequence[str], cells: Sequence[str], mv_pairs: Sequence[Tuple[int, int, str]]
) -> Dict[str, Any]:
    """A record as {field: value}: empty cells dropped (Splunk's null), multivalue cells as lists.

    `header` should come from `strip_mv` (twin columns named ""); the caller pops "" afterwards. Everything but
    the rare multivalue cells is handled in C (zip/compress/dict).
    """
    row = dict(compress(zip(header, cells), cells))
    if mv_pairs:
        n = len(cells)
        for _, mi, name in mv_pairs:
            if mi < n:
                mv = cells[mi]
                if mv:
                    row[name] = decode_mv(mv)
    return row


class RowReader:
    """Per-header helper: cells -> row dict, with a C-level test for "no multivalue cell in this row"."""

    def __init__(self, header: Sequence[str]) -> None:
        self.keys = strip_mv(header)
        self.pairs = mv_pairs(header)
        idx = [mi for _, mi, _ in self.pairs]
        self.width = len(header)
        self._mv = itemgetter(*idx) if len(idx) > 1 else (lambda c, i=idx: tuple(c[j] for j in i))

    def __call__(self, cells: Sequence[str]) -> Dict[str, Any]:
        row = dict(compress(zip(self.keys, cells), cells))
        row.pop("", None)
        if self.pairs and len(cells) == self.width and any(self._mv(cells)):
            for _, mi, name in self.pairs:
                mv = cells[mi]
                if mv:
                    row[name] = decode_mv(mv)
        return row


def mv_pairs(header: Sequence[str]) -> List[Tuple[int, int, str]]:
    """(value column, ``__mv_`` column, name) for every field that has a twin."""
    index = {name: i for i, name in enumerate(header)}
    out = []
    for i, name in enumerate(header):
        if name.startswith(MV):
            base = name[len(MV) :]
            if base in index:
                out.append((index[base], i, base))
    return out


def strip_mv(header: Sequence[str]) -> List[str]:
    """The header without ``__mv_`` twin columns (these are dropped from row dicts)."""
    return [h if not h.startswith(MV) else "" for h in header]


# ------------------------------------------------------------------------------------- rows as dicts
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def rows_to_csv(rows: Sequence[Dict[str, Any]], columns: Optional[Sequence[str]] = None) -> bytes:
    """Dict rows -> a reply body: the union of keys (or `columns`), an `__mv_` twin for multivalue fields."""
    if columns is None:
        seen: Dict[str, None] = {}
        for r in rows:
            for k in r:
                if k not in seen and not k.startswith(MV):
                    seen[k] = None
        columns = list(seen)
    multi = [c for c in columns if any(isinstance(r.get(c), (list, tuple)) for r in rows)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(columns) + [MV + c for c in multi])
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            cells.append("\n".join(_text(x) for x in v) if isinstance(v, (list, tuple)) else _text(v))
        for c in multi:
            v = r.get(c)
            cells.append(
                encode_mv([_text(x) for x in v])[1] if isinstance(v, (list, tuple)) and len(v) > 1 else ""
            )
        w.writerow(cells)
    return utf8(buf.getvalue())
