"""Benchmark `ctad simulate`: events/s (generation only, and generation + writing) and peak RSS.

    .venv/bin/python bench/bench_simulate.py --events 1000000 --days 30

Figures are noisy on a shared 2-core machine; run twice and report both.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

from ctad.simulate import SimConfig, generate, plan, write_jsonl, write_s3_tree


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / (1024.0 * 1024.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", choices=["none", "jsonl", "jsonl.gz", "s3"], default="jsonl.gz")
    ap.add_argument("--out", default=None, help="directory for output (default: a temp dir, removed)")
    args = ap.parse_args()
    cfg = SimConfig(seed=args.seed, days=args.days, events=args.events)
    t0 = time.perf_counter()
    p = plan(cfg)
    t_plan = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        t0 = time.perf_counter()
        c0 = time.process_time()
        if args.format == "none":
            n = sum(1 for _ in generate(cfg, p))
        elif args.format == "s3":
            n = write_s3_tree(generate(cfg, p), os.path.join(tmp, "s3"), seed=args.seed).events
        else:
            path = os.path.join(tmp, "sim." + args.format)
            n = write_jsonl(generate(cfg, p), path).events
            size = os.path.getsize(path)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
    print(
        "format=%s events=%d days=%d humans=%d roles=%d campaigns=%d plan=%.2fs run=%.1fs rate=%.0f ev/s cpu=%.1fs "
        "cpu_rate=%.0f ev/s peak_rss=%.0f MB%s"
        % (
            args.format,
            n,
            args.days,
            len(p.humans),
            len(p.roles),
            len(p.campaigns),
            t_plan,
            dt,
            n / dt,
            cpu,
            n / cpu,
            peak_rss_mb(),
            "" if args.format in ("none", "s3") else " bytes/event=%.0f" % (size / max(n, 1)),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
