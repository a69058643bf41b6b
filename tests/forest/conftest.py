"""Real XGBoost / LightGBM models trained on synthetic data with NaNs, and rows that probe split edges.

The models are trained here (not stored) so the parity tests follow whatever library versions the venv has.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

N_FEATURES = 32
CAT = 5  # an integer-coded feature (LightGBM categorical in one model)
ZEROISH = 7  # a feature that is often exactly 0 (LightGBM zero_as_missing in one model)
NAMES = [f"feat_{i:02d}" for i in range(N_FEATURES)]


NAN_FREE = [9, 10]  # never missing in training: LightGBM marks them missing_type None (NaN -> 0.0)


def _features(rng: np.random.Generator, n: int, training: bool = False) -> np.ndarray:
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 1] = rng.exponential(3.0, n)
    X[:, CAT] = rng.integers(0, 9, n)
    X[:, ZEROISH] = np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n))
    X[:, 8] = np.round(rng.normal(size=n) * 4)  # many ties on integer values
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:, 3] = np.where(rng.random(n) < 0.3, np.nan, X[:, 3])
    if training:
        X[:, NAN_FREE] = rng.normal(size=(n, len(NAN_FREE)))
    return X


def _labels(rng: np.random.Generator, X: np.ndarray) -> np.ndarray:
    z = (
        np.nan_to_num(X[:, 0])
        + 0.8 * np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
        + 1.2 * np.isnan(X[:, 3])
        + np.isin(X[:, CAT], [2, 5, 6])
        - 1.5 * (np.nan_to_num(X[:, ZEROISH]) == 0)
        + 0.3 * np.nan_to_num(X[:, 8])
        + 0.7 * np.nan_to_num(X[:, 9])
        + rng.normal(size=len(X))
    )
    return (z > 1.0).astype(int)


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _edge_values(thresholds: Dict[int, List[float]]) -> Dict[int, List[float]]:
    """Per feature: every threshold, its float64 and float32 neighbours and the float32 midpoints."""
    out: Dict[int, List[float]] = {}
    for f, ts in thresholds.items():
        vals = set()
        for t in ts:
            if not math.isfinite(t):
                continue
            vals.update({t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf)})
            if abs(t) > 3e38:
                continue
            t32 = _f32(t)
            bits = struct.unpack("<I", struct.pack("<f", t32))[0]
            for nb in (bits - 1, bits + 1):
                if 0 <= nb < 2**32:
                    other = struct.unpack("<f", struct.pack("<I", nb))[0]
                    if math.isfinite(other):
                        mid = (t32 + other) / 2.0
                        vals.update(
                            {other, mid, math.nextafter(mid, math.inf), math.nextafter(mid, -math.inf)}
                        )
        out[f] = sorted(vals)
    return out


SPECIALS = [0.0, -0.0, 1e-36, -1e-36, 1e-35, math.inf, -math.inf, 1e39, -1e39, -0.5, -1.0, 3.7, 1e10]


def _eval_rows(rng: np.random.Generator, thresholds: Dict[int, List[float]], n: int) -> np.ndarray:
    X = _features(rng, n)
    edges = _edge_values(thresholds)
    # A third of the rows: every feature at a split edge; some: special values (inf, -0.0, tiny, huge).
    k = n // 3
    for f in range(N_FEATURES):
        pool = edges.get(f) or [0.0]
        X[:k, f] = np.asarray(pool)[rng.integers(0, len(pool), k)]
    spec = rng.random((n, N_FEATURES)) < 0.03
    X[spec] = np.asarray(SPECIALS)[rng.integers(0, len(SPECIALS), int(spec.sum()))]
    X[k : k + 50] = np.nan
    X[k + 50 : k + 100] = 0.0
    return X


class Trained:
    """A trained model, its file and the library's own predictions on the evaluation rows."""

    def __init__(self, name: str, path: Path, margin: np.ndarray, prob: np.ndarray, booster: object):
        self.name = name
        self.path = path
        self.margin = margin
        self.prob = prob
        self.booster = booster


