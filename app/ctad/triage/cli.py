"""`ctad triage`, `ctad eval-triage` and `ctad feedback`: stage two from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from ctad.triage.engine import DEFAULT_MODEL, DEFAULT_PRICES, Triage, TriageConfig
from ctad.triage.evidence import MAX_DEPTH, bounded
from ctad.triage.fields import empty_triage
from ctad.triage.llm import redact

BAD_LINE = "_bad_line"  # marks a row kept as its text because it could not be read; holds the reason
NOT_OBJECT = "input line is not a JSON object"
TOO_DEEP = "input line is nested too deeply to parse; row passed through untriaged"


def _read_jsonl(path: str) -> Iterator[Dict[str, Any]]:
    """Rows of a JSON-lines file; a line that is not a readable JSON object is kept as {"_raw": line} (never lost).

    "Readable" includes depth: ctad detect writes back events nested deeper than Python's parser accepts
    (RecursionError, not ValueError), and those rows must come out too.
    """
    fh = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        for line in fh:
            if not line.strip():
                continue
            reason = NOT_OBJECT
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            except RecursionError:  # valid JSON, only deeper than the parser goes: the text is an object
                row, reason = None, TOO_DEEP
            yield row if isinstance(row, dict) else {"_raw": line.rstrip("\n"), BAD_LINE: reason}
    finally:
        if fh is not sys.stdin:
            fh.close()


def _dump_row(row: Dict[str, Any]) -> str:
    """One output line; every row gets one, whatever it holds.

    A row kept as text because it could not be parsed comes out as its original JSON object with the triage
    fields appended, so its detector fields stay where downstream tools look for them. A parsed row that cannot
    be serialised (nesting the encoder refuses) comes out cut to a bounded depth, with the reason.
    """
    reason = row.pop(BAD_LINE, None)
    if reason:
        fields = dict(row, **empty_triage(str(reason)))
        text = str(row.get("_raw", ""))
        body = text.strip()
        if reason == TOO_DEEP and body.startswith("{") and body.endswith("}"):
            extra = json.dumps({k: v for k, v in fields.items() if k != "_raw"})
            return body[:-1] + ", " + extra[1:]
        return json.dumps(fields, default=str)
    try:
        return json.dumps(row, default=str)
    except (RecursionError, ValueError) as exc:
        note = f"row cut to {MAX_DEPTH} levels for output: {type(exc).__name__}"
        cut = bounded(row)
        cut["triage_error"] = "; ".join(e for e in (str(cut.get("triage_error") or ""), note) if e)
        return json.dumps(cut, default=str)


def add_triage_arguments(p: argparse.ArgumentParser) -> None:
    """The backend, cache and knowledge options every triage door takes (`ctad triage`, `ctad elastic triage`)."""
    g = p.add_argument_group("backend")
    g.add_argument(
        "--backend",
        choices=("auto", "offline", "anthropic"),
        default="auto",
        help="auto: Claude when ANTHROPIC_API_KEY is set, else the offline expert",
    )
    g.add_argument("--model", default=os.environ.get("CTAD_TRIAGE_MODEL", DEFAULT_MODEL))
    g.add_argument("--base-url", default=os.environ.get("ANTHROPIC_BASE_URL", ""))
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per API call")
    g.add_argument(
        "--retries", type=int, default=2, help="retries on 429/529/5xx/timeouts (never on spend limit)"
    )
    g.add_argument("--transport", choices=("auto", "sdk", "stdlib"), default="auto")
    g.add_argument("--concurrency", type=int, default=4)
    g.add_argument("--batch", action="store_true", help="use the Message Batches API (half price, slow)")
    g.add_argument(
        "--max-rows",
        type=int,
        default=200,
        help="triage at most this many flagged rows (whole incidents, strongest first)",
    )
    g.add_argument("--cache", default=str(Path.home() / ".ctad" / "triage_cache.sqlite"))
    g.add_argument("--no-cache", action="store_true")
    g.add_argument("--cache-ttl", type=float, default=86400.0, help="seconds")
    g.add_argument("--kb", default=None, help="knowledge base (SQLite); default ~/.ctad/knowledge.sqlite")
    g.add_argument("--profile", default=None, help="baseline profile (ctad baseline) for identity history")
    g.add_argument("--lookups-dir", default=None)
    g.add_argument("--agents-dir", default=None)
    for name, value in DEFAULT_PRICES.items():
        g.add_argument(
            f"--price-{name.replace('_', '-')}",
            type=float,
            default=value,
            help="USD per million tokens" if name != "batch_discount" else "batch price factor",
        )
    g.add_argument("--stats", default=None, help="write run statistics (JSON) here")


def _config(args: argparse.Namespace) -> TriageConfig:
    prices = {k: getattr(args, "price_" + k) for k in DEFAULT_PRICES}
    return TriageConfig(
        backend=args.backend,
        model=args.model,
        base_url=args.base_url,
        timeout=args.timeout,
        retries=args.retries,
        transport=args.transport,
        max_rows=args.max_rows,
        concurrency=args.concurrency,
        batch=args.batch,
        cache_ttl_s=args.cache_ttl,
        prices=prices,
        agents_dir=args.agents_dir,
        lookups_dir=args.lookups_dir,
        profile_path=args.profile,
    )


def build_triage(args: argparse.Namespace) -> Triage:
    """The triage engine the options of `add_triage_arguments` describe."""
    from ctad.knowledge import KnowledgeBase
    from ctad.triage.cache import SQLiteCache

    cache = None if args.no_cache else SQLiteCache(Path(args.cache), args.cache_ttl)
    kb = KnowledgeBase(Path(args.kb) if args.kb else None)
    return Triage(_config(args), cache=cache, knowledge=kb)


def _print_stats(stats: Dict[str, Any], out: Any = None) -> None:
    out = out or sys.stderr
    print(
        f"triage: {stats['triaged']}/{stats['flagged']} flagged rows triaged in {stats['groups']} group(s) "
        f"({stats['cached_groups']} cached, {stats['fallback_groups']} fell back to offline); "
        f"{stats['latency_per_alert_ms']} ms/alert, {stats['calls_per_alert']} calls/alert, "
        f"${stats['cost_per_1000_alerts_usd']}/1000 alerts",
        file=out,
    )
    for e in stats["errors"][:5]:
        print(f"  error: {redact(e)}", file=out)


def cmd_triage(args: argparse.Namespace) -> int:
    try:
        engine = build_triage(args)
    except (ValueError, OSError) as exc:
        print(redact(f"ctad triage: {exc}"), file=sys.stderr)
        return 2
    rows = list(_read_jsonl(args.input))
    out_rows = engine.run(rows)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for row in out_rows:
            out.write(_dump_row(row) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    stats = engine.stats.as_dict()
    stats["backend"] = engine.backend_name
    _print_stats(stats)
    if args.stats:
        Path(args.stats).write_text(json.dumps(stats, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ctad.triage.evalset import build, metrics

    if args.input:
        rows = list(_read_jsonl(args.input))
    else:
        shared = Path(args.shared) if args.shared else Path(__file__).resolve().parents[4] / "shared" / "data"
        folder = shared / "cloudtrail" if (shared / "cloudtrail").is_dir() else shared
        if not folder.is_dir():
            print(f"ctad eval-triage: no detections file given and {folder} not found", file=sys.stderr)
            return 2
        rows = build(folder)
    args.max_rows = max(args.max_rows, len(rows)) if args.all else args.max_rows
    try:
        engine = build_triage(args)
    except (ValueError, OSError) as exc:
        print(redact(f"ctad eval-triage: {exc}"), file=sys.stderr)
        return 2
    out_rows = engine.run(rows)
    report = {"backend": engine.backend_name, "metrics": metrics(out_rows), "run": engine.stats.as_dict()}
    text = json.dumps(report, indent=2)
    if args.output:
        Path(args.output).write_text(text)
    print(text)
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from ctad.knowledge import KnowledgeBase, export_labels

    kb = KnowledgeBase(Path(args.kb) if args.kb else None)
    if args.feedback_cmd == "add":
        identity, api, ip, ua = args.identity or "", args.api or "", "", ""
        if args.source:  # take the pattern from the triaged (or detected) row with this event id
            from ctad.triage.evidence import read_event

            for row in _read_jsonl(args.source):
                try:
                    ev, _ = read_event(row)
                except Exception:
                    continue
                if ev.get("event_id") == args.event_id:
                    identity = identity or ev["identity"]
                    api = api or ev["api"]
                    ip, ua = ev.get("ip", ""), ev.get("user_agent", "")
                    break
            else:
                print(f"ctad feedback: event {args.event_id} not found in {args.source}", file=sys.stderr)
        try:
            rec = kb.add(
                event_id=args.event_id or "",
                verdict=args.verdict,
                identity=identity,
                api=api,
                source_ip=ip,
                user_agent=ua,
                note=args.note or "",
                analyst=args.analyst or "",
            )
        except ValueError as exc:
            print(f"ctad feedback: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(rec))
        return 0
    out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for line in export_labels(kb.all()):
            out.write(line + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("triage", help="explain flagged rows, remove false positives, draft responses")
    p.add_argument("input", help="detection output (JSON lines; '-' for stdin)")
    p.add_argument("--output", "-o", default="-", help="JSON lines out (every input row, triage_* added)")
    add_triage_arguments(p)
    p.set_defaults(func=cmd_triage)

    e = subparsers.add_parser("eval-triage", help="triage quality on labelled detections (offline or Claude)")
    e.add_argument(
        "input",
        nargs="?",
        default=None,
        help="labelled detection rows (_label 0/1); default: built from ../shared/data/cloudtrail",
    )
    e.add_argument("--shared", default=None, help="shared data directory to build the set from")
    e.add_argument("--all", action="store_true", default=True, help="triage every row (ignore --max-rows)")
    e.add_argument("--output", "-o", default=None, help="write the report (JSON) here")
    add_triage_arguments(e)
    e.set_defaults(func=cmd_eval, no_cache=True)

    f = subparsers.add_parser(
        "feedback", help="analyst verdicts for the knowledge base (reused by triage/train)"
    )
    fs = f.add_subparsers(dest="feedback_cmd", required=True)
    a = fs.add_parser("add", help="record an analyst verdict")
    a.add_argument("--event-id", required=True)
    a.add_argument(
        "--verdict", required=True, choices=("true_positive", "false_positive", "benign_true_positive")
    )
    a.add_argument(
        "--from", dest="source", default=None, help="JSONL holding the event (to learn its pattern)"
    )
    a.add_argument("--identity", default=None)
    a.add_argument("--api", default=None, help="eventSource:eventName")
    a.add_argument("--note", default=None)
    a.add_argument("--analyst", default=os.environ.get("USER", ""))
    a.add_argument("--kb", default=None)
    a.set_defaults(func=cmd_feedback)
    x = fs.add_parser("export", help="labels as JSON lines for ctad train --feedback")
    x.add_argument("--output", "-o", default=None)
    x.add_argument("--kb", default=None)
    x.set_defaults(func=cmd_feedback)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ctad")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))
