"""Benchmark (not a test): stream N detection rows through `ctad report` and show memory stays flat.

    .venv/bin/python bench/bench_report.py --rows 1000000            # aggregator + render, in process
    .venv/bin/python bench/bench_report.py --rows 200000 --via-file  # write JSONL, then the CLI path

Rows have 5% anomalies, ~50k distinct identities and reasons that embed values (high cardinality on purpose).
Peak RSS is printed at 10% and 100% of the input: a streaming report keeps them close. Figures are noisy on a
shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

from ctad.report.aggregate import Aggregator
from ctad.report.render import render

SEVS = ("critical", "high", "medium", "low", "informational")


def gen(n: int):
    base = 1_714_000_000
    for i in range(n):
        anomaly = i % 20 == 0
        yield {
            "eventTime": base + i * 3,
            "eventID": f"e{i}",
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateAccessKey" if anomaly else "GetUser",
            "sourceIPAddress": f"198.51.{i % 200}.{i % 250}",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            "ct_score": (i * 7919 % 100_000) / 100_000 if anomaly else 0.01,
            "ct_anomaly": int(anomaly),
            "ct_severity": SEVS[i % 5] if anomaly else "informational",
            "ct_reasons": [f"new source IP 198.51.{i % 200}.{i % 250}", "first CreateAccessKey"]
            if anomaly
            else [],
            "ct_tactic": "TA0003" if anomaly else "",
            "ct_technique": "T1098.001" if anomaly else "",
            "ct_identity": f"arn:aws:iam::123456789012:user/u{i % 50_000}",
            "ct_model": "bench",
            "ct_error": "",
        }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--via-file", action="store_true")
    args = ap.parse_args()
    if args.via_file:
        from ctad.report.cli import cmd_report

        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "rows.jsonl")
            with open(src, "w") as fh:
                for row in gen(args.rows):
                    fh.write(json.dumps(row) + "\n")
            t0 = time.perf_counter()
            ns = argparse.Namespace(inputs=[src], output=os.path.join(tmp, "r.html"), top=200, title="bench")
            cmd_report(ns)
            elapsed = time.perf_counter() - t0
            size = os.path.getsize(ns.output)
        print(
            f"{args.rows:,} rows via file in {elapsed:.1f} s = {args.rows / elapsed:,.0f} rows/s; "
            f"html {size / 1024:.0f} KB; peak RSS {rss_mb():.0f} MB"
        )
        return
    agg = Aggregator()
    t0 = time.perf_counter()
    tenth = max(1, args.rows // 10)
    for i, row in enumerate(gen(args.rows), 1):
        agg.add(row)
        if i == tenth:
            print(f"after {i:,} rows: peak RSS {rss_mb():.0f} MB", file=sys.stderr)
    agg_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    html = render(agg.finish(title="bench"))
    render_s = time.perf_counter() - t1
    print(
        f"{args.rows:,} rows aggregated in {agg_s:.1f} s = {args.rows / agg_s:,.0f} rows/s; render {render_s:.2f} s; "
        f"html {len(html) / 1024:.0f} KB; peak RSS {rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
