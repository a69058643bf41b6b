"""Benchmark for ctad.core.catalog (not a test: run it, read the numbers; they are noisy on a shared 2-core box).

    .venv/bin/python bench/bench_ua_family.py [--n 100000]

Measures Catalog.load(), api() lookups, ua_family() on the shared corpora's real user-agent mix (cached after
the first sighting, the production case) and on all-distinct user agents (cache defeated: the worst case an
attacker can force by randomising the string).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ctad.core.catalog import Catalog

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cloudtrail"


def _timed(label: str, n: int, fn) -> None:
    start = time.perf_counter()
    fn()
    secs = time.perf_counter() - start
    print(f"{label:<48} {n:>8} calls {secs:7.3f} s  {secs / n * 1e6:8.2f} us/call")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    n = ap.parse_args().n
    start = time.perf_counter()
    cat = Catalog.load()
    print(f"Catalog.load(): {(time.perf_counter() - start) * 1000:.1f} ms  {cat!r}")
    uas, pairs = [], []
    for name in ("panther_rule_tests.jsonl", "stratus_detonations.jsonl", "traildiscover.jsonl"):
        path = SHARED / name
        if path.exists():
            for line in path.open(encoding="utf-8"):
                rec = json.loads(line)
                uas.append(rec.get("userAgent"))
                pairs.append((rec.get("eventSource") or "", rec.get("eventName") or ""))
    uas = uas or ["aws-cli/2.13.0 Python/3.11.4 Linux/5.10.0 exe/x86_64.ubuntu.22"]
    pairs = pairs or [("iam.amazonaws.com", "CreateAccessKey")]
    mix = [uas[i % len(uas)] for i in range(n)]
    api_calls = [pairs[i % len(pairs)] for i in range(n)]
    _timed("api() real mix", n, lambda: [cat.api(s, e) for s, e in api_calls])
    _timed(f"ua_family() real mix ({len(set(uas))} distinct)", n, lambda: [cat.ua_family(u) for u in mix])
    templates = [
        "aws-cli/2.32.3 md/awscrt#0.28.4 ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.13.9 m/E,g,C md/command#{}",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0 Safari/537.36",
        "Boto3/1.34.{} md/Botocore#1.34.0 ua/2.0 os/linux#6.6 md/arch#x86_64 lang/python#3.11.6 Botocore/1.34.0",
        "random-garbage-{}-" + "z" * 300,
    ]
    for t in templates:
        fresh = Catalog.load()
        distinct = [t.format(i) for i in range(n)]
        _timed(f"ua_family() distinct {t[:28]!r}", n, lambda c=fresh, d=distinct: [c.ua_family(u) for u in d])


if __name__ == "__main__":
    main()