def _xgb_thresholds(path: Path) -> Dict[int, List[float]]:
    doc = json.loads(path.read_text())
    out: Dict[int, List[float]] = {}
    booster = doc["learner"]["gradient_booster"]
    model = booster["model"] if "model" in booster else booster["gbtree"]["model"]  # gbtree / dart
    for tree in model["trees"]:
        for left, f, c in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1:
                out.setdefault(f, []).append(float(c))
    return out


def _lgb_thresholds(booster: object) -> Dict[int, List[float]]:
    out: Dict[int, List[float]] = {}

    def walk(node: dict) -> None:
        if "split_feature" in node:
            if node.get("decision_type") == "<=":
                out.setdefault(node["split_feature"], []).append(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for info in booster.dump_model()["tree_info"]:
        walk(info["tree_structure"])
    return out


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Dict[str, Trained], np.ndarray]:
    """Several real models (XGBoost gbtree/dart, LightGBM plain/zero-as-missing/categorical/rf)."""
    tmp = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(20240611)
    X = _features(rng, 3000, training=True)
    y = _labels(rng, X)
    made: Dict[str, Tuple[Path, object]] = {}

    dtrain = xgb.DMatrix(X, y, feature_names=NAMES)
    params = {
        "objective": "binary:logistic",
        "max_depth": 6,
        "eta": 0.15,
        "tree_method": "hist",
        "nthread": 1,
    }
    made["xgb"] = (tmp / "xgb.json", xgb.train(params, dtrain, 120))
    params_b = dict(params, base_score=0.3, max_depth=8, tree_method="approx", subsample=0.8, seed=3)
    made["xgb_base"] = (tmp / "xgb_base.json", xgb.train(params_b, dtrain, 40))
    params_d = dict(params, booster="dart", rate_drop=0.2, max_depth=4)
    made["xgb_dart"] = (tmp / "xgb_dart.json", xgb.train(params_d, dtrain, 30))

    lparams = {
        "objective": "binary",
        "num_leaves": 48,
        "max_depth": 8,
        "learning_rate": 0.1,
        "verbose": -1,
        "num_threads": 1,
        "min_data_in_leaf": 10,
    }
    made["lgb"] = (tmp / "lgb.txt", lgb.train(lparams, lgb.Dataset(X, y, feature_name=NAMES), 120))
    made["lgb_zero"] = (
        tmp / "lgb_zero.txt",
        lgb.train(dict(lparams, zero_as_missing=True), lgb.Dataset(X, y, feature_name=NAMES), 40),
    )
    made["lgb_cat"] = (
        tmp / "lgb_cat.txt",
        lgb.train(
            dict(lparams, sigmoid=0.7, max_cat_to_onehot=2),
            lgb.Dataset(X, y, feature_name=NAMES, categorical_feature=[CAT]),
            40,
        ),
    )
    made["lgb_rf"] = (
        tmp / "lgb_rf.txt",
        lgb.train(
            dict(lparams, boosting="rf", bagging_freq=1, bagging_fraction=0.7, feature_fraction=0.8),
            lgb.Dataset(X, y, feature_name=NAMES),
            20,
        ),
    )

    thresholds: Dict[int, List[float]] = {}
    for name, (path, booster) in made.items():
        booster.save_model(str(path))
        th = _xgb_thresholds(path) if name.startswith("xgb") else _lgb_thresholds(booster)
        for f, ts in th.items():
            thresholds.setdefault(f, []).extend(ts)
    rows = _eval_rows(rng, thresholds, 10_000)

    out: Dict[str, Trained] = {}
    for name, (path, booster) in made.items():
        if name.startswith("xgb"):
            # inplace_predict accepts +-inf (DMatrix refuses it); NaN is missing.
            margin = booster.inplace_predict(rows, predict_type="margin").astype(np.float64)
            prob = booster.inplace_predict(rows).astype(np.float64)
        else:
            margin = booster.predict(rows, raw_score=True)
            prob = booster.predict(rows)
        out[name] = Trained(name, path, margin, prob, booster)
    return out, rows
