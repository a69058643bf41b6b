"""`ctad demo`: the whole product on the bundled sample account, in one command.

detect (hunting mode: no prior baseline, the profile comes from the sample itself) -> triage (offline expert
unless ANTHROPIC_API_KEY is set) -> one HTML report. Every step is the same CLI a user runs by hand; the demo
prints those commands so a newcomer can repeat them on their own logs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List

from ctad.core.resources import find_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run detect -> triage -> report on the bundled sample account")
    p.add_argument("--out", default="out/demo", help="directory for the outputs (default out/demo)")
    p.add_argument("--input", help="CloudTrail to use instead of the bundled sample")
    p.add_argument("--backend", default="auto", choices=("auto", "offline", "anthropic"))
    p.set_defaults(func=cmd_demo)


def sample_path() -> Path:
    return find_dir("samples") / "sample_account.jsonl.gz"


def _run(argv: List[str]) -> None:
    from ctad.cli import main

    print("$ ctad " + " ".join(argv), file=sys.stderr, flush=True)
    code = main(argv)
    if code:
        raise SystemExit(code)


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(args.input) if args.input else sample_path()
    if not src.exists():
        print(f"ctad demo: {src} is missing; simulating a small account instead", file=sys.stderr)
        src = out / "sample_account.jsonl.gz"
        _run(
            [
                "simulate",
                "--out",
                str(src),
                "--format",
                "jsonl",
                "--days",
                "14",
                "--events",
                "60000",
                "--seed",
                "7",
            ]
        )
    detections = out / "detections.jsonl"
    triaged = out / "triaged.jsonl"
    report = out / "report.html"
    _run(["detect", str(src), "--output", str(detections), "--summary-json", str(out / "summary.json")])
    _run(["triage", str(detections), "--output", str(triaged), "--backend", args.backend,
          "--cache", str(out / "triage-cache.sqlite"), "--kb", str(out / "knowledge.sqlite")])  # fmt: skip
    _run(["report", str(triaged), "--output", str(report), "--title", "ctad demo: simulated account"])
    print("\nTop anomalies (score, severity, identity, API, first reasons, triage verdict):", file=sys.stderr)
    rows = []
    with open(triaged, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("ct_anomaly") == 1:
                rows.append(row)
    rows.sort(key=lambda r: -(r.get("ct_score") or 0))
    for row in rows[:8]:
        reasons = "; ".join(row.get("ct_reasons") or [])[:160]
        print(
            f"  {row['ct_score']:.3f} {row['ct_severity']:<8} {row['ct_identity'][:60]:<60} "
            f"{row.get('eventSource', '')}:{row.get('eventName', '')}\n      {reasons}\n"
            f"      triage: {row.get('triage_verdict') or '-'} ({row.get('triage_backend') or '-'})",
            file=sys.stderr,
        )
    print(f"\nreport: {report.resolve()}", file=sys.stderr)
    return 0
