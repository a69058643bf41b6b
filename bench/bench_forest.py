"""Benchmark of the numpy forest walker (``NumpyForest.margins``) and batch contributions on realistic rows.

Realistic rows are the engine's own feature rows over simulated CloudTrail (random rows take other paths
through the trees): the S3 files under --src are normalised, put in time order and run through
``FeatureState``; the rows are cached as .npy under $TMPDIR/ctad-bench-forest. The host is noisy, so the candidates are
timed interleaved in one process, several rounds, and min / median are reported.

    .venv/bin/python bench/bench_forest.py [--rows 100000] [--rounds 7] [--src DIR]

``--baseline REV`` also times the numpy tree engine as of git revision REV (default: aaa392f, before the
tuning) on the same rows, interleaved with the working tree's version.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
from sample_data import sample_data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))

from ctad.forest import runtime as mr  # noqa: E402


def realistic_rows(src: Path, n: int) -> np.ndarray:
    cache = Path(tempfile.gettempdir()) / "ctad-bench-forest" / f"{src.name}-rows-{n}.npy"
    if cache.exists():
        return np.load(cache)
    from app.catalog import Catalog
    from app.features import FeatureState
    from app.normalize import NormalizeError, Normalizer
    from app.readers import iter_rows

    catalog = Catalog.load()
    norm = Normalizer(catalog)
    events = []
    for r in iter_rows([src]):
        if r.obj is None:
            continue
        try:
            events.append(norm.normalize(r.obj))
        except NormalizeError:
            continue
    events.sort(key=lambda ev: (ev.time, ev.event_id))
    state = FeatureState(catalog)
    rows = [state.process(ev) for ev in events]
    X = np.asarray(rows[-n:], dtype=np.float64)  # the tail: the state has warmed up
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, X)
    return X


def load_numpy_module(rev: str) -> object:
    """The numpy tree engine as of git revision ``rev``, imported next to today's ``ctad.forest``."""
    for where in (
        "app/ctad/forest/numpy_engine.py",
        "app/model_runtime_numpy.py",
    ):  # after / before the layers
        shown = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:{where}"], capture_output=True, text=True
        )
        if shown.returncode == 0:
            break
    else:
        raise SystemExit(f"no numpy engine at revision {rev}")
    # Older revisions import their parser relatively, as modules of the package then called `app`.
    text = shown.stdout.replace("from .model_runtime_parse import", "from ctad.forest.parse import")
    path = Path(tempfile.mkdtemp(prefix="bench_forest_")) / "numpy_engine_base.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("ctad.forest.numpy_engine_base", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def interleaved(
    fns: Dict[str, Callable[[], object]], rounds: int, clock: Callable[[], float]
) -> Dict[str, List[float]]:
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = clock()
            fn()
            times[name].append(clock() - t)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", help="simulated S3 files (default: the 250k set bench_detect.py simulates)")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=16384, help="rows per margins() call")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--model", default=str(REPO / "model" / "model.json"))
    ap.add_argument("--baseline", default="aaa392f", help="git revision to compare against ('' to skip)")
    ap.add_argument("--contrib-rows", type=int, default=300)
    ap.add_argument(
        "--cpu", action="store_true", help="time process CPU time (busy host) instead of wall time"
    )
    args = ap.parse_args()

    X = realistic_rows(Path(args.src) if args.src else sample_data(), args.rows)
    model = mr.load_model(args.model)
    forest = model._forest
    print(f"{model}; {len(X)} rows x {X.shape[1]} features, NaN {np.isnan(X).mean():.1%}; batch {args.batch}")
    batches = [X[i : i + args.batch] for i in range(0, len(X), args.batch)]
    engines = {"new": mr._np_engine.NumpyForest(forest)}
    if args.baseline:
        engines[f"base({args.baseline})"] = load_numpy_module(args.baseline).NumpyForest(forest)
    ref = np.concatenate([engines["new"].margins(b) for b in batches])
    py = np.asarray(model.predict_margin(X[:5000].tolist(), engine="python"))
    assert np.array_equal(ref[:5000], py), "numpy margins differ from the python engine"
    for name, eng in engines.items():
        got = np.concatenate([eng.margins(b) for b in batches])
        assert np.array_equal(got, ref), f"{name} differs"
    fns = {name: (lambda e=eng: [e.margins(b) for b in batches]) for name, eng in engines.items()}
    clock = time.process_time if args.cpu else time.perf_counter
    times = interleaved(fns, args.rounds, clock)
    kind = "CPU time" if args.cpu else "wall time"
    print(f"\nmargins, {len(X)} rows, {args.rounds} interleaved rounds, {kind}:")
    for name, ts in times.items():
        print(
            f"  {name:14s} min {len(X) / min(ts):10.0f} rows/s ({min(ts) / len(X) * 1e6:5.2f} us/row)  "
            f"median {len(X) / statistics.median(ts):10.0f} rows/s ({statistics.median(ts) / len(X) * 1e6:5.2f} us/row)"
        )

    # Contributions for a few hundred rows (the anomalous share of a batch).
    rng = np.random.default_rng(1)
    pick = X[rng.choice(len(X), args.contrib_rows, replace=False)]
    rows = pick.tolist()
    if hasattr(model, "contributions_many"):
        model.prepare("numpy")
        many = model.contributions_many(rows)
        one = [model.contributions(r) for r in rows[:50]]
        assert np.abs(np.asarray(many[:50]) - np.asarray(one)).max() <= 1e-9
        times = interleaved(
            {
                "contributions": lambda: [model.contributions(r) for r in rows[:100]],
                "contributions_many": lambda: model.contributions_many(rows),
            },
            args.rounds,
            clock,
        )
        print(f"\ncontributions ({args.contrib_rows} rows; per-row loop over 100 rows):")
        for name, ts in times.items():
            k = 100 if name == "contributions" else len(rows)
            print(
                f"  {name:18s} min {min(ts) / k * 1e6:7.1f} us/row  median {statistics.median(ts) / k * 1e6:7.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
