"""Fixtures for the Splunk command tests: simulated CloudTrail, a CTAD_HOME, a fake splunkd REST server."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_splunkd import FakeSplunkd  # noqa: E402
from splunk_helpers import REPO  # noqa: E402


@pytest.fixture(scope="session")
def ctad_home(tmp_path_factory) -> Path:
    """CTAD_HOME for the command subprocesses: the bundled model, a copy of lookups we may add files to."""
    home = tmp_path_factory.mktemp("ctad_home")
    os.symlink(REPO / "model", home / "model")
    shutil.copytree(REPO / "lookups", home / "lookups")
    (home / "splunk").mkdir()
    return home


@pytest.fixture(autouse=True)
def _env(ctad_home, monkeypatch):
    monkeypatch.setenv("CTAD_HOME", str(ctad_home))
    monkeypatch.setenv("SPLUNK_HOME", str(ctad_home / "splunk"))  # model cache in var/run/ctad
    monkeypatch.setenv("CTAD_KV_PAGE", "500")


@pytest.fixture(scope="session")
def records() -> List[Dict[str, Any]]:
    """Three days of simulated CloudTrail (with campaigns), oldest first."""
    from ctad.simulate import SimConfig, generate

    recs = list(generate(SimConfig(seed=21, days=3, events=2500)))
    assert len(recs) > 2000
    return recs


@pytest.fixture
def splunkd() -> Iterator[FakeSplunkd]:
    """A fake splunkd REST server on a free local port that accepts SESSION_KEY."""
    fake = FakeSplunkd()
    yield fake
    fake.close()
