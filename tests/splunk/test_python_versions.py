"""The commands on Splunk's Pythons (3.9 and 3.13) without numpy/orjson give the same answers as the venv."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest
from ctad.splunk.splunkd_sim import run_search, splunk_row
from splunk_helpers import BASELINE, DETECT


def _runs(py: str, version: str) -> bool:
    """A pyenv shim may exist without working: ask the interpreter itself."""
    try:
        out = subprocess.run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def interpreters():
    found = {}
    for version in ("3.9", "3.13"):
        cands = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
        cands.append(shutil.which(f"python{version}"))
        path = next((c for c in cands if c and _runs(c, version)), None)
        found[version] = path
    return found


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_same_answers_on_splunk_pythons(version, records, tmp_path):
    py = interpreters()[version]
    if py is None:
        pytest.skip(f"no python{version} on this machine")
    rows = [splunk_row(r) for r in reversed(records[:900])]
    ref = run_search(DETECT, [], rows, [400], str(tmp_path))[2]
    got = run_search([py] + DETECT[1:], [], rows, [1, 400], str(tmp_path))[2]
    assert got == ref
    assert sys.executable != py
    stats = [{"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "userIdentity.type": "IAMUser",
              "userIdentity.arn": "arn:aws:iam::1:user/a", "count": "3", "first": "1714557600",
              "last": "1714561200", "ctad_hour": "10", "weekend_count": "0"}]  # fmt: skip
    a = run_search(BASELINE, [], stats, [1], str(tmp_path))[2]
    b = run_search([py] + BASELINE[1:], [], stats, [1], str(tmp_path))[2]
    assert a == b and any(r["kind"] == "api" for r in b)
