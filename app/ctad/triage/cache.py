"""Triage answers cached by a fingerprint of the evidence, with a TTL.

The same identity doing the same thing again (a nightly job, a burst split over two searches) reuses the answer
instead of paying for the chain again. SQLite for the CLI; the KV store collection `ctad_triage_cache` in Splunk.
The key includes backend, model and the agents' version, so a prompt change never serves a stale answer.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

COLLECTION = "ctad_triage_cache"


class SQLiteCache:
    def __init__(self, path: Path, ttl_s: float = 86400.0):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS triage_cache (key TEXT PRIMARY KEY, created REAL, payload TEXT)"
        )
        self._db.commit()

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            row = self._db.execute("SELECT created, payload FROM triage_cache WHERE key=?", (key,)).fetchone()
        if not row or time.time() - float(row[0]) > self.ttl_s:
            return None
        try:
            value = json.loads(row[1])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, payload: Dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO triage_cache VALUES (?,?,?)",
                (key, time.time(), json.dumps(payload, sort_keys=True)),
            )
            self._db.execute("DELETE FROM triage_cache WHERE created < ?", (time.time() - self.ttl_s,))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


class KVCache:
    """The same cache in the Splunk KV store (records: _key, created, payload)."""

    def __init__(self, rest: Any, ttl_s: float = 86400.0, collection: str = COLLECTION):
        self.rest = rest
        self.ttl_s = ttl_s
        self.collection = collection

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        try:
            rows = self.rest.kv_query(self.collection, {"_key": key}, limit=1)
        except Exception:
            return None
        if not rows or time.time() - float(rows[0].get("created") or 0) > self.ttl_s:
            return None
        try:
            value = json.loads(rows[0].get("payload") or "")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, payload: Dict[str, Any]) -> None:
        # a cache that cannot be written only costs a repeat call later
        with contextlib.suppress(Exception):
            self.rest.kv_upsert(
                self.collection, key, {"created": time.time(), "payload": json.dumps(payload)}
            )

    def close(self) -> None:
        pass
