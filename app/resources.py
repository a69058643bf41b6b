"""Where the data files are, both in a source checkout and when vendored into a Splunk app.

Repo: `<repo>/app/*.py` with `<repo>/model`, `<repo>/lookups`, `<repo>/agents`.
Splunk app: `<app>/bin/ctad/*.py` with `<app>/model`, `<app>/lookups`, `<app>/agents`.
`CTAD_HOME` overrides both (a directory holding those folders).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

_HERE = Path(__file__).resolve().parent


def candidates(name: str) -> List[Path]:
    out = []
    home = os.environ.get("CTAD_HOME")
    if home:
        out.append(Path(home) / name)
    out += [_HERE.parent / name, _HERE.parent.parent / name, _HERE / name]
    return out


def find_dir(name: str) -> Path:
    """The first existing `name` directory among the known places; the repo's place if none exists."""
    for path in candidates(name):
        if path.is_dir():
            return path
    return candidates(name)[0] if os.environ.get("CTAD_HOME") else _HERE.parent / name
