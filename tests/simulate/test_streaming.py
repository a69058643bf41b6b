"""Streaming: peak memory does not grow with the number of events (bounded per-actor state)."""

from __future__ import annotations

import tracemalloc

from ctad.simulate import SimConfig, generate


def _peak(days: int) -> tuple:
    cfg = SimConfig(
        seed=9,
        days=days,
        events=days * 700,
        accounts=2,
        humans=6,
        ci_roles=2,
        instances=2,
        functions=2,
        scanners=1,
        campaigns=2,
    )
    tracemalloc.start()
    n = 0
    for _rec in generate(cfg):
        n += 1
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return n, peak


def test_peak_memory_flat() -> None:
    n_small, small = _peak(3)
    n_large, large = _peak(18)
    assert n_large > 4 * n_small
    # six times more events must not need anything like six times the memory
    assert large < 1.6 * small + 2_000_000, (n_small, small, n_large, large)
