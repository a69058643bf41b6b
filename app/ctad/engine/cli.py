"""`ctad detect` and `ctad baseline`: the engine over files, for hunting and scheduled runs.

The input is read once. Each row's JSON text goes to a sequential spill file while its event goes to the
detector, so the output can keep every input field without holding the input in memory or reading it twice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ctad.core.profile import Profile
from ctad.core.schema import SEVERITIES
from ctad.engine.argtypes import int_range
from ctad.engine.detect import Detector, ModelError, Run
from ctad.engine.driver import (
    Item,
    LineSpool,
    Unreadable,
    build_detector,
    load_baseline,
    run_detection,
    run_summary,
    save_baseline,
    seed_warning,
)
from ctad.engine.options import CLI, add_arguments
from ctad.engine.output import OutputWriter, is_stream, row_body
from ctad.engine.readers import iter_rows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="score CloudTrail files and write one enriched row per input event")
    p.add_argument(
        "paths", nargs="+", help="files or directories (S3 .json.gz, JSON lines, EventBridge); - for stdin"
    )
    p.add_argument("--output", "-o", required=True, help="OUT.jsonl, OUT.jsonl.gz or OUT.csv")
    add_arguments(p, CLI)  # --threshold, --baseline, --model, --incident-gap, ...: ctad.engine.options
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


# ---------------------------------------------------------------------------------------- the command
def _progress(quiet: bool, **kwargs: Any) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(file=sys.stderr, mininterval=0.5, dynamic_ncols=True, **kwargs)


def source(paths: List[str], progress: Any = None) -> Iterator[Item]:
    """Every input row as a driver item: (row or why it cannot be scored, the JSON text its output row starts
    from)."""
    n = 0
    for item in iter_rows(paths):
        body, problem = row_body(item)
        yield (Unreadable(item.error or problem) if item.error or problem else item.obj), body
        n += 1
        if progress is not None and n % 5000 == 0:
            progress.update(5000)
    if progress is not None:
        progress.update(n % 5000)


def cmd_detect(args: argparse.Namespace) -> int:
    try:
        profile = load_baseline(args.baseline)
    except ValueError as exc:
        print(f"ctad detect: {exc}", file=sys.stderr)
        return 2
    try:
        detector = build_detector(vars(args), profile)
    except ModelError as exc:
        print(f"ctad detect: {exc}", file=sys.stderr)
        return 2
    warning = seed_warning(detector.incident_problems, f"baseline {args.baseline}")
    if warning:
        print(f"ctad detect: warning: {warning}", file=sys.stderr)
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
    save_baseline(run, args.baseline, profile, args.update_baseline)
    summary = run_summary(run)
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
    spool = LineSpool(path=os.path.join(tmp_dir, "bodies.jsonl"))
    bar = _progress(args.quiet, desc="reading", unit="ev")

    def write(pairs: Iterator[Tuple[bytes, Dict[str, Any]]]) -> None:
        scoring = None
        if bar is not None:
            total = bar.n  # every row read
            bar.close()
            scoring = _progress(args.quiet, desc="scoring", unit="ev", total=total)
        writer = OutputWriter(args.output)
        try:
            for i, (body, ct) in enumerate(pairs):
                writer.write(body, ct)
                if scoring is not None and i % 5000 == 4999:
                    scoring.update(5000)
        finally:
            writer.close()
        if scoring is not None:
            scoring.update(total % 5000)
            scoring.close()

    try:
        run, _ = run_detection(detector, source(args.paths, bar), write, spool)
    finally:
        spool.close()
    return run


def _detect_parallel(args: argparse.Namespace, detector: Detector, workers: int, tmp_dir: str) -> Run:
    from ctad.engine.pipeline import detect_files

    output = args.output
    suffix = ".csv" if output.endswith(".csv") else (".gz" if output.endswith(".gz") else ".jsonl")
    config = {  # how a spawned worker rebuilds the detector (forked workers inherit it)
        "detector": {"model_dir": args.model or None, "threshold": detector.threshold, "explain": detector.explain,
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
        ", ".join(f"{k} {sev[k]:,}" for k in reversed(SEVERITIES) if k != "informational" and sev.get(k))
        or "-",
    )
    if profile is None:
        table.add_row("baseline", "none: hunting mode, the profile comes from these events")
    else:
        d = profile.describe()
        state = "" if d["trusted"] else "  [not enough history yet: < 7 days]"
        table.add_row("baseline", f"{d['identities']:,} identities over {d['span_days']} days{state}")
    table.add_row("throughput", f"{summary['events_per_second'] or 0:,.0f} events/s ({summary['seconds']} s)")
    console.print(table)
    counted = (
        ("top identities (anomalies)", "identity", "anomalies", summary["top_identities"][:8]),
        ("top reasons", "reason", "count", summary["top_reasons"][:8]),
        ("rows that could not be scored", "error", "rows", summary["error_messages"]),
    )
    for title, what, how_many, rows in counted:
        if rows:
            t = Table(title=title)
            t.add_column(what)
            t.add_column(how_many, justify="right")
            for name, count in rows:
                t.add_row(name, f"{count:,}")
            console.print(t)


def build_profile(
    paths: List[str], base: Optional[Profile] = None, max_memory_rows: int = 100_000
) -> Tuple[Profile, int]:
    """Fold historical events into a profile in the engine's order (`ctad.core.ordering`), without a model.

    Returns the profile and how many rows were skipped (unreadable, or an implausible time)."""
    from ctad.core.catalog import Catalog
    from ctad.core.normalize import Normalizer
    from ctad.core.ordering import EventWalk, start_state
    from ctad.engine.detect import normalize_row
    from ctad.engine.spill import EventSorter

    catalog = Catalog.load()
    normalizer = Normalizer(catalog)
    sorter = EventSorter(max_items=max_memory_rows)
    bad = 0
    for seq, item in enumerate(iter_rows(paths)):
        ev = item.error or row_body(item)[1] or normalize_row(normalizer, item.obj)
        if isinstance(ev, str):
            bad += 1
            continue
        sorter.add((ev.time, ev.event_id, seq, ev))
    walk = EventWalk(sorter.sorted(), start_state(catalog, base))
    for _ in walk:
        pass
    return walk.profile(), bad


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
