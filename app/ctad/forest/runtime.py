"""Pure-Python evaluation of the bundled boosted-tree model (XGBoost JSON or LightGBM text).

Why hand-written: at Splunk search time we run on Splunk's own Python (3.9 / 3.13) and may not import
xgboost, lightgbm or anything compiled. The model file is parsed once (``model_runtime_parse``) into a neutral
forest; scoring then uses one of two engines that give bit-identical margins:

* ``python``: the forest is compiled into one generated Python function (nested ``if``/``else`` per tree,
  float literals only, integer feature indexes), which is several times faster than walking node arrays;
* ``numpy``: when numpy is importable, batches are evaluated level by level over all trees at once
  (``model_runtime_numpy``).

Missing values are ``NaN`` or ``None`` and follow each split's default direction, exactly as the training
library does. ``contributions(row)`` gives Saabas path attributions (per feature, margin space, bias last)
whose sum is the row's margin; they feed the human-readable reasons (``contributions_many`` for a batch).
"""

from __future__ import annotations

import hashlib
import math
import os
import types
from typing import Any, Callable, Iterable, List, Optional, Sequence

from ctad.forest import cache as _cache
from ctad.forest.parse import LGB_ZERO, Forest, ModelFormatError, Tree, parse_model_text

try:  # optional accelerator
    from ctad.forest import numpy_engine as _np_engine
except ImportError:  # pragma: no cover - exercised by the no-numpy subprocess test
    _np_engine = None  # type: ignore[assignment]

__all__ = ["ModelFormatError", "TreeModel", "load_model", "HAVE_NUMPY", "sigmoid"]

HAVE_NUMPY = _np_engine is not None
# Nested ``if`` depth the generated code may use (CPython refuses ~100 indentation levels); deeper trees
# are walked by the interpreter instead.
_MAX_CODEGEN_DEPTH = 48
# Below this many rows numpy's fixed per-call cost outweighs its speed.
_NUMPY_MIN_ROWS = 32
# Saabas attributions cost ~250 us per row in Python, so numpy pays from a couple of rows.
_NUMPY_MIN_CONTRIB_ROWS = 2
_MAX_MODEL_BYTES = 512 * 1024 * 1024
_NAN = float("nan")


