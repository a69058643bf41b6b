"""`ctad detect` and `ctad baseline`: the engine over files, for hunting and scheduled runs.

The input is read once. Each row's JSON text goes to a sequential spill file while its event goes to the
detector, so the output can keep every input field without holding the input in memory or reading it twice.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, Mapping, Optional, TextIO, Tuple

from ctad.core import bounded
from ctad.core.normalize import UTF8_ERRORS, loads, utf8
from ctad.core.profile import Profile
from ctad.core.schema import OUTPUT_FIELDS, CtFields, Event
from ctad.engine.argtypes import existing_dir, int_range, probability
from ctad.engine.detect import (
    DEFAULT_INCIDENT_GAP_MINUTES,
    MAX_INCIDENT_GAP_MINUTES,
    Detector,
    ModelError,
    Run,
)
from ctad.engine.readers import InputRow, iter_rows


def _dumps_stdlib(obj: Any) -> bytes:
    """Compact JSON; a lone surrogate (never from `loads`, possible from Python callers) becomes U+FFFD."""
    return utf8(json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str))


try:
    import orjson

    def dumps(obj: Any) -> bytes:
        try:
            return orjson.dumps(obj)
        except TypeError:  # keys that are not strings or lone surrogates: never from JSON input
            try:
                return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
            except TypeError:
                return _dumps_stdlib(obj)

except ImportError:  # pragma: no cover
    dumps = _dumps_stdlib


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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="score CloudTrail files and write one enriched row per input event")
    p.add_argument(
        "paths", nargs="+", help="files or directories (S3 .json.gz, JSON lines, EventBridge); - for stdin"
    )
    p.add_argument("--output", "-o", required=True, help="OUT.jsonl, OUT.jsonl.gz or OUT.csv")
    p.add_argument("--baseline", help="baseline profile to start from (JSON, .gz ok); created if missing")
    p.add_argument(
        "--update-baseline", action="store_true", help="write the profile after this run back to --baseline"
    )
    p.add_argument(
        "--threshold",
        type=probability,
        help="anomaly threshold from 0 to 1 (default: the model's shipped threshold)",
    )
    p.add_argument("--model", help="model directory (default: the bundled model/)")
    add_incident_gap_argument(p)
    p.add_argument("--no-explain", action="store_true", help="skip reasons (faster)")
    p.add_argument("--engine", choices=("auto", "python", "numpy"), default="auto",
                   help="model evaluation: numpy when importable (auto), or force one")  # fmt: skip
    p.add_argument(
        "--max-memory-rows",
        type=int_range(1),
        default=100_000,
        help="rows held in memory before spilling to disk",
    )
    p.add_argument(
        "--spill-dir", type=existing_dir, help="directory for temporary spill files (default: system temp)"
    )
    p.add_argument("--workers", type=int_range(0), default=0,
                   help="processes to use (default: one per core; 1 runs in this process only)")  # fmt: skip
    p.add_argument("--summary-json", help="also write the run summary as JSON here")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary table")
    p.set_defaults(func=cmd_detect)

    b = sub.add_parser("baseline", help="build or inspect a baseline profile")
    bsub = b.add_subparsers(dest="baseline_command", metavar="ACTION")
    build = bsub.add_parser("build", help="build a profile from historical events (no scoring)")
    build.add_argument("paths", nargs="+")
    build.add_argument("--out", required=True, help="profile file to write (.json or .json.gz)")
    build.add_argument("--base", help="start from this existing profile")
    build.add_argument("--retention-days", type=float, default=90.0, help="forget sightings older than this")
    build.set_defaults(func=cmd_baseline_build)
    show = bsub.add_parser("show", help="print what a profile knows")
    show.add_argument("profile")
    show.set_defaults(func=cmd_baseline_show)
    b.set_defaults(func=lambda args: (b.print_help(), 2)[1])


def add_incident_gap_argument(parser: Any) -> None:
    """--incident-gap, shared by `ctad detect` and `ctad elastic detect` so both front doors group alike."""
    parser.add_argument(
        "--incident-gap",
        type=int_range(0, MAX_INCIDENT_GAP_MINUTES),  # whole minutes, bounded like `incident_gap=` in Splunk
        default=DEFAULT_INCIDENT_GAP_MINUTES,
        metavar="MINUTES",
        help="anomalies of one identity at most this far apart form one incident "
        f"(default {DEFAULT_INCIDENT_GAP_MINUTES})",
    )


# --------------------------------------------------------------------------------------------- output
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


# ---------------------------------------------------------------------------------------- the command
def _progress(quiet: bool, **kwargs: Any) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(file=sys.stderr, mininterval=0.5, dynamic_ncols=True, **kwargs)


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


def feed(run: Run, paths: List[str], body_file: Any = None, progress: Any = None) -> int:
    """Read every input row into the run (and its JSON text into body_file); returns the row count."""
    n = 0
    for item in iter_rows(paths):
        body, problem = row_body(item)
        if item.error or problem:
            run.skip(item.error or problem)
        else:
            run.add(item.obj)
        if body_file is not None:
            body_file.write(body + b"\n")
        n += 1
        if progress is not None and n % 5000 == 0:
            progress.update(5000)
    if progress is not None:
        progress.update(n % 5000)
    return n


def is_stream(path: str) -> bool:
    """Standard output, or a path that is a pipe or a device: written once, front to back, never at offsets."""
    return path == "-" or (os.path.exists(path) and not os.path.isfile(path))


def cmd_detect(args: argparse.Namespace) -> int:
    profile: Optional[Profile] = None
    baseline_path = Path(args.baseline) if args.baseline else None
    if baseline_path is not None and baseline_path.exists():
        try:
            profile = Profile.load(baseline_path)
        except ValueError as exc:
            print(f"ctad detect: {exc}", file=sys.stderr)
            return 2
    try:
        detector = Detector(
            model_dir=args.model,
            profile=profile,
            threshold=args.threshold,
            explain=not args.no_explain,
            spill_dir=args.spill_dir,
            max_memory_rows=args.max_memory_rows,
            engine=args.engine,
            incident_gap=60.0 * args.incident_gap,
        )
    except ModelError as exc:
        print(f"ctad detect: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    workers = args.workers if args.workers > 0 else (os.cpu_count() or 1)
    tmp_dir = tempfile.mkdtemp(prefix="ctad-detect-", dir=args.spill_dir)
    try:
        if not is_stream(args.output):
            # An unwritable output fails now, not after reading everything. Not a pipe: opening one is the
            # write itself, and closing it would end the reader's input.
            open(args.output, "ab").close()
        if workers > 1 and "-" not in args.paths:
            run = _detect_parallel(args, detector, workers, tmp_dir)
        else:
            run = _detect_here(args, detector, tmp_dir)
    except OSError as exc:  # the output or the spill directory: unwritable, full, gone
        print(f"ctad detect: {exc.strerror or exc}: {exc.filename or args.output}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    if baseline_path is not None and run.profile is not None and (args.update_baseline or profile is None):
        run.profile.save(baseline_path)
    summary = run.summary.as_dict()
    summary["incidents"] = run.incidents.count
    summary["seconds"] = round(elapsed, 3)
    summary["events_per_second"] = round(summary["rows"] / elapsed, 1) if elapsed > 0 else None
    summary["baseline"] = profile.describe() if profile is not None else None
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if not args.quiet:
        print_summary(summary, args.output, profile)
    return 0


def _detect_here(args: argparse.Namespace, detector: Detector, tmp_dir: str) -> Run:
    """The single-process run: also the reference the parallel one must match byte for byte."""
    run = detector.start()
    body_path = os.path.join(tmp_dir, "bodies.jsonl")
    try:
        bar = _progress(args.quiet, desc="reading", unit="ev")
        with open(body_path, "wb") as body_file:
            n = feed(run, args.paths, body_file, bar)
        if bar is not None:
            bar.close()
        bar = _progress(args.quiet, desc="scoring", unit="ev", total=n)
        writer = OutputWriter(args.output)
        try:
            with open(body_path, "rb") as bodies:
                for i, ct in enumerate(run.results()):
                    writer.write(bodies.readline().rstrip(b"\n"), ct)
                    if bar is not None and i % 5000 == 4999:
                        bar.update(5000)
        finally:
            writer.close()
        if bar is not None:
            bar.update(n % 5000)
            bar.close()
    finally:
        with contextlib.suppress(OSError):
            os.remove(body_path)
    return run


def _detect_parallel(args: argparse.Namespace, detector: Detector, workers: int, tmp_dir: str) -> Run:
    from ctad.engine.pipeline import detect_files

    output = args.output
    suffix = ".csv" if output.endswith(".csv") else (".gz" if output.endswith(".gz") else ".jsonl")
    config = {  # how a spawned worker rebuilds the detector (forked workers inherit it)
        "detector": {"model_dir": args.model, "threshold": detector.threshold, "explain": detector.explain,
                     "engine": detector.engine, "profile": None, "now": detector.now},
        "tmp": tmp_dir,
        "output_kind": suffix,
    }  # fmt: skip
    return detect_files(detector, args.paths, output, suffix, tmp_dir, workers, config,
                        progress=None if args.quiet else lambda **kw: _progress(False, **kw))  # fmt: skip


def print_summary(summary: Dict[str, Any], output: str, profile: Optional[Profile]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title="ctad detect", show_header=False)
    table.add_row("rows in / out", f"{summary['rows']:,} / {summary['rows']:,}  → {output}")
    table.add_row("events scored", f"{summary['events']:,}  ({summary['duplicates']:,} duplicates)")
    table.add_row("rows with ct_error", f"{summary['errors']:,}")
    table.add_row("anomalies", f"{summary['anomalies']:,} in {summary['incidents']:,} incidents")
    sev = summary["severities"]
    table.add_row(
        "by severity",
        ", ".join(f"{k} {sev[k]:,}" for k in ("critical", "high", "medium", "low") if sev.get(k)) or "-",
    )
    if profile is None:
        table.add_row("baseline", "none: hunting mode, the profile comes from these events")
    else:
        d = profile.describe()
        state = "" if d["trusted"] else "  [not enough history yet: < 7 days]"
        table.add_row("baseline", f"{d['identities']:,} identities over {d['span_days']} days{state}")
    table.add_row("throughput", f"{summary['events_per_second'] or 0:,.0f} events/s ({summary['seconds']} s)")
    console.print(table)
    if summary["top_identities"]:
        t = Table(title="top identities (anomalies)")
        t.add_column("identity")
        t.add_column("anomalies", justify="right")
        for identity, count in summary["top_identities"][:8]:
            t.add_row(identity, f"{count:,}")
        console.print(t)
    if summary["top_reasons"]:
        t = Table(title="top reasons")
        t.add_column("reason")
        t.add_column("count", justify="right")
        for reason, count in summary["top_reasons"][:8]:
            t.add_row(reason, f"{count:,}")
        console.print(t)
    if summary["error_messages"]:
        t = Table(title="rows that could not be scored")
        t.add_column("error")
        t.add_column("rows", justify="right")
        for message, count in summary["error_messages"]:
            t.add_row(message, f"{count:,}")
        console.print(t)


def build_profile(
    paths: List[str], base: Optional[Profile] = None, max_memory_rows: int = 100_000
) -> Tuple[Profile, int]:
    """Fold historical events into a profile in the engine's order (`ctad.core.ordering`), without a model.

    Returns the profile and how many rows were skipped (unreadable, or an implausible time)."""
    from ctad.core.catalog import Catalog
    from ctad.core.features import FeatureState
    from ctad.core.normalize import Normalizer
    from ctad.core.ordering import EventWalk
    from ctad.engine.detect import normalize_row
    from ctad.engine.spill import ExternalSorter

    catalog = Catalog.load()
    normalizer = Normalizer(catalog)
    sorter = ExternalSorter(
        key=lambda item: (item[0], item[1], item[2]),
        max_items=max_memory_rows,
        encode=lambda item: (item[0], item[1], item[2], item[3].to_tuple()),
        decode=lambda item: (item[0], item[1], item[2], Event.from_tuple(item[3])),
    )
    bad = 0
    for seq, item in enumerate(iter_rows(paths)):
        ev = item.error or row_body(item)[1] or normalize_row(normalizer, item.obj)
        if isinstance(ev, str):
            bad += 1
            continue
        sorter.add((ev.time, ev.event_id, seq, ev))
    state = base.to_state(catalog) if base is not None else FeatureState(catalog)
    for _ in EventWalk(
        sorter.sorted(), state, event=lambda item: item[3], values=lambda item: item[3].to_tuple()
    ):
        pass
    return Profile.from_state(state), bad


def cmd_baseline_build(args: argparse.Namespace) -> int:
    try:
        base = Profile.load(args.base) if args.base else None
    except ValueError as exc:
        print(f"ctad baseline build: {exc}", file=sys.stderr)
        return 2
    profile, bad = build_profile(args.paths, base)
    removed = profile.prune(args.retention_days)
    profile.save(args.out)
    d = profile.describe()
    print(
        f"baseline: {d['events']:,} events, {d['identities']:,} identities over {d['span_days']} days"
        f" -> {args.out} ({bad} rows skipped: unreadable, nested too deeply or an implausible time;"
        f" {removed} stale entries pruned)"
        + ("" if d["trusted"] else "; not enough history yet (< 7 days): novelty features are weak"),
        file=sys.stderr,
    )
    return 0


def cmd_baseline_show(args: argparse.Namespace) -> int:
    try:
        profile = Profile.load(args.profile)
    except ValueError as exc:
        print(f"ctad baseline show: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(profile.describe(), indent=2))
    return 0
