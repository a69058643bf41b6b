"""``ctad elastic triage``: stage two on the Elastic path.

Reads ctad's ECS alerts (``event.kind: alert``) out of the ``logs-ctad.alerts-*`` data stream with the same PIT
reader as detection, turns each back into a detector row (``ct_*`` fields beside the ECS event fields, which the
normaliser reads), runs the triage engine (``ctad.triage``: the agents, or the offline expert), and writes the
answers onto the same documents under ``ctad.triage.*``.

How, given data streams: a data stream accepts only ``create`` through its name, but a document can be changed
in its backing index. The reader hands back each hit's backing ``_index``, so every answer is a partial
``update`` (``retry_on_conflict``) addressed to ``_index``/``_id``: the alert stays one document, nothing is
appended. ``ctad.triage.at`` marks triaged alerts; later runs skip them unless ``--retriage``.

Every document read comes out: a document that is not a ctad alert, or that the engine cannot read, gets
``ctad.triage.error`` saying why; an update Elasticsearch refuses is counted by status and written to
``--failed-out``; a connection lost mid-write fails the rest, counted, never dropped silently.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
import uuid
from collections import Counter
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

from ctad.core.jsonio import scrub_surrogates
from ctad.elastic.alerts import STREAM_PREFIX, row_from_alert
from ctad.elastic.connect import (
    ConnectionSetupError,
    add_connection_arguments,
    describe_es_error,
    es_errors,
    make_client,
)
from ctad.elastic.reader import (
    DEFAULT_KEEP_ALIVE,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ReadError,
    ReadStats,
    read_documents,
)
from ctad.engine.argtypes import int_range
from ctad.triage.fields import TRIAGE_FIELDS, empty_triage

NOT_AN_ALERT = "not a ctad alert document (no ctad fields); passed through untriaged"
MAX_TEXT = 8192


def _err(msg: str) -> None:
    print(f"ctad elastic triage: {msg}", file=sys.stderr)


def register(sub: Any) -> None:
    """Add ``ctad elastic triage``; the backend options are the ones ``ctad triage`` takes."""
    from ctad.triage.cli import add_triage_arguments

    p = sub.add_parser(
        "triage", help="triage ctad alerts in the alerts data stream and write the verdicts back"
    )
    add_connection_arguments(p)
    g = p.add_argument_group("what to read")
    g.add_argument("--index", default=STREAM_PREFIX + "*", help=f"alerts data stream(s) ({STREAM_PREFIX}*)")
    g.add_argument("--from", dest="time_from", default="now-24h", help="window start (now-24h)")
    g.add_argument("--to", dest="time_to", default="now", help="window end (now)")
    g.add_argument("--time-field", default="event.ingested",
                   help="field the window applies to (event.ingested: alerts written late are included)")  # fmt: skip
    g.add_argument("--retriage", action="store_true", help="also triage alerts that already have a verdict")
    g.add_argument("--page-size", type=int_range(1, MAX_PAGE_SIZE), default=DEFAULT_PAGE_SIZE)
    g.add_argument("--keep-alive", default=DEFAULT_KEEP_ALIVE)
    o = p.add_argument_group("output")
    o.add_argument("--failed-out", default=None, help="JSON lines of updates Elasticsearch refused")
    o.add_argument("--out", default=None, help="also write the triaged rows as JSON lines here")
    o.add_argument("--chunk-size", type=int_range(1), default=500)
    o.add_argument("--summary-json", default=None, help="write the run summary here (default: stderr)")
    add_triage_arguments(p)
    p.set_defaults(func=cmd_triage)


def alert_query(retriage: bool) -> Dict[str, Any]:
    """ctad's alerts, and unless ``retriage`` only those without a verdict yet."""
    clause: Dict[str, Any] = {"bool": {"filter": [{"term": {"event.kind": "alert"}}]}}
    if not retriage:
        clause["bool"]["must_not"] = [{"exists": {"field": "ctad.triage.at"}}]
    return clause


def _clean_value(name: str, value: Any) -> Any:
    """A triage value Elasticsearch will index (the mapping in alerts_template.json): bounded text, no lone
    surrogates, a finite confidence, 0/1 flags."""
    if name == "triage_confidence":
        try:
            number = float(value) if value is not None else None
        except (TypeError, ValueError, OverflowError):
            return None
        return None if number is None or not math.isfinite(number) else min(max(number, 0.0), 1.0)
    if name in ("triage_cached", "triage_injection_suspected"):
        return 1 if value in (1, True, "1", "true") else 0
    if name == "triage_actions":
        items = value if isinstance(value, (list, tuple)) else ([] if value in (None, "") else [value])
        return [scrub_surrogates(str(v))[:1024] for v in items][:50]
    return scrub_surrogates(str(value if value is not None else ""))[:MAX_TEXT]


def triage_doc(row: Dict[str, Any], run_id: str, at: str) -> Dict[str, Any]:
    """The partial document for one triaged row: ``{"ctad": {"triage": {...}}}``."""
    out = {name[len("triage_") :]: _clean_value(name, row.get(name)) for name in TRIAGE_FIELDS}
    out["run_id"] = run_id
    out["at"] = at
    return {"ctad": {"triage": out}}


