"""One detection run through any front door: baseline, detector, rows in, results out paired with their rows.

`ctad detect`, `ctad elastic detect` and Splunk's `| cloudtraildetect` each do the same steps: load the baseline,
build the detector from the options (`ctad.engine.options`), add every row while keeping what its output row is
made from (the row's JSON text, an Elasticsearch document's id, a Splunk chunk's cells) outside memory, then pair
those with the results in input order, write them, and save the new baseline. The steps are written here once;
a door supplies only its source (rows), its spool (what it keeps of each row) and its sink (where pairs go).
Every row added gives exactly one result: a count that differs is an error, never a silently dropped row.

Splunk hands rows over one chunk per request, so a door may call `Detection.feed` many times before `finish`;
`run_detection` is the whole run for doors that read their input in one go.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple, Union

from ctad.core.profile import Profile
from ctad.core.schema import Event
from ctad.engine.detect import Detector, Run


class Unreadable(str):
    """A source item for a row that cannot be scored: the message its ct_error gets."""


Item = Tuple[Any, Any]  # (row | Event | Unreadable, what the spool keeps of it, or None to keep nothing)


def load_baseline(path: Optional[Union[str, Path]]) -> Optional[Profile]:
    """The baseline profile at `path`, or None when there is no path or no file yet (hunting mode: the run's own
    profile is written there at the end). Raises ValueError for a file that is not a profile."""
    if path is None or not Path(path).exists():
        return None
    return Profile.load(path)


def build_detector(options: Mapping[str, Any], profile: Optional[Profile], **door: Any) -> Detector:
    """The detector the option values (`ctad.engine.options`, by name) describe. `door`: Detector arguments a
    door decides itself (Splunk: the resolved model directory, the dispatch directory, the model cache)."""
    kwargs = {
        "model_dir": options.get("model") or None,
        "profile": profile,
        "threshold": options.get("threshold"),
        "explain": options.get("explain", True),
        "spill_dir": options.get("spill_dir"),
        "max_memory_rows": options.get("max_memory_rows", 100_000),
        "engine": options.get("engine", "auto"),
        "incident_gap": 60.0 * options["incident_gap"],  # the doors take minutes, the engine seconds
    }
    kwargs.update(door)
    return Detector(**kwargs)


def seed_warning(problems: Mapping[str, int], where: str) -> str:
    """The message for open incidents that could not be continued ("" when there were none): say how many and
    why, since the run then starts those identities' incidents afresh."""
    if not problems:
        return ""
    top = "; ".join(f"{k} ({v})" for k, v in sorted(problems.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    return f"{sum(problems.values())} open incident entries in {where} skipped or clamped: {top}"


def save_baseline(
    run: Run, path: Optional[Union[str, Path]], loaded: Optional[Profile], update: bool
) -> bool:
    """Write the run's profile to `path` when asked to (`update`) or when there was no baseline yet; True if
    written."""
    if path is None or run.profile is None or not (update or loaded is None):
        return False
    run.profile.save(Path(path))
    return True


def run_summary(run: Run) -> Dict[str, Any]:
    """The run's summary as the doors report it: the detector's counts and the number of incidents."""
    summary = run.summary.as_dict()
    summary["incidents"] = run.incidents.count
    return summary


class LineSpool:
    """What a door keeps of each row, one line each, in a temporary file: memory stays flat in input size.

    `encode` turns a kept value into one line of bytes without a newline, `decode` turns it back."""

    def __init__(
        self,
        directory: Optional[str] = None,
        encode: Optional[Callable[[Any], bytes]] = None,
        decode: Optional[Callable[[bytes], Any]] = None,
        path: Optional[str] = None,
    ) -> None:
        self.path = path
        self._fh: Any = open(path, "w+b") if path else tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self.encode = encode
        self.decode = decode

    def write(self, value: Any) -> None:
        self._fh.write((self.encode(value) if self.encode is not None else value) + b"\n")

    def replay(self) -> Iterator[Any]:
        self._fh.flush()
        self._fh.seek(0)
        decode = self.decode
        for line in self._fh:
            line = line[:-1]
            yield decode(line) if decode is not None else line

    def close(self) -> None:
        self._fh.close()
        if self.path:
            with contextlib.suppress(OSError):
                os.remove(self.path)


def paired(kept: Iterable[Any], results: Iterable[Any]) -> Iterator[Tuple[Any, Any]]:
    """Zip what was kept of each row with its result, refusing to drop rows if the counts ever differ."""
    it_r = iter(results)
    n = 0
    for value in kept:
        try:
            ct = next(it_r)
        except StopIteration:
            raise RuntimeError(f"detector returned {n} results for more rows; rows would be lost") from None
        n += 1
        yield value, ct
    for _extra in it_r:
        raise RuntimeError(f"detector returned more results than the {n} rows added")


class Detection:
    """A run in progress: `feed` rows (as many times as the door receives them), then `finish` into a sink."""

    def __init__(self, detector: Detector, spool: Any) -> None:
        """`spool`: has `replay()` giving what was kept of each row in add order, and `write(value)` for items
        that keep something (a door that keeps its rows itself, as Splunk keeps whole chunks, gives None)."""
        self.detector = detector
        self.run = detector.start()
        self.spool = spool
        self.rows = 0

    def feed(self, items: Iterable[Item]) -> int:
        """Add every (row, kept) item; returns how many. A row is an Event the door already normalised with
        `detector.normalizer`, an `Unreadable` message, or anything else the normaliser reads."""
        run = self.run
        add, add_event, skip = run.add, run.add_event, run.skip
        write = self.spool.write
        n = 0
        for row, kept in items:
            if type(row) is Event:
                add_event(row)
            elif type(row) is Unreadable:
                skip(str(row))
            else:
                add(row)
            if kept is not None:
                write(kept)
            n += 1
        self.rows += n
        return n

    def pairs(self) -> Iterator[Tuple[Any, Any]]:
        """(kept, ct_* result) for every row, in add order. Read once."""
        return paired(self.spool.replay(), self.run.results())

    def finish(self, sink: Callable[[Iterator[Tuple[Any, Any]]], Any]) -> Any:
        """Hand the pairs to `sink` (which must consume them all) and return what it returns."""
        return sink(self.pairs())


def run_detection(
    detector: Detector,
    source: Iterable[Item],
    sink: Callable[[Iterator[Tuple[Any, Any]]], Any],
    spool: Any,
) -> Tuple[Run, Any]:
    """The whole run for a door that reads its input in one go: feed every item, then write every pair.
    Returns the finished run (summary, incidents, new profile) and what the sink returned."""
    detection = Detection(detector, spool)
    detection.feed(source)
    return detection.run, detection.finish(sink)
