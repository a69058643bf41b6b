"""`ctad.core.scoring` over a whole feature matrix, with numpy: training combines its out-of-fold predictions with the
knowledge prior exactly as serving does, so the threshold it chooses is the threshold of the shipped score.

A vectorised twin of `scoring.prior` / `scoring.combine`; `tests/train/test_priors.py` holds it to the
row-by-row definition."""

from __future__ import annotations

import numpy as np

from ctad.core.features import FEATURE_INDEX
from ctad.core.scoring import _FLAG_COLUMNS, FLAG_PRIOR, RISK5_PRIOR


def prior_array(X: np.ndarray) -> np.ndarray:
    """`scoring.prior` of every row of X."""
    X = np.asarray(X, dtype=np.float64)

    def col(name: str) -> np.ndarray:
        v = X[:, FEATURE_INDEX[name]]
        return np.where(np.isfinite(v), v, 0.0)

    base = np.zeros(len(X))
    for flag, column in _FLAG_COLUMNS:
        v = X[:, column]
        base = np.where(np.isfinite(v) & (v >= 1.0), np.maximum(base, FLAG_PRIOR[flag]), base)
    base = np.where(col("api_risk") >= 5.0, np.maximum(base, RISK5_PRIOR), base)
    base = np.where(col("impact") >= 4.0, base, 0.0)
    calls = np.expm1(np.clip(col("id_action_log_count"), 0.0, 50.0))
    return base / (1.0 + calls)


def combine_array(p_model: np.ndarray, X: np.ndarray) -> np.ndarray:
    """`scoring.combine` of the booster's probabilities with the rows' priors."""
    return 1.0 - (1.0 - np.asarray(p_model, dtype=np.float64)) * (1.0 - prior_array(X))
