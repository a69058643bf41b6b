"""`ctad detect` over files on every core, with output byte-identical to the single-process run.

Features are causal over the time-sorted set of events, so one process (the parent) must walk the events in
order; everything else is per file or per batch and runs in worker processes:

1. read: each task (a group of files) is decompressed, parsed and normalised by a worker, which writes the rows'
   JSON text with the ct_* fields it already knows (identity, tactic, errors) to a bodies file and its events,
   sorted, to a run file. Nothing per event crosses a pipe.
2. featurise and score: the parent merges the sorted runs, drops duplicate deliveries and computes each event's
   features; batches of feature rows go to the workers for scoring and contributions, and come back to the
   parent for severities and reasons. Scores and severities land in disk-backed arrays indexed by row number.
3. write: as soon as every row of a write unit (whole files, ~UNIT_ROWS rows) is final, a worker splices the ct_*
   fields into its rows and writes them to a part file, while the ordered pass goes on; at the end the workers
   copy the parts into place in the output, in input order.

Memory stays flat in input size: the parent holds the feature state, one block per sorted run (at most FAN_IN
runs: beyond that the workers merge runs in groups first) and a few batches; reasons are kept only for anomalies.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import gc
import io
import itertools
import math
import mmap
import multiprocessing
import os
import pickle
import shutil
import sys
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from ctad.core.jsonio import dumps
from ctad.core.ordering import EventWalk, start_state
from ctad.core.schema import SEVERITIES, Event, empty_output
from ctad.engine.detect import Detector, Run, ct_score, error_key, normalize_row, score_rows_batch
from ctad.engine.output import OutputWriter, compact_object, is_stream, row_body, splice_inner
from ctad.engine.readers import iter_file, iter_rows, list_file_names
from ctad.engine.spill import iter_blocks, merge_runs, write_blocks

TASK_BYTES = 4_000_000  # compressed input per read task: ~15-20k events, tens of MB in a worker
RUN_BLOCK = 1024  # events per pickled block of a sorted run: the merge holds one block per run
FAN_IN = 128  # runs merged at once (~50 MB of blocks); more are first merged in groups by the workers
UNIT_ROWS = 4096  # rows per write unit (whole files): a unit is written once all its rows are final
SCORE_BATCH = 8192  # feature rows per scoring task
MAX_PENDING = 3  # scoring tasks in flight; bounds the parent's memory for rows awaiting their scores
WORKER_NICE = 5  # the parent's ordered pass is the one serial step: workers yield the CPU to it
_SEP = b"\x00"  # between a row's known ct_* fields and its JSON text: JSON text never holds a raw NUL
_SCORED, _ERROR = b"S", b"E"
# The ct_* fields only an anomaly sets, after ct_severity in OUTPUT_FIELDS order; a quiet row has these values.
# The parent hands an anomaly's values to the writer beside its score and severity code.
_QUIET: Dict[str, Any] = {"ct_reasons": [], "ct_risk": 0, "ct_incident": "", "ct_incident_score": 0,
                          "ct_incident_severity": ""}  # fmt: skip


@dataclass
class _Context:
    """What a worker needs; inherited through fork, or rebuilt by `_init_worker` where processes are spawned."""

    detector: Detector
    tmp: str
    output_kind: str


_CTX: Optional[_Context] = None


def _init_worker(config: Optional[Dict[str, Any]]) -> None:
    global _CTX
    if config is not None:  # spawned, not forked: load the model and catalogue here
        detector = Detector(**config["detector"])
        _CTX = _Context(detector, config["tmp"], config["output_kind"])
    _tune_gc()
    with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows
        os.nice(WORKER_NICE)


def _tune_gc() -> None:
    """The engine allocates millions of short-lived containers and makes no reference cycles of its own;
    collecting the long-lived model, catalogue and state again and again costs ~15% of a run for nothing."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


