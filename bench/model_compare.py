"""Compare booster settings the way this project decides what ships: several training seeds, threshold-free figures
on labelled files that training never saw.

One training run is one draw. Across training seeds 7, 1 and 2 (2026-12-06) the bundled sample's PR-AUC moved by
0.011 and the established-identity split's by 0.054, so a single run can show neither a gain nor a loss of that
size; and a setting that won every paired comparison on the training splits (`colsample_bytree` 0.5) lost on files
training never saw. This script featurises the training data once, exactly as `ctad train --simulate-events N
--days D --seed S` does (cached under --cache), trains one final model per (setting, seed) on all of it, and scores
each labelled file in hunting mode as `ctad eval` does: ROC-AUC and PR-AUC of the shipped score (the booster's
probability combined with the knowledge prior, `ctad.core.scoring`; the calibration shift changes no ranking).

    .venv/bin/python bench/model_compare.py samples/sample_account.jsonl.gz sim_seed11.jsonl.gz \\
        --params '{}' --params '{"colsample_bytree": 0.5}' --seeds 7,1,2

A feature or simulator change is compared by running the script from each checkout (or worktree) and reading the
two tables. Write the rule that decides before running it (files, tolerances); the shared real account is
reported after the decision, never used to make it. XGBoost only: it is what ships.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import ctad
import numpy as np
from ctad.core.catalog import Catalog
from ctad.core.features import FeatureState
from ctad.core.normalize import NormalizeError, Normalizer
from ctad.core.ordering import EventWalk
from ctad.core.resources import find_dir
from ctad.engine.readers import iter_rows
from ctad.evaluation.scorecard import average_precision, label_of, roc_auc
from ctad.train.dataset import featurize_orgs
from ctad.train.pipeline import simulated_orgs
from ctad.train.priors import combine_array
from ctad.train.trainers import train_xgboost


def code_digest() -> str:
    """What the training matrix depends on besides its settings: the simulator, its attack data, the engine core
    and the lookups. A cache keyed on this is never reused across checkouts that would simulate or featurise
    differently (a worktree with another scenario, a new feature)."""
    package = Path(ctad.__file__).resolve().parent
    roots = [package / "simulate", package / "core", package / "train" / "dataset.py", find_dir("lookups")]
    digest = hashlib.sha1()
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            if "__pycache__" not in f.parts:
                digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:12]


def training_arrays(events: int, days: int, seed: int, cache: Path) -> Tuple[np.ndarray, np.ndarray]:
    """The training matrix of `ctad train --simulate-events events --days days --seed seed` (three organisations,
    both ways of use), cached per setting and code (`code_digest`) so a second comparison starts at once."""
    campaigns = max(40, 8 * days)  # `ctad train`'s default
    path = cache / f"train-{events}-{days}-{seed}-{campaigns}-{code_digest()}.npz"
    if path.exists():
        data = np.load(path)
        return data["X"], data["y"]
    started = time.perf_counter()
    arrays = featurize_orgs(simulated_orgs(events, days, seed, campaigns)).arrays()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=arrays["X"], y=arrays["y"])
    print(
        f"featurised {len(arrays['y']):,} training rows in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return arrays["X"], arrays["y"]


def labelled_rows(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Feature rows and labels of a labelled file in hunting mode, in the engine's order (as `ctad eval` scores it);
    unreadable and unlabelled rows are left out, re-deliveries counted once."""
    catalog = Catalog.load()
    normalizer = Normalizer(catalog)
    items: List[Tuple[Any, ...]] = []
    for n, row in enumerate(iter_rows([path])):
        if row.error or not isinstance(row.obj, dict):
            continue
        label = label_of(row.obj)
        if label is None:
            continue
        try:
            ev = normalizer.normalize(row.obj)
        except NormalizeError:
            continue
        items.append((ev.time, ev.event_id, n, ev, label))
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    X, y = [], []
    for item, _ev, features, first in EventWalk(items, FeatureState(catalog)):
        if first is None:
            X.append(features)
            y.append(item[4])
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int8)


def _cell(values: List[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.mean(values):.4f} ({min(values):.4f}–{max(values):.4f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="labelled CloudTrail (_label 0/1) never used in training")
    ap.add_argument("--params", action="append", default=[],
                    help="JSON of XGBoost parameter overrides, one setting per flag (default: the shipped ones)")  # fmt: skip
    ap.add_argument("--seeds", default="7,1,2", help="training seeds of the booster, comma-separated")
    ap.add_argument("--events", type=int, default=1_500_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--data-seed", type=int, default=7, help="simulator seed of the training data")
    ap.add_argument("--cache", default="/tmp/ctad-model-compare", help="where the training matrix is kept")
    args = ap.parse_args()
    settings = args.params or ["{}"]
    try:
        parsed = [json.loads(p) for p in settings]
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as exc:
        ap.error(f"--params must be JSON objects and --seeds integers: {exc}")
    if not all(isinstance(p, dict) for p in parsed) or not seeds:
        ap.error("--params must be JSON objects and --seeds at least one integer")

    X, y = training_arrays(args.events, args.days, args.data_seed, Path(args.cache))
    tests = {name: labelled_rows(name) for name in args.files}
    figures: Dict[Tuple[str, str], Dict[str, List[float]]] = {}
    for text, params in zip(settings, parsed):
        for seed in seeds:
            started = time.perf_counter()
            model = train_xgboost(X, y, dict(params, seed=seed))
            print(f"{text} seed {seed}: trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            for name, (tx, ty) in tests.items():
                score = combine_array(model.predict_proba(tx), tx).tolist()
                got = figures.setdefault((text, name), {"roc": [], "pr": []})
                for key, value in (
                    ("roc", roc_auc(ty.tolist(), score)),
                    ("pr", average_precision(ty.tolist(), score)),
                ):
                    if value is not None:
                        got[key].append(value)

    print(f"\ntraining: --simulate-events {args.events} --days {args.days} --seed {args.data_seed}; "
          f"booster seeds {','.join(map(str, seeds))}; mean (min–max) over seeds\n")  # fmt: skip
    print("| file | setting | ROC-AUC | PR-AUC |")
    print("|---|---|---|---|")
    for name in args.files:
        for text in settings:
            got = figures[(text, name)]
            print(f"| {Path(name).name} | `{text}` | {_cell(got['roc'])} | {_cell(got['pr'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
