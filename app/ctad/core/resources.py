"""Where the data folders are (``lookups/``, ``model/``, ``agents/``, ``samples/``): the one resolver every module
asks, so the catalogue, the reason templates, the CTI loader, the agents and the model never disagree.

Precedence, first match wins:

1. the folder's own environment variable, when it has one and it is set (``CTAD_LOOKUPS``, ``CTAD_AGENTS_DIR``;
   see ``FOLDER_ENV``). It names that folder exactly, so it is used even when it does not exist: a mistyped
   path then fails loudly with its own name instead of silently falling back to the bundled data.
2. ``$CTAD_HOME/<name>``, when ``CTAD_HOME`` is set and that folder exists (a home may hold only some folders).
3. the repo or Splunk app root: ``<root>/<name>``, then ``<root>/bin/<name>``.

The root is three levels above this folder in both layouts:
repo checkout ``<repo>/app/ctad/core/resources.py`` with ``<repo>/lookups`` ...;
Splunk app ``<app>/bin/ctad/core/resources.py`` with ``<app>/lookups`` ... (Splunk's own lookup folder).

When nothing exists the first candidate is returned, so the caller's "not found" message names the place that
was meant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional

__all__ = ["FOLDER_ENV", "ROOT", "candidates", "find_dir"]

ROOT = Path(__file__).resolve().parents[3]  # the repo or the Splunk app

#: The folders that have a variable of their own (older than CTAD_HOME, kept because deployments set them).
FOLDER_ENV: Dict[str, str] = {"lookups": "CTAD_LOOKUPS", "agents": "CTAD_AGENTS_DIR"}


def candidates(
    name: str, root: Optional[Path] = None, environ: Optional[Mapping[str, str]] = None
) -> List[Path]:
    """Where `name` may be, in precedence order (see the module docstring)."""
    env = os.environ if environ is None else environ
    var = FOLDER_ENV.get(name)
    if var and env.get(var):
        return [Path(env[var])]
    base = Path(root) if root is not None else ROOT
    out: List[Path] = []
    home = env.get("CTAD_HOME")
    if home:
        out.append(Path(home) / name)
    out += [base / name, base / "bin" / name]
    return out


def find_dir(name: str, root: Optional[Path] = None, environ: Optional[Mapping[str, str]] = None) -> Path:
    """The first existing `name` folder among `candidates`; the first candidate when none exists.

    `root` stands for the repo/app root and `environ` for ``os.environ`` (tests of other layouts).
    """
    paths = candidates(name, root, environ)
    for path in paths:
        if path.is_dir():
            return path
    return paths[0]
