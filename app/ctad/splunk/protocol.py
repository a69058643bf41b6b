"""A lean implementation of splunkd's chunked custom search command protocol (v2), stdlib only.

Wire format (both directions): ``chunked 1.0,<meta_len>,<body_len>\\n`` + JSON metadata + body. splunkd sends a
``getinfo`` chunk (``searchinfo``: args, dispatch_dir, session_key, splunkd_uri, maxresultrows...), then
``execute`` chunks whose body is CSV (every field with an ``__mv_<field>`` twin column holding the multivalue
encoding ``$a$;$b$`` with ``$`` doubled; rows end in CRLF; newest events first; 1 to 50,000 rows a chunk), the
last one with ``finished: true``. We answer exactly one chunk per request, as splunklib's RecordWriterV2 does (the
splunk-sdk 2.x writer never sends ``partial: true`` chunks: "the SCP v2 protocol does not provide a way to send
partial chunks yet"), so a stateful command answers earlier execute chunks with an empty body and the whole result
set in its reply to the ``finished`` chunk.

Why not splunklib: its per-record dict reading and writing is the measured bottleneck (FIELD-NOTES: ~27k rows/s
pass-through, ~14k rows/s with a 1.3 KB ``_raw``). Here CSV goes through the C ``csv`` module in whole chunks, and
output rows can be written from the input's own record bytes (``split_records``) with the new cells appended.

Messages (info/warning/error) go into the reply metadata as ``inspector.messages`` ([[level, text], ...]); a fatal
error is a reply with ``finished: true`` and ``error`` set, never a traceback on the user's screen.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import signal
import sys
from itertools import compress
from operator import itemgetter
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ctad.core.normalize import utf8

MV = "__mv_"
_HEADER = re.compile(rb"chunked\s+1\.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")
_NEEDS_QUOTE = re.compile(r'[",\r\n]')
MAX_META_BYTES = 64 * 1024 * 1024


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


class ProtocolError(RuntimeError):
    """splunkd sent something this protocol does not allow (bad transport header, truncated chunk...)."""


class CommandError(Exception):
    """A problem meant for the user (bad option value, unusable baseline...): shown as a search error."""


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


# ------------------------------------------------------------------------------------------ chunk I/O
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


# -------------------------------------------------------------------------------------------- options
class Option:
    """One ``name=value`` argument: a parser that raises ValueError with a user-facing message."""

    def __init__(self, parse: Callable[[str], Any], default: Any, help: str = "") -> None:
        self.parse = parse
        self.default = default
        self.help = help


def boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "t", "true", "y", "yes", "on"):
        return True
    if low in ("0", "f", "false", "n", "no", "off"):
        return False
    raise ValueError("expected true or false")


def number(
    lo: Optional[float] = None, hi: Optional[float] = None, integer: bool = False
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value: Any = int(text) if integer else float(text)
        except ValueError:
            raise ValueError("expected " + ("an integer" if integer else "a number")) from None
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(
                f"expected a value in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            )
        return value

    return parse


def choice(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError("expected one of " + ", ".join(values))
        return text

    return parse


def name(text: str) -> str:
    if not text or not re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
        raise ValueError("expected a name made of letters, digits, '_', '-', '.'")
    return text


def parse_options(args: Iterable[str], spec: Dict[str, Option], command: str) -> Dict[str, Any]:
    """``searchinfo.args`` -> {option: value}; CommandError listing every bad or unknown argument."""
    values = {k: o.default for k, o in spec.items()}
    problems: List[str] = []
    for arg in args:
        if not isinstance(arg, str):
            continue
        if "=" not in arg:
            problems.append(f"unexpected argument {arg!r} (use name=value)")
            continue
        key, value = arg.split("=", 1)
        key = key.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        opt = spec.get(key)
        if opt is None:
            problems.append(f"unknown option {key!r} (valid: {', '.join(sorted(spec))})")
            continue
        try:
            values[key] = opt.parse(value)
        except ValueError as exc:
            problems.append(f"{key}={value!r}: {exc}")
    if problems:
        raise CommandError(f"{command}: " + "; ".join(problems))
    return values


# -------------------------------------------------------------------------------------------- command
class Messages:
    """info/warning/error messages for the next reply's ``inspector.messages``."""

    def __init__(self) -> None:
        self.items: List[List[str]] = []
        self._seen: set = set()

    def add(self, level: str, text: str) -> None:
        key = (level, text)
        if key in self._seen:
            return
        self._seen.add(key)
        self.items.append([level.upper(), text])

    def info(self, text: str) -> None:
        self.add("INFO", text)

    def warn(self, text: str) -> None:
        self.add("WARN", text)

    def error(self, text: str) -> None:
        self.add("ERROR", text)

    def take(self) -> Optional[Dict[str, Any]]:
        if not self.items:
            return None
        out = {"messages": self.items}
        self.items = []
        return out


