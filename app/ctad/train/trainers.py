"""The boosters we train: XGBoost and LightGBM (CatBoost when installed), behind one small interface.

Parameters are modest on purpose: the shipped model is evaluated in pure Python at search time, so its size
(trees x depth) is a cost paid on every event; the leaderboard reports size and scoring speed next to quality.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np

from ctad.core.features import DIRECTIONS, FEATURE_NAMES

# The feature table's monotone directions (ctad.core.features.DIRECTIONS), in column order, for both boosters.
MONOTONE = [DIRECTIONS.get(name, 0) for name in FEATURE_NAMES]

THREADS = max(1, os.cpu_count() or 1)
# OpenMP threads that spin while waiting make xgboost/lightgbm 5-10x slower as soon as anything else runs on a
# 2-core machine (measured: 60 s vs 6 s per fold); must be set before either library loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_PARAMS: Dict[str, Dict[str, Any]] = {
    "xgboost": {
        "n_estimators": 200,
        "max_depth": 6,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 2.0,
        "reg_lambda": 1.0,
        "monotone_constraints": "(" + ",".join(str(d) for d in MONOTONE) + ")",
    },  # fmt: skip
    "lightgbm": {
        "n_estimators": 200,
        "num_leaves": 48,
        "max_depth": 7,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "min_child_samples": 5,
        "min_sum_hessian_in_leaf": 1e-3,
        "monotone_constraints": MONOTONE,
    },  # fmt: skip
    "catboost": {"iterations": 200, "depth": 6, "learning_rate": 0.1},
}


def _pos_weight(y: np.ndarray) -> float:
    pos = float(np.sum(y == 1))
    neg = float(np.sum(y == 0))
    # sqrt of the imbalance: enough to make rare attacks matter, not so much that probabilities stop meaning much
    return math.sqrt(neg / pos) if pos else 1.0


@dataclass
class Trained:
    algorithm: str
    booster: Any
    predict_proba: Callable[[np.ndarray], np.ndarray]
    save: Callable[[Path], str]  # writes the model file into a directory, returns its file name


def train_xgboost(X: np.ndarray, y: np.ndarray, params: Dict[str, Any]) -> Trained:
    import xgboost as xgb

    p = dict(DEFAULT_PARAMS["xgboost"], **params)
    rounds = int(p.pop("n_estimators"))
    booster_params = {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "eta": p.pop("learning_rate"),
        "scale_pos_weight": _pos_weight(y),
        "nthread": THREADS,
        "seed": 7,
        **p,
    }
    dtrain = xgb.DMatrix(X, label=y, missing=np.nan, feature_names=list(FEATURE_NAMES))
    booster = xgb.train(booster_params, dtrain, num_boost_round=rounds)

    def predict(Xt: np.ndarray) -> np.ndarray:
        return booster.predict(xgb.DMatrix(Xt, missing=np.nan, feature_names=list(FEATURE_NAMES)))

    def save(directory: Path) -> str:
        booster.save_model(str(directory / "model.json"))
        return "model.json"

    return Trained("xgboost", booster, predict, save)


def train_lightgbm(X: np.ndarray, y: np.ndarray, params: Dict[str, Any]) -> Trained:
    import lightgbm as lgb

    p = dict(DEFAULT_PARAMS["lightgbm"], **params)
    rounds = int(p.pop("n_estimators"))
    lgb_params = {
        "objective": "binary",
        "learning_rate": p.pop("learning_rate"),
        "bagging_fraction": p.pop("subsample"),
        "bagging_freq": p.pop("subsample_freq"),
        "feature_fraction": p.pop("colsample_bytree"),
        "scale_pos_weight": _pos_weight(y),
        "num_threads": THREADS,
        "seed": 7,
        "deterministic": True,
        "verbose": -1,
        **p,
    }
    dtrain = lgb.Dataset(X, label=y, feature_name=list(FEATURE_NAMES), free_raw_data=True)
    booster = lgb.train(lgb_params, dtrain, num_boost_round=rounds)

    def predict(Xt: np.ndarray) -> np.ndarray:
        return booster.predict(Xt)

    def save(directory: Path) -> str:
        booster.save_model(str(directory / "model.txt"))
        return "model.txt"

    return Trained("lightgbm", booster, predict, save)


def train_catboost(
    X: np.ndarray, y: np.ndarray, params: Dict[str, Any]
) -> Trained:  # pragma: no cover - optional
    from catboost import CatBoostClassifier

    p = dict(DEFAULT_PARAMS["catboost"], **params)
    model = CatBoostClassifier(verbose=False, thread_count=THREADS, random_seed=7,
                               scale_pos_weight=_pos_weight(y), **p)  # fmt: skip
    model.fit(X, y)

    def save(directory: Path) -> str:
        raise ValueError("CatBoost models are compared on the leaderboard but cannot be shipped: "
                         "the search-time runtime reads XGBoost JSON and LightGBM text")  # fmt: skip

    return Trained("catboost", model, lambda Xt: model.predict_proba(Xt)[:, 1], save)


TRAINERS: Dict[str, Callable[[np.ndarray, np.ndarray, Dict[str, Any]], Trained]] = {
    "xgboost": train_xgboost,
    "lightgbm": train_lightgbm,
    "catboost": train_catboost,
}


def available(names: str) -> Dict[str, Callable[..., Trained]]:
    out = {}
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name not in TRAINERS:
            raise ValueError(f"unknown algorithm {name!r} (choose from {', '.join(TRAINERS)})")
        module = {"xgboost": "xgboost", "lightgbm": "lightgbm", "catboost": "catboost"}[name]
        try:
            __import__(module)
        except ImportError:
            if name == "catboost":
                continue  # optional: the leaderboard simply has no CatBoost row
            raise
        out[name] = TRAINERS[name]
    return out
