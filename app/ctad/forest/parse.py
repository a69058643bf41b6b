"""Readers that turn an XGBoost JSON or LightGBM text model into one neutral forest description.

Why a neutral form: the two libraries encode splits differently (XGBoost: ``float32(x) < t`` with a per-node
default for NaN; LightGBM: ``x <= t`` in float64 with NaN/zero "missing types" and categorical bitsets). Every
node is rewritten here into a single rule -- *go left iff ``x <= thr``*, with NaN (and, for LightGBM's
zero-as-missing nodes, near-zero values) sent to a fixed side -- so the pure-Python code generator, the flat
interpreter and the numpy kernel all evaluate exactly the same thing. Only the standard library is used: this
runs inside Splunk's own Python.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, Dict, List, Optional, Tuple

from ctad.core.errors import CtadError

# LightGBM's kZeroThreshold is the float 1e-35f, compared after promotion to double.
LGB_ZERO = struct.unpack("<f", struct.pack("<f", 1e-35))[0]
# Deepest tree we accept: far beyond what either library builds with sane settings, and it bounds recursion.
MAX_DEPTH = 512
MAX_FEATURES = 100_000


class ModelFormatError(CtadError, ValueError):
    """The model file is not a supported, well-formed XGBoost JSON / LightGBM text binary classifier."""


class Tree:
    """One tree as parallel node lists; node 0 is the root, leaves have ``feature == -1``.

    For an internal node: go left iff the value is not missing and ``x <= thr``; a NaN goes left iff
    ``nan_left``; when ``zero_left`` is not None (LightGBM zero-as-missing) values with ``|x| <= LGB_ZERO``
    also go to that side; when ``cats`` is not None the split is categorical (left iff ``int(x)`` is in it).
    ``value`` holds the leaf output for leaves and the node's expected output for internal nodes (used for
    Saabas attributions).
    """

    __slots__ = ("feature", "thr", "nan_left", "zero_left", "cats", "left", "right", "value", "depth")

    def __init__(self) -> None:
        self.feature: List[int] = []
        self.thr: List[float] = []
        self.nan_left: List[bool] = []
        self.zero_left: List[Optional[bool]] = []
        self.cats: List[Optional[frozenset]] = []
        self.left: List[int] = []
        self.right: List[int] = []
        self.value: List[float] = []
        self.depth = 0

    def add(
        self,
        feature: int,
        thr: float,
        nan_left: bool,
        left: int,
        right: int,
        value: float,
        zero_left: Optional[bool] = None,
        cats: Optional[frozenset] = None,
    ) -> None:
        self.feature.append(feature)
        self.thr.append(thr)
        self.nan_left.append(nan_left)
        self.zero_left.append(zero_left)
        self.cats.append(cats)
        self.left.append(left)
        self.right.append(right)
        self.value.append(value)

    def check(self, n_features: int, where: str) -> None:
        """Every node reachable exactly once from the root, features in range, numbers finite."""
        n = len(self.feature)
        if n == 0:
            raise ModelFormatError(f"{where}: empty tree")
        seen = [False] * n
        stack: List[Tuple[int, int]] = [(0, 0)]
        depth = 0
        while stack:
            node, d = stack.pop()
            if node < 0 or node >= n or seen[node]:
                raise ModelFormatError(f"{where}: node {node} is out of range or reached twice (not a tree)")
            seen[node] = True
            depth = max(depth, d)
            if d > MAX_DEPTH:
                raise ModelFormatError(f"{where}: deeper than {MAX_DEPTH} levels")
            if not math.isfinite(self.value[node]):
                raise ModelFormatError(f"{where}: node {node} has a non-finite value")
            f = self.feature[node]
            if f == -1:
                continue
            if not 0 <= f < n_features:
                raise ModelFormatError(f"{where}: node {node} splits on feature {f}, model has {n_features}")
            if self.cats[node] is None and math.isnan(self.thr[node]):
                raise ModelFormatError(f"{where}: node {node} has a NaN threshold")
            stack.append((self.right[node], d + 1))
            stack.append((self.left[node], d + 1))
        if not all(seen):
            raise ModelFormatError(f"{where}: {seen.count(False)} node(s) not reachable from the root")
        self.depth = depth


class Forest:
    """A binary classifier: margin = (base + sum of trees) / divisor, probability = 1/(1+exp(-scale*margin))."""

    def __init__(
        self,
        fmt: str,
        feature_names: List[str],
        trees: List[Tree],
        base: float,
        sigmoid_scale: float = 1.0,
        divisor: float = 1.0,
        objective: str = "",
    ) -> None:
        self.format = fmt
        self.feature_names = feature_names
        self.trees = trees
        self.base = base
        self.sigmoid_scale = sigmoid_scale
        self.divisor = divisor
        self.objective = objective


# --------------------------------------------------------------------------------------------- helpers


def to_f32(x: float) -> float:
    """Round a Python float to the nearest float32 (both libraries' XGBoost values are float32)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f32_less_as_le64(t: float) -> float:
    """Return ``thr`` such that, for any float64 x, ``float32(x) < t`` iff ``x <= thr``.

    XGBoost casts inputs to float32 before comparing with its float32 split value. Rather than cast every
    input, find the float64 boundary once: float32(x) < t exactly when x rounds (nearest-even) to the float32
    just below t or lower, i.e. when x lies below the midpoint m between that neighbour and t, or on m when
    the tie rounds down (the neighbour's mantissa is even).
    """
    t = to_f32(t)
    if math.isinf(t):
        return math.inf if t > 0 else -math.inf
    bits = struct.unpack("<I", struct.pack("<f", t))[0]
    if t == 0.0:
        prev_bits = 0x80000001  # the negative float32 closest to zero
    elif t > 0:
        prev_bits = bits - 1
    else:
        prev_bits = bits + 1
    prev = struct.unpack("<f", struct.pack("<I", prev_bits))[0]
    if math.isinf(prev):  # t is -FLT_MAX: only values rounding to -inf are below it
        prev = -math.ldexp(1.0, 128)
    mid = (prev + t) / 2.0  # exact: float32 neighbours' midpoint needs 25 bits
    if prev_bits & 1 == 0:
        return mid
    return math.nextafter(mid, -math.inf)


def _num(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ModelFormatError(f"{where}: {value!r} is not a number") from None
    return out


def _int_list(obj: Dict[str, Any], key: str, n: int, where: str) -> List[int]:
    seq = obj.get(key)
    if not isinstance(seq, list) or len(seq) != n:
        raise ModelFormatError(f"{where}: '{key}' missing or not a list of {n} items")
    out = []
    for v in seq:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ModelFormatError(f"{where}: '{key}' holds a non-integer {v!r}")
        out.append(v)
    return out


def _float_list(obj: Dict[str, Any], key: str, n: int, where: str) -> List[float]:
    seq = obj.get(key)
    if not isinstance(seq, list) or len(seq) != n:
        raise ModelFormatError(f"{where}: '{key}' missing or not a list of {n} items")
    return [_num(v, f"{where}: {key}") for v in seq]


# --------------------------------------------------------------------------------------------- XGBoost

_XGB_OBJECTIVES = {"binary:logistic", "reg:logistic", "binary:logitraw"}


def _xgb_base_score(raw: Any, objective: str) -> float:
    """base_score as stored ("0.5", "5E-1" or, since 2.1/3.x, "[5E-1]") turned into margin space."""
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        parts = [p for p in text[1:-1].split(",") if p.strip()]
        if len(parts) != 1:
            raise ModelFormatError(f"XGBoost base_score {text!r}: expected one value (binary model)")
        text = parts[0]
    base = to_f32(_num(text, "XGBoost base_score"))
    if objective == "binary:logitraw":
        return base
    if not 0.0 < base < 1.0:
        raise ModelFormatError(f"XGBoost base_score {base} is not a probability in (0, 1)")
    return -math.log(1.0 / base - 1.0)


def _xgb_tree(obj: Any, n_features: int, where: str, weight: float) -> Tree:
    if not isinstance(obj, dict):
        raise ModelFormatError(f"{where}: not an object")
    param = obj.get("tree_param") or {}
    try:
        n = int(param.get("num_nodes", len(obj.get("left_children") or [])))
        leaf_vec = int(param.get("size_leaf_vector", "1") or 1)
    except (TypeError, ValueError):
        raise ModelFormatError(f"{where}: bad tree_param") from None
    if leaf_vec > 1:
        raise ModelFormatError(f"{where}: vector leaves (multi-target trees) are not supported")
    left = _int_list(obj, "left_children", n, where)
    right = _int_list(obj, "right_children", n, where)
    feat = _int_list(obj, "split_indices", n, where)
    default_left = _int_list(obj, "default_left", n, where)
    cond = _float_list(obj, "split_conditions", n, where)
    split_type = obj.get("split_type")
    if isinstance(split_type, list) and any(split_type):
        raise ModelFormatError(
            f"{where}: categorical splits in XGBoost models are not supported; encode the feature as a number"
        )
    hess = obj.get("sum_hessian")
    hess = _float_list(obj, "sum_hessian", n, where) if hess is not None else None

    tree = Tree()
    for i in range(n):
        if left[i] == -1:
            if right[i] != -1:
                raise ModelFormatError(f"{where}: node {i} has only one child")
            tree.add(-1, math.inf, True, i, i, to_f32(cond[i]) * weight)
        else:
            tree.add(feat[i], f32_less_as_le64(cond[i]), bool(default_left[i]), left[i], right[i], 0.0)
    tree.check(n_features, where)
    _xgb_node_means(tree, hess)
    return tree


def _xgb_node_means(tree: Tree, hess: Optional[List[float]]) -> None:
    """Internal node values as XGBoost's own approximate (Saabas) contributions define them.

    ``base_weights`` of internal nodes are stored before the learning rate is applied (leaves after), so
    they cannot be used directly; XGBoost instead takes the hessian-weighted mean of the children
    (``FillNodeMeanValue``), which is what we reproduce. Without hessians we fall back to a plain mean.
    """
    order: List[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if tree.feature[node] != -1:
            stack.append(tree.left[node])
            stack.append(tree.right[node])
    for node in reversed(order):
        if tree.feature[node] == -1:
            continue
        lc, rc = tree.left[node], tree.right[node]
        hl = hess[lc] if hess else 1.0
        hr = hess[rc] if hess else 1.0
        total = hess[node] if hess else 2.0
        if not total > 0.0:
            hl, hr, total = 1.0, 1.0, 2.0
        tree.value[node] = (tree.value[lc] * hl + tree.value[rc] * hr) / total


def parse_xgboost_json(doc: Any) -> Forest:
    """Read a document produced by ``Booster.save_model("x.json")`` (XGBoost 1.6 .. 3.x)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("learner"), dict):
        raise ModelFormatError("not an XGBoost JSON model (no 'learner' object)")
    learner = doc["learner"]
    objective = (learner.get("objective") or {}).get("name", "")
    if objective not in _XGB_OBJECTIVES:
        raise ModelFormatError(
            f"XGBoost objective {objective!r} is not supported; expected binary:logistic (or reg:logistic, "
            "binary:logitraw)"
        )
    mparam = learner.get("learner_model_param") or {}
    try:
        num_class = int(mparam.get("num_class", "0") or 0)
        num_target = int(mparam.get("num_target", "1") or 1)
        n_features = int(mparam.get("num_feature", "0"))
    except (TypeError, ValueError):
        raise ModelFormatError("XGBoost learner_model_param is malformed") from None
    if num_class > 1 or num_target > 1:
        raise ModelFormatError("multi-class / multi-target XGBoost models are not supported")
    if not 0 < n_features <= MAX_FEATURES:
        raise ModelFormatError(f"XGBoost model declares {n_features} features")
    base = _xgb_base_score(mparam.get("base_score", "0.5"), objective)

    booster = learner.get("gradient_booster") or {}
    name = booster.get("name")
    weights: Optional[List[float]] = None
    if name == "dart":
        weights = [_num(w, "XGBoost weight_drop") for w in booster.get("weight_drop") or []]
        booster = booster.get("gbtree") or {}
    elif name != "gbtree":
        raise ModelFormatError(f"XGBoost booster {name!r} is not supported (gbtree or dart only)")
    model = booster.get("model") or {}
    trees_raw = model.get("trees")
    if not isinstance(trees_raw, list) or not trees_raw:
        raise ModelFormatError("XGBoost model has no trees")
    tree_info = model.get("tree_info") or [0] * len(trees_raw)
    if any(t != 0 for t in tree_info):
        raise ModelFormatError("XGBoost model has trees for more than one output group")
    if weights is not None and len(weights) != len(trees_raw):
        raise ModelFormatError("XGBoost dart model: weight_drop does not match the number of trees")

    names = learner.get("feature_names") or []
    if names and len(names) != n_features:
        raise ModelFormatError("XGBoost feature_names does not match num_feature")
    names = [str(x) for x in names] if names else [f"f{i}" for i in range(n_features)]
    trees = [
        _xgb_tree(t, n_features, f"XGBoost tree {i}", weights[i] if weights else 1.0)
        for i, t in enumerate(trees_raw)
    ]
    return Forest("xgboost", names, trees, base, objective=objective)


# --------------------------------------------------------------------------------------------- LightGBM

_LGB_CATEGORICAL = 1
_LGB_DEFAULT_LEFT = 2


def _lgb_sections(text: str) -> Tuple[Dict[str, str], List[Dict[str, str]]]:
    header: Dict[str, str] = {}
    trees: List[Dict[str, str]] = []
    current = header
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "end of trees":
            break
        if line.startswith("Tree="):
            current = {"Tree": line[5:]}
            trees.append(current)
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
        elif current is header:  # bare flags: the "tree" magic line, "average_output"
            header.setdefault("_magic", line)
            header[line] = ""
    else:
        raise ModelFormatError("LightGBM model text is truncated (no 'end of trees' line)")
    return header, trees


def _split(fields: Dict[str, str], key: str, n: int, where: str, conv: Any) -> List[Any]:
    raw = fields.get(key)
    if raw is None:
        raise ModelFormatError(f"{where}: '{key}' is missing")
    parts = raw.split()
    if len(parts) != n:
        raise ModelFormatError(f"{where}: '{key}' has {len(parts)} values, expected {n}")
    try:
        return [conv(p) for p in parts]
    except ValueError:
        raise ModelFormatError(f"{where}: '{key}' holds a malformed number") from None


def _lgb_effective_threshold(thr: float) -> float:
    """Fold LightGBM's input filter into the threshold.

    LightGBM's predictor drops inputs with ``|x| <= 1e-35f`` (they become 0.0) before any split sees them.
    That only matters for thresholds inside [-Z, Z) -- which LightGBM does emit (``+-1.0000000180025095e-35``
    separate "zero" from "non-zero"): move them so that every near-zero input lands where 0.0 would.
    The NaN default (``0.0 <= thr``) is unchanged by the move.
    """
    if -LGB_ZERO <= thr < LGB_ZERO:
        return LGB_ZERO if thr >= 0.0 else math.nextafter(-LGB_ZERO, -math.inf)
    return thr


def _lgb_tree(fields: Dict[str, str], n_features: int, where: str) -> Tree:
    try:
        n_leaves = int(fields.get("num_leaves", ""))
        n_cat = int(fields.get("num_cat", "0"))
    except ValueError:
        raise ModelFormatError(f"{where}: bad num_leaves / num_cat") from None
    if n_leaves < 1:
        raise ModelFormatError(f"{where}: num_leaves must be >= 1")
    if fields.get("is_linear", "0") not in ("0", ""):
        raise ModelFormatError(f"{where}: linear trees (linear_tree=true) are not supported")
    leaf_value = _split(fields, "leaf_value", n_leaves, where, float)
    tree = Tree()
    if n_leaves == 1:
        tree.add(-1, math.inf, True, 0, 0, leaf_value[0])
        tree.check(n_features, where)
        return tree
    n_int = n_leaves - 1
    feat = _split(fields, "split_feature", n_int, where, int)
    thr = _split(fields, "threshold", n_int, where, float)
    dtype = _split(fields, "decision_type", n_int, where, int)
    left = _split(fields, "left_child", n_int, where, int)
    right = _split(fields, "right_child", n_int, where, int)
    internal = _split(fields, "internal_value", n_int, where, float)
    cat_bounds: List[int] = []
    cat_words: List[int] = []
    if n_cat > 0:
        cat_bounds = _split(fields, "cat_boundaries", n_cat + 1, where, int)
        raw_words = fields.get("cat_threshold", "").split()
        try:
            cat_words = [int(w) for w in raw_words]
        except ValueError:
            raise ModelFormatError(f"{where}: malformed cat_threshold") from None
        if cat_bounds[0] != 0 or cat_bounds[-1] != len(cat_words) or cat_bounds != sorted(cat_bounds):
            raise ModelFormatError(f"{where}: cat_boundaries do not match cat_threshold")

    # LightGBM: internal nodes 0..n-2, leaves encoded as ~leaf (negative). Ours: leaves appended after.
    def ref(child: int) -> int:
        return child if child >= 0 else n_int + ~child

    for i in range(n_int):
        dt = dtype[i]
        default_left = bool(dt & _LGB_DEFAULT_LEFT)
        missing = (dt >> 2) & 3
        l_ref, r_ref = ref(left[i]), ref(right[i])
        if dt & _LGB_CATEGORICAL:
            idx = int(thr[i])
            if not 0 <= idx < n_cat or idx != thr[i]:
                raise ModelFormatError(f"{where}: node {i} refers to categorical set {thr[i]}")
            cats = frozenset(
                32 * w + b
                for w, word in enumerate(cat_words[cat_bounds[idx] : cat_bounds[idx + 1]])
                for b in range(32)
                if (word >> b) & 1
            )
            tree.add(feat[i], math.nan, False, l_ref, r_ref, internal[i], cats=cats)
            continue
        nan_left = thr[i] >= 0.0
        thr[i] = _lgb_effective_threshold(thr[i])
        if missing == 0:  # None: NaN is replaced by 0.0 and compared
            tree.add(feat[i], thr[i], nan_left, l_ref, r_ref, internal[i])
        elif missing == 1:  # Zero: NaN and |x| <= 1e-35f take the default side
            tree.add(feat[i], thr[i], default_left, l_ref, r_ref, internal[i], zero_left=default_left)
        elif missing == 2:  # NaN: NaN takes the default side
            tree.add(feat[i], thr[i], default_left, l_ref, r_ref, internal[i])
        else:
            raise ModelFormatError(f"{where}: node {i} has unknown decision_type {dt}")
    for j in range(n_leaves):
        tree.add(-1, math.inf, True, n_int + j, n_int + j, leaf_value[j])
    tree.check(n_features, where)
    return tree


def parse_lightgbm_text(text: str) -> Forest:
    """Read a model written by ``Booster.save_model("x.txt")`` (LightGBM 3.x / 4.x, objective binary)."""
    header, sections = _lgb_sections(text)
    if header.get("_magic") != "tree" or "version" not in header:
        raise ModelFormatError("not a LightGBM text model (no 'tree' / 'version=' header)")
    try:
        num_class = int(header.get("num_class", "1"))
        per_iter = int(header.get("num_tree_per_iteration", "1"))
        n_features = int(header.get("max_feature_idx", "-1")) + 1
    except ValueError:
        raise ModelFormatError("LightGBM header is malformed") from None
    if num_class != 1 or per_iter != 1:
        raise ModelFormatError("multi-class LightGBM models are not supported")
    if not 0 < n_features <= MAX_FEATURES:
        raise ModelFormatError(f"LightGBM model declares {n_features} features")
    objective = header.get("objective", "").split()
    scale = 1.0
    if not objective or objective[0] not in ("binary", "cross_entropy", "xentropy"):
        raise ModelFormatError(
            f"LightGBM objective {' '.join(objective)!r} is not supported; expected binary"
        )
    for token in objective[1:]:
        if token.startswith("sigmoid:"):
            scale = _num(token[8:], "LightGBM sigmoid")
    if not (math.isfinite(scale) and scale > 0):
        raise ModelFormatError(f"LightGBM sigmoid {scale} must be positive")
    names = header.get("feature_names", "").split()
    if len(names) != n_features:
        raise ModelFormatError("LightGBM feature_names does not match max_feature_idx")
    if not sections:
        raise ModelFormatError("LightGBM model has no trees")
    trees = [_lgb_tree(s, n_features, f"LightGBM tree {s.get('Tree')}") for s in sections]
    divisor = float(len(trees)) if "average_output" in header else 1.0
    return Forest("lightgbm", names, trees, 0.0, sigmoid_scale=scale, divisor=divisor, objective=objective[0])


def parse_model_text(text: str, source: str = "model") -> Forest:
    """Detect the format from the content (not the file name) and parse it."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ModelFormatError(f"{source}: looks like JSON but does not parse ({exc})") from None
        return parse_xgboost_json(doc)
    if stripped.startswith("tree"):
        return parse_lightgbm_text(text)
    raise ModelFormatError(
        f"{source}: unrecognised model format (expected XGBoost JSON or LightGBM text; UBJSON/binary models "
        "must be re-saved as .json / .txt)"
    )
