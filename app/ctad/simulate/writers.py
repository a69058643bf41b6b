# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""Write simulated records as JSON lines or as the S3 tree CloudTrail delivers, deterministically.

gzip headers carry no timestamp or file name (mtime=0) so the same seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import queue
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Optional, Tuple

from ctad.core.jsonio import dumps  # the engine's own JSON text: simulated input reads back as written
from ctad.simulate.ids import alnum, derive_rng

LABEL_KEYS = ("_label", "_technique", "_scenario", "_campaign", "_tactic")


class Summary:
    """Counts of what was written: events, attack events per technique and scenario, campaigns, files."""

    def __init__(self) -> None:
        self.events = 0
        self.attacks = 0
        self.by_technique: Counter = Counter()
        self.by_scenario: Counter = Counter()
        self.campaigns: set = set()
        self.files = 0
        self.first = ""
        self.last = ""

    def add(self, rec: Dict[str, Any]) -> None:
        self.events += 1
        if not self.first:
            self.first = rec.get("eventTime", "")
        self.last = rec.get("eventTime", "")
        if rec.get("_label") == 1:
            self.attacks += 1
            self.by_technique[rec.get("_technique", "")] += 1
            self.by_scenario[rec.get("_scenario", "")] += 1
            self.campaigns.add(rec.get("_campaign", ""))

    def as_dict(self) -> Dict[str, Any]:
        return {
            "events": self.events,
            "attack_events": self.attacks,
            "campaigns": len(self.campaigns),
            "techniques": len(self.by_technique),
            "files": self.files,
            "first": self.first,
            "last": self.last,
            "by_scenario": dict(sorted(self.by_scenario.items())),
            "by_technique": dict(sorted(self.by_technique.items())),
        }


class _Background:
    """Runs writes/compression on worker threads (zlib and file I/O release the GIL), so generation and
    compression overlap on a 2-core machine. With one worker, order is preserved (a stream); with several, items
    must be independent (one file each). A worker error is re-raised on put()/close()."""

    def __init__(self, fn: Callable[[Any], None], workers: int = 1, depth: int = 8) -> None:
        self.fn = fn
        self.q: queue.Queue[Any] = queue.Queue(maxsize=depth * workers)
        self.error: Optional[BaseException] = None
        self.threads = [
            threading.Thread(target=self._run, name="ctad-sim-writer", daemon=True) for _ in range(workers)
        ]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self.fn(item)
                except BaseException as exc:  # surfaced in put()/close()
                    self.error = exc

    def put(self, item: Any) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(item)

    def close(self) -> None:
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()
        if self.error is not None:
            raise self.error


def _strip(rec: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in LABEL_KEYS}


def _open_out(raw: IO[bytes], path: Path, level: int) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=level)  # type: ignore[return-value]
    return raw


def write_jsonl(
    records: Iterable[Dict[str, Any]],
    path: str,
    labels: bool = True,
    level: int = 6,
    on_record: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Summary:
    """One record per line; gzip when the path ends in .gz."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    raw = open(p, "wb")  # noqa: SIM115 - closed in the finally below, with the gzip layer
    fh = _open_out(raw, p, level)
    sink = _Background(fh.write)
    buf: List[bytes] = []
    try:
        for rec in records:
            summary.add(rec)
            if on_record is not None:
                on_record(rec)
            buf.append(dumps(rec if labels else _strip(rec)))
            if len(buf) >= 2000:
                buf.append(b"")
                sink.put(b"\n".join(buf))
                buf = []
        if buf:
            buf.append(b"")
            sink.put(b"\n".join(buf))
    finally:
        try:
            sink.close()
        finally:
            fh.close()
            raw.close()
    summary.files = 1
    return summary


class S3TreeWriter:
    """`AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16>.json.gz`,
    one `{"Records": [...]}` file per account, region and 5-minute delivery window."""

    def __init__(self, out_dir: str, seed: int = 0, labels: bool = True, level: int = 6) -> None:
        self.root = Path(out_dir)
        self.labels = labels
        self.level = level
        self.rng = derive_rng(seed, "s3-writer")
        self.window = ""
        self.buffers: Dict[Tuple[str, str], List[bytes]] = {}
        self.files = 0
        self._dirs: set = set()
        self._lock = threading.Lock()
        self.sink = _Background(self._write_file, workers=4)

    @staticmethod
    def _window(event_time: str) -> str:
        # "2024-03-04T10:07:33Z" -> "20240304T1005Z"
        if len(event_time) < 16:
            return "00000000T0000Z"
        m = int(event_time[14:16]) // 5 * 5
        return "%s%s%sT%s%02dZ" % (event_time[0:4], event_time[5:7], event_time[8:10], event_time[11:13], m)

    def add(self, rec: Dict[str, Any]) -> None:
        w = self._window(str(rec.get("eventTime", "")))
        if w != self.window:
            self.flush()
            self.window = w
        key = (str(rec.get("recipientAccountId") or "unknown"), str(rec.get("awsRegion") or "us-east-1"))
        self.buffers.setdefault(key, []).append(dumps(rec if self.labels else _strip(rec)))

    def flush(self) -> None:
        w = self.window
        for (acct, region), recs in sorted(self.buffers.items()):
            d = self.root / "AWSLogs" / acct / "CloudTrail" / region / w[0:4] / w[4:6] / w[6:8]
            name = f"{acct}_CloudTrail_{region}_{w}_{alnum(self.rng, 16)}.json.gz"
            self.sink.put((d / name, recs))
            self.files += 1
        self.buffers = {}

    def _write_file(self, item: Tuple[Path, List[bytes]]) -> None:
        path, recs = item
        body = b'{"Records":[' + b",".join(recs) + b"]}"
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._dirs.add(parent)
        with open(path, "wb") as fh:
            fh.write(gzip.compress(body, compresslevel=self.level, mtime=0))

    def close(self) -> None:
        """Flush the last window and wait for the background writer."""
        self.flush()
        self.sink.close()


def write_s3_tree(
    records: Iterable[Dict[str, Any]],
    out_dir: str,
    seed: int = 0,
    labels: bool = True,
    level: int = 6,
    on_record: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Summary:
    w = S3TreeWriter(out_dir, seed=seed, labels=labels, level=level)
    summary = Summary()
    try:
        for rec in records:
            summary.add(rec)
            if on_record is not None:
                on_record(rec)
            w.add(rec)
    finally:
        w.close()
    summary.files = w.files
    return summary
