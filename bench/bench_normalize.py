"""Benchmark for Normalizer.from_raw (not a test: run it, read the numbers).

    .venv/bin/python bench/bench_normalize.py [--data DIR] [--files N] [--rounds R] [--ref aaa392f]

Loads the records of N S3 CloudTrail files (`{"Records": [...]}`, gzip) and times `from_raw` over all of them
with the garbage collector off, the way the engine streams them. The host is noisy, so the working-tree
`ctad.core.normalize` is compared with the one at git `--ref` (loaded from `git show REF:app/ctad/core/normalize.py` into a
temporary module) in the same process: each round is one pass per version, alternating chunk by chunk, timed
in CPU time; the first round runs on cold caches, and the best round per version is reported.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List

import orjson
from sample_data import sample_data

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("/tmp/ctad-bench/s3-250000-min")  # what bench_detect.simulate(250_000) writes


def load_records(data: Path, files: int = 0) -> List[Dict[str, Any]]:
    """The records of the first `files` (0: all) S3 files under `data`, in path order."""
    paths = sorted(data.rglob("*.json.gz"))
    if files:
        paths = paths[:files]
    records: List[Dict[str, Any]] = []
    for path in paths:
        with gzip.open(path, "rb") as fh:
            records.extend(orjson.loads(fh.read())["Records"])
    return records


def load_ref_module(ref: str = "main") -> ModuleType:
    """`app/ctad/core/normalize.py` as of git `ref`, imported as a sibling module of `ctad.core.normalize`."""
    source = subprocess.run(
        ["git", "show", f"{ref}:app/ctad/core/normalize.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tmp = Path(tempfile.mkdtemp(prefix="ctad-ref-")) / "normalize_ref.py"
    tmp.write_text(source)
    name = "ctad._normalize_ref"  # inside the package, so `from .schema import Event` resolves
    spec = importlib.util.spec_from_file_location(name, tmp)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def time_from_raw(normalizer: Any, records: List[Dict[str, Any]]) -> float:
    """CPU seconds for one pass of `from_raw` over `records`, gc off; errors are counted as work, not raised."""
    from_raw = normalizer.from_raw
    error = sys.modules["ctad.core.normalize"].NormalizeError
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time()  # CPU time: other processes on a busy host do not count
        for r in records:
            try:  # noqa: SIM105 (contextlib.suppress costs more per record than this loop measures)
                from_raw(r)
            except error:
                pass
        return time.process_time() - start
    finally:
        if gc_was:
            gc.enable()


def time_interleaved(versions: Dict[str, Any], records: List[Dict[str, Any]], chunk: int) -> Dict[str, float]:
    """One pass per version over `records`, chunk by chunk, alternating which version goes first."""
    totals = {label: 0.0 for label in versions}
    order = list(versions)
    for start in range(0, len(records), chunk):
        part = records[start : start + chunk]
        for label in order:
            totals[label] += time_from_raw(versions[label], part)
        order.reverse()
    return totals


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--files", type=int, default=0, help="how many S3 files to load (0: all)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ref", default="aaa392f", help="git ref to compare with ('' for none)")
    ap.add_argument("--chunk", type=int, default=5000, help="records timed per version before switching")
    args = ap.parse_args()

    from ctad.core import normalize as new
    from ctad.core.catalog import Catalog

    start = time.perf_counter()
    records = load_records(args.data if args.data.exists() else sample_data(), args.files)
    print(f"{len(records)} records loaded in {time.perf_counter() - start:.1f} s", flush=True)
    catalog = Catalog.load()
    versions = {"working tree": new.Normalizer(catalog)}
    if args.ref:
        versions[args.ref] = load_ref_module(args.ref).Normalizer(catalog)
    best = {label: float("inf") for label in versions}
    n = len(records)
    for rnd in range(args.rounds):
        totals = time_interleaved(versions, records, args.chunk)
        line = "  ".join(f"{label} {secs / n * 1e6:6.2f}" for label, secs in totals.items())
        print(f"round {rnd + 1} ({'cold caches' if rnd == 0 else 'warm'}): {line} us/record", flush=True)
        for label, secs in totals.items():
            best[label] = min(best[label], secs)
    print(f"best of {args.rounds} rounds (CPU time, gc off, {n} records):")
    for label, secs in best.items():
        print(f"  {label:<14} {secs / n * 1e6:7.2f} us/record")
    if args.ref:
        print(f"  speed-up       {best[args.ref] / best['working tree']:.2f}x")


if __name__ == "__main__":
    main()
