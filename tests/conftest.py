"""Shared test fixtures: where the repo and ../shared are, and a skip when shared data is absent."""

from __future__ import annotations

import functools
import glob
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Callable, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# tests/ on the path (last, so nothing here shadows an installed module): every test folder imports the one
# CloudTrail event builder as `from cloudtrail_event import CloudTrailEvent`
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def _pyenv_python(version: str) -> Optional[str]:
    """A working pyenv Python of that minor version (Splunk's 3.9 and 3.13), or None: a shim may exist without
    working, so the interpreter itself is asked."""
    for path in sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python"))):
        out = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        if out.returncode == 0 and out.stdout.strip() == version:
            return path
    return None


@pytest.fixture(scope="session")
def pyenv_python() -> Callable[[str], Optional[str]]:
    """`pyenv_python("3.9")`: the interpreter's path, or None when this machine has none."""
    return functools.lru_cache(maxsize=None)(_pyenv_python)


@pytest.fixture(scope="session")
def built_app(tmp_path_factory) -> Path:
    """The installable Splunk app as `package.sh` builds it, unpacked: built once per test session, since the
    build vendors libraries and takes tens of seconds."""
    out = subprocess.run(["bash", str(REPO / "package.sh")], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, PYTHON=sys.executable), timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (tgz,) = (REPO / "dist").glob("ctad_cloudtrail-*.tgz")
    dest = tmp_path_factory.mktemp("built")
    with tarfile.open(tgz) as tar:
        tar.extractall(dest)
    return dest / "ctad_cloudtrail"


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