# ------------------------------------------------------------------------------------------------- read
def _read_task(task: Tuple[int, List[str]]) -> Dict[str, Any]:
    """Normalise a group of files: bodies (known ct_* fields + JSON text) and a sorted run of events."""
    index, files = task
    ctx = _CTX
    assert ctx is not None
    det = ctx.detector
    normalizer = det.normalizer
    api_info = _api_info_function(det)
    version = det.model_version
    events: List[Tuple[float, str, int, int, Any]] = []
    errors: Counter = Counter()
    static_cache: Dict[Tuple[str, str, str], bytes] = {}
    local = 0
    memo: Dict[str, str] = {}
    share = memo.setdefault
    units: List[Tuple[str, int, int, Any]] = []  # (name, first row, rows, last merge key or None)
    out: Any = None
    first_row = first_event = 0
    for n, name in enumerate(files):
        if out is None:
            unit = f"{index:06d}-{len(units):04d}"
            out = open(os.path.join(ctx.tmp, f"bodies-{unit}"), "wb")  # noqa: SIM115 - closed below
        lines: List[bytes] = []
        # iter_rows for what is not a file, so missing paths read as the single-process reader reads them
        for item in iter_file(name) if os.path.isfile(name) else iter_rows([name]):
            body, problem = row_body(item)
            ev = item.error or problem or normalize_row(normalizer, item.obj)
            if isinstance(ev, str):
                errors[error_key(ev)] += 1
                known = _ERROR + dumps(empty_output(ev, version))[1:-1]
            else:
                key = (ev.identity, ev.source, ev.name)
                known = static_cache.get(key)
                if known is None:
                    info = api_info(ev.source, ev.name)
                    known = _SCORED + dumps({"ct_tactic": info.tactic_id,
                                             "ct_technique": info.technique_id,
                                             "ct_identity": ev.identity, "ct_model": version,
                                             "ct_error": ""})[1:-1]  # fmt: skip
                    if len(static_cache) < 100_000:
                        static_cache[key] = known
                # A plain tuple, its repeated values shared: pickles ~4x smaller and faster than the Event.
                values = ev.to_tuple()
                events.append((ev.time, ev.event_id, index, local, tuple(map(share, values, values))))
            lines += (known, _SEP, body, b"\n")
            local += 1
        out.write(b"".join(lines))
        if local - first_row >= UNIT_ROWS or n == len(files) - 1:
            out.close()
            out = None
            # (time, eventID, task, row) is unique, so max() never compares the events' values
            last = max(events[first_event:])[:4] if len(events) > first_event else None
            units.append((unit, first_row, local - first_row, last))
            first_row, first_event = local, len(events)
    events.sort()  # (time, eventID, task, row) is unique, so the Event itself is never compared
    run_path = os.path.join(ctx.tmp, f"run-{index:06d}")
    write_blocks(run_path, events, block_size=RUN_BLOCK)
    return {
        "index": index,
        "rows": local,
        "events": len(events),
        "errors": errors,
        "run": run_path,
        "units": units,
    }


def _item_event(item: Tuple[float, str, int, int, Tuple[Any, ...]]) -> Event:
    return Event.from_tuple(item[4])


def _item_values(item: Tuple[float, str, int, int, Tuple[Any, ...]]) -> Tuple[Any, ...]:
    return item[4]


def _final_key(walk: EventWalk) -> Tuple[Any, ...]:
    """The merge key through which the walk has handed out every event; () before the first (a batch can fill
    up inside one long group of events sharing a time and eventID, before any of the group is final)."""
    return walk.done[:4] if walk.done is not None else ()


def _api_info_function(det: Detector) -> Any:
    from ctad.core.features import FeatureState

    return FeatureState(det.catalog).api_info


def _merge_task(task: Tuple[str, List[str]]) -> str:
    """Merge sorted runs into one (when there are more than FAN_IN), sharing repeated values again."""
    path, runs = task
    memo: Dict[Any, Any] = {}
    share = memo.setdefault
    with open(path, "wb") as out:
        for block in merge_runs([iter_blocks(r, remove=True) for r in runs]):
            for i in range(0, len(block), RUN_BLOCK):
                items = [(t, e, k, n, tuple(map(share, v, v))) for t, e, k, n, v in block[i : i + RUN_BLOCK]]
                pickle.dump(items, out, protocol=pickle.HIGHEST_PROTOCOL)
            if len(memo) > 200_000:
                memo.clear()
    return path


def _reduce_runs(pool: Any, runs: List[str], tmp: str) -> List[str]:
    """Merge groups of runs in the workers until at most FAN_IN remain (order is kept: runs are sorted)."""
    level = 0
    while len(runs) > FAN_IN:
        groups = [runs[i : i + FAN_IN] for i in range(0, len(runs), FAN_IN)]
        jobs = [(os.path.join(tmp, f"merged-{level}-{i:05d}"), group) for i, group in enumerate(groups)]
        runs = list(pool.imap(_merge_task, jobs))
        level += 1
    return runs


