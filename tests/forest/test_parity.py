"""The pure-Python runtime reproduces XGBoost / LightGBM predictions on 10,000 rows, on both engines."""

from __future__ import annotations

import math
import re

import pytest

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")

from ctad.forest import runtime as mr  # noqa: E402

ALL = ["xgb", "xgb_base", "xgb_dart", "lgb", "lgb_zero", "lgb_cat", "lgb_rf"]


def _load(models, name):
    trained = models[0][name]
    return trained, mr.load_model(trained.path), models[1]


@pytest.mark.parametrize("engine", ["python", "numpy"])
@pytest.mark.parametrize("name", ALL)
def test_probabilities_match_library(models, name, engine):
    trained, model, rows = _load(models, name)
    assert len(rows) >= 10_000
    got = np.asarray(model.predict(rows.tolist() if engine == "python" else rows, engine=engine))
    diff = np.abs(got - trained.prob)
    assert diff.max() <= 1e-6, f"{name}/{engine}: worst row {int(diff.argmax())} off by {diff.max():.3g}"


@pytest.mark.parametrize("name", ALL)
def test_margins_match_library(models, name):
    trained, model, rows = _load(models, name)
    got = np.asarray(model.predict_margin(rows.tolist(), engine="python"))
    if name == "lgb_rf":  # LightGBM's raw_score is the plain sum; its probability uses the average
        got = got * model.n_trees
    # XGBoost accumulates in float32 (and we in float64): allow float32 rounding of the margin;
    # LightGBM works in float64 like us, so the match is (near) exact.
    tol = 2e-5 if name.startswith("xgb") else 1e-9
    diff = np.abs(got - trained.margin) / np.maximum(1.0, np.abs(trained.margin))
    assert diff.max() <= tol, f"{name}: worst row {int(diff.argmax())} off by {diff.max():.3g}"


@pytest.mark.parametrize("name", ALL)
def test_engines_are_bit_identical(models, name):
    _, model, rows = _load(models, name)
    py = model.predict_margin(rows.tolist(), engine="python")
    fast = model.predict_margin(rows, engine="numpy")
    mismatched = [i for i, (a, b) in enumerate(zip(py, fast)) if a != b]
    assert not mismatched, f"{name}: {len(mismatched)} rows differ, first {mismatched[:5]}"
    assert model.predict(rows[:5000], engine="numpy") == model.predict(rows[:5000].tolist(), engine="python")


@pytest.mark.parametrize("name", ALL)
def test_contributions_sum_to_margin(models, name):
    _, model, rows = _load(models, name)
    sample = rows[::37].tolist()
    margins = model.predict_margin(sample, engine="python")
    for row, margin in zip(sample, margins):
        contrib = model.contributions(row)
        assert len(contrib) == model.n_features + 1
        assert math.fsum(contrib) == pytest.approx(margin, abs=1e-9)


def test_contributions_match_xgboost_saabas(models):
    """XGBoost's approx_contribs is the same Saabas attribution (computed in float32 there)."""
    trained, model, rows = _load(models, "xgb")
    finite = rows[np.all(~np.isinf(rows), axis=1) & np.all(np.abs(np.nan_to_num(rows)) < 1e30, axis=1)][:400]
    ref = trained.booster.predict(
        xgb.DMatrix(finite, feature_names=model.feature_names), pred_contribs=True, approx_contribs=True
    )
    mine = np.asarray([model.contributions(r) for r in finite.tolist()])
    assert np.abs(mine - ref).max() < 1e-4


def test_contributions_attribute_only_used_features(models):
    _, model, rows = _load(models, "lgb")
    row = rows[5000].tolist()
    contrib = model.contributions(row)
    used = {t.feature[n] for t in model._forest.trees for n in range(len(t.feature)) if t.feature[n] >= 0}
    for f in range(model.n_features):
        if f not in used:
            assert contrib[f] == 0.0
    top = model.explain(row, top=3)
    assert all(c > 0 for _, _, c in top) and len(top) <= 3
    assert [c for _, _, c in top] == sorted((c for _, _, c in top), reverse=True)


def test_none_is_missing_and_ints_are_numbers(models):
    _, model, rows = _load(models, "xgb")
    with_nan = rows[:200].tolist()
    with_none = [[None if v != v else v for v in r] for r in with_nan]
    ref = model.predict(with_nan, engine="python")
    assert model.predict(with_none, engine="python") == ref
    assert model.predict(with_none, engine="numpy") == ref
    assert model.contributions(with_none[3]) == model.contributions(with_nan[3])
    ints = [[0] * model.n_features]
    assert model.predict(ints, engine="python") == model.predict([[0.0] * model.n_features], engine="numpy")


def test_bad_rows_give_clear_errors(models):
    _, model, _ = _load(models, "lgb")
    n = model.n_features
    with pytest.raises(ValueError, match=f"expected {n} features, got 3"):
        model.predict([[1.0, 2.0, 3.0]], engine="python")
    with pytest.raises(ValueError, match="expected rows of"):
        model.predict([[1.0, 2.0, 3.0]] * 40, engine="numpy")
    bad = [0.5] * n
    bad[4] = "abc"
    with pytest.raises(ValueError, match="feat_04.*'abc' is not a number"):
        model.predict([bad], engine="python")
    with pytest.raises(ValueError, match="numbers or None"):
        model.predict([bad] * 40, engine="numpy")
    with pytest.raises(ValueError, match="engine must be"):
        model.predict([[0.0] * n], engine="gpu")
    assert model.predict([], engine="python") == [] == model.predict([], engine="numpy")


def test_metadata(models):
    trained, model, _ = _load(models, "xgb")
    assert model.feature_names == [f"feat_{i:02d}" for i in range(32)]
    assert model.format == "xgboost" and model.n_trees == 120 and model.max_depth <= 6
    assert len(model.sha256) == 64
    assert "def _margin(r):" in model.python_source()
    lgb_model = _load(models, "lgb")[1]
    assert lgb_model.format == "lightgbm" and lgb_model.n_trees == 120


def test_fixture_models_exercise_every_missing_rule(models):
    """Guard on the fixtures: the parity tests above must cover every split rule the runtime implements."""

    def kinds(name):
        text = models[0][name].path.read_text()
        return {
            (int(v) & 1, (int(v) >> 2) & 3)
            for line in re.findall(r"^decision_type=(.*)$", text, re.M)
            for v in line.split()
        }

    assert {(0, 0), (0, 2)} <= kinds("lgb")  # missing type None (NaN -> 0.0) and NaN
    assert (0, 1) in kinds("lgb_zero")  # zero-as-missing
    assert any(cat for cat, _ in kinds("lgb_cat"))  # categorical bitsets
    model = mr.load_model(models[0]["xgb"].path)
    defaults = {
        t.nan_left[n] for t in model._forest.trees for n in range(len(t.feature)) if t.feature[n] >= 0
    }
    assert defaults == {True, False}
