"""Batch evaluation of a parsed forest with numpy: all trees, all rows, one tree level per step.

Why this shape: a Python loop per row costs tens of microseconds for a few hundred trees; here the per-row
work is a handful of vectorised gathers per tree level. Tricks that keep a level to ~6 array passes:

* nodes of all trees are renumbered so a node's two children are adjacent and a leaf is its own child
  (threshold +inf never exceeded), so every tree is walked in lock-step, one level per step;
* ``node = first[node] + (v > t[node])``: a NaN ``v`` compares False and takes the *first* child. Nodes
  whose missing values go left keep (left, right) as (first, second) and compare ``x > thr``; nodes whose
  missing values go right store (right, left) and compare ``-x > -next_up(thr)`` (i.e. ``x <= thr``) on a
  negated copy of the column. The input is widened once per batch into such "variants" of each column
  (x, -x, isnan(x), LightGBM's zero-as-missing versions, category codes), so no NaN test runs per node.

Only imported when numpy is importable; results are bit-identical to the pure-Python path (same float64
thresholds, same tree-by-tree summation order).
"""

from __future__ import annotations

import math
from typing import Any, List, Tuple

import numpy as np

from .model_runtime_parse import LGB_ZERO, Forest

# Column variants the input is widened into (only those a model uses are built).
V_X, V_NEG, V_ISNAN, V_ZX, V_ZNEG, V_ZISNAN, V_CAT = range(7)
_INT_LIMIT = 2147483648.0


def _encode(tree: Any, old: int) -> Tuple[int, float, bool]:
    """(variant, t, swapped) for an internal node; swapped means the first child is the right one."""
    thr = tree.thr[old]
    if tree.cats[old] is not None:
        return V_CAT, math.inf, True
    zl = tree.zero_left[old]
    if zl is None:
        if tree.nan_left[old]:
            return V_X, thr, False
        if thr == math.inf:  # "is the value present?" split: present -> left, NaN -> right
            return V_ISNAN, 0.5, False
        return V_NEG, -math.nextafter(thr, math.inf), True
    if zl:
        return V_ZX, thr, False
    if thr == math.inf:
        return V_ZISNAN, 0.5, False
    return V_ZNEG, -math.nextafter(thr, math.inf), True


