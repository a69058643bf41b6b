"""Fixtures for the property-based fuzz suite: one bundled-model detector per session (loading it is the slow
part; a run holds no state between examples, so sharing the Detector is safe)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("hypothesis")


@pytest.fixture(autouse=True)
def stack_for_failure_reports():
    """Hypothesis (6.170) formats a failing example for its report once more, outside the stack allowance it
    gives the test itself and without the `nested(...)` printers, by recursing through the value: a failure on
    an example holding a value nested ~1,000 levels (deep_values() draws 1,000 and 1,023) was reported as a
    RecursionError in hypothesis/vendor/pretty.py, hiding the real failure. This gives that repr enough stack
    (about six pure-Python frames a level) for the fuzz tests only: the rest of the suite keeps the default."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))
    yield
    sys.setrecursionlimit(old)


@pytest.fixture(scope="session")
def detector():
    from ctad.engine.detect import Detector

    # a small memory budget so runs of a few dozen rows already spill sorted runs to disk
    return Detector(max_memory_rows=16)


@pytest.fixture(scope="session")
def explain_all(detector):
    """Threshold 0: every scored row is an anomaly and gets reasons."""
    from ctad.engine.detect import Detector

    return Detector(threshold=0.0, max_memory_rows=16, catalog=detector.catalog, bundle=detector.bundle)


@pytest.fixture(scope="session")
def normalizer(detector):
    return detector.normalizer
