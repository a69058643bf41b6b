"""Make `import ctad` work for bin/*.py entry points, in the packaged app and in a repo checkout.

Packaged app: `<app>/bin/ctad/` (vendored) sits next to this file. Repo checkout / tests: load the package from
`<repo>/app` under the name `ctad`, so a git worktree's tests exercise that worktree's code.
"""

from __future__ import annotations

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def setup() -> None:
    for path in (os.path.join(HERE, "lib"), HERE):  # bin/lib: vendored pure-Python dependencies, if any
        if path not in sys.path:
            sys.path.insert(0, path)
    if os.path.isfile(os.path.join(HERE, "ctad", "__init__.py")) or "ctad" in sys.modules:
        return
    app = os.path.join(os.path.dirname(HERE), "app")
    spec = importlib.util.spec_from_file_location(
        "ctad", os.path.join(app, "__init__.py"), submodule_search_locations=[app]
    )
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot load ctad from {app}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ctad"] = module
    spec.loader.exec_module(module)