class NumpyForest:
    """Flattened node arrays of a forest plus the batch walker."""

    def __init__(self, forest: Forest, chunk_rows: int = 512) -> None:
        self.n_features = len(forest.feature_names)
        self.base = forest.base
        self.divisor = forest.divisor
        self.chunk_rows = chunk_rows
        self.depth = max(t.depth for t in forest.trees)
        variants: List[int] = []
        thrs: List[float] = []
        feats: List[int] = []
        firsts: List[int] = []
        values: List[float] = []
        catids: List[int] = []
        cat_sets: List[frozenset] = []
        roots: List[int] = []
        for tree in forest.trees:
            # Breadth-first renumbering; a node's two children get consecutive ids (first, second).
            offset = len(values)
            roots.append(offset)
            order = [0]
            ids = {0: offset}
            codes = {}
            for old in order:  # grows while iterating
                if tree.feature[old] < 0:
                    continue
                code = _encode(tree, old)
                codes[old] = code
                first, second = tree.left[old], tree.right[old]
                if code[2]:
                    first, second = second, first
                ids[first] = offset + len(order)
                ids[second] = offset + len(order) + 1
                order.append(first)
                order.append(second)
            for old in order:
                values.append(tree.value[old])
                f = tree.feature[old]
                if f < 0:  # leaf: its own first child; nothing exceeds +inf
                    variants.append(V_X)
                    feats.append(0)
                    thrs.append(math.inf)
                    firsts.append(ids[old])
                    catids.append(-1)
                    continue
                variant, t, swapped = codes[old]
                variants.append(variant)
                feats.append(f)
                thrs.append(t)
                firsts.append(ids[tree.right[old] if swapped else tree.left[old]])
                if variant == V_CAT:
                    catids.append(len(cat_sets))
                    cat_sets.append(tree.cats[old])
                else:
                    catids.append(-1)
        used = sorted(set(variants))
        slot = {v: i for i, v in enumerate(used)}
        self.variants = used
        self.width = len(used) * self.n_features
        n_f = self.n_features
        if len(values) >= 2**31 or self.width * chunk_rows >= 2**31:
            raise ValueError("model too large for the numpy engine")
        self.roots = np.asarray(roots, dtype=np.int32)
        # One record per node so a level needs a single gather for threshold, column and first child.
        rec = np.zeros(len(values), dtype=[("thr", "f8"), ("col", "i4"), ("first", "i4")])
        rec["thr"] = thrs
        rec["col"] = [slot[v] * n_f + f for v, f in zip(variants, feats)]
        rec["first"] = firsts
        self.rec = rec
        self.value = np.asarray(values, dtype=np.float64)
        self.has_cat = bool(cat_sets)
        if self.has_cat:
            self.catid = np.asarray(catids, dtype=np.intp)
            top = max((max(s) for s in cat_sets if s), default=0) + 1
            self.cat_none = top  # invalid codes and codes >= top map to column `top`: in no set
            table = np.zeros((len(cat_sets), top + 1), dtype=bool)
            for i, s in enumerate(cat_sets):
                table[i, sorted(s)] = True
            self.cat_table = table

    def _widen(self, X: np.ndarray) -> np.ndarray:
        n, n_f = X.shape
        out = np.empty((n, self.width), dtype=np.float64)
        nan = np.isnan(X)
        zero = None
        for i, variant in enumerate(self.variants):
            dst = out[:, i * n_f : (i + 1) * n_f]
            if variant in (V_ZX, V_ZNEG, V_ZISNAN) and zero is None:
                zero = nan | (np.abs(X) <= LGB_ZERO)
            if variant == V_X:
                dst[...] = X
            elif variant == V_NEG:
                np.negative(X, out=dst)
            elif variant == V_ISNAN:
                dst[...] = nan
            elif variant == V_ZX:
                dst[...] = np.where(zero, math.nan, X)
            elif variant == V_ZNEG:
                dst[...] = np.where(zero, math.nan, -X)
            elif variant == V_ZISNAN:
                dst[...] = zero
            else:  # V_CAT: LightGBM casts to int; NaN, negatives and >= 2**31 go right
                with np.errstate(invalid="ignore"):
                    valid = (X > -1.0) & (X < _INT_LIMIT)
                codes = np.trunc(np.where(valid, X, -1.0))
                codes[~valid | (codes >= self.cat_none)] = self.cat_none
                dst[...] = codes
        return out

    def margins(self, X: np.ndarray) -> np.ndarray:
        """Margins (float64) for a 2-D float64 array of shape (rows, features)."""
        n = X.shape[0]
        out = np.empty(n, dtype=np.float64)
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            out[start:stop] = self._margins_chunk(X[start:stop])
        return out

    def _margins_chunk(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        flat = self._widen(X).ravel()
        row_base = (np.arange(n, dtype=np.int32) * self.width)[None, :]
        node = np.repeat(self.roots[:, None], n, axis=1)  # (trees, rows)
        rec = np.empty(node.shape, dtype=self.rec.dtype)
        idx = np.empty(node.shape, dtype=np.int32)
        x = np.empty(node.shape, dtype=np.float64)
        second = np.empty(node.shape, dtype=bool)
        # Indices are valid by construction, so mode="clip" (no bounds-check buffering) is safe and faster.
        for _ in range(self.depth):
            np.take(self.rec, node, out=rec, mode="clip")
            np.add(rec["col"], row_base, out=idx)
            np.take(flat, idx, out=x, mode="clip")
            np.greater(x, rec["thr"], out=second)
            if self.has_cat:
                cid = self.catid[node]
                sel = cid >= 0
                if sel.any():
                    second[sel] = self.cat_table[cid[sel], x[sel].astype(np.intp)]
            np.add(rec["first"], second, out=node)
        leaf = np.take(self.value, node, mode="clip")
        # Reducing over the outer axis adds tree after tree: the pure-Python summation order, bit for bit.
        m = np.add.reduce(leaf, axis=0, initial=self.base)
        if self.divisor != 1.0:
            m /= self.divisor
        return m


def as_matrix(rows: Any, n_features: int) -> np.ndarray:
    """Rows (sequences with float/None) -> float64 matrix; None becomes NaN. Clear error on bad shapes."""
    try:
        X = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"feature rows must be numbers or None (missing): {exc}") from None
    if X.ndim == 1 and X.size == 0:
        return X.reshape(0, n_features)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"expected rows of {n_features} features, got an array of shape {X.shape}")
    return X
