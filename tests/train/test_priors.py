"""The training twin of the knowledge prior equals the serving definition row by row."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ctad.core.features import FEATURE_INDEX, FEATURE_NAMES
from ctad.core.scoring import combine, prior
from ctad.train.priors import combine_array, prior_array


def test_prior_array_equals_prior():
    rng = np.random.default_rng(3)
    X = np.zeros((4000, len(FEATURE_NAMES)))
    for name in ("req_public", "req_cross_account", "req_open_ingress", "req_logging_off", "req_credential_other",
                 "req_self_grant", "req_short_expiry", "req_customer_key"):  # fmt: skip
        X[:, FEATURE_INDEX[name]] = rng.random(4000) < 0.1
    X[:, FEATURE_INDEX["api_risk"]] = rng.integers(0, 6, 4000)
    X[:, FEATURE_INDEX["impact"]] = np.maximum(X[:, FEATURE_INDEX["api_risk"]], rng.integers(0, 6, 4000))
    X[:, FEATURE_INDEX["id_action_log_count"]] = np.log1p(rng.integers(0, 50, 4000))
    X[::97, FEATURE_INDEX["id_action_log_count"]] = np.nan
    X[::89, FEATURE_INDEX["impact"]] = np.inf
    p = rng.random(4000)
    want = [combine(float(pi), prior(list(r))) for pi, r in zip(p, X)]
    got = combine_array(p, X)
    assert np.allclose(got, want, rtol=0, atol=1e-12)
    assert np.allclose(prior_array(X), [prior(list(r)) for r in X], atol=1e-12)
    assert not math.isnan(float(got.sum()))
    assert prior_array(X).max() == pytest.approx(0.9)
