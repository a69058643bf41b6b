"""The `established` hold-out: attacks whose attacker is an identity with weeks of history are never trained on."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from ctad.simulate.attacks import ESTABLISHED_SCENARIOS  # noqa: E402
from ctad.train import DEFAULT_SPLITS  # noqa: E402
from ctad.train.dataset import featurize  # noqa: E402
from ctad.train.evaluate import split_indices  # noqa: E402


def _arrays(scenarios):
    n_benign = 100
    y = np.array([0] * n_benign + [1] * len(scenarios), dtype=np.int8)
    scen = np.array([""] * n_benign + list(scenarios), dtype=object)
    t = np.arange(len(y), dtype=np.float64)
    tech = np.array([""] * n_benign + [f"t{i % 3}" for i in range(len(scenarios))], dtype=object)
    return {
        "y": y,
        "time": t,
        "scenario": scen,
        "technique": tech,
        "account": np.array(["a"] * len(y), dtype=object),
    }


def test_established_split_holds_out_those_scenarios():
    scen = [
        "leaked-key",
        "insider",
        "ci-role-key",
        "recon-burst",
        "established-admin",
        "stolen-instance-credentials",
    ] * 3
    arrays = _arrays(scen)
    folds = split_indices(arrays, "established")
    assert len(folds) == 1
    _name, train, test = folds[0]
    held = np.isin(arrays["scenario"], list(ESTABLISHED_SCENARIOS)) & (arrays["y"] == 1)
    assert not held[train].any()
    assert set(np.flatnonzero(held)) <= set(test.tolist())
    assert (arrays["y"][train] == 1).sum() == 6  # leaked-key and recon-burst attacks stay in training
    assert not set(train.tolist()) & set(test.tolist())
    benign_test = test[arrays["y"][test] == 0]
    assert (
        len(benign_test)
        and arrays["time"][benign_test].min() > arrays["time"][train[arrays["y"][train] == 0]].max()
    )


def test_established_split_is_skipped_without_scenario_labels():
    assert split_indices(_arrays(["", "", ""]), "established") == []
    assert split_indices(_arrays(["leaked-key"] * 3), "established") == []


def test_default_splits_include_established():
    assert "established" in DEFAULT_SPLITS and DEFAULT_SPLITS[0] == "technique"


def test_dataset_carries_the_scenario_per_row():
    from ctad.simulate import SimConfig, generate

    recs = list(generate(SimConfig(seed=4, days=8, events=6000, campaigns=12)))
    arrays = featurize(recs).arrays()
    y, scen = arrays["y"], arrays["scenario"]
    assert len(scen) == len(y)
    assert set(scen[y == 0].tolist()) == {""}
    assert set(scen[y == 1].tolist()) & set(ESTABLISHED_SCENARIOS)
