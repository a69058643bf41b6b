"""On-disk cache of a parsed model and its compiled scoring code, shared by search processes.

Why: every Splunk search starts a fresh Python process. Parsing a 300-tree model and compiling its generated
code costs ~0.3-2 s there; unmarshalling both from this cache costs ~10-30 ms. Entries are keyed by
the model file's SHA-256, the runtime's own source and the interpreter's bytecode tag, so a changed model, a
changed runtime or another Python version never reuses a stale entry.

The cache directory must be writable only by us (e.g. the app's own ``var`` directory): its entries contain
code objects that get executed. Any unreadable or inconsistent entry is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import types
from typing import Optional, Tuple

from ctad.forest.parse import Forest, Tree

_FORMAT = 1
_RUNTIME_KEY: Optional[str] = None


def _runtime_key() -> str:
    global _RUNTIME_KEY
    if _RUNTIME_KEY is None:
        h = hashlib.sha256(f"{_FORMAT}:{sys.implementation.cache_tag}".encode())
        here = os.path.dirname(os.path.abspath(__file__))
        for name in ("runtime.py", "parse.py", "cache.py"):
            try:
                with open(os.path.join(here, name), "rb") as fh:
                    h.update(fh.read())
            except OSError:
                h.update(name.encode())
        _RUNTIME_KEY = h.hexdigest()
    return _RUNTIME_KEY


def entry_path(cache_dir: str, digest: str) -> str:
    key = hashlib.sha256((digest + _runtime_key()).encode()).hexdigest()[:40]
    return os.path.join(cache_dir, f"ctad-model-{key}.{sys.implementation.cache_tag}.marshal")


def _forest_to_data(forest: Forest) -> tuple:
    trees = tuple(
        (t.feature, t.thr, t.nan_left, t.zero_left, t.cats, t.left, t.right, t.value, t.depth)
        for t in forest.trees
    )
    return (
        forest.format,
        forest.feature_names,
        forest.base,
        forest.sigmoid_scale,
        forest.divisor,
        forest.objective,
        trees,
    )


def _forest_from_data(data: tuple) -> Forest:
    fmt, names, base, scale, divisor, objective, trees_data = data
    trees = []
    for feature, thr, nan_left, zero_left, cats, left, right, value, depth in trees_data:
        tree = Tree()
        tree.feature, tree.thr, tree.nan_left, tree.zero_left = feature, thr, nan_left, zero_left
        tree.cats, tree.left, tree.right, tree.value, tree.depth = cats, left, right, value, depth
        trees.append(tree)
    return Forest(fmt, list(names), trees, base, sigmoid_scale=scale, divisor=divisor, objective=objective)


def load(cache_dir: str, digest: str) -> Optional[Tuple[Forest, types.CodeType]]:
    """The cached (forest, code) for this model file, or None."""
    try:
        with open(entry_path(cache_dir, digest), "rb") as fh:
            entry = marshal.loads(fh.read())  # one read: marshal.load(fh) reads piecemeal, 5x slower
        tag, data, code = entry
        if tag != (_FORMAT, digest) or not isinstance(code, types.CodeType):
            return None
        return _forest_from_data(data), code
    except Exception:  # absent, truncated or foreign entry: recompute (never fail a search over a cache)
        return None


def store(cache_dir: str, digest: str, forest: Forest, code: types.CodeType) -> None:
    """Write atomically (rename); a read-only or full directory only costs the speed-up."""
    path = entry_path(cache_dir, digest)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(marshal.dumps(((_FORMAT, digest), _forest_to_data(forest), code)))
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.remove(tmp)