# ------------------------------------------------------------------------------------------------ score
def _score_task(rows: List[List[float]]) -> Tuple[List[float], List[float], Dict[int, List[float]]]:
    """Scores, the ct_score values (rounded as `Run.result_for` rounds them) and the anomalies' contributions.

    The rows come as lists: pickling them costs the parent half of what building the matrix would."""
    ctx = _CTX
    assert ctx is not None
    det = ctx.detector
    scores, contributions = score_rows_batch(
        det.bundle.model, rows, det.threshold if det.explain else None, det.engine, det.bundle.shift
    )
    rounded = [math.nan if v is None else v for v in map(ct_score, scores)]
    return scores, rounded, contributions


class _Results:
    """Each row's ct_score and severity code, in two files indexed by row number: the parent writes them through
    a shared mapping as batches come back, the workers read a write unit's slice with `pread`. The standard
    library's mmap and memoryview do this without numpy, so the parallel run needs no compiled module."""

    def __init__(self, path: str, total: int) -> None:
        self.maps: List[mmap.mmap] = []
        views = []
        for suffix, item in ((".score", 8), (".code", 1)):
            with open(path + suffix, "wb+") as fh:
                fh.truncate(total * item)  # zeros: severity code 0 is informational, not an anomaly
                if total:
                    self.maps.append(mmap.mmap(fh.fileno(), total * item))
            views.append(memoryview(self.maps[-1]).cast("d" if item == 8 else "b") if total else [])
        self.scores: Any = views[0]
        self.codes: Any = views[1]

    def close(self) -> None:
        for view in (self.scores, self.codes):
            if isinstance(view, memoryview):
                view.release()
        for mapped in self.maps:
            mapped.close()

    @staticmethod
    def read(path: str, start: int, stop: int) -> Tuple[List[float], List[int]]:
        out = []
        for suffix, code in ((".score", "d"), (".code", "b")):
            values = array.array(code)
            with open(path + suffix, "rb") as fh:
                values.frombytes(
                    os.pread(fh.fileno(), (stop - start) * values.itemsize, start * values.itemsize)
                )
            out.append(values.tolist())
        return out[0], out[1]


# ------------------------------------------------------------------------------------------------ write
def _write_task(unit: Tuple[str, int, str, Dict[int, Dict[str, Any]]]) -> Tuple[str, str, int]:
    """Render one write unit's rows into its own part file, in whatever order units become final; the parts are
    put together in input order at the end (`_copy_part`). Returns (unit name, part path, size)."""
    ctx = _CTX
    assert ctx is not None
    data = _render(unit)
    path = os.path.join(ctx.tmp, f"part-{unit[0]}")
    with open(path, "wb") as out:
        out.write(data)
    return unit[0], path, len(data)


def _copy_part(job: Tuple[str, str, int, int]) -> int:
    """Copy a part file into its place in the output, then remove it; in the kernel where it can."""
    part, output, offset, size = job
    with open(part, "rb") as src, open(output, "r+b") as dst:
        done = 0
        try:
            while done < size:
                n = os.copy_file_range(src.fileno(), dst.fileno(), size - done, done, offset + done)
                if n <= 0:
                    break
                done += n
        except (AttributeError, OSError):  # no copy_file_range (not Linux) or not across these file systems
            pass
        while done < size:
            src.seek(done)
            chunk = src.read(min(size - done, 16 << 20))
            done += os.pwrite(dst.fileno(), chunk, offset + done)
    os.remove(part)
    return size


