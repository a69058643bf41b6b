"""Read windows on ``event.ingested`` with a persisted watermark: no CloudTrail event missed because it arrived late.

CloudTrail delivers late (minutes, sometimes ~45 minutes). A schedule that windows on ``@timestamp`` (event time)
misses every event whose window had already run when it was indexed. Elastic's own CloudTrail rules window on
``event.ingested`` (the AWS integration's ingest pipeline sets it) for this reason. So:

* ``--time-field event.ingested --watermark state.json``: each run reads ``[watermark, --to)`` on the ingest time,
  where ``--to`` is resolved to an absolute instant at the start of the run; the first run (no file yet) starts
  at ``--from``.
* The watermark moves to that ``--to`` only when the run completed (read whole, every row written): a failed or
  partial run is read again next time. That is at-least-once; the repeats are harmless because results have
  deterministic ids (a re-run overwrites its alerts instead of duplicating them).
* Windows are contiguous and do not overlap, so ``--update-baseline`` counts every event once.
* Features stay ordered by event time: the detector sorts what it reads by ``@timestamp`` (its results never
  depend on input order), so a late event is scored against the history that preceded it *in event time* within
  the window and the baseline. Set ``--to`` a little behind ``now`` (``now-2m``): a document becomes searchable
  only after a refresh, and one ingested just before ``--to`` but not yet visible would otherwise be skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Optional

_MATH = re.compile(r"^now(?:-(\d{1,9})([smhdw]))?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
VERSION = 1


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("late events (window on the ingest time)")
    g.add_argument("--time-field", default="@timestamp",
                   help="field --from/--to apply to: @timestamp (event time, default) or event.ingested")  # fmt: skip
    g.add_argument("--watermark", default=None, metavar="FILE",
                   help="persist the end of the last complete window here and start the next run from it "
                        "(use with --time-field event.ingested)")  # fmt: skip


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def resolve_instant(text: str, now: Optional[datetime] = None) -> str:
    """``now``, ``now-<n><s|m|h|d|w>`` or an ISO 8601 time -> an absolute UTC instant (ISO, milliseconds).

    Absolute because the watermark must be the exact bound this run read up to, not "now" re-evaluated later."""
    now = now or datetime.now(timezone.utc)
    value = (text or "").strip()
    m = _MATH.match(value)
    if m:
        delta = int(m.group(1)) * _UNIT[m.group(2)] if m.group(1) else 0
        return iso(now - timedelta(seconds=delta))
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"with --watermark, --to must be now, now-<n>[smhdw] or an ISO 8601 time, not {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return iso(dt)


class Window:
    """The window one run reads, and the watermark to store once the run has completed."""

    def __init__(self, path: Path, field: str, index: Any, start: Optional[str], end: str, resumed: bool):
        self.path, self.field, self.index = path, field, index
        self.start, self.end, self.resumed = start, end, resumed

    def describe(self) -> Dict[str, Any]:
        return {"field": self.field, "from": self.start, "to": self.end, "watermark": str(self.path),
                "resumed": self.resumed}  # fmt: skip

    def commit(self) -> None:
        """Write the new watermark atomically (a crash leaves the old file, so the window is read again)."""
        state = {"version": VERSION, "field": self.field, "index": self.index, "value": self.end,
                 "updated": iso(datetime.now(timezone.utc))}  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".watermark-", dir=str(self.path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def load(path: Path) -> Optional[Dict[str, Any]]:
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"watermark {path} cannot be read ({exc}); fix or remove it") from None
    if not isinstance(state, dict) or not isinstance(state.get("value"), str):
        raise ValueError(f"watermark {path} is not a ctad watermark file; fix or remove it")
    return state


def apply_window(args: argparse.Namespace, read_kwargs: Dict[str, Any]) -> Optional[Window]:
    """Set the time field (and, with ``--watermark``, the bounds) of a read; None without a watermark."""
    field = getattr(args, "time_field", None) or "@timestamp"
    read_kwargs["time_field"] = field
    if not getattr(args, "watermark", None):
        return None
    path = Path(args.watermark).expanduser()
    state = load(path)
    end = resolve_instant(args.time_to or "now")
    if state is not None:
        if state.get("field") != field or state.get("index") != read_kwargs["index"]:
            raise ValueError(
                f"watermark {path} belongs to {state.get('field')} on {state.get('index')!r}, not {field} on "
                f"{read_kwargs['index']!r}: use another file"
            )
        start: Optional[str] = resolve_instant(state["value"])
    else:
        start = args.time_from or None
    if start is not None and state is not None and start >= end:
        raise ValueError(f"nothing to read: the watermark ({start}) is not before --to ({end})")
    read_kwargs["time_from"], read_kwargs["time_to"] = start, end
    return Window(path, field, read_kwargs["index"], start, end, state is not None)
