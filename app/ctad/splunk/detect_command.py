"""`| cloudtraildetect`: score every CloudTrail row of a search with the ctad engine, on the search head.

    ... | cloudtraildetect [threshold=<0..1>] [baseline=<lookup>] [explain=<bool>] [model=<dir>]
                           [engine=auto|python|numpy] [retention_days=<int>] [incident_gap=<minutes>]

Type stateful (search head), not streaming on the indexers: an event's features depend on its identity's whole
past (first-seen API/network/agent, rates over windows), which no single indexer holds; splunkd does not ship an
app's lib/ to indexers; and the baseline is read from the KV store through splunkd REST with the session key.

splunkd sends rows newest first, in chunks of 1..50,000. We keep each chunk's CSV body as it came (a file in the
dispatch dir, so memory stays bounded), hand it to the `rowformat` worker process (output column order, on the
other core) and feed every row to one `ctad.engine.detect` run; earlier chunks are answered with empty bodies and, when
`finished` arrives, every row is written back in input order: its input cells followed by the ct_* cells. Results
therefore do not depend on chunking and equal `ctad detect` on the same events. docs/splunk-commands.md has the
details, the failure behaviour and benchmark figures.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sys
import tempfile
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ctad.core.incidents import open_incidents_from_anomalies, read_open_incidents
from ctad.core.jsonio import utf8
from ctad.core.profile import MIN_TRUSTED_DAYS, Profile
from ctad.core.resources import find_dir
from ctad.core.schema import OUTPUT_FIELDS
from ctad.engine.detect import ModelError
from ctad.engine.driver import Detection, Item, Unreadable, build_detector, seed_warning
from ctad.engine.options import splunk_options
from ctad.splunk import protocol as P
from ctad.splunk.lookups import (
    BaselineSourceError,
    baseline_rows,
    clean_kv_row,
    rest_client,
    stored_anomalies_before,
)
from ctad.splunk.rowformat import Union, reformat, serve

# Output columns: ct_reasons is multivalue, so it has its __mv_ twin right after it.
CT_COLUMNS: Tuple[str, ...] = tuple(
    c for name in OUTPUT_FIELDS for c in ((name, P.MV + name) if name == "ct_reasons" else (name,))
)
_CT_NAMES = frozenset(CT_COLUMNS) | frozenset(P.MV + n for n in OUTPUT_FIELDS)


def score_text(score: float) -> str:
    """Fixed notation (the engine rounds to 6 decimals): Splunk compares and sorts "0.000024" as a number."""
    return "%.6f" % score


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return P.csv_cell(value) if value else ""
    return P.csv_cell(str(value))


def ct_cells(ct: Dict[str, Any]) -> str:
    """The ct_* cells of one row, CSV-encoded and comma-joined, in CT_COLUMNS order.

    Written out field by field rather than looped over OUTPUT_FIELDS: this runs once per row on the search head's
    one busy core. tests/splunk/test_incident_fields.py holds it to CT_COLUMNS, so a new field cannot be missed.
    """
    reasons = ct.get("ct_reasons") or []
    sv, mv = P.encode_mv(reasons) if reasons else ("", "")
    score = ct.get("ct_score")
    return ",".join(
        (
            "" if score is None else score_text(score),
            str(ct.get("ct_anomaly", 0)),
            _cell(ct.get("ct_severity")),
            _cell(sv),
            _cell(mv),
            str(ct.get("ct_risk", 0)),
            _cell(ct.get("ct_incident")),
            str(ct.get("ct_incident_score", 0)),
            _cell(ct.get("ct_incident_severity")),
            _cell(ct.get("ct_tactic")),
            _cell(ct.get("ct_technique")),
            _cell(ct.get("ct_identity")),
            _cell(ct.get("ct_model")),
            _cell(ct.get("ct_error")),
        )
    )


class ChunkStore:
    """Execute bodies as received, in order, in one file: (header, offset, length, rows, clean) per chunk.

    A spooled temp file (memory up to `max_memory`) unless `path` is given: the formatter worker reads the
    bodies back from that file by offset, so they cross no pipe.
    """

    def __init__(self, directory: Optional[str], max_memory: int, path: Optional[str] = None) -> None:
        if path:
            self._fh: Any = open(path, "w+b")  # noqa: SIM115
        else:
            self._fh = tempfile.SpooledTemporaryFile(max_size=max_memory, dir=directory)  # noqa: SIM115
        self.path = path
        self._size = 0
        self.chunks: List[Tuple[List[str], int, int, int, bool]] = []

    def add(self, header: List[str], body: bytes, rows: int, clean: bool) -> Tuple[int, int]:
        self._fh.seek(self._size)
        self._fh.write(body)
        if self.path:
            self._fh.flush()
        self.chunks.append((header, self._size, len(body), rows, clean))
        self._size += len(body)
        return self._size - len(body), len(body)

    def body(self, offset: int, length: int) -> bytes:
        self._fh.seek(offset)
        return self._fh.read(length)

    def close(self) -> None:
        self._fh.close()


class Formatter:
    """The rowformat worker: a forked process that reformats stored bodies into output column order."""

    def __init__(self, work: str, store_path: str, exclude: Sequence[str]) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")  # ValueError where fork does not exist: no worker there
        self.out_path = os.path.join(work, "formatted.csv")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=serve,
            args=(child, store_path, self.out_path, list(exclude)),
            name="ctad-rowformat",
            daemon=True,
        )
        self.proc.start()
        child.close()
        self.ok = True

    def send(self, offset: int, length: int) -> None:
        if not self.ok:
            return
        try:
            self.conn.send((offset, length))
        except (OSError, ValueError):
            self.ok = False

    def finish(self) -> Optional[List[List[int]]]:
        """Byte ranges [start, end, rows] per chunk in `out_path`, or None if the worker failed."""
        ranges: Any = None
        try:
            if self.ok:
                self.conn.send(None)
                if self.conn.poll(600):
                    ranges = self.conn.recv()
        except (OSError, EOFError, ValueError):
            ranges = None
        if isinstance(ranges, dict):
            print(f"cloudtraildetect: formatter worker failed: {ranges.get('error')}", file=sys.stderr)
            ranges = None
        return ranges if isinstance(ranges, list) else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        with contextlib.suppress(OSError):
            os.remove(self.out_path)


class _ChunkSpool:
    """The driver's spool for this command: chunks are kept whole (`ChunkStore`, read back through the formatter),
    so no row keeps anything of its own; `replay` gives each row's input cells in output order."""

    def __init__(self, replay: Callable[[], Iterator[bytes]]) -> None:
        self.replay = replay

    def write(self, kept: Any) -> None:  # pragma: no cover - every item of this command keeps None
        raise AssertionError("cloudtraildetect keeps its rows as whole chunks")


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        return os.access(path, os.W_OK)
    except OSError:
        return False


