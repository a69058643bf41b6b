"""Make `import ctad` work for bin/*.py entry points, in the packaged app and in a repo checkout.

Packaged app: the engine is vendored as `<app>/bin/ctad/`, next to this file, with pure-Python libraries in
`<app>/bin/lib/`. Repo checkout and tests: the package is `<repo>/app/ctad/`, so `<repo>/app` goes first on the
path and a git worktree's tests exercise that worktree's code, whatever is installed in site-packages.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def setup() -> None:
    checkout = os.path.join(os.path.dirname(HERE), "app")
    vendored = os.path.isfile(os.path.join(HERE, "ctad", "__init__.py"))
    paths = [os.path.join(HERE, "lib"), HERE] if vendored else [os.path.join(HERE, "lib"), checkout]
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
