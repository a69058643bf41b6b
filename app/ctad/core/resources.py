"""Where the data files are, both in a source checkout and when vendored into a Splunk app.

Repo: `<repo>/app/ctad/core/*.py` with `<repo>/model`, `<repo>/lookups`, `<repo>/agents`.
Splunk app: `<app>/bin/ctad/core/*.py` with `<app>/model`, `<app>/lookups`, `<app>/agents`.
Both put the data folders three levels above this folder.
`CTAD_HOME` overrides both (a directory holding those folders).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

_ROOT = Path(__file__).resolve().parents[3]  # the repo or the Splunk app


def candidates(name: str) -> List[Path]:
    out = []
    home = os.environ.get("CTAD_HOME")
    if home:
        out.append(Path(home) / name)
    out += [_ROOT / name, _ROOT / "bin" / name]
    return out


def find_dir(name: str) -> Path:
    """The first existing `name` directory among the known places; the repo's place if none exists."""
    for path in candidates(name):
        if path.is_dir():
            return path
    return candidates(name)[0] if os.environ.get("CTAD_HOME") else _ROOT / name
