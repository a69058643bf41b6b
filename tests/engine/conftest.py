import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A small real XGBoost model over the engine's features (quality irrelevant; the plumbing is tested)."""
    import xgboost as xgb
    from ctad.core.features import FEATURE_INDEX, FEATURE_NAMES, FEATURES

    rng = np.random.default_rng(3)
    n = 4000
    X = rng.random((n, len(FEATURE_NAMES))).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    for name in ("id_api_first", "id_net_first", "req_public", "req_logging_off"):
        X[:, FEATURE_INDEX[name]] = (rng.random(n) < 0.2).astype(np.float32)
    y = ((X[:, FEATURE_INDEX["id_api_first"]] == 1) & (X[:, FEATURE_INDEX["id_net_first"]] == 1)) | (
        X[:, FEATURE_INDEX["req_logging_off"]] == 1
    )
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "nthread": 1},
                        xgb.DMatrix(X, label=y.astype(int), missing=np.nan), num_boost_round=30)  # fmt: skip
    out = tmp_path_factory.mktemp("model")
    booster.save_model(str(out / "model.json"))
    spec = {"version": "test-model", "file": "model.json", "threshold": 0.5,
            "severity_cuts": {"medium": 0.6, "high": 0.85, "critical": 0.97},
            "features": [{"name": n, "meaning": m} for n, m in FEATURES]}  # fmt: skip
    (out / "feature_spec.json").write_text(json.dumps(spec))
    return out