def _rows(docs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = []
    for doc in docs:
        source = {k: v for k, v in doc.items() if k not in ("_id", "_index")}
        row = row_from_alert(source)
        if not isinstance(source.get("ctad"), dict):
            row["ct_anomaly"] = 0  # never triage what ctad did not write
            row["_not_alert"] = True
        rows.append(row)
    return rows


def update_triage(
    client: Any,
    items: List[Tuple[Dict[str, Any], Dict[str, Any]]],
    *,
    chunk_size: int,
    failed_sink: Optional[IO[str]],
) -> Dict[str, Any]:
    """Bulk partial updates, one per (meta, triage document); every item is counted as written or failed."""
    from elasticsearch import helpers

    report: Dict[str, Any] = {"attempted": 0, "written": 0, "failed": 0, "failed_by_status": Counter(),
                              "error_samples": [], "aborted": ""}  # fmt: skip
    pending: Dict[str, List[Tuple[Dict[str, Any], Dict[str, Any]]]] = {}
    source = iter(items)

    def fail(meta: Dict[str, Any], doc: Dict[str, Any], status: Any, why: str) -> None:
        report["failed"] += 1
        report["failed_by_status"][str(status)] += 1
        if len(report["error_samples"]) < 20:
            report["error_samples"].append(f"{meta.get('_index')}/{meta.get('_id')}: {status} {why}"[:500])
        if failed_sink is not None:
            failed_sink.write(json.dumps({"_index": meta.get("_index"), "_id": meta.get("_id"), "status": status,
                                          "error": why, "doc": doc}, default=str) + "\n")  # fmt: skip

    def actions() -> Iterator[Dict[str, Any]]:
        for meta, doc in source:
            report["attempted"] += 1
            if not isinstance(meta.get("_index"), str) or not isinstance(meta.get("_id"), str):
                fail(meta, doc, "no-id", "alert has no _index/_id to update")
                continue
            index, doc_id = scrub_surrogates(meta["_index"]), scrub_surrogates(meta["_id"])
            pending.setdefault(doc_id, []).append((meta, doc))
            yield {"_op_type": "update", "_index": index, "_id": doc_id, "retry_on_conflict": 3, "doc": doc}

    try:
        for ok, item in helpers.streaming_bulk(client, actions(), chunk_size=chunk_size, max_retries=5,
                                               raise_on_error=False, raise_on_exception=False,
                                               yield_ok=True):  # fmt: skip
            _op, info = next(iter(item.items()))
            queue = pending.get(str(info.get("_id"))) or [({"_id": info.get("_id")}, {})]
            meta, doc = queue.pop(0)
            if not queue:
                pending.pop(str(info.get("_id")), None)
            if ok:
                report["written"] += 1
            else:
                err = info.get("error")
                why = f"{err.get('type')}: {err.get('reason')}" if isinstance(err, dict) else str(err)
                fail(meta, doc, info.get("status", "error"), why)
    except Exception as exc:  # connection lost mid-run: everything in flight or not sent is failed, counted
        report["aborted"] = f"{type(exc).__name__}: {exc}"[:500]
        for queue in list(pending.values()):
            for meta, doc in queue:
                fail(meta, doc, "aborted", report["aborted"])
        pending.clear()
        for meta, doc in source:
            report["attempted"] += 1
            fail(meta, doc, "not-sent", "write aborted before this row was sent")
    report["failed_by_status"] = dict(sorted(report["failed_by_status"].items()))
    return report


def cmd_triage(args: argparse.Namespace) -> int:
    from ctad.triage.cli import build_triage
    from ctad.triage.llm import redact

    try:
        client = make_client(args)
        engine = build_triage(args)
    except (ValueError, OSError, ConnectionSetupError) as exc:
        _err(redact(str(exc)))
        return 2
    started = time.time()
    stats = ReadStats()
    summary: Dict[str, Any] = {"index": args.index, "from": args.time_from, "to": args.time_to,
                               "time_field": args.time_field}  # fmt: skip
    docs: List[Dict[str, Any]] = []
    try:
        reader = read_documents(client, args.index, time_from=args.time_from, time_to=args.time_to,
                                query=alert_query(args.retriage), page_size=args.page_size,
                                keep_alive=args.keep_alive, stats=stats, time_field=args.time_field)  # fmt: skip
        with contextlib.closing(reader) as it:
            docs.extend(it)
    except (*es_errors(), ReadError, ValueError) as exc:
        _err(f"read failed after {stats.documents} alerts, nothing written: {describe_es_error(exc)}")
        return 3
    summary["read"] = stats.as_dict()
    rows = _rows(docs)
    out_rows = engine.run(rows)
    run_id = uuid.uuid4().hex[:12]
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    items = []
    for doc, row in zip(docs, out_rows):
        if row.pop("_not_alert", False):
            row.update(empty_triage(NOT_AN_ALERT))
        items.append(({"_index": doc.get("_index"), "_id": doc.get("_id")}, triage_doc(row, run_id, at)))
    if len(items) != len(docs):  # the engine's contract; refuse to lose a row if it were ever broken
        _err(f"triage returned {len(out_rows)} rows for {len(docs)} alerts; nothing written")
        return 1
    with contextlib.ExitStack() as stack:
        failed = (
            stack.enter_context(open(args.failed_out, "w", encoding="utf-8")) if args.failed_out else None
        )
        if args.out:
            fh = stack.enter_context(open(args.out, "w", encoding="utf-8"))
            for (meta, doc), _ in zip(items, docs):
                fh.write(json.dumps(dict(meta, **doc), default=str) + "\n")
        report = update_triage(client, items, chunk_size=args.chunk_size, failed_sink=failed)
    engine_stats = engine.stats.as_dict()
    engine_stats["backend"] = engine.backend_name
    summary.update({"triage": engine_stats, "write": report, "run_id": run_id,
                    "seconds": round(time.time() - started, 3)})  # fmt: skip
    text = json.dumps(summary, indent=2, default=str)
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text, file=sys.stderr)
    code = 0
    if stats.shard_failures or stats.timed_out_pages:
        _err("the read was partial (shard failures or timeouts): see summary.read.warnings")
        code = 1
    if report["failed"]:
        _err(f"{report['failed']} of {report['attempted']} alerts were not updated")
        code = 1
    return code
