"""The simulated S3 sample the micro-benchmarks read: made once by bench_detect.py's simulator, then cached."""

from __future__ import annotations

from pathlib import Path


def sample_data(events: int = 250_000, cache: str = "/tmp/ctad-bench") -> Path:
    """Simulated S3 `.json.gz` files with at least `events` events (simulated now if not cached)."""
    from bench_detect import simulate

    return simulate(events, Path(cache))
