"""The shipped model reads evidence the way the feature table says (ctad.core.features.DIRECTIONS).

Trained with monotone constraints so that it transfers to accounts it never saw; this checks the file that ships,
through our own runtime: raising a +1 feature never lowers the model's probability, raising a -1 one never
raises it, from realistic rows (the bundled sample account's features)."""

from __future__ import annotations

import random

import pytest
from ctad.core.catalog import Catalog
from ctad.core.features import DIRECTIONS, FEATURE_INDEX, FeatureState
from ctad.core.normalize import Normalizer
from ctad.engine.detect import ModelBundle
from ctad.engine.readers import iter_file


@pytest.fixture(scope="module")
def rows():
    from ctad.core.resources import find_dir

    sample = find_dir("samples") / "sample_account.jsonl.gz"
    cat = Catalog.load()
    norm, state = Normalizer(cat), FeatureState(cat)
    events = []
    for i, item in enumerate(iter_file(str(sample))):
        if i >= 6000:
            break
        events.append(norm.normalize(item.obj if item.obj is not None else item.text))
    events.sort(key=lambda e: (e.time, e.event_id))
    out = [state.process(e) for e in events]
    return random.Random(5).sample(out, 400)


def test_directions_hold_on_the_shipped_model(rows):
    model = ModelBundle.load().model
    base = model.predict(rows, engine="python")
    for name, direction in DIRECTIONS.items():
        i = FEATURE_INDEX[name]
        kept = [
            k for k, r in enumerate(rows) if r[i] == r[i]
        ]  # a missing value follows the tree's default way
        bumped = []
        for k in kept:
            r2 = list(rows[k])
            r2[i] += 3.0
            bumped.append(r2)
        moved = model.predict(bumped, engine="python")
        for k, b in zip(kept, moved):
            assert (b - base[k]) * direction >= -1e-9, (name, base[k], b)
