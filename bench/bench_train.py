"""Benchmark the full retrain: simulate, featurise, evaluate on every split, train, export. From the repo root:

    .venv/bin/python bench/bench_train.py --events 1500000 --days 30

Runs `ctad train` in a child process (so the figures are what a user sees), samples its peak RSS with psutil,
and prints the pipeline's own per-stage wall time and peak RSS (from the written leaderboard.json) next to the
total. Budget from the issue: 1.5 M events in under 10 minutes on a 2-core machine. Use --out model/ to ship.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_500_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="", help="model directory (default: a temporary one)")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds; exit 1 when over")
    ap.add_argument("extra", nargs="*", help="extra `ctad train` arguments after --")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="ctad-bench-train-"))
    cmd = [sys.executable, "-m", "ctad", "train", "--out", str(out), "--simulate-events", str(args.events),
           "--days", str(args.days), "--seed", str(args.seed), *args.extra]  # fmt: skip
    print("+", " ".join(cmd), file=sys.stderr)
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, ps.memory_info().rss)
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if proc.returncode:
        print(f"ctad train failed ({proc.returncode})", file=sys.stderr)
        return proc.returncode
    report = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    print(f"\nctad train on {args.events:,} simulated events over {args.days} days, {os.cpu_count()} cores")
    print(f"{'stage':<26}{'seconds':>10}{'peak RSS MB':>14}")
    for st in report["stages"]:
        print(f"{st['stage']:<26}{st['seconds']:>10.1f}{st['peak_rss_mb']:>14.0f}")
    print(f"{'total (wall)':<26}{wall:>10.1f}{peak / 2**20:>14.0f}")
    rows = report["rows_by_mode"]
    print(f"rows: {rows}; model {report['version']} ({report['size_bytes']:,} bytes)")
    print(f"budget {args.budget:.0f} s: {'met' if wall <= args.budget else 'MISSED'}")
    return 0 if wall <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
