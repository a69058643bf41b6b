"""`ctad report IN.jsonl --output report.html`: one self-contained HTML page from detection/triage output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ctad.engine.readers import iter_rows
from ctad.report.render import build_report, write_atomic


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="render detections and triage results as one offline HTML page")
    p.add_argument(
        "inputs", nargs="+", help="output of `ctad detect` / `ctad triage` (JSON lines, .gz ok; - for stdin)"
    )
    p.add_argument("--output", "-o", required=True, help="HTML file to write")
    p.add_argument(
        "--top", type=int, default=200, help="anomalies kept for the table (highest score first; default 200)"
    )
    p.add_argument("--title", default="CloudTrail anomaly report", help="page title")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    if args.top < 0:
        print("ctad report: --top must be >= 0", file=sys.stderr)
        return 2
    rows = ((r.obj, r.error, r.source) for r in iter_rows(args.inputs))
    html, data = build_report(rows, top_n=args.top, title=args.title, inputs=[str(p) for p in args.inputs])
    try:
        write_atomic(args.output, html)
    except OSError as exc:
        print(f"ctad report: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    triage = f", {data.triaged} triaged" if data.triage_ran else ", triage not run"
    print(
        f"{args.output}: {data.rows} rows, {data.anomalies} anomalies{triage}, {data.unreadable} unreadable",
        file=sys.stderr,
    )
    return 0
