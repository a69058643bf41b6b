"""Write the detector's ``ct_*`` fields back to Elasticsearch with ``helpers.streaming_bulk``.

Two targets:

* ``update``: partial updates of the source documents (``_op_type: update`` by ``_index``/``_id``; the hit's
  ``_index`` is the concrete backing index, which is what an update into a data stream needs).
* ``index:<name>``: one result document per event in a separate index (``ctad-anomalies-*`` by default, mapped
  by ``results_index_template.json``), carrying the source ``_index``/``_id`` and the key ECS fields so an analyst
  can pivot without a join. The result ``_id`` is a hash of the source ``_index``/``_id``: re-running a window
  overwrites rather than duplicates.

* ``stream:<namespace>``: one ECS alert document per event in the ``logs-ctad.alerts-<namespace>`` data stream
  (``ctad.elastic.alerts``). Data streams are append-only (bulk ``index`` is refused, only ``create``), and an
  ``_id`` is unique only inside one backing index, so a plain ``create`` with a deterministic id would duplicate
  an alert once the stream has rolled over. So each chunk first looks its ids up across the whole stream
  (``ids`` query, ``_source: event.kind``): an id that exists is overwritten in place with an ``update`` addressed
  to its backing index (how Elasticsearch lets one change a data stream document); the rest are created.
  A ``create`` answered 409 (another writer, or a document written less than a refresh ago) is counted as
  ``already_present``, not as a failure. ``event.ingested`` is the write time; an overwrite keeps the first one
  unless the row changed kind (an event that became an alert must be seen again by the Security rule, which
  windows on ``event.ingested``).

Every row is accounted for: per-item 429s are retried by ``streaming_bulk`` (``max_retries`` with exponential
backoff), other item failures are counted by status and written to a dead-letter JSON-lines sink when one is
given, and if the connection dies mid-stream the rows in flight and the rows not yet sent are counted as failed
rather than dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import IO, Any, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, cast

from ctad.core.jsonio import scrub_surrogates
from ctad.core.schema import OUTPUT_FIELDS, CtFields
from ctad.elastic.alerts import DEFAULT_NAMESPACE, alert_id, build_alert, now_iso, set_path, stream_name

# docs/DESIGN.md output contract, in contract order (one definition, in ctad.core.schema).
CT_FIELDS = OUTPUT_FIELDS

# ECS fields copied onto a result document (dotted paths into the source document).
KEY_FIELDS = (
    "@timestamp",
    "event.id",
    "event.action",
    "event.provider",
    "event.outcome",
    "cloud.account.id",
    "cloud.region",
    "source.ip",
    "user.name",
    "user_agent.original",
    "aws.cloudtrail.user_identity.arn",
    "aws.cloudtrail.user_identity.type",
    "aws.cloudtrail.user_identity.access_key_id",
    "aws.cloudtrail.error_code",
    # for the ECS alerts: what the normaliser needs to read the event again at triage time (assumed roles)
    "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
    "aws.cloudtrail.read_only",
)

DEFAULT_RESULTS_INDEX = "ctad-anomalies-default"
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
MAX_ERROR_SAMPLES = 20

Row = Tuple[Dict[str, Any], Dict[str, Any]]  # (meta: _index/_id/key fields, ct dict)


@dataclass(frozen=True)
class WriteTarget:
    """Where results go: ``mode`` is ``update``, ``index`` (then ``index`` is the results index name) or
    ``stream`` (then ``index`` is the ECS alerts data stream, ``logs-ctad.alerts-<namespace>``)."""

    mode: str
    index: Optional[str] = None

    @property
    def needs_key_fields(self) -> bool:
        return self.mode in ("index", "stream")


def parse_write_target(spec: Optional[str]) -> Optional[WriteTarget]:
    """``update`` | ``index`` | ``index:<name>`` | ``stream`` | ``stream:<namespace>`` | ``none``/empty ->
    WriteTarget or None (no write-back)."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    spec = spec.strip()
    if spec == "update":
        return WriteTarget("update")
    if spec == "index" or spec.startswith("index:"):
        name = spec.partition(":")[2].strip() or DEFAULT_RESULTS_INDEX
        if not _INDEX_NAME.match(name) or len(name.encode()) > 255:
            raise ValueError(
                f"invalid index name {name!r}: lowercase letters, digits and . _ + - only, not starting with . _ + -"
            )
        return WriteTarget("index", name)
    if spec == "stream" or spec.startswith("stream:"):
        return WriteTarget("stream", stream_name(spec.partition(":")[2].strip() or DEFAULT_NAMESPACE))
    raise ValueError(f"--write must be update, index:<name>, stream:<namespace> or none, not {spec!r}")


