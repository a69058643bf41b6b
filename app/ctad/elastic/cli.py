"""``ctad elastic``: detect on CloudTrail indexed by Elastic's AWS integration, export it, install the template.

Exit codes: 0 done; 1 done but incomplete (write failures or a partial read: the summary says which rows);
2 bad options or cannot connect; 3 the read failed (nothing was written).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

from ctad.elastic.connect import ConnectionSetupError, add_connection_arguments, make_client
from ctad.elastic.connect import describe_es_error as _describe_es_error
from ctad.elastic.connect import es_errors as _es_errors
from ctad.elastic.export import FORMATS, ExportStats, export_line, open_output
from ctad.elastic.reader import (
    DEFAULT_KEEP_ALIVE,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ReadError,
    ReadStats,
    parse_query,
    read_documents,
)
from ctad.elastic.templates import DEFAULT_TEMPLATE_NAME, install_results_template, results_template
from ctad.elastic.watermark import Window, add_window_arguments, apply_window
from ctad.elastic.writer import WriteReport, clean_ct, parse_write_target, row_meta, write_results
from ctad.engine.argtypes import existing_dir, int_range, seconds
from ctad.engine.driver import (
    Detection,
    LineSpool,
    build_detector,
    load_baseline,
    run_summary,
    save_baseline,
    seed_warning,
)
from ctad.engine.options import ELASTIC, add_arguments

DEFAULT_INDEX = "logs-aws.cloudtrail-*"


def _err(msg: str) -> None:
    print(f"ctad elastic: {msg}", file=sys.stderr)


def _add_read_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to read")
    g.add_argument("--index", default=DEFAULT_INDEX, help=f"index, data stream or pattern ({DEFAULT_INDEX})")
    g.add_argument(
        "--from", dest="time_from", default="now-2h", help="@timestamp >= this (date math ok; now-2h)"
    )
    g.add_argument("--to", dest="time_to", default="now", help="@timestamp < this (now)")
    g.add_argument(
        "--query", default=None, help="extra filter: JSON query DSL clause or a Lucene query string"
    )
    g.add_argument(
        "--page-size",
        type=int_range(1, MAX_PAGE_SIZE),
        default=DEFAULT_PAGE_SIZE,
        help=f"hits per page ({DEFAULT_PAGE_SIZE})",
    )
    g.add_argument(
        "--slices", type=int_range(1), default=1, help="read N slices of the PIT in parallel threads (1)"
    )
    g.add_argument(
        "--slice", default=None, metavar="ID/MAX", help="read only slice ID of MAX (separate processes)"
    )
    g.add_argument(
        "--keep-alive", default=DEFAULT_KEEP_ALIVE, help=f"PIT keep-alive per page ({DEFAULT_KEEP_ALIVE})"
    )


def _slice_arg(text: Optional[str]) -> Tuple[Optional[int], Optional[int]]:
    if not text:
        return None, None
    try:
        a, b = text.split("/")
        return int(a), int(b)
    except ValueError:
        raise ValueError(f"--slice must look like 0/4, not {text!r}") from None


def register(subparsers: Any) -> None:
    """Add ``ctad elastic {detect,export,template}``."""
    p = subparsers.add_parser("elastic", help="run on CloudTrail in Elasticsearch (Elastic AWS integration)")
    sub = p.add_subparsers(dest="elastic_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    d = sub.add_parser("detect", help="score a time window and write ct_* fields back")
    add_connection_arguments(d)
    _add_read_arguments(d)
    add_window_arguments(d)
    g = d.add_argument_group("detection")
    add_arguments(g, ELASTIC)  # --baseline, --model, --threshold, --incident-gap, ...: ctad.engine.options
    g = d.add_argument_group("output")
    g.add_argument(
        "--write",
        default="none",
        help="none (default), update (partial update of the source docs) or index:<name> (e.g. index:ctad-anomalies-prod)",
    )
    g.add_argument("--anomalies-only", action="store_true", help="write only anomalies and unscorable rows")
    g.add_argument("--out", default=None, help="also write results as JSON lines here (- = stdout, .gz ok)")
    g.add_argument("--failed-out", default=None, help="JSON lines of rows Elasticsearch refused (for replay)")
    g.add_argument("--chunk-size", type=int_range(1), default=500, help="bulk actions per request (500)")
    g.add_argument(
        "--max-retries", type=int_range(0), default=5, help="retries of 429-rejected bulk items (5)"
    )
    g.add_argument(
        "--initial-backoff", type=seconds(), default=1.0, help="seconds before the first retry (1)"
    )
    g.add_argument("--summary-json", default=None, help="write the run summary JSON here (default: stderr)")
    d.set_defaults(func=cmd_detect)

    e = sub.add_parser("export", help="write the documents as JSON lines (for ctad detect / training)")
    add_connection_arguments(e)
    _add_read_arguments(e)
    e.add_argument("--out", required=True, help="output file (- = stdout, .gz = gzip)")
    e.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="original = raw CloudTrail from event.original; ecs = the document; auto = original when present",
    )
    e.set_defaults(func=cmd_export)

    t = sub.add_parser(
        "template",
        help="install the alerts data stream template and the ctad-anomalies-* template; write or install the "
        "Security rule and Kibana objects",
    )
    add_connection_arguments(t)
    t.add_argument("--name", default=DEFAULT_TEMPLATE_NAME, help=f"template name ({DEFAULT_TEMPLATE_NAME})")
    t.add_argument("--print", dest="print_only", action="store_true", help="print the JSON, do not connect")
    _add_security_template_arguments(t)
    t.set_defaults(func=cmd_template)

    from ctad.elastic.alert_triage import register as _register_triage

    _register_triage(sub)


def _read_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    slice_id, slice_max = _slice_arg(args.slice)
    return {
        "index": [s for s in args.index.split(",") if s] if "," in args.index else args.index,
        "time_from": args.time_from or None,
        "time_to": args.time_to or None,
        "query": parse_query(args.query),
        "page_size": args.page_size,
        "keep_alive": args.keep_alive,
        "slice_id": slice_id,
        "slice_max": slice_max,
        "slices": args.slices,
    }


def _check_output_paths(*paths: Optional[str]) -> None:
    """Fail before a long read, not after it, when an output file cannot be created."""
    for path in paths:
        if path and path != "-":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ValueError(f"cannot write {path}: directory {parent} does not exist")


def cmd_detect(args: argparse.Namespace) -> int:
    try:
        target = parse_write_target(args.write)
        _check_output_paths(args.out, args.failed_out, args.summary_json, args.baseline)
        read_kwargs = _read_kwargs(args)
        window: Optional[Window] = apply_window(args, read_kwargs)
        client = make_client(args)
    except (ValueError, ConnectionSetupError) as exc:
        _err(str(exc))
        return 2
    from ctad.engine.detect import ModelError

    try:
        profile = load_baseline(args.baseline)
        det = build_detector(vars(args), profile)
    except (ModelError, ValueError, OSError) as exc:  # bad baseline file or model: say which, no traceback
        _err(f"cannot start the detector: {exc}")
        return 2
    warning = seed_warning(det.incident_problems, f"baseline {args.baseline}")
    if warning:
        _err(f"warning: {warning}")

    started = time.time()
    stats = ReadStats()
    with_key = bool(target and target.needs_key_fields)
    summary: Dict[str, Any] = {"index": args.index, "from": args.time_from, "to": args.time_to}
    if window is not None:
        summary["window"] = window.describe()
    # Row metadata goes to disk, not a list: the detector's memory is bounded, so ours must be too.
    spool = LineSpool(
        args.spill_dir, encode=lambda meta: json.dumps(meta, default=str).encode(), decode=json.loads
    )
    report: Optional[WriteReport] = None
    run_id = uuid.uuid4().hex[:12]
    try:
        detection = Detection(det, spool)
        try:
            with contextlib.closing(read_documents(client, stats=stats, **read_kwargs)) as docs:
                detection.feed((doc, row_meta(doc, with_key)) for doc in docs)
        except (*_es_errors(), ReadError) as exc:
            _err(f"read failed after {stats.documents} documents, nothing written: {_describe_es_error(exc)}")
            summary["read"] = stats.as_dict()
            _emit_summary(args, summary)
            return 3
        summary["read"] = stats.as_dict()

        def write(pairs: Iterator[Tuple[Dict, Dict]]) -> Optional[WriteReport]:
            rows = _tee_out(pairs, args.out, summary)
            if target is None:
                for _row in rows:
                    pass
                return None
            with contextlib.ExitStack() as stack:
                failed_fh = (
                    stack.enter_context(open(args.failed_out, "w", encoding="utf-8"))
                    if args.failed_out
                    else None
                )
                return write_results(
                    client,
                    rows,
                    target,
                    run_id=run_id,
                    anomalies_only=args.anomalies_only,
                    chunk_size=args.chunk_size,
                    max_retries=args.max_retries,
                    initial_backoff=args.initial_backoff,
                    failed_sink=failed_fh,
                )

        report = detection.finish(write)
    finally:
        spool.close()
    run = detection.run
    summary["detector"] = run_summary(run)
    summary["write"] = report.as_dict() if report else None
    summary["run_id"] = run_id
    summary["seconds"] = round(time.time() - started, 3)
    summary["baseline"] = profile.describe() if profile is not None else None
    save_baseline(run, args.baseline, profile, args.update_baseline)
    _emit_summary(args, summary)
    code = 0
    if stats.shard_failures or stats.timed_out_pages:
        _err("the read was partial (shard failures or timeouts): see summary.read.warnings")
        code = 1
    if report is not None and report.failed:
        where = f" (rows in {args.failed_out})" if args.failed_out else " (use --failed-out to keep them)"
        _err(f"{report.failed} of {report.attempted} rows were not written{where}")
        code = 1
    if window is not None:
        if code == 0:
            window.commit()  # only a complete window moves the watermark: at-least-once
        else:
            _err(f"watermark {window.path} not moved: the window will be read again")
    return code


def _tee_out(rows: Iterator[Tuple[Dict, Dict]], path: Optional[str], summary: Dict[str, Any]) -> Iterator:
    """Pass rows through, counting anomalies/errors and writing them to ``path`` as JSON lines if given."""
    counts = {"rows": 0, "anomalies": 0, "errors": 0}
    summary["results"] = counts
    fh, close = open_output(path) if path else (None, False)
    try:
        for meta, ct in rows:
            counts["rows"] += 1
            fields = clean_ct(ct)
            counts["anomalies"] += fields["ct_anomaly"]
            counts["errors"] += 1 if fields["ct_error"] else 0
            if fh is not None:
                rec = {"_index": meta.get("_index"), "_id": meta.get("_id")}
                rec.update(fields)
                fh.write(json.dumps(rec, default=str) + "\n")
            yield meta, ct
    finally:
        if fh is not None and close:
            fh.close()


def _emit_summary(args: argparse.Namespace, summary: Dict[str, Any]) -> None:
    text = json.dumps(summary, indent=2, default=str)
    if getattr(args, "summary_json", None):
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text, file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    try:
        _check_output_paths(args.out)
        read_kwargs = _read_kwargs(args)
        client = make_client(args)
    except (ValueError, ConnectionSetupError) as exc:
        _err(str(exc))
        return 2
    stats = ReadStats()
    ex = ExportStats()
    fh, close = open_output(args.out)
    try:
        # closing(): the PIT is released at once even if writing the output fails (disk full, broken pipe)
        with contextlib.closing(read_documents(client, stats=stats, **read_kwargs)) as docs:
            for doc in docs:
                fh.write(export_line(doc, args.format, ex))
    except (*_es_errors(), ReadError) as exc:
        _err(f"read failed after {stats.documents} documents: {_describe_es_error(exc)}")
        return 3
    finally:
        if close:
            fh.close()
    print(json.dumps({"read": stats.as_dict(), "export": ex.as_dict()}, indent=2), file=sys.stderr)
    if ex.original_missing:
        _err(f"{ex.original_missing} documents had no usable event.original and were exported as ECS")
    return 1 if stats.shard_failures or stats.timed_out_pages else 0


def cmd_template(args: argparse.Namespace) -> int:
    from ctad.elastic import kibana
    from ctad.elastic.templates import alerts_template, install_alerts_template

    try:
        alerts_body = alerts_template(args.retention)
    except ValueError as exc:
        _err(str(exc))
        return 2
    if args.print_only or args.print_alerts:
        print(json.dumps(alerts_body if args.print_alerts else results_template(), indent=2))
        return 0
    written = []
    if args.out_dir:
        out = Path(args.out_dir)
        (out / kibana.RULE_FILE).write_text(kibana.rule_ndjson(not args.no_suppression), encoding="utf-8")
        (out / kibana.OBJECTS_FILE).write_text(kibana.objects_ndjson(), encoding="utf-8")
        written = [str(out / kibana.RULE_FILE), str(out / kibana.OBJECTS_FILE)]
    report: Dict[str, Any] = {"files": written}
    try:
        client = make_client(args)
        report["template"] = {args.name: install_results_template(client, args.name)}
        report["template"][args.alerts_name] = install_alerts_template(
            client, args.alerts_name, args.retention
        )
    except ConnectionSetupError as exc:
        _err(str(exc))
        return 2
    except _es_errors() as exc:
        _err(f"could not install the template: {_describe_es_error(exc)}")
        return 3
    kibana_url = args.kibana or os.environ.get("CTAD_KIBANA_URL")
    if kibana_url:
        try:
            report["kibana"] = kibana.install(
                kibana_url,
                **_kibana_auth(args),
                space=args.kibana_space,
                suppression=not args.no_suppression,
                timeout=float(args.request_timeout),
            )
        except kibana.KibanaError as exc:
            _err(f"templates installed, but Kibana refused the Security objects: {exc}")
            print(json.dumps(report, default=str), file=sys.stderr)
            return 1
    print(json.dumps(report, default=str), file=sys.stderr)
    return 0


def _add_security_template_arguments(t: argparse.ArgumentParser) -> None:
    from ctad.elastic.templates import ALERTS_TEMPLATE_NAME, DEFAULT_RETENTION

    g = t.add_argument_group("alerts data stream and Elastic Security")
    g.add_argument("--alerts-name", default=ALERTS_TEMPLATE_NAME,
                   help=f"alerts data stream template name ({ALERTS_TEMPLATE_NAME})")  # fmt: skip
    g.add_argument("--retention", default=DEFAULT_RETENTION,
                   help=f"data stream lifecycle retention of the alerts ({DEFAULT_RETENTION})")  # fmt: skip
    g.add_argument(
        "--print-alerts", action="store_true", help="print the alerts template JSON, do not connect"
    )
    g.add_argument("--out-dir", type=existing_dir, default=None,
                   help="write the detection rule and Kibana saved objects (NDJSON) into this directory")  # fmt: skip
    g.add_argument("--kibana", default=None,
                   help="Kibana URL (or $CTAD_KIBANA_URL): also import the rule and saved objects there")  # fmt: skip
    g.add_argument("--kibana-space", default=None, help="Kibana space id (default space when not given)")
    g.add_argument("--no-suppression", action="store_true",
                   help="leave alert suppression out of the rule (it needs a Platinum license)")  # fmt: skip


def _kibana_auth(args: argparse.Namespace) -> Dict[str, Any]:
    """Kibana takes the same credentials as Elasticsearch: an API key (encoded, or id:key) or basic auth."""
    import base64

    from ctad.elastic.connect import client_kwargs

    kw = client_kwargs(args)
    out: Dict[str, Any] = {"ca_certs": kw.get("ca_certs"), "verify": kw.get("verify_certs", True)}
    key = kw.get("api_key")
    if isinstance(key, tuple):
        out["api_key"] = base64.b64encode(f"{key[0]}:{key[1]}".encode()).decode()
    elif key:
        out["api_key"] = key
    elif kw.get("basic_auth"):
        out["basic_auth"] = kw["basic_auth"]
    return out
