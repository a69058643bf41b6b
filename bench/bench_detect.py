"""Benchmark `ctad detect` end to end: simulated S3 `.json.gz` files in, enriched JSON lines out.

Measures events/s and peak RSS for the pure-Python and numpy model paths, and peak RSS at several input sizes
to show memory stays flat. Run from the repo root:

    .venv/bin/python bench/bench_detect.py --events 1000000

The simulated input is cached under --cache (default /tmp/ctad-bench) so reruns skip the simulation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def simulate(n: int, out: Path, seed: int = 11) -> Path:
    """At least `n` events: the simulator's --events is approximate (it gives ~90% of it), so ask for more."""
    target = out / f"s3-{n}-min"
    if (target / ".done").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    days = max(3, min(60, n // 40_000))
    cmd = [sys.executable, "-m", "ctad", "simulate", "--out", str(target), "--format", "s3", "--events",
           str(int(n * 1.12)), "--days", str(days), "--seed", str(seed)]  # fmt: skip
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    (target / ".done").write_text("ok")
    return target


PURE = (  # no compiled module of ours: numpy and orjson made unimportable, as on Splunk's own Python
    "import sys; sys.modules['numpy'] = sys.modules['orjson'] = None; "
    "from ctad.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _pss(pid: int) -> int:
    """Proportional set size in bytes, from smaps_rollup (one kernel summary, far cheaper than smaps)."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def warm(src: Path) -> float:
    """Read every input file, so the measured run finds the input in the page cache: the figures are the
    engine's, not the disk's. Called before every run: this VM pages out what nobody touched for a minute
    (a DAMON `pageout` scheme, kdamond), and a cold read of the 1M set doubles the read phase."""
    started = time.perf_counter()
    for path in sorted(src.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
    return time.perf_counter() - started


def run_detect(src: Path, engine: str, extra: list) -> dict:
    """One `ctad detect` run; peak memory is the proportional set size (PSS) of the process and its workers
    summed (forked workers share pages with the parent, so summing RSS would count them twice)."""
    out = Path("/tmp/ctad-bench-out.jsonl")
    summary = Path("/tmp/ctad-bench-summary.json")
    start = ["-m", "ctad"] if engine == "numpy" else ["-c", PURE]
    cmd = [sys.executable, *start, "detect", str(src), "-o", str(out), "-q", "--engine", engine,
           "--summary-json", str(summary)] + extra  # fmt: skip
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            total = 0
            for p in [ps] + ps.children(recursive=True):
                with contextlib.suppress(psutil.Error, OSError):
                    total += _pss(p.pid)
            peak = max(peak, total)
        except psutil.Error:
            pass
        # Reading a process's memory map holds its mmap lock: sampling every 50-250 ms slowed the measured run
        # by up to 40%; every 2 s costs nothing measurable, and memory moves slowly (flat by design). Waiting on
        # the process rather than sleeping ends the clock when the run ends, not at the next sample.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and its workers, which it waited for
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode:
        raise SystemExit(f"ctad detect failed ({proc.returncode})")
    s = json.loads(summary.read_text())
    out.unlink(missing_ok=True)
    return {
        "engine": engine,
        "workers": extra[extra.index("--workers") + 1] if "--workers" in extra else "all",
        "rows": s["rows"],
        "anomalies": s["anomalies"],
        "wall_s": round(wall, 1),
        "events_per_s": round(s["rows"] / wall),
        "cpu_s": round(cpu_s, 1),
        "peak_pss_mb": round(peak / 2**20),
        "phases": s.get("phases"),
        "command": " ".join(cmd),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--cache", default="/tmp/ctad-bench")
    ap.add_argument("--engines", default="numpy,python")
    ap.add_argument("--flat", default="250000,500000", help="smaller sizes for the memory-flatness check")
    ap.add_argument(
        "--workers", default="0,1", help="worker settings to compare (0: one per core, 1: no workers)"
    )
    args = ap.parse_args()
    cache = Path(args.cache)
    results = []
    sizes = [int(x) for x in args.flat.split(",") if x] + [args.events]
    for n in sizes:
        src = simulate(n, cache)
        engines = args.engines.split(",") if n == args.events else ["numpy"]
        workers = args.workers.split(",") if n == args.events else ["0"]
        for w in workers:
            for engine in engines:
                print(f"warmed {src} in {warm(src):.1f} s", file=sys.stderr)
                r = run_detect(src, engine, ["--workers", w])
                r["input_events"] = n
                results.append(r)
                print(json.dumps(r), flush=True)
    print("\n| input events | engine | workers | events/s | wall s | CPU s | peak PSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        w = "one per core" if r["workers"] == "0" else r["workers"]
        print(f"| {r['input_events']:,} | {r['engine']} | {w} | {r['events_per_s']:,} | {r['wall_s']} | "
              f"{r['cpu_s']} | {r['peak_pss_mb']} |")  # fmt: skip
    print(f"\nmachine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
