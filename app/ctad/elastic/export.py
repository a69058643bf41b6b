"""Turn read documents into JSON lines for ``ctad detect`` or training on a user's own data.

``event.original`` (when the integration kept it) is the CloudTrail record exactly as AWS wrote it, so it is the
most faithful thing to export; the ECS document is the fallback and is also accepted by the normaliser.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from dataclasses import dataclass
from typing import IO, Any, Dict, Optional, Tuple

from ctad.core.jsonio import scrub_surrogates

FORMATS = ("auto", "original", "ecs")


@dataclass
class ExportStats:
    written: int = 0
    original: int = 0
    ecs: int = 0
    original_missing: int = 0

    def as_dict(self) -> Dict[str, int]:
        return dict(self.__dict__)


def original_record(doc: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The raw CloudTrail record from ``event.original`` (nested or dotted key), or None."""
    event = doc.get("event")
    text = event.get("original") if isinstance(event, dict) else None
    if text is None:
        text = doc.get("event.original")
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or "eventName" not in record:
        return None
    return record


def export_line(doc: Dict[str, Any], fmt: str, stats: ExportStats) -> str:
    """One JSON line; ``_id``/``_index`` ride along (the engine ignores ``_``-prefixed keys) for traceability."""
    out: Dict[str, Any]
    record = original_record(doc) if fmt in ("auto", "original") else None
    if record is not None:
        out = dict(record)
        out["_id"] = doc.get("_id")
        out["_index"] = doc.get("_index")
        stats.original += 1
    else:
        if fmt == "original":
            stats.original_missing += 1
        out = doc
        stats.ecs += 1
    stats.written += 1
    # a lone surrogate (an ECS field the client decoded) cannot be written as UTF-8: U+FFFD, as `loads` gives
    return scrub_surrogates(json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))) + "\n"


def open_output(path: str) -> Tuple[IO[str], bool]:
    """A text stream for ``path`` (``-`` = stdout, ``.gz`` = gzip); the bool says whether to close it."""
    if path == "-":
        return sys.stdout, False
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "wb"), encoding="utf-8"), True
    return open(path, "w", encoding="utf-8"), True
