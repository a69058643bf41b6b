"""The numpy engine's walkers and batch contributions agree with the pure-Python reference, bit for bit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from ctad.forest import numpy_engine as mn  # noqa: E402
from ctad.forest import runtime as mr  # noqa: E402

ALL = ["xgb", "xgb_base", "xgb_dart", "lgb", "lgb_zero", "lgb_cat", "lgb_rf"]
BUNDLED = Path(__file__).resolve().parents[2] / "model" / "model.json"


def _edge_rows(model: mr.TreeModel, n: int, seed: int) -> np.ndarray:
    """Rows whose values sit on, just above and just below the model's own thresholds; some NaN / special."""
    rng = np.random.default_rng(seed)
    pools = [[0.0, 1.0, -1.0] for _ in range(model.n_features)]
    for tree in model._forest.trees:
        for f, t, cats in zip(tree.feature, tree.thr, tree.cats):
            if f < 0:
                continue
            if cats is not None:
                pools[f].extend(float(c) for c in cats)
            elif math.isfinite(t):
                pools[f].extend((t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf)))
    X = np.empty((n, model.n_features))
    for f, pool in enumerate(pools):
        X[:, f] = np.asarray(pool)[rng.integers(0, len(pool), n)]
    X[rng.random(X.shape) < 0.1] = np.nan
    special = rng.random(X.shape) < 0.02
    X[special] = np.asarray([math.inf, -math.inf, -0.0, 1e-36, 3e9])[rng.integers(0, 5, int(special.sum()))]
    X[:5] = np.nan
    return X


@pytest.fixture(scope="module")
def bundled():
    if not BUNDLED.exists():
        pytest.skip("no bundled model")
    return mr.load_model(BUNDLED)


def test_bundled_contributions_many_equal_contributions(bundled):
    rows = _edge_rows(bundled, 400, 1).tolist()
    many = bundled.contributions_many(rows)
    one = [bundled.contributions(r) for r in rows]
    assert len(many) == len(rows) and all(len(c) == bundled.n_features + 1 for c in many)
    assert many == one  # identical floats, not just close
    assert bundled._numpy_engine().table  # the fast layout is what ran


def test_bundled_margins_match_python_and_fallback_walker(bundled):
    X = _edge_rows(bundled, 3000, 2)
    py = bundled.predict_margin(X.tolist(), engine="python")
    assert bundled.predict_margin(X, engine="numpy") == py
    for chunk in (7, 256, 4096):
        assert mn.NumpyForest(bundled._forest, chunk_rows=chunk).margins(X).tolist() == py, chunk
    for options in ({"table": False}, {"max_heap_nodes": 0}):
        assert mn.NumpyForest(bundled._forest, **options).margins(X).tolist() == py, options


@pytest.mark.parametrize("name", ALL)
def test_contributions_many_equal_contributions(models, name):
    model = mr.load_model(models[0][name].path)
    rows = models[1][::29].tolist() + _edge_rows(model, 100, 3).tolist()
    assert len(rows) >= 400
    assert model.contributions_many(rows) == [model.contributions(r) for r in rows]
    assert model.contributions_many(rows[:40], engine="python") == model.contributions_many(rows[:40])


@pytest.mark.parametrize("name", ALL)
def test_every_walker_is_identical(models, name):
    """Condition table, direct complete-tree walk and (for very deep trees) the node walker agree exactly."""
    model = mr.load_model(models[0][name].path)
    rows = models[1]
    py = np.asarray(model.predict_margin(rows.tolist(), engine="python"))
    sample = rows[::31]
    contrib = np.asarray([model.contributions(r) for r in sample.tolist()])
    engines = {
        "table": mn.NumpyForest(model._forest, table=True),
        "direct": mn.NumpyForest(model._forest, table=False),
        "nodes": mn.NumpyForest(model._forest, max_heap_nodes=0),
    }
    assert engines["table"].table and engines["direct"].heap and not engines["nodes"].heap
    for kind, engine in engines.items():
        assert np.array_equal(engine.margins(rows), py), kind
        assert np.array_equal(engine.contributions(sample), contrib), kind
        assert np.array_equal(engine.contributions(sample[:9]), contrib[:9]), kind  # small: no table


def test_contributions_many_inputs(models):
    model = mr.load_model(models[0]["lgb_cat"].path)
    rows = models[1][:60].tolist()
    with_none = [[None if v != v else v for v in r] for r in rows]
    ref = [model.contributions(r) for r in rows]
    assert model.contributions_many(with_none) == ref
    assert model.contributions_many(iter(rows)) == ref
    assert model.contributions_many(np.asarray(rows), engine="numpy") == ref
    assert model.contributions_many(rows[:1]) == ref[:1] == model.contributions_many(rows[:1], engine="numpy")
    assert model.contributions_many([]) == [] == model.contributions_many([], engine="numpy")
    bad = list(rows[0])
    bad[4] = "abc"
    with pytest.raises(ValueError, match="feat_04.*'abc' is not a number"):
        model.contributions_many(rows[:10] + [bad])
    with pytest.raises(ValueError, match="engine must be"):
        model.contributions_many(rows, engine="gpu")