def _render(unit: Tuple[str, int, str, Dict[int, Dict[str, Any]]]) -> bytes:
    """One write unit's output rows, in input order: its rows with the ct_* fields spliced in."""
    name, start, arrays, extras = unit
    ctx = _CTX
    assert ctx is not None
    bodies = os.path.join(ctx.tmp, f"bodies-{name}")
    with open(bodies, "rb") as fh:
        data = fh.read()
    os.remove(bodies)  # its page-cache pages are free again for the output: new pages are the costly ones
    count = data.count(b"\n")
    stop = start + count
    scores, codes = _Results.read(arrays, start, stop)
    view = memoryview(data)
    jsonl = ctx.output_kind == ".jsonl"
    parts: List[
        Any
    ] = []  # the output as slices of `data` and small pieces: joined once, each byte copied once
    rendered: List[Tuple[bytes, bytes]] = []
    pos = 0
    for i in range(count):
        end = data.index(b"\n", pos)
        cut = data.index(_SEP, pos, end)
        known = data[pos + 1 : cut]
        if data[pos] == _SCORED[0]:
            score, code = scores[i], codes[i]
            dynamic = dumps({"ct_score": score if score == score else None, "ct_anomaly": code & 1,
                             "ct_severity": SEVERITIES[code >> 1], **extras.get(start + i, _QUIET)})  # fmt: skip
            known = dynamic[1:-1] + b"," + known
        if not jsonl:
            rendered.append((data[cut + 1 : end], known))
        elif compact_object(data, cut + 1, end):
            parts += (view[cut + 1 : end - 1], b",", known, b"}\n")
        else:
            parts += (splice_inner(data[cut + 1 : end], known), b"\n")
        pos = end + 1
    if jsonl:
        return b"".join(parts)
    out = io.BytesIO()
    writer = OutputWriter("part" + ctx.output_kind, header=False, stream=out)
    for body, known in rendered:
        writer.write_inner(body, known)
    writer.close()
    return out.getvalue()


# ----------------------------------------------------------------------------------------------- driver
def plan_tasks(paths: Sequence[str], task_bytes: Optional[int] = None) -> List[Tuple[int, List[str]]]:
    """Group input files, in input order, into tasks of about `task_bytes` (default TASK_BYTES) each."""
    task_bytes = task_bytes or TASK_BYTES
    tasks: List[Tuple[int, List[str]]] = []
    current: List[str] = []
    size = 0
    for name in list_file_names(paths):
        with contextlib.suppress(OSError):  # an unreadable file: the reader reports it on its row
            size += os.stat(name).st_size
        current.append(name)
        if size >= task_bytes:
            tasks.append((len(tasks), current))
            current, size = [], 0
    if current:
        tasks.append((len(tasks), current))
    return tasks


@contextmanager
def _pool(workers: int, ctx: _Context, config: Dict[str, Any]) -> Iterator[Any]:
    global _CTX
    fork = "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")
    mp = multiprocessing.get_context("fork" if fork else "spawn")
    if fork:
        _CTX = ctx  # children inherit the loaded model and catalogue: no second load
        pool = mp.Pool(workers, _init_worker, (None,))
    else:  # pragma: no cover - macOS / Windows
        pool = mp.Pool(workers, _init_worker, (config,))
    try:
        yield pool
        pool.close()
        pool.join()
    finally:
        pool.terminate()
        _CTX = None


def detect_files(
    detector: Detector,
    paths: Sequence[str],
    output: str,
    output_kind: str,
    tmp: str,
    workers: int,
    config: Dict[str, Any],
    progress: Any = None,
) -> Run:
    """Run the detector over files with `workers` processes; returns the finished Run (summary, profile)."""
    run = detector.start()
    ctx = _Context(detector, tmp, output_kind)
    tasks = plan_tasks(paths)
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    _tune_gc()
    try:
        phases = run.summary.phases
        clock = time.perf_counter()
        with _pool(workers, ctx, config) as pool:
            phases["start"] = time.perf_counter() - clock
            read = _read_all(pool, tasks, run, progress)
            phases["read"] = time.perf_counter() - clock - phases["start"]
            arrays = os.path.join(tmp, "results")
            with _Writes(pool, read, arrays, output, progress) as writes:
                _score_all(pool, run, read, arrays, writes, workers, progress)
                phases["score"] = time.perf_counter() - clock - sum(phases.values())
            phases["write"] = time.perf_counter() - clock - sum(phases.values())
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if not enabled:
            gc.disable()
    return run


def _bar(progress: Any, **kwargs: Any) -> Any:
    return progress(**kwargs) if progress is not None else None


def _read_all(pool: Any, tasks: List[Tuple[int, List[str]]], run: Run, progress: Any) -> List[Dict[str, Any]]:
    bar = _bar(progress, desc="reading", unit="ev")
    results: List[Dict[str, Any]] = []
    offset = 0
    for res in pool.imap(_read_task, tasks):
        res["start"] = offset
        offset += res["rows"]
        run.summary.count_errors(res["errors"])
        results.append(res)
        if bar is not None:
            bar.update(res["rows"])
    if bar is not None:
        bar.close()
    run.summary.rows = offset
    return results


