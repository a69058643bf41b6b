"""Batch evaluation of a parsed forest with numpy: all trees, all rows, one tree level per step.

Why this shape: a Python loop per row costs tens of microseconds for a few hundred trees; here the per-row
work is a handful of vectorised gathers per tree level. Tricks that keep a level to a few array passes:

* nodes of all trees are renumbered so a node's two children are adjacent and a leaf is its own child
  (threshold +inf never exceeded), so every tree is walked in lock-step, one level per step;
* ``second = v > t``: a NaN ``v`` compares False and takes the *first* child. Nodes whose missing values
  go left keep (left, right) as (first, second) and compare ``x > thr``; nodes whose missing values go
  right store (right, left) and compare ``-x > -next_up(thr)`` (i.e. ``x <= thr``) on a negated copy of
  the column. The input is widened once per chunk into such "variants" of each column (x, -x, isnan(x),
  LightGBM's zero-as-missing versions, category codes), feature-major, so no NaN test runs per node;
* unless trees are very deep, they are laid out as complete binary trees (a leaf above the bottom is
  repeated down to it), level by level: the node at position k has its children at 2k and 2k + 1, so a
  step is ``k = 2 * k + second`` without child pointers;
* when the model has few distinct conditions (variant column, threshold) -- thresholds are histogram bin
  edges, so there are about as many as tree levels -- every condition is evaluated once per chunk into a
  boolean table, and a node's decision is a lookup in it: two gathers per node and level instead of
  three plus a comparison (``_walk_heap``). Otherwise the values are gathered and compared per node.

``contributions`` walks the same paths and adds Saabas differences with ``bincount`` in the pure-Python
order. Only imported when numpy is importable; results are bit-identical to the pure-Python path (same
float64 thresholds, same tree-by-tree summation order).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ctad.forest.parse import LGB_ZERO, Forest

# Column variants the input is widened into (only those a model uses are built).
V_X, V_NEG, V_ISNAN, V_ZX, V_ZNEG, V_ZISNAN, V_CAT = range(7)
_INT_LIMIT = 2147483648.0
# Use the condition table when distinct conditions <= TABLE_RATIO * trees * depth. Measured: the table is
# ~1.4x faster than the direct walk at 1 to 1.7 conditions per tree level (bundled model, 1.0), about even
# near 3.5 and ~1.3x slower at 4 and more.
TABLE_RATIO = 2.0
# Contributions for fewer rows than this walk without the condition table.
DIRECT_ROWS = 64


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


class _Workspace:
    """Scratch arrays for chunks of ``n`` rows (allocated once per ``margins`` call, reused by its chunks)."""

    def __init__(self, nf: NumpyForest, n: int, direct: bool = False) -> None:
        t = nf.n_trees
        self.n = n
        self.direct = direct = direct or not nf.table
        self.r = np.arange(n, dtype=np.int32)[None, :]
        self.fm = np.empty((nf.width, n), dtype=np.float64)
        self.k = np.empty((t, n), dtype=np.int32)
        self.c = np.empty((t, n), dtype=np.int32)
        self.b = np.empty((t, n), dtype=bool)
        self.leaf = np.empty((t, n), dtype=np.float64)
        if not direct:
            self.tab = np.empty((nf.n_cond + 1, n), dtype=bool)
            self.tab[nf.n_cond] = False  # the "never" condition of leaves and padding
            self.rows = np.empty((nf.row_nodes, n), dtype=bool)
            # Conditions of node k at a level: tab[u[k]]; flat index u[k] * n + row, pre-multiplied here.
            self.u_n = [u * np.int32(n) if not rt else None for u, rt in zip(nf.u, nf.row_level)]
        elif nf.heap:
            self.x = np.empty((t, n), dtype=np.float64)
            self.thr = np.empty((t, n), dtype=np.float64)
            # Column of node k at a level in the feature-major widened chunk: col[k] * n + row.
            self.col_n = [col * np.int32(n) for col in nf.col]


class NumpyForest:
    """Flattened node arrays of a forest plus the batch walkers."""

    def __init__(
        self,
        forest: Forest,
        chunk_rows: int = 512,
        max_heap_nodes: int = 1 << 20,
        table: Optional[bool] = None,
    ) -> None:
        """``max_heap_nodes``: largest trees * 2**depth for the complete-tree layout (deeper: node walker);
        ``table``: decide through the table of distinct conditions (None: when there are few enough)."""
        self.n_features = len(forest.feature_names)
        self.base = forest.base
        self.divisor = forest.divisor
        self.chunk_rows = chunk_rows
        self.n_trees = len(forest.trees)
        self.depth = max(t.depth for t in forest.trees)
        # Saabas bias (base score plus every root's value), summed in the pure-Python order.
        bias = forest.base
        for tree in forest.trees:
            bias += tree.value[0]
        self.bias = bias
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
                    feats.append(-1)
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
                    cat_sets.append(tree.cats[old])  # type: ignore[arg-type]  # set on every V_CAT node
                else:
                    catids.append(-1)
        used = sorted(set(variants))
        slot = {v: i for i, v in enumerate(used)}
        self.variants = used
        n_f = self.n_features
        self.width = len(used) * n_f
        if len(values) >= 2**31 or self.width * chunk_rows >= 2**31:
            raise ValueError("model too large for the numpy engine")
        self.roots = np.asarray(roots, dtype=np.int32)
        cols = [slot[v] * n_f + max(f, 0) for v, f in zip(variants, feats)]
        # One record per node so a level needs a single gather for threshold, column and first child.
        rec = np.zeros(len(values), dtype=[("thr", "f8"), ("col", "i4"), ("first", "i4")])
        rec["thr"] = thrs
        rec["col"] = cols
        rec["first"] = firsts
        self.rec = rec
        self.value = np.asarray(values, dtype=np.float64)
        # Feature credited by Saabas attributions per node; leaves credit the (overwritten) bias slot.
        self.credit = np.asarray([f if f >= 0 else n_f for f in feats], dtype=np.intp)
        self.has_cat = bool(cat_sets)
        if self.has_cat:
            self.catid = np.asarray(catids, dtype=np.intp)
            top = max((max(s) for s in cat_sets if s), default=0) + 1
            self.cat_none = top  # invalid codes and codes >= top map to column `top`: in no set
            members = np.zeros((len(cat_sets), top + 1), dtype=bool)
            for i, s in enumerate(cat_sets):
                members[i, sorted(s)] = True
            self.cat_table = members
        self.heap = self.table = False
        if self.depth >= 1 and self.n_trees << self.depth <= max_heap_nodes:
            self._build_heap(cols, thrs, variants, catids, cat_sets, table)

    def _build_heap(
        self,
        cols: List[int],
        thrs: List[float],
        variants: List[int],
        catids: List[int],
        cat_sets: List[frozenset],
        table: Optional[bool],
    ) -> None:
        """Complete-tree layout, and a table of the distinct split conditions if it pays (see ``_walk_heap``)."""
        first = self.rec["first"].astype(np.intp)
        leaf = first == np.arange(len(first))
        t, d = self.n_trees, self.depth
        # nodes[L][t * 2**L + j]: node id at position j of level L of tree t; a leaf above the bottom level
        # is repeated into both child positions (it never says "second", so only the first is reached).
        nodes = [self.roots.astype(np.intp)]
        for _ in range(d):
            g = nodes[-1]
            a = np.where(leaf[g], g, first[g])
            b = np.where(leaf[g], g, first[g] + 1)
            nodes.append(np.stack([a, b], axis=1).reshape(-1))
        nodes = [g.astype(np.int32) for g in nodes]
        self.nodes = nodes
        self.leaf_value = self.value[nodes[-1]]
        self._by_position: Optional[Tuple[List[np.ndarray], List[np.ndarray]]] = None
        self.two_t = (np.arange(t, dtype=np.int32) * 2)[:, None]
        self.heap = True
        col = self.rec["col"]
        self.col = [col[g] for g in nodes[:-1]]
        self.thr = [self.rec["thr"][g] for g in nodes[:-1]]
        if self.has_cat:
            self.catid_at = [self.catid[g] for g in nodes[:-1]]
        numeric = sorted({(cols[g], thrs[g]) for g in np.flatnonzero(~leaf).tolist() if variants[g] != V_CAT})
        cats: Dict[Tuple[int, frozenset], int] = {}
        for g in np.flatnonzero(~leaf).tolist():
            if variants[g] == V_CAT:
                cats.setdefault((cols[g], cat_sets[catids[g]]), catids[g])
        n_cond = len(numeric) + len(cats)
        if (n_cond + 1) * self.chunk_rows >= 2**31:
            table = False
        elif table is None:
            # A row per condition pays when conditions are shared by many nodes (binned thresholds): it
            # costs one comparison per condition and row, and saves about two per tree, level and row.
            table = n_cond <= TABLE_RATIO * t * d
        if not table:
            return
        cond_id = {key: i for i, key in enumerate(numeric)}
        self.groups: List[Tuple[int, int, int, np.ndarray]] = []  # (column, first row, end row, thresholds)
        i = 0
        while i < len(numeric):
            j = i
            while j < len(numeric) and numeric[j][0] == numeric[i][0]:
                j += 1
            thr = np.asarray([x[1] for x in numeric[i:j]], dtype=np.float64)[:, None]
            self.groups.append((numeric[i][0], i, j, thr))
            i = j
        self.cat_rows: List[Tuple[int, int, np.ndarray]] = []  # (row, column, membership by code)
        for (col, cset), cid in cats.items():
            cond_id[(col, cset)] = len(numeric) + len(self.cat_rows)
            self.cat_rows.append((len(numeric) + len(self.cat_rows), col, self.cat_table[cid]))
        cond = np.full(len(first), n_cond, dtype=np.int32)  # leaves: the always-false row
        for g in np.flatnonzero(~leaf).tolist():
            key = (cols[g], cat_sets[catids[g]]) if variants[g] == V_CAT else (cols[g], thrs[g])
            cond[g] = cond_id[key]
        self.n_cond = n_cond
        self.u = [cond[g] for g in nodes[:-1]]
        # Levels with at most as many nodes as conditions gather their rows of the table once per chunk, so
        # a node's decision is one gather at position * rows + row (level 0: the rows are the decisions).
        self.row_level = [(t << lvl) <= n_cond + 1 for lvl in range(d)]
        self.row_nodes = max([t << lvl for lvl in range(1, d) if self.row_level[lvl]], default=0)
        self.table = True

    def _widen(self, X: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Feature-major (width, rows) matrix of the column variants the model uses."""
        n, n_f = X.shape
        if out is None:
            out = np.empty((self.width, n), dtype=np.float64)
        XT = X.T
        nan = zero = None
        for i, variant in enumerate(self.variants):
            dst = out[i * n_f : (i + 1) * n_f]
            if variant in (V_ISNAN, V_ZX, V_ZNEG, V_ZISNAN) and nan is None:
                nan = np.isnan(XT)
            if variant in (V_ZX, V_ZNEG, V_ZISNAN) and zero is None:
                zero = nan | (np.abs(XT) <= LGB_ZERO)
            if variant == V_X:
                dst[...] = XT
            elif variant == V_NEG:
                np.negative(XT, out=dst)
            elif variant == V_ISNAN:
                dst[...] = nan
            elif variant == V_ZX:
                dst[...] = np.where(zero, math.nan, XT)
            elif variant == V_ZNEG:
                dst[...] = np.where(zero, math.nan, -XT)
            elif variant == V_ZISNAN:
                dst[...] = zero
            else:  # V_CAT: LightGBM casts to int; NaN, negatives and >= 2**31 go right
                with np.errstate(invalid="ignore"):
                    valid = (XT > -1.0) & (XT < _INT_LIMIT)
                codes = np.trunc(np.where(valid, XT, -1.0))
                codes[~valid | (codes >= self.cat_none)] = self.cat_none
                dst[...] = codes
        return out

    def margins(self, X: np.ndarray) -> np.ndarray:
        """Margins (float64) for a 2-D float64 array of shape (rows, features)."""
        n = X.shape[0]
        out = np.empty(n, dtype=np.float64)
        ws = None
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            if ws is None or ws.n != stop - start:
                ws = _Workspace(self, stop - start)
            out[start:stop] = self._margins_chunk(X[start:stop], ws)
        return out

    def _margins_chunk(self, X: np.ndarray, ws: _Workspace) -> np.ndarray:
        fm = self._widen(X, ws.fm)
        if self.heap:
            self._walk_heap(fm, ws)
        else:
            self._walk_nodes(fm, ws)
        np.take(self.leaf_value if self.heap else self.value, ws.k, out=ws.leaf, mode="clip")
        # Reducing over the outer axis adds tree after tree: the pure-Python summation order, bit for bit.
        m = np.add.reduce(ws.leaf, axis=0, initial=self.base)
        if self.divisor != 1.0:
            m /= self.divisor
        return m

    def _walk_heap(self, fm: np.ndarray, ws: _Workspace, path: Optional[List[np.ndarray]] = None) -> None:
        """Leaves the bottom-level position of every (tree, row) in ``ws.k``; ``path`` gets every level's.

        Position j of level L in tree t is number t * 2**L + j, its children 2 * (t * 2**L + j) + (0, 1), so
        descending is ``k = 2 * k + second`` with no per-node child pointers. The decisions come from
        ``tab``, one boolean row per distinct condition (a column variant compared with a threshold, or a
        category set) evaluated for all rows of the chunk at once: a model has far fewer distinct
        conditions than nodes (thresholds are histogram bin edges), and then a node costs two gathers (its
        condition, that condition's bit) instead of three (column, value, threshold) plus a comparison.
        """
        if ws.direct:
            self._walk_direct(fm, ws, path)
            return
        n = ws.n
        tab = ws.tab
        for col, lo, hi, thr in self.groups:
            np.greater(fm[col], thr, out=tab[lo:hi])
        if self.cat_rows:
            codes: Dict[int, np.ndarray] = {}
            for row, col, member in self.cat_rows:
                if col not in codes:
                    codes[col] = fm[col].astype(np.intp)
                np.take(member, codes[col], out=tab[row], mode="clip")
        flat = tab.reshape(-1)
        k, c, b, r = ws.k, ws.c, ws.b, ws.r
        if path is not None:
            path.append(np.repeat(np.arange(self.n_trees, dtype=np.int32)[:, None], n, axis=1))
        np.take(tab, self.u[0], axis=0, out=b)
        np.add(self.two_t, b, out=k)
        for lvl in range(1, self.depth):
            if path is not None:
                path.append(k.copy())
            if self.row_level[lvl]:
                rows = ws.rows[: self.n_trees << lvl]
                np.take(tab, self.u[lvl], axis=0, out=rows)
                np.multiply(k, np.int32(n), out=c)
                np.add(c, r, out=c)
                np.take(rows.reshape(-1), c, out=b, mode="clip")
            else:
                np.take(ws.u_n[lvl], k, out=c, mode="clip")
                np.add(c, r, out=c)
                np.take(flat, c, out=b, mode="clip")
            np.left_shift(k, 1, out=k)
            np.add(k, b, out=k)
        if path is not None:
            path.append(k.copy())

    def _walk_direct(self, fm: np.ndarray, ws: _Workspace, path: Optional[List[np.ndarray]] = None) -> None:
        """``_walk_heap`` without the table: per level gather column, value and threshold, and compare."""
        flat = fm.reshape(-1)
        k, c, b, r, x, thr = ws.k, ws.c, ws.b, ws.r, ws.x, ws.thr
        k[...] = np.arange(self.n_trees, dtype=np.int32)[:, None]
        for lvl in range(self.depth):
            if path is not None:
                path.append(k.copy())
            np.take(ws.col_n[lvl], k, out=c, mode="clip")
            np.add(c, r, out=c)
            np.take(flat, c, out=x, mode="clip")
            np.take(self.thr[lvl], k, out=thr, mode="clip")
            np.greater(x, thr, out=b)
            if self.has_cat:
                cid = self.catid_at[lvl][k]
                sel = cid >= 0
                if sel.any():
                    b[sel] = self.cat_table[cid[sel], x[sel].astype(np.intp)]
            np.left_shift(k, 1, out=k)
            np.add(k, b, out=k)
        if path is not None:
            path.append(k.copy())

    def _walk_nodes(self, fm: np.ndarray, ws: _Workspace, path: Optional[List[np.ndarray]] = None) -> None:
        """Fallback for very deep trees: node ids with child pointers, one gather per level for the record."""
        n = ws.n
        flat = fm.reshape(-1)
        node = ws.k
        node[...] = self.roots[:, None]
        rec = np.empty(node.shape, dtype=self.rec.dtype)
        idx, second, r = ws.c, ws.b, ws.r
        x = ws.leaf
        # Indices are valid by construction, so mode="clip" (no bounds-check buffering) is safe and faster.
        for _ in range(self.depth):
            if path is not None:
                path.append(node.copy())
            np.take(self.rec, node, out=rec, mode="clip")
            np.multiply(rec["col"], np.int32(n), out=idx)
            np.add(idx, r, out=idx)
            np.take(flat, idx, out=x, mode="clip")
            np.greater(x, rec["thr"], out=second)
            if self.has_cat:
                cid = self.catid[node]
                sel = cid >= 0
                if sel.any():
                    second[sel] = self.cat_table[cid[sel], x[sel].astype(np.intp)]
            np.add(rec["first"], second, out=node)
        if path is not None:
            path.append(node.copy())

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Saabas attributions, shape (rows, features + 1), bias last: ``TreeModel.contributions`` per row.

        Bit-identical to the pure-Python loop: each (row, feature) sums the same differences in the same
        order (tree after tree, root to leaf), because ``bincount`` adds its weights in input order.
        """
        n, n_f = X.shape[0], self.n_features
        out = np.empty((n, n_f + 1), dtype=np.float64)
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            # Building the condition table has a fixed cost that a handful of rows does not repay.
            ws = _Workspace(self, stop - start, direct=stop - start < DIRECT_ROWS)
            out[start:stop] = self._contributions_chunk(X[start:stop], ws)
        return out

    def _contributions_chunk(self, X: np.ndarray, ws: _Workspace) -> np.ndarray:
        n, n_f, d = ws.n, self.n_features, self.depth
        path: List[np.ndarray] = []
        fm = self._widen(X, ws.fm)
        if self.heap:
            self._walk_heap(fm, ws, path)
            if self._by_position is None:  # per level, by position: node value and credited feature
                self._by_position = (
                    [self.value[g] for g in self.nodes],
                    [self.credit[g] for g in self.nodes],
                )
            values, credits = self._by_position
        else:
            self._walk_nodes(fm, ws, path)
            values = [self.value] * (d + 1)
            credits = [self.credit] * (d + 1)
        if d == 0:
            path.append(path[0])
            values.append(values[0])
        d = max(d, 1)
        delta = np.empty((d, self.n_trees, n), dtype=np.float64)
        where = np.empty(delta.shape, dtype=np.intp)
        prev = np.take(values[0], path[0], mode="clip")
        for lvl in range(d):
            nxt = np.take(values[lvl + 1], path[lvl + 1], mode="clip")
            np.subtract(nxt, prev, out=delta[lvl])
            np.take(credits[lvl], path[lvl], out=where[lvl], mode="clip")
            prev = nxt
        where += np.arange(0, n * (n_f + 1), n_f + 1, dtype=np.intp)
        # Flattened as (rows, trees, levels): the pure-Python accumulation order.
        where = where.transpose(2, 1, 0).reshape(-1)
        delta = delta.transpose(2, 1, 0).reshape(-1)
        contrib = np.bincount(where, weights=delta, minlength=n * (n_f + 1))
        contrib = contrib.reshape(n, n_f + 1)
        contrib[:, n_f] = self.bias
        if self.divisor != 1.0:
            contrib /= self.divisor
        return contrib


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