class Command:
    """Base for commands on this layer: override `configure`, `execute` and (for stateful ones) `finish`."""

    name = "command"
    type = "stateful"
    options: Dict[str, Option] = {}

    def __init__(self) -> None:
        self.messages = Messages()
        self.info: Dict[str, Any] = {}
        self.opts: Dict[str, Any] = {}

    # hooks
    def configure(self) -> None:
        """After options are parsed (self.opts, self.info); raise CommandError for a user-facing failure."""

    def execute(self, body: bytes, finished: bool) -> Union[bytes, Body]:
        """One execute chunk; returns this reply's body (CSV bytes or a Body)."""
        raise NotImplementedError

    def getinfo_reply(self) -> Dict[str, Any]:
        return {"type": self.type, "generating": False, "required_fields": ["*"]}

    def close(self) -> None:
        """Release what the command holds (files in the dispatch dir, worker processes).

        Called once the run ends however it ends: after the last reply, after an error, and when splunkd ends
        the search early (cancel: end of input or SIGTERM), so nothing received is left behind on disk.
        """

    # driver
    def run(self, infile: IO[bytes], outfile: IO[bytes]) -> int:
        chan = Channel(infile, outfile)
        try:
            return self._serve(chan)
        except ProtocolError as exc:  # only Channel.read raises it: what came in is not the protocol
            chan.write({"finished": True, "error": f"{self.name}: {exc}"})
            return 1
        finally:
            try:
                self.close()
            except Exception:  # cleanup must not replace the answer already sent
                self._log_exception()

    def _serve(self, chan: Channel) -> int:
        first = chan.read()
        if first is None:
            return 0
        meta, _ = first
        if meta.get("action") != "getinfo":
            chan.write(
                {"finished": True, "error": f"{self.name}: expected getinfo, got {meta.get('action')!r}"}
            )
            return 1
        self.info = meta.get("searchinfo") or {}
        reply = self.getinfo_reply()
        try:
            self.opts = parse_options(self.info.get("args") or [], self.options, self.name)
            self.configure()
        except CommandError as exc:
            return self._fail(chan, reply, str(exc))
        except Exception as exc:  # never a traceback on the user's screen; the details go to search.log
            self._log_exception()
            return self._fail(chan, reply, f"{self.name}: cannot start: {type(exc).__name__}: {exc}")
        inspector = self.messages.take()
        if inspector:
            reply["inspector"] = inspector
        chan.write(reply)
        while True:
            chunk = chan.read()
            if chunk is None:
                return 0
            meta, body = chunk
            finished = bool(meta.get("finished"))
            if meta.get("action") != "execute":
                return self._fail(chan, {}, f"{self.name}: expected execute, got {meta.get('action')!r}")
            try:
                out = self.execute(body, finished)
            except CommandError as exc:
                return self._fail(chan, {}, str(exc))
            except Exception as exc:
                self._log_exception()
                return self._fail(chan, {}, f"{self.name} failed: {type(exc).__name__}: {exc}")
            reply = {"finished": finished}
            inspector = self.messages.take()
            if inspector:
                reply["inspector"] = inspector
            chan.write(reply, out)
            if finished:
                return 0

    def _fail(self, chan: Channel, reply: Dict[str, Any], message: str) -> int:
        self.messages.error(message)
        reply = dict(reply, finished=True, error=message, inspector=self.messages.take())
        chan.write(reply)
        return 1

    @staticmethod
    def _log_exception() -> None:
        import traceback

        traceback.print_exc(file=sys.stderr)  # splunkd copies a command's stderr into search.log


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def dispatch(command: Command) -> None:
    """Entry point for bin/*.py: speak the protocol on stdin/stdout and exit with the command's status.

    SIGTERM (how a cancelled search may end) becomes SystemExit so that `Command.close` still runs.
    """
    with contextlib.suppress(ValueError, OSError):  # not the main thread, or no SIGTERM on this platform
        signal.signal(signal.SIGTERM, _terminate)
    sys.exit(command.run(sys.stdin.buffer, sys.stdout.buffer))


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