class _Writes:
    """Hands each write unit to the workers for rendering (`_write_task`) as soon as the ordered pass has finished
    every one of its rows, so that writing overlaps the ordered pass instead of following it; then puts the
    rendered parts together in input order.

    A unit is final once every batch holding events up to its last merge key (time, eventID, task, row) has come
    back: the merge is in key order and batches come back in order. Units become final in time order, not in
    input order (S3 keys go account, region, then date), hence parts rather than appends in input order."""

    def __init__(
        self, pool: Any, read: List[Dict[str, Any]], arrays: str, output: str, progress: Any
    ) -> None:
        self.pool, self.arrays, self.output = pool, arrays, output
        # (name, first row number, rows, last merge key or None), in input order
        self.units = [
            (name, r["start"] + first, rows, last) for r in read for name, first, rows, last in r["units"]
        ]
        self.starts = [u[1] for u in self.units]
        self.extras: List[Dict[int, Dict[str, Any]]] = [{} for _ in self.units]  # anomalies' _QUIET fields
        # Units by the key after which they are final; a unit without events is final from the start.
        self.waiting = sorted(
            ((u[3] is not None, u[3] or (), i) for i, u in enumerate(self.units)), reverse=True
        )
        self.flight: List[Any] = []
        self.parts: Dict[str, Tuple[str, int]] = {}
        self.rows = {u[0]: u[2] for u in self.units}
        self.progress = progress
        self.bar: Any = None
        self.done = 0
        # Standard output or a pipe cannot be written at offsets, nor a pipe opened twice: its header goes out with
        # the parts, in one stream, at the end.
        self.streamed = is_stream(output)
        if not self.streamed:
            head = OutputWriter(output)  # the CSV header (or an empty gzip member); the units' rows follow it
            head.close()

    def __enter__(self) -> _Writes:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                self.submit(None, len(self.units))
                while self.flight:
                    self._collect(block=True)
                self._assemble()
        finally:
            if self.bar is not None:
                self.bar.close()

    def add_extras(self, seq: int, extras: Dict[str, Any]) -> None:
        self.extras[bisect.bisect_right(self.starts, seq) - 1][seq] = extras

    def submit(self, upto: Optional[Tuple[Any, ...]], limit: int) -> None:
        """Hand out the units that are final through merge key `upto` (None: all), at most `limit` in flight."""
        self._collect(block=False)
        if upto is None and self.bar is None:  # the ordered pass is over: show what is left to write
            total = sum(u[2] for u in self.units)
            self.bar = _bar(self.progress, desc="writing", unit="ev", total=total, initial=self.done)
        while self.waiting and len(self.flight) < limit:
            has_events, last, i = self.waiting[-1]
            if upto is not None and has_events and last > upto:
                break
            self.waiting.pop()
            name, start, _, _ = self.units[i]
            self.flight.append(
                self.pool.apply_async(_write_task, ((name, start, self.arrays, self.extras[i]),))
            )
            self.extras[i] = {}

    def _collect(self, block: bool) -> None:
        while self.flight:
            ready = [res for res in self.flight if res.ready()]
            if not ready and not block:
                return
            for res in ready or self.flight[:1]:
                name, path, size = res.get()
                self.flight.remove(res)
                self.parts[name] = (path, size)
                self.done += self.rows[name]
                if self.bar is not None:
                    self.bar.update(self.rows[name])
            if block:
                return

    def _assemble(self) -> None:
        """The parts, in input order, after the header: copied into place by the workers in a regular file, or
        streamed by the parent to standard output or whatever else the output is (a pipe, /dev/stdout)."""
        order = [self.parts[u[0]] for u in self.units]
        if self.streamed:
            with contextlib.ExitStack() as stack:
                out = (
                    sys.stdout.buffer if self.output == "-" else stack.enter_context(open(self.output, "wb"))
                )
                OutputWriter(self.output, stream=out).close()  # the header, as the other paths write it
                for path, _ in order:
                    with open(path, "rb") as fh:
                        shutil.copyfileobj(fh, out, 16 << 20)
                    os.remove(path)
                out.flush()
            return
        offset = os.path.getsize(self.output)
        jobs = []
        for path, size in order:
            jobs.append((path, self.output, offset, size))
            offset += size
        os.truncate(self.output, offset)  # every worker writes its parts in place, at their own offsets
        for _ in self.pool.imap_unordered(_copy_part, sorted(jobs, key=lambda job: -job[3]), chunksize=8):
            pass


