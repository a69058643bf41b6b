"""A small, strict Elasticsearch stand-in on 127.0.0.1 for testing the real elasticsearch-py client over HTTP.

No Elasticsearch can run here, so this speaks the endpoints ctad uses the way Elasticsearch 9 does: vendor media
types and ``X-Elastic-Product`` on every response, ``_pit`` open/close, ``_search`` with pit + sort +
search_after + slice, ``_bulk`` NDJSON, ``_index_template``. It is deliberately strict: a request shape
Elasticsearch would reject (or that ctad's contract forbids, such as a PIT search without the ``_shard_doc``
tiebreak) gets a 400 and is recorded in ``shape_errors`` so a test fails on it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

JSON_CT = "application/vnd.elasticsearch+json;compatible-with=9"
_VENDOR = re.compile(r"^application/vnd\.elasticsearch\+(json|x-ndjson); ?compatible-with=(8|9)$")
SEARCH_KEYS = {"size", "query", "sort", "pit", "search_after", "slice", "track_total_hits", "_source"}
BULK_META_KEYS = {
    "_index",
    "_id",
    "retry_on_conflict",
    "routing",
    "if_seq_no",
    "if_primary_term",
    "require_alias",
}
N_SHARDS = 2
# Component templates a 8.13+/9.x cluster ships; the fake checks names only (their mappings are not applied).
BUILTIN_COMPONENTS = {"ecs@mappings", "logs@mappings", "logs@settings", "logs@custom"}
TEMPLATE_KEYS = {"index_patterns", "priority", "composed_of", "_meta", "template", "data_stream", "version",
                 "allow_auto_create", "ignore_missing_component_templates", "deprecated"}  # fmt: skip
TEMPLATE_TEMPLATE_KEYS = {"settings", "mappings", "aliases", "lifecycle"}
_RETENTION = re.compile(r"^\d+(d|h|m|s|ms|nanos|micros)$")
PLAIN_SEARCH_KEYS = {"size", "query", "_source", "track_total_hits"}
DS_DATE = "2026.12.06"
DATE_FIELDS = {"@timestamp", "event.ingested", "ctad.triage.at"}


class ShapeError(Exception):
    def __init__(self, status: int, etype: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.etype, self.reason = status, etype, reason


def get_field(doc: Any, path: str) -> Any:
    """Nested or dotted field lookup (written independently of ctad's own)."""
    if not isinstance(doc, dict):
        return None
    if path in doc:
        return doc[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if head in doc:
            found = get_field(doc[head], ".".join(parts[i:]))
            if found is not None:
                return found
    return None


_MATH = re.compile(r"^now(?:([+-])(\d+)([smhdw]))?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def to_millis(value: Any, now: float) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value)
    m = _MATH.match(text)
    if m:
        secs = now
        if m.group(1):
            delta = int(m.group(2)) * _UNIT[m.group(3)]
            secs = now + delta if m.group(1) == "+" else now - delta
        return int(secs * 1000)
    if text.startswith("now"):
        raise ShapeError(400, "parse_exception", f"unsupported date math [{text}]")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ShapeError(400, "parse_exception", f"failed to parse date field [{text}]") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


class FakeES:
    """State + behaviour; the HTTP handler below only routes to it."""

    def __init__(self, api_key: Optional[str] = None) -> None:
        self.lock = threading.RLock()
        self.indices: Dict[str, Dict[str, Dict[str, Any]]] = {}
        self.templates: Dict[str, Dict[str, Any]] = {}
        self.data_streams: Dict[str, List[str]] = {}  # name -> backing indices, oldest first (last = write)
        self.pits: Dict[str, Dict[str, Any]] = {}  # pit root -> {"docs": [...], "ids": set, "open": bool}
        self.requests: List[Tuple[str, str, Any]] = []
        self.shape_errors: List[str] = []
        self.api_key = api_key
        # failure injection
        self.reject_429: Dict[str, int] = {}  # doc _id -> how many times to answer 429 for it
        self.bulk_request_429 = 0  # whole _bulk requests to reject with 429
        self.fail_search_call: Optional[int] = None  # n-th _search (1-based) answers 400
        self.shard_failure_call: Optional[int] = None  # n-th _search reports a failed shard
        self.search_calls = 0
        # hostile replies: called with each _search reply (a dict), returns what is sent instead
        self.search_reply_hook: Optional[Callable[[Dict[str, Any]], Any]] = None
        self.dead = False  # drop every connection without answering
        self.hide_from_id_lookups = False  # plain ids searches find nothing (documents not yet refreshed)
        self.fail_id_lookups = False  # plain ids searches answer 503
        self.bulk_calls = 0
        self._pit_seq = 0
        self.server: Optional[ThreadingHTTPServer] = None
        self.thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            es = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # ------------------------------------------------------------------ data helpers
    def add_docs(self, index: str, docs: List[Dict[str, Any]], id_prefix: str = "d") -> List[str]:
        ids = []
        with self.lock:
            store = self.indices.setdefault(index, {})
            for n, doc in enumerate(docs):
                doc_id = f"{id_prefix}{len(store)}-{n}"
                store[doc_id] = json.loads(json.dumps(doc))
                ids.append(doc_id)
        return ids

    def open_pits(self) -> List[str]:
        with self.lock:
            return [k for k, v in self.pits.items() if v["open"]]

    def _resolve(self, expr: str) -> List[str]:
        from fnmatch import fnmatchcase

        names: List[str] = []
        for part in expr.split(","):
            matched = [n for n in self.indices if fnmatchcase(n, part)]
            for ds, backing in self.data_streams.items():
                if fnmatchcase(ds, part):
                    matched.extend(b for b in backing if b in self.indices)
            if not matched and "*" not in part and part not in self.data_streams:
                raise ShapeError(404, "index_not_found_exception", f"no such index [{part}]")
            names.extend(m for m in matched if m not in names)
        return names

    def rollover(self, name: str) -> Dict[str, Any]:
        with self.lock:
            backing = self.data_streams.get(name)
            if backing is None:
                raise ShapeError(404, "index_not_found_exception", f"no such data stream [{name}]")
            old = backing[-1]
            new = f".ds-{name}-{DS_DATE}-{len(backing) + 1:06d}"
            backing.append(new)
            self.indices.setdefault(new, {})
        return {"acknowledged": True, "old_index": old, "new_index": new, "rolled_over": True}

    def plain_search(self, path_index: str, query: Dict[str, List[str]], body: Any) -> Dict[str, Any]:
        """A non-PIT search: only what ctad's id lookups send (an ``ids`` query, ``_source`` filtering)."""
        unknown = set(body) - PLAIN_SEARCH_KEYS
        if unknown:
            raise ShapeError(400, "parsing_exception", f"unknown key(s) {sorted(unknown)} in search body")
        q = body.get("query")
        if not (isinstance(q, dict) and set(q) == {"ids"} and isinstance(q["ids"].get("values"), list)):
            raise ShapeError(
                400, "parsing_exception", "this server serves plain searches for ids queries only"
            )
        size = body.get("size", 10)
        if not isinstance(size, int) or not 0 <= size <= 10000:
            raise ShapeError(400, "illegal_argument_exception", "size must be 0..10000")
        wanted = set(map(str, q["ids"]["values"]))
        if self.fail_id_lookups:
            raise ShapeError(503, "injected_failure", "id lookup fails on purpose")
        if self.hide_from_id_lookups:
            wanted = set()
        with self.lock:
            try:
                names = self._resolve(path_index)
            except ShapeError:
                if query.get("ignore_unavailable") == ["true"]:
                    names = []
                else:
                    raise
            hits = []
            for name in names:
                for doc_id, src in self.indices.get(name, {}).items():
                    if doc_id in wanted:
                        hits.append({"_index": name, "_id": doc_id, "_score": 1.0,
                                     "_source": _filter_source(src, body.get("_source", True))})  # fmt: skip
        return {"took": 1, "timed_out": False,
                "_shards": {"total": N_SHARDS, "successful": N_SHARDS, "skipped": 0, "failed": 0},
                "hits": {"max_score": 1.0, "hits": hits[:size]}}  # fmt: skip

    # ------------------------------------------------------------------ endpoints
    def open_pit(self, index: str, query: Dict[str, List[str]], body: Any) -> Dict[str, Any]:
        if "keep_alive" not in query:
            raise ShapeError(400, "action_request_validation_exception", "[keep_alive] is not specified")
        if body not in (None, {}):
            raise ShapeError(400, "parsing_exception", "unexpected body for _pit")
        with self.lock:
            names = self._resolve(index)
            docs = []
            for name in names:
                for pos, (doc_id, src) in enumerate(self.indices[name].items()):
                    shard = zlib.crc32(doc_id.encode()) % N_SHARDS
                    docs.append((name, doc_id, json.loads(json.dumps(src)), (shard << 32) + pos))
            self._pit_seq += 1
            root = f"pit{self._pit_seq}"
            pit_id = f"{root}.0"
            self.pits[root] = {"docs": docs, "ids": {pit_id}, "open": True, "gen": 0, "uses": []}
        return {
            "id": pit_id,
            "_shards": {"total": N_SHARDS, "successful": N_SHARDS, "skipped": 0, "failed": 0},
        }

    def _pit_for(self, pit_id: Any) -> Tuple[str, Dict[str, Any]]:
        root = str(pit_id).split(".")[0]
        pit = self.pits.get(root)
        if not pit or not pit["open"] or pit_id not in pit["ids"]:
            raise ShapeError(
                404, "search_context_missing_exception", f"No search context found for id [{pit_id}]"
            )
        return root, pit

    def close_pit(self, body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"id"}:
            raise ShapeError(400, "parsing_exception", "close point in time needs exactly {id}")
        with self.lock:
            root, pit = self._pit_for(body["id"])
            pit["open"] = False
        return {"succeeded": True, "num_freed": N_SHARDS}

    def search(self, path_index: Optional[str], body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict):
            raise ShapeError(400, "parsing_exception", "search needs a JSON body")
        unknown = set(body) - SEARCH_KEYS
        if unknown:
            raise ShapeError(400, "parsing_exception", f"unknown key(s) {sorted(unknown)} in search body")
        pit_spec = body.get("pit")
        if not isinstance(pit_spec, dict) or "id" not in pit_spec:
            raise ShapeError(
                400, "action_request_validation_exception", "this server only serves PIT searches"
            )
        if path_index:
            raise ShapeError(
                400, "action_request_validation_exception", "[indices] cannot be used with point in time"
            )
        if set(pit_spec) - {"id", "keep_alive"}:
            raise ShapeError(400, "parsing_exception", "unknown key in pit")
        sort = body.get("sort")
        fields = _sort_fields(sort)
        size = body.get("size", 10)
        if not isinstance(size, int) or not 0 <= size <= 10000:
            raise ShapeError(400, "illegal_argument_exception", "size must be 0..10000")
        after = body.get("search_after")
        if after is not None and (not isinstance(after, list) or len(after) != len(fields)):
            raise ShapeError(400, "illegal_argument_exception", "search_after must match the sort fields")
        sl = body.get("slice")
        if sl is not None:
            if set(sl) != {"id", "max"} or not (isinstance(sl["max"], int) and sl["max"] > 1):
                raise ShapeError(400, "illegal_argument_exception", "slice needs id and max > 1")
            if not 0 <= sl["id"] < sl["max"]:
                raise ShapeError(400, "illegal_argument_exception", "slice id must be in [0, max)")
        with self.lock:
            self.search_calls += 1
            call = self.search_calls
            root, pit = self._pit_for(pit_spec["id"])
            pit["uses"].append(pit_spec["id"])
            if self.fail_search_call == call:
                raise ShapeError(400, "injected_failure", f"search call {call} fails on purpose")
            docs = pit["docs"]
            # Elasticsearch may return a new PIT id on any response; rotate so stale ids are visible in tests.
            pit["gen"] += 1
            new_id = f"{root}.{pit['gen']}"
            pit["ids"].add(new_id)
        query = body.get("query", {"match_all": {}})
        # The filtered, sorted view of one PIT is fixed, so compute it once per (query, slice): the fake's cost
        # must not drown the client's in benchmarks.
        key = json.dumps([query, sl], sort_keys=True)
        rows = pit.setdefault("views", {}).get(key)
        if rows is None:
            now = time.time()
            rows = []
            for name, doc_id, src, shard_doc in docs:
                if sl is not None and zlib.crc32(doc_id.encode()) % sl["max"] != sl["id"]:
                    continue
                if not _matches(query, src, now):
                    continue
                ts = to_millis(get_field(src, "@timestamp"), now)
                sort_key = [ts if ts is not None else 2**63 - 1, shard_doc]
                rows.append((sort_key, name, doc_id, src))
            rows.sort(key=lambda r: r[0])
            with self.lock:
                pit["views"][key] = rows
        start = 0
        if after is not None:
            start = _bisect(rows, after)
        rows = rows[start : start + size]
        hits = [
            {"_index": name, "_id": doc_id, "_score": None, "_source": src, "sort": key}
            for key, name, doc_id, src in rows
        ]
        failed = 1 if self.shard_failure_call == call else 0
        shards: Dict[str, Any] = {
            "total": N_SHARDS,
            "successful": N_SHARDS - failed,
            "skipped": 0,
            "failed": failed,
        }
        if failed:
            shards["failures"] = [
                {"shard": 1, "reason": {"type": "node_not_connected_exception", "reason": "x"}}
            ]
        resp: Dict[str, Any] = {"pit_id": new_id, "took": 1, "timed_out": False, "_shards": shards}
        resp["hits"] = {"max_score": None, "hits": hits}
        return resp

    def put_template(self, name: str, body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("index_patterns"), list):
            raise ShapeError(400, "action_request_validation_exception", "index_patterns is missing")
        if set(body) - TEMPLATE_KEYS:
            raise ShapeError(
                400, "x_content_parse_exception", f"unknown field(s) {sorted(set(body) - TEMPLATE_KEYS)}"
            )
        inner = body.get("template") or {}
        if set(inner) - TEMPLATE_TEMPLATE_KEYS:
            raise ShapeError(
                400, "x_content_parse_exception", f"unknown template field(s) {sorted(set(inner))}"
            )
        missing = [c for c in body.get("composed_of", []) if c not in BUILTIN_COMPONENTS]
        if missing and not set(missing) <= set(body.get("ignore_missing_component_templates", [])):
            raise ShapeError(400, "invalid_index_template_exception",
                             f"index template [{name}] specifies component templates {missing} that do not exist")  # fmt: skip
        if "data_stream" in body and not isinstance(body["data_stream"], dict):
            raise ShapeError(400, "x_content_parse_exception", "data_stream must be an object")
        lifecycle = inner.get("lifecycle")
        if lifecycle is not None:
            if "data_stream" not in body:
                raise ShapeError(400, "illegal_argument_exception", "lifecycle needs a data stream template")
            if set(lifecycle) - {"data_retention", "enabled", "downsampling"} or not _RETENTION.match(
                str(lifecycle.get("data_retention", "1d"))
            ):
                raise ShapeError(400, "illegal_argument_exception", f"bad lifecycle {lifecycle!r}")
        mappings = (body.get("template") or {}).get("mappings")
        if not isinstance(mappings, dict) or "properties" not in mappings:
            raise ShapeError(400, "mapper_parsing_exception", "template.mappings.properties is missing")
        with self.lock:
            self.templates[name] = body
        return {"acknowledged": True}

    def _template_for(self, index: str) -> Optional[Dict[str, Any]]:
        from fnmatch import fnmatchcase

        best = None
        for body in self.templates.values():
            if any(fnmatchcase(index, p) for p in body["index_patterns"]) and (
                best is None or body.get("priority", 0) > best.get("priority", 0)
            ):
                best = body
        return best

    def _stream_of(self, index: str) -> Optional[str]:
        for ds, backing in self.data_streams.items():
            if index == ds or index in backing:
                return ds
        return None

    def _mapping_for(self, index: str) -> Optional[Dict[str, Any]]:
        from fnmatch import fnmatchcase

        index = self._stream_of(index) or index
        best = None
        for body in self.templates.values():
            if any(fnmatchcase(index, p) for p in body["index_patterns"]) and (
                best is None or body.get("priority", 0) > best.get("priority", 0)
            ):
                best = body
        return best["template"]["mappings"] if best else None

    def bulk(self, path_index: Optional[str], raw: bytes) -> Tuple[int, Dict[str, Any]]:
        with self.lock:
            self.bulk_calls += 1
            if self.bulk_request_429 > 0:
                self.bulk_request_429 -= 1
                return 429, _error_body(429, "es_rejected_execution_exception", "rejected bulk request")
        text = raw.decode("utf-8")
        if not text.endswith("\n"):
            raise ShapeError(
                400, "illegal_argument_exception", "The bulk request must be terminated by a newline"
            )
        lines = text.split("\n")[:-1]
        items = []
        i = 0
        while i < len(lines):
            try:
                action = json.loads(lines[i])
            except ValueError:
                raise ShapeError(400, "x_content_parse_exception", f"bad action line {i}") from None
            if not isinstance(action, dict) or len(action) != 1:
                raise ShapeError(400, "illegal_argument_exception", f"malformed action line {i}")
            op, meta = next(iter(action.items()))
            if op not in ("index", "create", "update", "delete"):
                raise ShapeError(400, "illegal_argument_exception", f"unknown action [{op}]")
            if set(meta) - BULK_META_KEYS:
                raise ShapeError(
                    400,
                    "illegal_argument_exception",
                    f"unknown metadata {sorted(set(meta) - BULK_META_KEYS)}",
                )
            source = None
            if op != "delete":
                i += 1
                if i >= len(lines):
                    raise ShapeError(400, "illegal_argument_exception", "action without source line")
                try:
                    source = json.loads(lines[i])
                except ValueError:
                    raise ShapeError(400, "x_content_parse_exception", f"bad source line {i}") from None
                if not isinstance(source, dict):
                    raise ShapeError(400, "illegal_argument_exception", "source must be an object")
            if op == "update" and (
                set(source) - {"doc", "doc_as_upsert", "upsert"} or not isinstance(source.get("doc"), dict)
            ):
                raise ShapeError(400, "illegal_argument_exception", "update needs {doc: {...}}")
            index = meta.get("_index") or path_index
            if not index:
                raise ShapeError(400, "action_request_validation_exception", "index is missing")
            items.append({op: self._bulk_item(op, index, meta.get("_id"), source)})
            i += 1
        return 200, {
            "took": 1,
            "errors": any(v["status"] >= 300 for it in items for v in it.values()),
            "items": items,
        }

    def _bulk_item(
        self, op: str, index: str, doc_id: Any, source: Optional[Dict[str, Any]]
    ) -> Dict[str, Any]:
        with self.lock:
            base = {"_index": index, "_id": doc_id}
            left = self.reject_429.get(str(doc_id), 0)
            if left > 0:
                self.reject_429[str(doc_id)] = left - 1
                return dict(
                    base,
                    status=429,
                    error={"type": "es_rejected_execution_exception", "reason": "queue full"},
                )
            stream = index if index in self.data_streams else None
            if stream is None and index not in self.indices and op == "create":
                tmpl = self._template_for(index)
                if tmpl is not None and "data_stream" in tmpl:
                    stream = index
                    self.data_streams[index] = [f".ds-{index}-{DS_DATE}-000001"]
                    self.indices.setdefault(self.data_streams[index][0], {})
            if stream is not None:
                if op != "create":
                    return dict(base, status=400, error={"type": "illegal_argument_exception",
                                "reason": "only write ops with an op_type of create are allowed in data streams"})  # fmt: skip
                if get_field(source, "@timestamp") is None:
                    return dict(base, status=400, error={"type": "document_parsing_exception",
                                "reason": "data stream timestamp field [@timestamp] is missing"})  # fmt: skip
                mapping = self._mapping_for(stream)
                problem = _check_mapping(mapping.get("properties", {}), source or {}, "") if mapping else ""
                if problem:
                    return dict(
                        base, status=400, error={"type": "document_parsing_exception", "reason": problem}
                    )
                write_index = self.data_streams[stream][-1]
                store = self.indices.setdefault(write_index, {})
                base["_index"] = write_index
                if doc_id is None:
                    doc_id = f"auto{len(store)}"
                    base["_id"] = doc_id
                if doc_id in store:
                    return dict(base, status=409, error={"type": "version_conflict_engine_exception",
                                "reason": f"[{doc_id}]: version conflict, document already exists"})  # fmt: skip
                store[doc_id] = source  # type: ignore[assignment]
                return dict(base, status=201, result="created")
            if op == "update":
                store = self.indices.get(index)
                if store is None or doc_id not in store:
                    return dict(
                        base,
                        status=404,
                        error={
                            "type": "document_missing_exception",
                            "reason": f"[{doc_id}]: document missing",
                        },
                    )
                _merge(store[doc_id], source["doc"])  # type: ignore[index]
                return dict(base, status=200, result="updated", _version=2)
            if op == "create" and doc_id is not None and doc_id in self.indices.get(index, {}):
                return dict(base, status=409, error={"type": "version_conflict_engine_exception",
                            "reason": f"[{doc_id}]: version conflict, document already exists"})  # fmt: skip
            if op in ("index", "create"):
                mapping = self._mapping_for(index)
                if mapping is not None:
                    problem = _check_mapping(mapping.get("properties", {}), source or {}, "")
                    if problem:
                        return dict(
                            base, status=400, error={"type": "document_parsing_exception", "reason": problem}
                        )
                store = self.indices.setdefault(index, {})
                if doc_id is None:
                    doc_id = f"auto{len(store)}"
                    base["_id"] = doc_id
                existed = doc_id in store
                store[doc_id] = source  # type: ignore[assignment]
                return dict(base, status=200 if existed else 201, result="updated" if existed else "created")
            return dict(
                base, status=400, error={"type": "illegal_argument_exception", "reason": f"{op} unsupported"}
            )


def _filter_source(src: Dict[str, Any], spec: Any) -> Any:
    if spec is True or spec is None:
        return src
    if spec is False:
        return None
    out: Dict[str, Any] = {}
    for path in spec if isinstance(spec, list) else [spec]:
        value = get_field(src, path)
        if value is not None:
            cur = out
            parts = path.split(".")
            for part in parts[:-1]:
                cur = cur.setdefault(part, {})
            cur[parts[-1]] = value
    return out


def _bisect(rows: List[Any], after: List[Any]) -> int:
    lo, hi = 0, len(rows)
    target = list(after)
    while lo < hi:
        mid = (lo + hi) // 2
        if rows[mid][0] <= target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _sort_fields(sort: Any) -> List[str]:
    """Only the sort ctad's contract allows: @timestamp asc then the _shard_doc tiebreak."""
    if not isinstance(sort, list) or len(sort) != 2:
        raise ShapeError(
            400, "illegal_argument_exception", f"expected [@timestamp, _shard_doc] sort, got {sort!r}"
        )
    names = []
    for clause in sort:
        if not isinstance(clause, dict) or len(clause) != 1:
            raise ShapeError(400, "parsing_exception", f"bad sort clause {clause!r}")
        ((name, order),) = clause.items()
        if isinstance(order, dict):
            order = order.get("order")
        if order != "asc":
            raise ShapeError(400, "illegal_argument_exception", f"sort {name} must be asc")
        names.append(name)
    if names != ["@timestamp", "_shard_doc"]:
        raise ShapeError(
            400, "illegal_argument_exception", f"sort must be @timestamp then _shard_doc, got {names}"
        )
    return names


def _matches(q: Any, src: Dict[str, Any], now: float) -> bool:
    if not isinstance(q, dict) or len(q) != 1:
        raise ShapeError(400, "parsing_exception", f"malformed query {q!r}")
    ((kind, spec),) = q.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        unknown = set(spec) - {"filter", "must", "must_not", "should"}
        if unknown:
            raise ShapeError(400, "parsing_exception", f"[bool] unknown {sorted(unknown)}")

        def clauses(key: str) -> List[Any]:
            v = spec.get(key, [])
            return v if isinstance(v, list) else [v]

        if not all(_matches(c, src, now) for c in clauses("filter") + clauses("must")):
            return False
        if any(_matches(c, src, now) for c in clauses("must_not")):
            return False
        should = clauses("should")
        return not should or any(_matches(c, src, now) for c in should)
    if kind == "range":
        ((field, bounds),) = spec.items()
        if set(bounds) - {"gte", "gt", "lte", "lt", "format"}:
            raise ShapeError(400, "parsing_exception", "[range] unknown key")
        value = get_field(src, field)
        if value is None:
            return False
        v = to_millis(value, now) if field in DATE_FIELDS else value
        for op, bound in bounds.items():
            if op == "format":
                continue
            b = to_millis(bound, now) if field in DATE_FIELDS else bound
            ok = {"gte": v >= b, "gt": v > b, "lte": v <= b, "lt": v < b}[op]
            if not ok:
                return False
        return True
    if kind == "term":
        ((field, value),) = spec.items()
        if isinstance(value, dict):
            value = value.get("value")
        return get_field(src, field) == value
    if kind == "terms":
        ((field, values),) = spec.items()
        return get_field(src, field) in values
    if kind == "exists":
        return get_field(src, spec["field"]) is not None
    if kind == "query_string":
        m = re.match(r'^([\w.@]+):"?([^"]*)"?$', spec.get("query", ""))
        if not m:
            raise ShapeError(
                400, "query_shard_exception", "this server only parses field:value query strings"
            )
        return str(get_field(src, m.group(1))) == m.group(2)
    raise ShapeError(400, "parsing_exception", f"unknown query [{kind}]")


def _merge(dst: Dict[str, Any], patch: Dict[str, Any]) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


_TYPES = {
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "byte": lambda v: isinstance(v, int) and not isinstance(v, bool) and -128 <= v <= 127,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
    "keyword": lambda v: isinstance(v, (str, int, float, bool)),
    "date": lambda v: isinstance(v, (str, int)),
    "ip": lambda v: isinstance(v, str),
}


def _check_mapping(props: Dict[str, Any], doc: Dict[str, Any], prefix: str) -> str:
    """A mapper_parsing-style check of the fields the template maps (arrays checked element-wise)."""
    for key, value in doc.items():
        spec = props.get(key)
        if spec is None or value is None:
            continue
        if "properties" in spec:
            if not isinstance(value, dict):
                return f"field [{prefix}{key}] expected an object"
            problem = _check_mapping(spec["properties"], value, f"{prefix}{key}.")
            if problem:
                return problem
            continue
        check = _TYPES.get(spec.get("type"))
        values = value if isinstance(value, list) else [value]
        if check and not all(check(v) for v in values):
            return f"failed to parse field [{prefix}{key}] of type [{spec.get('type')}]: {value!r}"
    return ""


def _error_body(status: int, etype: str, reason: str) -> Dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": etype, "reason": reason}], "type": etype, "reason": reason},
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    es: FakeES
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_CT)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        es = self.es
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if es.dead:
            self.close_connection = True
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        try:
            accept = self.headers.get("Accept", "")
            if not _VENDOR.match(accept):
                raise ShapeError(
                    400,
                    "media_type_header_exception",
                    f"Invalid media-type value on header [Accept]: {accept!r}",
                )
            if es.api_key is not None and self.headers.get("Authorization") != f"ApiKey {es.api_key}":
                self._send(401, _error_body(401, "security_exception", "missing authentication credentials"))
                return
            body: Any = None
            if raw:
                ctype = self.headers.get("Content-Type", "")
                m = _VENDOR.match(ctype)
                if not m:
                    raise ShapeError(400, "media_type_header_exception", f"bad Content-Type {ctype!r}")
                is_bulk = path.endswith("/_bulk")
                if (m.group(1) == "x-ndjson") != is_bulk:
                    raise ShapeError(400, "media_type_header_exception", f"{ctype} not valid for {path}")
                if not is_bulk:
                    body = json.loads(raw)
            with es.lock:
                es.requests.append((self.command, path, body if body is not None else raw.decode()))
            parts = [p for p in path.split("/") if p]
            cmd = self.command
            if cmd in ("GET", "HEAD") and not parts:
                self._send(200, {"name": "fake", "cluster_name": "ctad-test", "cluster_uuid": "x",
                                 "version": {"number": "9.1.0", "build_flavor": "default"},
                                 "tagline": "You Know, for Search"})  # fmt: skip
            elif cmd == "POST" and len(parts) == 2 and parts[1] == "_pit":
                self._send(200, es.open_pit(parts[0], query, body))
            elif cmd == "DELETE" and parts == ["_pit"]:
                self._send(200, es.close_pit(body))
            elif cmd == "POST" and len(parts) == 2 and parts[1] == "_rollover":
                self._send(200, es.rollover(parts[0]))
            elif (
                cmd in ("POST", "GET")
                and len(parts) == 2
                and parts[1] == "_search"
                and "pit" not in (body or {})
            ):
                self._send(200, es.plain_search(parts[0], query, body or {}))
            elif cmd in ("POST", "GET") and parts and parts[-1] == "_search" and len(parts) <= 2:
                reply = es.search(parts[0] if len(parts) == 2 else None, body)
                self._send(200, es.search_reply_hook(reply) if es.search_reply_hook else reply)
            elif cmd in ("POST", "PUT") and parts and parts[-1] == "_bulk" and len(parts) <= 2:
                status, resp = es.bulk(parts[0] if len(parts) == 2 else None, raw)
                self._send(status, resp)
            elif cmd == "PUT" and len(parts) == 2 and parts[0] == "_index_template":
                self._send(200, es.put_template(parts[1], body))
            else:
                raise ShapeError(400, "unsupported_endpoint", f"{cmd} {path} is not served")
        except ShapeError as exc:
            if exc.etype not in (
                "injected_failure",
                "search_context_missing_exception",
                "index_not_found_exception",
            ):
                with es.lock:
                    es.shape_errors.append(f"{self.command} {path}: {exc.reason}")
            self._send(exc.status, _error_body(exc.status, exc.etype, exc.reason))
        except ValueError as exc:
            with es.lock:
                es.shape_errors.append(f"{self.command} {path}: bad JSON {exc}")
            self._send(400, _error_body(400, "parse_exception", str(exc)))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle
