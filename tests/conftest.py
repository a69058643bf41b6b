"""Shared test fixtures: where the repo and ../shared are, and a skip when shared data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is absent in this checkout")
    return path


# Hypothesis profiles for tests/fuzz, registered here because the hypothesis plugin loads
# `--hypothesis-profile=NAME` before conftests below tests/ are read. "ci" (default) is bounded and derandomized,
# so a run is reproducible and quick; "long" (CTAD_FUZZ=long or --hypothesis-profile=long) searches far more
# examples with fresh randomness and keeps failures in .hypothesis/ to replay them.
try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    pass
else:
    import os

    _quiet_checks = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile(
        "ci", max_examples=30, derandomize=True, database=None, deadline=None, print_blob=True,
        suppress_health_check=_quiet_checks,
        # no shrinking: a failure shows the example as found (the same one on every run, derandomized) in
        # seconds, where shrinking a big hostile example can take a minute; the long profile shrinks
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )  # fmt: skip
    settings.register_profile(
        "long", max_examples=30 * 25, derandomize=False, deadline=None, print_blob=True,
        suppress_health_check=_quiet_checks,
    )  # fmt: skip
    settings.load_profile("long" if os.environ.get("CTAD_FUZZ") == "long" else "ci")