def _score_all(
    pool: Any, run: Run, read: List[Dict[str, Any]], arrays: str, writes: _Writes, writers: int, progress: Any
) -> None:
    """The ordered pass: features in the parent, scores from the workers, results into the row arrays; each
    write unit goes to `writes` (with at most `writers` in flight) as soon as all its rows are final."""
    det = run.det
    total = run.summary.rows
    starts = [r["start"] for r in read]
    results = _Results(arrays, total)
    scores, codes = results.scores, results.codes
    extras: Dict[
        int, Dict[str, Any]
    ] = {}  # the anomalies' reasons and incident fields, until their task is written
    state = run.state = start_state(det.catalog, det.profile)
    threshold = det.threshold
    severity_index = {name: i for i, name in enumerate(SEVERITIES)}
    pending: Deque[Tuple[List[int], List[Event], List[List[float]], List[Tuple[int, int]], Any, Any]] = (
        deque()
    )
    summary = run.summary
    bar = _bar(progress, desc="scoring", unit="ev", total=total - summary.errors)

    def finish(
        seqs: List[int], evs: List[Event], rows: List[List[float]], dups: List[Tuple[int, int]], upto: Any,
        result: Any,
    ) -> None:  # fmt: skip
        batch_scores, rounded, contributions = result.get() if result is not None else ([], None, {})
        for seq, value in zip(seqs, rounded):  # codes stay 0 (informational, not an anomaly) but for these:
            scores[seq] = value
        quiet = len(seqs)
        flagged = [i for i, score in enumerate(batch_scores) if not score < threshold]  # NaN is flagged too
        for i in flagged:
            score = batch_scores[i]
            seq = seqs[i]  # an anomaly (or a score that is not a number): the whole result
            res = run.result_for(evs[i], rows[i], score, threshold, contributions.get(i))
            codes[seq] = severity_index[res["ct_severity"]] * 2 + res["ct_anomaly"]
            if res["ct_reasons"] or res["ct_risk"]:
                extra = {k: res[k] for k in _QUIET}
                extras[seq] = extra
                writes.add_extras(seq, extra)
            summary.count_result(res)
            quiet -= 1
        if quiet:
            summary.count_quiet(quiet)
        # Every copy answers alike; the original is in this batch or an earlier one.
        for seq, original in dups:
            scores[seq] = scores[original]
            codes[seq] = codes[original]
            if original in extras:
                extras[seq] = extras[original]
                writes.add_extras(seq, extras[original])
        summary.duplicates += len(dups)
        if bar is not None:
            bar.update(len(seqs))
        final[0] = upto
        writes.submit(upto, writers)

    seqs: List[int] = []
    evs: List[Event] = []
    rows: List[List[float]] = []
    dups: List[Tuple[int, int]] = []
    runs = _reduce_runs(pool, [r["run"] for r in read if r["events"]], os.path.dirname(arrays))
    final: List[Any] = [None]  # the merge key through which every result is final
    merged = itertools.chain.from_iterable(merge_runs([iter_blocks(path, remove=True) for path in runs]))
    walk = EventWalk(merged, state, event=_item_event, values=_item_values)
    for item, ev, row, first in walk:
        if first is not None:  # a true re-delivery: counted once, answered as its first copy
            dups.append((starts[item[2]] + item[3], starts[first[2]] + first[3]))
            continue
        seqs.append(starts[item[2]] + item[3])
        evs.append(ev)  # type: ignore[arg-type]
        rows.append(row)  # type: ignore[arg-type]
        if not len(seqs) & 511 and final[0] is not None:  # a unit may have been written since: refill
            writes.submit(final[0], writers)
        if len(seqs) >= SCORE_BATCH:
            pending.append((seqs, evs, rows, dups, _final_key(walk), pool.apply_async(_score_task, (rows,))))
            seqs, evs, rows, dups = [], [], [], []
            while len(pending) >= MAX_PENDING or (pending and pending[0][-1].ready()):
                finish(*pending.popleft())
    if seqs:
        pending.append((seqs, evs, rows, dups, _final_key(walk), pool.apply_async(_score_task, (rows,))))
        dups = []
    while pending:
        finish(*pending.popleft())
    if dups:  # duplicates after the last batch: their originals are all final now
        finish([], [], [], dups, None, None)
    results.close()
    run.keep_profile(walk.profile())
    if bar is not None:
        bar.close()
