"""The analyst knowledge base: verdicts analysts confirmed, reused by triage and by retraining.

A verdict is stored with the behaviour it was about (identity + eventSource:eventName, plus source IP and user
agent for context), so the validator can recognise an analyst-confirmed pattern the next time the same identity
does the same thing, and `ctad train --feedback` can use the labels. SQLite for the CLI (one file, no server);
the KV store collection `ctad_feedback` in Splunk (same records, same matching).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

FEEDBACK_VERDICTS = ("true_positive", "false_positive", "benign_true_positive")
LABELS = {"true_positive": 1, "false_positive": 0, "benign_true_positive": 0}
COLLECTION = "ctad_feedback"


def default_path() -> Path:
    return Path.home() / ".ctad" / "knowledge.sqlite"


def _record(
    event_id: str,
    verdict: str,
    identity: str,
    api: str,
    source_ip: str,
    user_agent: str,
    note: str,
    analyst: str,
) -> Dict[str, Any]:
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(FEEDBACK_VERDICTS)}, not {verdict!r}")
    if not event_id and not (identity and api):
        raise ValueError("feedback needs an event id, or an identity and an API (eventSource:eventName)")
    return {
        "event_id": event_id,
        "verdict": verdict,
        "label": LABELS[verdict],
        "identity": identity,
        "api": api,
        "source_ip": source_ip,
        "user_agent": user_agent[:512],
        "note": note[:2000],
        "analyst": analyst,
        "created": time.time(),
    }


class _Feedback:
    """The write side both stores share: validate, build the record, store it."""

    def add(
        self,
        event_id: str = "",
        verdict: str = "",
        identity: str = "",
        api: str = "",
        source_ip: str = "",
        user_agent: str = "",
        note: str = "",
        analyst: str = "",
    ) -> Dict[str, Any]:
        rec = _record(event_id, verdict, identity, api, source_ip, user_agent, note, analyst)
        self._store(rec)
        return rec

    def _store(self, rec: Dict[str, Any]) -> None:
        raise NotImplementedError


class KnowledgeBase(_Feedback):
    """SQLite-backed store; safe to share between triage worker threads."""

    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path else default_path()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS feedback (event_id TEXT, verdict TEXT, label INTEGER, identity TEXT,"
            " api TEXT, source_ip TEXT, user_agent TEXT, note TEXT, analyst TEXT, created REAL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS fb_pattern ON feedback(identity, api)")
        self._db.execute("CREATE INDEX IF NOT EXISTS fb_event ON feedback(event_id)")
        self._db.commit()

    def _store(self, rec: Dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO feedback VALUES (?,?,?,?,?,?,?,?,?,?)",
                tuple(
                    rec[k]
                    for k in (
                        "event_id",
                        "verdict",
                        "label",
                        "identity",
                        "api",
                        "source_ip",
                        "user_agent",
                        "note",
                        "analyst",
                        "created",
                    )
                ),
            )
            self._db.commit()

    def match(
        self, identity: str, apis: Sequence[str], event_ids: Sequence[str] = ()
    ) -> List[Dict[str, Any]]:
        """Confirmed verdicts for these events or for this identity doing these APIs (newest first)."""
        out: List[Dict[str, Any]] = []
        with self._lock:
            cur = self._db.cursor()
            if apis and identity:
                marks = ",".join("?" * len(apis))
                cur.execute(
                    f"SELECT * FROM feedback WHERE identity=? AND api IN ({marks}) ORDER BY created DESC"
                    " LIMIT 20",
                    (identity, *apis),
                )
                out.extend(self._rows(cur))
            ids = [e for e in event_ids if e][:500]
            if ids:
                marks = ",".join("?" * len(ids))
                cur.execute(
                    f"SELECT * FROM feedback WHERE event_id IN ({marks}) ORDER BY created DESC LIMIT 20", ids
                )
                out.extend(r for r in self._rows(cur) if r not in out)
        return out

    def all(self) -> List[Dict[str, Any]]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM feedback ORDER BY created")
            return self._rows(cur)

    @staticmethod
    def _rows(cur: sqlite3.Cursor) -> List[Dict[str, Any]]:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class KVKnowledgeBase(_Feedback):
    """The same knowledge base in the Splunk KV store collection `ctad_feedback`."""

    def __init__(self, rest: Any, collection: str = COLLECTION):
        self.rest = rest
        self.collection = collection

    def _store(self, rec: Dict[str, Any]) -> None:
        key = f"{rec['event_id'] or rec['identity'] + '|' + rec['api']}|{int(rec['created'])}"
        self.rest.kv_upsert(self.collection, key, rec)

    def match(
        self, identity: str, apis: Sequence[str], event_ids: Sequence[str] = ()
    ) -> List[Dict[str, Any]]:
        ors: List[Dict[str, Any]] = [{"identity": identity, "api": a} for a in apis if identity]
        ors.extend({"event_id": e} for e in list(event_ids)[:100] if e)
        if not ors:
            return []
        rows = self.rest.kv_query(self.collection, {"$or": ors}, limit=20)
        return sorted(rows, key=lambda r: -float(r.get("created") or 0))

    def all(self) -> List[Dict[str, Any]]:
        return self.rest.kv_all(self.collection)


def export_labels(records: Iterable[Dict[str, Any]]) -> Iterable[str]:
    """JSON lines for `ctad train --feedback`: event_id, label (1 attack / 0 benign), the pattern it covers."""
    for r in records:
        yield json.dumps(
            {
                k: r.get(k)
                for k in (
                    "event_id",
                    "label",
                    "verdict",
                    "identity",
                    "api",
                    "source_ip",
                    "note",
                    "analyst",
                    "created",
                )
            },
            sort_keys=True,
        )
