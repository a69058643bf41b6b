"""Fixtures for the property-based fuzz suite: one bundled-model detector per session (loading it is the slow
part; a run holds no state between examples, so sharing the Detector is safe)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("hypothesis")

# Hypothesis (6.170) formats a failing example for its report once more, outside the stack allowance it gives
# the test itself and without the `nested(...)` printers, by recursing through the value: a failure on an
# example holding a value nested ~1,000 levels (deep_values() draws 1,000 and 1,023) was reported as a
# RecursionError in hypothesis/vendor/pretty.py, hiding the real failure. Enough stack for that repr (about six
# frames a level, as pure-Python frames that use no C stack on 3.11+). The product decides nesting from the
# text, not from how deep a parser gets (bounded.text_too_deep), so this limit cannot change a result.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))


@pytest.fixture(scope="session")
def detector():
    from ctad.detect import Detector

    # a small memory budget so runs of a few dozen rows already spill sorted runs to disk
    return Detector(max_memory_rows=16)


@pytest.fixture(scope="session")
def explain_all(detector):
    """Threshold 0: every scored row is an anomaly and gets reasons."""
    from ctad.detect import Detector

    return Detector(threshold=0.0, max_memory_rows=16, catalog=detector.catalog, bundle=detector.bundle)


@pytest.fixture(scope="session")
def normalizer(detector):
    return detector.normalizer
