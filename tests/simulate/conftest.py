"""Fixtures for the simulator tests: one small labelled run shared by the read-only checks."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from ctad.simulate import SimConfig, generate


def small_config(**kw: Any) -> SimConfig:
    base: Dict[str, Any] = dict(seed=11, days=10, events=25_000, campaigns=18)
    base.update(kw)
    return SimConfig(**base)


@pytest.fixture(scope="session")
def small_run() -> List[Dict[str, Any]]:
    return list(generate(small_config()))