class DetectCommand(P.Command):
    name = "cloudtraildetect"
    type = "stateful"
    # threshold, baseline, explain, model, engine, ...: declared once for every door in ctad.engine.options
    options = {name: P.Option(*spec) for name, spec in splunk_options().items()}
    # Chunk bodies beyond this many bytes go to the dispatch dir instead of memory.
    body_memory = 8 * 1024 * 1024

    def configure(self) -> None:
        info = self.info
        self.work_dir = self._work_dir()
        model_dir = self._model_dir(self.opts["model"])  # cheap checks before the baseline read
        profile = self._baseline()
        try:
            self.detector = build_detector(
                self.opts,
                profile,
                model_dir=model_dir,
                spill_dir=self.work_dir,
                model_cache_dir=self._model_cache_dir(),
            )
        except ModelError as exc:
            raise P.CommandError(f"{self.name}: {exc}") from None
        self.detection = Detection(self.detector, spool=_ChunkSpool(self._replay))
        self.run = self.detection.run
        self.normalizer = self.detector.normalizer
        self.union = Union(set(_CT_NAMES))  # the output's input columns, first-seen order
        self.rows = 0
        self.formatter: Optional[Formatter] = None
        self._tmp: Optional[str] = None
        if self.work_dir and self.opts["worker"] and os.environ.get("CTAD_SPLUNK_WORKER", "1") != "0":
            try:
                self._tmp = tempfile.mkdtemp(prefix="ctad-", dir=self.work_dir)
                store_path = os.path.join(self._tmp, "bodies.csv")
                self.store = ChunkStore(self._tmp, self.body_memory, path=store_path)
                self.formatter = Formatter(self._tmp, store_path, sorted(_CT_NAMES))
            except (OSError, ValueError) as exc:
                print(f"cloudtraildetect: formatter worker unavailable: {exc}", file=sys.stderr)
                self.formatter = None
        if self.formatter is None:
            self.store = ChunkStore(self.work_dir, self.body_memory)
        del info

    # ------------------------------------------------------------------------------------- setup
    def _work_dir(self) -> Optional[str]:
        d = self.info.get("dispatch_dir")
        if d and os.path.isdir(str(d)) and os.access(str(d), os.W_OK):
            return str(d)
        return None

    def _model_cache_dir(self) -> Optional[str]:
        home = os.environ.get("SPLUNK_HOME")
        if home:
            path = os.path.join(home, "var", "run", "ctad", "model-cache")
            if _writable(path):
                return path
        if self.work_dir:
            return os.path.join(self.work_dir, "ctad-model-cache")
        return None

    def _model_dir(self, value: str) -> Optional[str]:
        if not value:
            return None
        if os.path.isabs(value):
            path = value
        else:
            if ".." in value.replace("\\", "/").split("/"):
                raise P.CommandError(f"{self.name}: model={value!r}: '..' is not allowed")
            path = str(find_dir("model") / value)
        if not os.path.isdir(path):
            raise P.CommandError(f"{self.name}: model={value!r}: no such model directory ({path})")
        return path

    def _baseline(self) -> Optional[Profile]:
        """The baseline profile, or None (hunting mode) with a message saying why: never a failed search."""
        name = self.opts["baseline"]
        try:
            return self._read_baseline(name)
        except BaselineSourceError as exc:
            self.messages.warn(f"{self.name}: baseline {name} unavailable ({exc}): hunting mode, no history")
        except Exception as exc:  # a lookup anyone can edit: whatever it holds, the search still runs
            self._log_exception()
            self.messages.warn(
                f"{self.name}: baseline {name} is unusable ({type(exc).__name__}: {str(exc)[:200]}): "
                "hunting mode, no history"
            )
        return None

    def _read_baseline(self, name: str) -> Optional[Profile]:
        rows, where = baseline_rows(self.info, name)
        if not rows:
            self.messages.info(
                f"{self.name}: baseline {name} is {'empty' if rows is not None else 'missing'} ({where}): "
                "hunting mode, the profile comes from this search's events"
            )
            return None
        problems: Dict[str, int] = {}
        profile = Profile.from_rows((clean_kv_row(r) if isinstance(r, dict) else r for r in rows), problems)
        if problems:
            top = "; ".join(f"{k} ({v})" for k, v in sorted(problems.items(), key=lambda kv: -kv[1])[:3])
            self.messages.warn(
                f"{self.name}: baseline {name} ({where}): {sum(problems.values())} of {len(rows)} rows unusable "
                f"or clamped: {top}"
            )
        if profile.total <= 0 or not profile.data["identities"]:
            self.messages.warn(
                f"{self.name}: baseline {name} ({where}) holds no usable history: hunting mode, no history"
            )
            return None
        if self.opts["retention_days"]:
            profile.prune(self.opts["retention_days"])
        days = profile.span_days
        if days < MIN_TRUSTED_DAYS:
            self.messages.warn(
                f"baseline has {days:.1f} days of history (<{MIN_TRUSTED_DAYS}): novelty features are weak"
            )
        return profile

    # ------------------------------------------------------------------------------------- input
    def execute(self, body: bytes, finished: bool) -> Any:
        if body:
            self._ingest(body)
        if not finished:
            return b""
        try:
            return self._output()
        finally:
            self.close()

    def close(self) -> None:
        """Received rows are kept in the dispatch dir until the reply: remove them, whatever ended the search."""
        store = getattr(self, "store", None)
        if store is not None:
            store.close()
        formatter = getattr(self, "formatter", None)
        if formatter is not None:
            formatter.close()
            self.formatter = None
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
            self._tmp = None

    def _ingest(self, body: bytes) -> None:
        header, reader = P.parse_csv(body)
        if not header:
            first = next(reader, None)
            if first is None:  # an empty body: no rows
                return
            reader = itertools.chain([first], reader)  # rows under an empty header line: each gets ct_error
        self.union.add(header)
        # Store first and hand the chunk to the formatter worker, which then works while we normalise.
        offset, length = self.store.add(header, body, 0, False)
        if self.formatter is not None:
            self.formatter.send(offset, length)
        self._clean = True
        n = self.detection.feed(self._items(header, reader))
        self.rows += n
        self.store.chunks[-1] = (header, offset, length, n, self._clean)

    def _items(self, header: List[str], reader: Iterator[List[str]]) -> Iterator[Item]:
        """The chunk's rows as driver items; clears `_clean` when a record does not fit the header."""
        width = len(header)
        to_row = P.RowReader(header)
        raw_i = header.index("_raw") if "_raw" in header else -1
        raw_mv = header.index(P.MV + "_raw") if (P.MV + "_raw") in header else -1
        from_splunk = self.normalizer.from_splunk
        for cells in reader:
            if not header:
                self._clean = False
                yield Unreadable("the chunk's CSV header line is empty: the row's fields are unknown"), None
                continue
            if len(cells) != width:
                self._clean = False
                message = (
                    "empty CSV record"
                    if not cells
                    else f"malformed CSV record: {len(cells)} cells for {width} columns"
                )
                yield Unreadable(message), None
                continue
            if raw_i >= 0 and cells[raw_i] and (raw_mv < 0 or not cells[raw_mv]):
                # Fast path: a CloudTrail `_raw` alone decides the event (as in Normalizer.from_splunk).
                try:
                    ev = from_splunk({"_raw": cells[raw_i]})
                except Exception:  # not CloudTrail JSON: the full path below decides (and records any error)
                    pass
                else:
                    yield ev, None
                    continue
            yield to_row(cells), None

    # ------------------------------------------------------------------------------------ output
    def _formatted(self) -> Iterator[Tuple[List[bytes], int, int]]:
        """(records of each chunk in union-so-far column order, union width then, row count), in chunk order."""
        ranges = self.formatter.finish() if self.formatter is not None else None
        if ranges is not None and len(ranges) == len(self.store.chunks):
            union = Union(set(_CT_NAMES))
            with open(self.formatter.out_path, "rb") as fh:  # type: ignore[union-attr]
                for (header, _, _, n, _), (start, end, rows) in zip(self.store.chunks, ranges):
                    union.add(header)
                    if rows != n:
                        raise RuntimeError(f"formatter worker returned {rows} rows for a chunk of {n}")
                    fh.seek(start)
                    yield P.split_records(fh.read(end - start)), len(union.columns), n
            return
        if self.formatter is not None:
            self.messages.info(f"{self.name}: formatter worker unavailable, formatting in-process")
        union = Union(set(_CT_NAMES))
        for header, offset, length, n, clean in self.store.chunks:
            body = self.store.body(offset, length)
            if clean and header == union.columns[: len(header)]:
                # The record bytes as received are already in union-so-far order (minus trailing columns),
                # unless a stray quote in an unquoted cell (csv reads it literally) makes the quote-counting
                # split join records: then the chunk is rewritten like any other.
                records = P.split_records(body)[1:]
                if len(records) == n:
                    yield records, len(header), n
                    continue
            data, rows = reformat(body, union)  # adds the chunk's new columns to `union`
            yield P.split_records(data), len(union.columns), rows

    def write(
        self, kept: Any
    ) -> None:  # pragma: no cover - every item keeps None: the chunks are stored whole
        raise AssertionError("cloudtraildetect keeps its rows as whole chunks")

    def _replay(self) -> Iterator[bytes]:
        """Each row's input cells in the output's column order, padded to the final width and followed by the
        comma before its ct_* cells: what `Detection.pairs` pairs with the row's result."""
        final = len(self.union.columns)
        sep = b"," if final else b""
        for records, width, n in self._formatted():
            if len(records) != n:
                raise RuntimeError(f"output lost rows: {len(records)} records for {n} rows")
            tail = b"," * (final - width) + sep
            if width:
                for rec in records:
                    yield rec + tail
            else:
                for _ in records:
                    yield tail

    def _output(self) -> P.Body:
        out = P.Body(self.work_dir, max_memory=16 * 1024 * 1024)
        columns = self.union.columns
        out.write(utf8(",".join(P.csv_cell(c) for c in columns + list(CT_COLUMNS)) + "\r\n"))

        def write(pairs: Iterator[Tuple[bytes, Dict[str, Any]]]) -> None:
            parts: List[bytes] = []
            for cells, ct in pairs:
                parts.append(cells + utf8(ct_cells(ct)) + b"\r\n")
                if len(parts) >= 4096:
                    out.write(b"".join(parts))
                    parts = []
            out.write(b"".join(parts))

        self._continue_incidents()
        self.detection.finish(write)
        self._report()
        return out

    def _continue_incidents(self) -> None:
        """Seed the run with the identities' open incidents from the anomalies earlier searches stored
        (`continue_incidents`), so a scheduled window that starts inside an incident keeps its id and score.

        Only now is the search's earliest event known (rows come newest first). A KV store that cannot be read
        gives a warning and a run without seeds: every row still comes out. Outside splunkd (no session key: the
        command driven by a test or a benchmark) there is no KV store and nothing to continue."""
        run = self.run
        if not self.opts["continue_incidents"] or run.earliest is None or rest_client(self.info) is None:
            return
        gap = self.detector.incident_gap
        where = "KV store collection ctad_anomalies"
        try:
            rows = stored_anomalies_before(self.info, run.earliest, gap)
        except BaselineSourceError as exc:
            self.messages.warn(
                f"{self.name}: open incidents not continued ({exc}): incidents start in this search"
            )
            return
        except Exception as exc:  # whatever the store holds or answers, the search still runs
            self._log_exception()
            self.messages.warn(
                f"{self.name}: open incidents not continued ({type(exc).__name__}: {str(exc)[:200]}): "
                "incidents start in this search"
            )
            return
        entries, problems = open_incidents_from_anomalies(rows, run.earliest, gap)
        checked, more = read_open_incidents(entries, self.detector.normalizer.latest)
        for reason, n in more.items():
            problems[reason] = problems.get(reason, 0) + n
        warning = seed_warning(problems, where)
        if warning:
            self.messages.warn(f"{self.name}: {warning}")
        run.incidents.seed(checked)

    def _report(self) -> None:
        s = self.run.summary
        if s.errors:
            top = "; ".join(f"{m} ({c})" for m, c in s.error_messages.most_common(3))
            self.messages.warn(
                f"{self.name}: {s.errors} of {s.rows} rows could not be scored (ct_error): {top}"
            )
        self.messages.info(
            f"{self.name}: {s.rows} rows, {s.events} events scored, {s.anomalies} anomalies in "
            f"{self.run.incidents.count} incidents, "
            f"{s.duplicates} duplicates (model {self.detector.model_version})"
        )


def main() -> None:
    P.dispatch(DetectCommand())