def get_path(doc: Any, path: str) -> Any:
    """Value at a dotted path, whether the source is nested (``event: {action}``) or flat (``event.action``)."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            break
    else:
        return node
    return _get_path_mixed(doc, path)


def _get_path_mixed(doc: Any, path: str) -> Any:
    """Slow path for dotted keys at any level (``{"aws": {"cloudtrail.user_identity": {...}}}``)."""
    if not isinstance(doc, dict):
        return None
    if path in doc:
        return doc[path]
    head, sep, rest = path.partition(".")
    while sep:
        if head in doc:
            found = _get_path_mixed(doc[head], rest)
            if found is not None:
                return found
        nxt, sep, rest = rest.partition(".")
        head = f"{head}.{nxt}"
    return None


def row_meta(doc: Dict[str, Any], with_key_fields: bool) -> Dict[str, Any]:
    """What the writer needs to remember about a read document (kept small: it is spooled per row)."""
    meta: Dict[str, Any] = {"_index": _clean_text(doc.get("_index")), "_id": _clean_text(doc.get("_id"))}
    if with_key_fields:
        key = {}
        for path in KEY_FIELDS:
            value = get_path(doc, path)
            if value is not None and not isinstance(value, (dict, list)):
                key[path] = _clean_text(value)
        meta["key"] = key
    return meta


# Integers 0..100 (`integer` in the results template); anything that is not a finite number becomes 0.
_INT_FIELDS = frozenset(("ct_risk", "ct_incident_score"))


def _bounded_int(value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    except OverflowError:  # an int past the float range (a hand-written or forged row)
        return 100 if value > 0 else 0
    if not math.isfinite(number):
        return 0
    return int(min(max(number, 0.0), 100.0))


def _clean_text(value: Any) -> Any:
    """A string with its lone surrogates as U+FFFD (anything else as it is).

    The client serialises bulk bodies with surrogatepass, so one lone surrogate anywhere in an action (a
    document's `_id` or `_index` as the client decoded them, a key field, an index name from argv) is invalid
    UTF-8 that Elasticsearch refuses. An update aimed at such an `_id` then fails as one item (no document has
    the scrubbed id) instead of the request."""
    return scrub_surrogates(value) if isinstance(value, str) else value


def clean_ct(ct: Mapping[str, Any]) -> CtFields:
    """Exactly the contract fields, JSON-safe (a NaN score would make Elasticsearch reject the whole item)."""
    out: Dict[str, Any] = {}
    for name in CT_FIELDS:
        value = ct.get(name)
        if name == "ct_score":
            try:
                value = float(value) if value is not None else None
            except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float range
                value = None
            if value is not None and not math.isfinite(value):
                value = None
        elif name == "ct_anomaly":
            value = 1 if value in (1, True, "1", "true") else 0
        elif name in _INT_FIELDS:
            value = _bounded_int(value)
        elif name == "ct_reasons":
            if value is None:
                value = []
            elif isinstance(value, str):
                value = [scrub_surrogates(value)]
            elif isinstance(value, (list, tuple)):
                value = [scrub_surrogates(str(v)) for v in value]
            else:  # one value of another type (a number in a hand-written row): one reason, as text
                value = [scrub_surrogates(str(value))]
        elif value is None:
            value = ""
        else:
            # the client encodes with surrogatepass: a lone surrogate (a field of an ECS document the client
            # decoded) would reach Elasticsearch as invalid UTF-8 and fail the item
            value = scrub_surrogates(str(value))
        out[name] = value
    return cast(CtFields, out)


def result_id(source_index: Any, source_id: Any) -> str:
    """Stable id of a result document: re-running the same window overwrites instead of duplicating."""
    return hashlib.sha1(f"{source_index}\x00{source_id}".encode("utf-8", "replace")).hexdigest()


def build_action(
    meta: Dict[str, Any], ct: Dict[str, Any], target: WriteTarget, run_id: str
) -> Dict[str, Any]:
    """One bulk action for one row."""
    fields = clean_ct(ct)
    # every string in the action is scrubbed here too: `meta` may come from elsewhere than row_meta
    source_index, source_id = _clean_text(meta.get("_index")), _clean_text(meta.get("_id"))
    if target.mode == "update":
        return {
            "_op_type": "update",
            "_index": source_index,
            "_id": source_id,
            "retry_on_conflict": 3,
            "doc": fields,
        }
    doc: Dict[str, Any] = {}
    for path, value in (meta.get("key") or {}).items():
        set_path(doc, path, _clean_text(value))
    doc["ctad"] = {"source_index": source_index, "source_id": source_id, "run_id": _clean_text(run_id)}
    doc.update(fields)
    return {
        "_op_type": "index",
        "_index": _clean_text(target.index),
        "_id": result_id(source_index, source_id),
        "_source": doc,
    }


def build_stream_action(
    meta: Dict[str, Any],
    ct: Dict[str, Any],
    target: WriteTarget,
    run_id: str,
    ingested: str,
    existing: Optional[Tuple[str, Any]] = None,
) -> Dict[str, Any]:
    """The bulk action for one row into the alerts data stream: ``create`` by deterministic id, or, when the id
    is already in the stream (``existing`` = its backing index and stored ``event.kind``), an overwrite there."""
    fields = clean_ct(ct)
    source_index, source_id = _clean_text(meta.get("_index")), _clean_text(meta.get("_id"))
    key = {path: _clean_text(value) for path, value in (meta.get("key") or {}).items()}
    doc = build_alert(
        key, fields, source_index=source_index, source_id=source_id, run_id=run_id, ingested=ingested
    )
    doc_id = alert_id(source_index, source_id)
    if existing is None:
        return {"_op_type": "create", "_index": _clean_text(target.index), "_id": doc_id, "_source": doc}
    backing, old_kind = existing
    if old_kind == doc["event"]["kind"]:
        del doc["event"]["ingested"]  # same alert again: the Security rule has seen it, do not make it new
    # a partial update merges: what this run does not write must be cleared, or the old run's value stays
    # (ctad.triage.* is kept on purpose: it is another command's answer about the same alert)
    for key in ("threat", "related"):
        doc.setdefault(key, None)
    doc["event"].setdefault("reason", None)
    doc["ctad"].setdefault("timestamp_missing", None)
    return {"_op_type": "update", "_index": backing, "_id": doc_id, "retry_on_conflict": 3, "doc": doc}


def existing_alerts(client: Any, stream: str, ids: List[str]) -> Dict[str, Tuple[str, Any]]:
    """``{_id: (backing index, event.kind)}`` for the ids already somewhere in the data stream (all backing
    indices: that is the point). A stream that does not exist yet has none."""
    if not ids:
        return {}
    resp = client.search(
        index=stream,
        query={"ids": {"values": ids}},
        size=len(ids),
        source=["event.kind"],
        track_total_hits=False,
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    resp = getattr(resp, "body", resp)
    found: Dict[str, Tuple[str, Any]] = {}
    hits = ((resp or {}).get("hits") or {}).get("hits") or []
    for hit in hits if isinstance(hits, list) else []:
        if isinstance(hit, dict) and isinstance(hit.get("_id"), str) and isinstance(hit.get("_index"), str):
            src = hit.get("_source") if isinstance(hit.get("_source"), dict) else {}
            kind = (src.get("event") or {}).get("kind") if isinstance(src.get("event"), dict) else None
            found[hit["_id"]] = (hit["_index"], kind)
    return found


@dataclass
class WriteReport:
    """Counts for the run summary; ``failed`` > 0 means the CLI exits non-zero."""

    attempted: int = 0
    written: int = 0
    failed: int = 0
    skipped: int = 0
    by_status: Counter = field(default_factory=Counter)
    samples: List[str] = field(default_factory=list)
    aborted: str = ""
    stream: bool = False
    created: int = 0
    overwritten: int = 0
    already_present: int = 0

    def as_dict(self) -> Dict[str, Any]:
        extra = (
            {
                "created": self.created,
                "overwritten": self.overwritten,
                "already_present": self.already_present,
            }
            if self.stream
            else {}
        )
        return {
            **extra,
            "attempted": self.attempted,
            "written": self.written,
            "failed": self.failed,
            "skipped": self.skipped,
            "failed_by_status": {
                str(k): v for k, v in sorted(self.by_status.items(), key=lambda kv: str(kv[0]))
            },
            "error_samples": list(self.samples),
            "aborted": self.aborted,
        }


def _reason(info: Dict[str, Any]) -> str:
    err = info.get("error")
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('reason', '')}".strip()
    return str(err or "unknown error")


class _Tracker:
    """Rows sent but not yet answered, so a failure can name them (bounded by streaming_bulk's chunk)."""

    def __init__(self, report: WriteReport, sink: Optional[IO[str]]) -> None:
        self.report = report
        self.sink = sink
        self.pending: Dict[str, Deque[Tuple[Dict[str, Any], Dict[str, Any]]]] = {}

    def sent(self, action: Dict[str, Any], meta: Dict[str, Any], ct: Dict[str, Any]) -> None:
        self.pending.setdefault(str(action["_id"]), deque()).append((meta, ct))

    def done(self, doc_id: Any) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        queue = self.pending.get(str(doc_id))
        if not queue:
            return {"_id": doc_id}, {}
        item = queue.popleft()
        if not queue:
            del self.pending[str(doc_id)]
        return item

    def fail(self, meta: Dict[str, Any], ct: Dict[str, Any], status: Any, reason: str) -> None:
        self.report.failed += 1
        self.report.by_status[status] += 1
        if len(self.report.samples) < MAX_ERROR_SAMPLES:
            self.report.samples.append(f"{meta.get('_index')}/{meta.get('_id')}: {status} {reason}"[:500])
        if self.sink is not None:
            record = {
                "_index": meta.get("_index"),
                "_id": meta.get("_id"),
                "status": status,
                "error": reason,
                "ct": clean_ct(ct) if ct else {},
            }
            self.sink.write(json.dumps(record, default=str) + "\n")


def write_results(
    client: Any,
    rows: Iterable[Row],
    target: WriteTarget,
    *,
    run_id: str = "",
    anomalies_only: bool = False,
    chunk_size: int = 500,
    max_retries: int = 5,
    initial_backoff: float = 1.0,
    max_backoff: float = 60.0,
    failed_sink: Optional[IO[str]] = None,
    refresh: Optional[str] = None,
) -> WriteReport:
    """Bulk-write ``(meta, ct)`` rows; returns the counts. Never raises for item or transport failures."""
    from elasticsearch import helpers

    report = WriteReport(stream=target.mode == "stream")
    tracker = _Tracker(report, failed_sink)
    source = iter(rows)
    ingested = now_iso()

    def wanted(ct: Dict[str, Any]) -> bool:
        # anomalies_only still writes rows that could not be scored: an error is never hidden
        if anomalies_only and clean_ct(ct)["ct_anomaly"] != 1 and not ct.get("ct_error"):
            report.skipped += 1
            return False
        return True

    def stream_actions() -> Iterator[Dict[str, Any]]:
        buffer: List[Row] = []

        def flush() -> Iterator[Dict[str, Any]]:
            ids = [alert_id(_clean_text(m.get("_index")), _clean_text(m.get("_id"))) for m, _ct in buffer]
            try:
                found = existing_alerts(client, str(target.index), sorted(set(ids)))
            except Exception as exc:  # these rows were taken from the source: fail them here, not silently
                why = f"looking up existing alerts failed: {type(exc).__name__}: {exc}"[:500]
                for m, c in buffer:
                    tracker.fail(m, c, "lookup-failed", why)
                buffer.clear()
                raise
            for (m, c), doc_id in zip(buffer, ids):
                action = build_stream_action(m, c, target, run_id, ingested, found.get(doc_id))
                tracker.sent(action, m, c)
                yield action
            buffer.clear()

        for meta, ct in source:
            if not wanted(ct):
                continue
            report.attempted += 1
            buffer.append((meta, ct))
            if len(buffer) >= chunk_size:
                yield from flush()
        if buffer:
            yield from flush()

    def actions() -> Iterator[Dict[str, Any]]:
        if target.mode == "stream":
            yield from stream_actions()
            return
        for meta, ct in source:
            if not wanted(ct):
                continue
            report.attempted += 1
            if target.mode == "update" and (not meta.get("_index") or meta.get("_id") is None):
                tracker.fail(meta, ct, "no-id", "source document has no _index/_id to update")
                continue
            action = build_action(meta, ct, target, run_id)
            tracker.sent(action, meta, ct)
            yield action

    extra: Dict[str, Any] = {}
    if refresh is not None:
        extra["refresh"] = refresh
    try:
        for ok, item in helpers.streaming_bulk(
            client,
            actions(),
            chunk_size=chunk_size,
            max_retries=max_retries,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            raise_on_error=False,
            raise_on_exception=False,
            yield_ok=True,
            **extra,
        ):
            op, info = next(iter(item.items()))
            meta, ct = tracker.done(info.get("_id"))
            if ok:
                report.written += 1
                if report.stream:
                    if op == "create":
                        report.created += 1
                    else:
                        report.overwritten += 1
            elif report.stream and op == "create" and info.get("status") == 409:
                report.already_present += 1  # written by another run moments ago: the alert is there
            else:
                tracker.fail(meta, ct, info.get("status", "error"), _reason(info))
    except Exception as exc:  # connection lost, auth revoked mid-run, ...: account for every row left
        report.aborted = f"{type(exc).__name__}: {exc}"[:500]
        for queue in list(tracker.pending.values()):
            for meta, ct in queue:
                tracker.fail(meta, ct, "aborted", report.aborted)
        tracker.pending.clear()
        for meta, ct in source:
            if not wanted(ct):
                continue
            report.attempted += 1
            tracker.fail(meta, ct, "not-sent", "write aborted before this row was sent")
    return report