def sigmoid(z: float) -> float:
    """Logistic function without overflow for large |z|."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# ------------------------------------------------------------------------------------- interpretation


def _goes_left(tree: Tree, node: int, x: Any) -> bool:
    """One split decision; the reference semantics that the generated code and numpy kernel reproduce."""
    cats = tree.cats[node]
    if cats is not None:
        return -1.0 < x < 2147483648.0 and int(x) in cats
    if x != x:
        return tree.nan_left[node]
    zl = tree.zero_left[node]
    if zl is not None and -LGB_ZERO <= x <= LGB_ZERO:
        return zl
    return x <= tree.thr[node]


def _leaf(tree: Tree, row: Sequence[Any]) -> int:
    feature, left, right = tree.feature, tree.left, tree.right
    node = 0
    while True:
        f = feature[node]
        if f < 0:
            return node
        node = left[node] if _goes_left(tree, node, row[f]) else right[node]


# ------------------------------------------------------------------------------------- code generation


def _lit(v: float) -> str:
    if math.isinf(v):
        return "_INF" if v > 0 else "-_INF"
    return repr(float(v))


def _condition(tree: Tree, node: int, var: str) -> str:
    """Python expression true iff the row goes left; NaN handled by comparison semantics, not tests."""
    cats = tree.cats[node]
    if cats is not None:
        if not cats:
            return "False"
        members = ", ".join(str(int(c)) for c in sorted(cats))
        return f"(-1.0 < {var} < 2147483648.0 and int({var}) in {{{members}}})"
    thr = _lit(tree.thr[node])
    zl = tree.zero_left[node]
    if zl is True:
        return f"(not {var} > {thr} or -_ZERO <= {var} <= _ZERO)"
    if zl is False:
        return f"({var} <= {thr} and not (-_ZERO <= {var} <= _ZERO))"
    if tree.nan_left[node]:
        return f"not {var} > {thr}"  # NaN > t is False, so NaN goes left
    return f"{var} <= {thr}"  # NaN <= t is False, so NaN goes right


def _emit_tree(tree: Tree, lines: List[str], indent: str, names: List[str]) -> None:
    # Iterative pre-order emission: the "else" part is pushed before the "if" body so it comes out after.
    work: List[Any] = [("node", 0, indent)]
    while work:
        item = work.pop()
        if item[0] == "text":
            lines.append(item[1])
            continue
        _, node, ind = item
        f = tree.feature[node]
        if f < 0:
            lines.append(f"{ind}s += {_lit(tree.value[node])}")
            continue
        lines.append(f"{ind}if {_condition(tree, node, names[f])}:")
        work.append(("node", tree.right[node], ind + " "))
        work.append(("text", f"{ind}else:"))
        work.append(("node", tree.left[node], ind + " "))


def _generate_source(forest: Forest) -> str:
    n = len(forest.feature_names)
    names = [f"x{i}" for i in range(n)]
    lines = ["def _margin(r):"]
    lines.append(f" {', '.join(names)}{',' if n == 1 else ''} = r")
    lines.append(f" s = {_lit(forest.base)}")
    for k, tree in enumerate(forest.trees):
        if tree.depth > _MAX_CODEGEN_DEPTH:
            lines.append(f" s += _deep({k}, r)")
        else:
            _emit_tree(tree, lines, " ", names)
    if forest.divisor != 1.0:
        lines.append(f" return s / {_lit(forest.divisor)}")
    else:
        lines.append(" return s")
    return "\n".join(lines) + "\n"


def _compile_forest(
    forest: Forest, code: Optional[types.CodeType] = None
) -> Callable[[Sequence[Any]], float]:
    """Generated margin function. Safe to exec: the source holds only our float/int literals and fixed names."""
    trees = forest.trees

    def deep(k: int, row: Sequence[Any]) -> float:
        tree = trees[k]
        return tree.value[_leaf(tree, row)]

    if code is None:
        code = compile(_generate_source(forest), "<ctad-model>", "exec")
    namespace = {"_INF": math.inf, "_ZERO": LGB_ZERO, "_deep": deep, "__builtins__": {"int": int}}
    exec(code, namespace)  # noqa: S102 - validated numbers only
    fn = namespace["_margin"]
    fn.code = code  # type: ignore[attr-defined]
    return fn  # type: ignore[return-value]


# ------------------------------------------------------------------------------------- public model


class TreeModel:
    """A loaded binary classifier; ``predict`` returns probabilities, ``predict_margin`` log-odds."""

    def __init__(
        self,
        forest: Forest,
        source: str = "",
        digest: str = "",
        cache_dir: Optional[str] = None,
        code: Optional[types.CodeType] = None,
    ) -> None:
        self._forest = forest
        self.feature_names: List[str] = list(forest.feature_names)
        self.n_features = len(self.feature_names)
        self.format = forest.format
        self.objective = forest.objective
        self.n_trees = len(forest.trees)
        self.max_depth = max(t.depth for t in forest.trees)
        self.source = source
        self.sha256 = digest
        self.cache_dir = cache_dir
        self._code = code
        self._compiled: Optional[Callable[[Sequence[Any]], float]] = None
        self._numpy: Any = None

    def __repr__(self) -> str:
        return (
            f"TreeModel(format={self.format!r}, trees={self.n_trees}, features={self.n_features}, "
            f"max_depth={self.max_depth})"
        )

    # -- engines ---------------------------------------------------------------------------------------

    @property
    def compiled(self) -> Callable[[Sequence[Any]], float]:
        """The generated margin function (compiled lazily: numpy-only callers never pay for it)."""
        if self._compiled is None:
            self._compiled = _compile_forest(self._forest, self._code)
            if self._code is None and self.cache_dir and self.sha256:
                _cache.store(self.cache_dir, self.sha256, self._forest, self._compiled.code)  # type: ignore
            self._code = self._compiled.code  # type: ignore[attr-defined]
        return self._compiled

    def prepare(self, engine: str = "auto") -> TreeModel:
        """Build the engine(s) now rather than on the first call (generated code; numpy arrays if asked)."""
        if engine in ("auto", "python"):
            _ = self.compiled
        if engine == "numpy" or (engine == "auto" and _np_engine is not None):
            self._numpy_engine()
        return self

    def _numpy_engine(self) -> Any:
        if self._numpy is None:
            self._numpy = _np_engine.NumpyForest(self._forest)
        return self._numpy

    def _clean(self, row: Any) -> List[float]:
        """Slow path for rows the fast path rejected: None -> NaN, numeric strings -> float, clear errors."""
        try:
            values = list(row)
        except TypeError:
            raise ValueError(f"a feature row must be a sequence of {self.n_features} numbers") from None
        if len(values) != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {len(values)}")
        out: List[float] = []
        for name, v in zip(self.feature_names, values):
            if v is None:
                out.append(_NAN)
                continue
            try:
                out.append(float(v))
            except (TypeError, ValueError):
                raise ValueError(f"feature {name!r}: {v!r} is not a number") from None
        return out

    def _margins_python(self, rows: Iterable[Any]) -> List[float]:
        fn = self.compiled
        out: List[float] = []
        append = out.append
        for row in rows:
            try:
                append(fn(row))
            except (TypeError, ValueError):  # None / strings / wrong length: normalise, then clear error
                append(fn(self._clean(row)))
        return out

    def _pick(self, rows: Any, engine: str) -> str:
        if engine not in ("auto", "python", "numpy"):
            raise ValueError(f"engine must be 'auto', 'python' or 'numpy', not {engine!r}")
        if engine == "numpy" and _np_engine is None:
            raise RuntimeError("engine='numpy' requested but numpy is not importable")
        if engine != "auto":
            return engine
        if _np_engine is None:
            return "python"
        try:
            many = len(rows) >= _NUMPY_MIN_ROWS
        except TypeError:
            many = True
        return "numpy" if many else "python"

    # -- scoring ---------------------------------------------------------------------------------------

    def predict_margin(self, rows: Iterable[Sequence[Any]], engine: str = "auto") -> List[float]:
        """Log-odds per row. ``engine``: 'auto' (numpy for batches when available), 'python' or 'numpy'."""
        if self._pick(rows, engine) == "numpy":
            X = _np_engine.as_matrix(rows if hasattr(rows, "__len__") else list(rows), self.n_features)
            return self._numpy_engine().margins(X).tolist()
        return self._margins_python(rows)

    def predict(self, rows: Iterable[Sequence[Any]], engine: str = "auto") -> List[float]:
        """Probability of the positive class per row (same value whichever engine runs)."""
        k = self._forest.sigmoid_scale
        if k == 1.0:
            return [sigmoid(m) for m in self.predict_margin(rows, engine)]
        return [sigmoid(k * m) for m in self.predict_margin(rows, engine)]

    def predict_one(self, row: Sequence[Any]) -> float:
        """Probability for a single row through the generated code (no batching overhead)."""
        return self.predict([row], engine="python")[0]

    def contributions(self, row: Sequence[Any]) -> List[float]:
        """Saabas attributions: for each feature the change of node value along the decision paths.

        Returns ``n_features + 1`` floats in margin space; the last is the bias (base score plus every tree's
        root value). Their sum equals ``predict_margin([row])[0]`` up to float rounding (~1e-12).
        """
        values = self._clean(row)
        contrib = [0.0] * (self.n_features + 1)
        bias = self._forest.base
        for tree in self._forest.trees:
            node = 0
            value = tree.value
            feature = tree.feature
            bias += value[0]
            while True:
                f = feature[node]
                if f < 0:
                    break
                child = tree.left[node] if _goes_left(tree, node, values[f]) else tree.right[node]
                contrib[f] += value[child] - value[node]
                node = child
        contrib[-1] = bias
        d = self._forest.divisor
        if d != 1.0:
            contrib = [c / d for c in contrib]
        return contrib

    def contributions_many(self, rows: Iterable[Sequence[Any]], engine: str = "auto") -> List[List[float]]:
        """``contributions(row)`` for every row (identical floats), computed in one numpy pass when possible.

        ``engine``: 'auto' (numpy when importable, else the per-row loop), 'python' or 'numpy'.
        """
        if engine not in ("auto", "python", "numpy"):
            raise ValueError(f"engine must be 'auto', 'python' or 'numpy', not {engine!r}")
        if engine == "numpy" and _np_engine is None:
            raise RuntimeError("engine='numpy' requested but numpy is not importable")
        if not hasattr(rows, "__len__"):
            rows = list(rows)
        few = engine == "auto" and len(rows) < _NUMPY_MIN_CONTRIB_ROWS  # type: ignore[arg-type]
        if engine == "python" or _np_engine is None or few:
            return [self.contributions(row) for row in rows]
        try:
            X = _np_engine.as_matrix(rows, self.n_features)
        except ValueError:
            if engine == "numpy":
                raise
            return [self.contributions(row) for row in rows]  # the per-row path names the bad value
        return self._numpy_engine().contributions(X).tolist()

    def explain(self, row: Sequence[Any], top: int = 5) -> List[tuple]:
        """(feature name, value, contribution) for the ``top`` features pushing hardest towards anomalous."""
        contrib = self.contributions(row)[:-1]
        values = self._clean(row)
        order = sorted(range(self.n_features), key=lambda i: contrib[i], reverse=True)
        return [(self.feature_names[i], values[i], contrib[i]) for i in order[:top] if contrib[i] > 0.0]

    def python_source(self) -> str:
        """The generated scoring source (for review and debugging)."""
        return _generate_source(self._forest)


def load_model(path: str | os.PathLike[str], cache_dir: Optional[str] = None) -> TreeModel:
    """Read an XGBoost JSON (``Booster.save_model('m.json')``) or LightGBM text model, detected by content.

    ``cache_dir``: optional trusted directory (writable only by us) where the parsed model and its compiled
    scoring code are kept between processes (see ``model_runtime_cache``); it makes a search start in
    milliseconds instead of ~0.3-2 s.

    Raises ``ModelFormatError`` (a ``ValueError``) naming the file and the problem for anything that is not a
    well-formed binary classifier we can evaluate exactly, and ``OSError`` if the file cannot be read.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > _MAX_MODEL_BYTES:
        raise ModelFormatError(f"{path}: {size} bytes is too large for a model file")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFormatError(
            f"{path}: not a text model (binary/UBJSON? re-save with save_model('model.json') or '.txt')"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if cache_dir:
        hit = _cache.load(cache_dir, digest)
        if hit is not None:
            return TreeModel(hit[0], source=path, digest=digest, cache_dir=cache_dir, code=hit[1])
    try:
        forest = parse_model_text(text, source=path)
    except ModelFormatError as exc:
        msg = str(exc)
        raise ModelFormatError(msg if msg.startswith(path) else f"{path}: {msg}") from None
    return TreeModel(forest, source=path, digest=digest, cache_dir=cache_dir)


def load_model_text(text: str, source: str = "<text>") -> TreeModel:
    """Same as ``load_model`` for a model already in memory."""
    return TreeModel(parse_model_text(text, source=source), source=source)
