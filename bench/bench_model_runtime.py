"""Benchmark of ctad.forest.runtime on a model shaped like the one we ship (~40 features, 300 trees, depth 6).

Trains an XGBoost and a LightGBM model on synthetic data with NaNs, then reports: file size, parse time,
code-generation time, rows/s of the generated pure-Python code, of a plain node-array interpreter (the
alternative we measured against), of the numpy engine per batch size, contributions/s (per row and batched), and -- when Splunk's
interpreters are installed -- the pure-Python path on Python 3.9 / 3.13 without numpy.

    .venv/bin/python bench/bench_model_runtime.py [--trees 300] [--depth 6] [--features 40] [--rows 20000]

Figures are noisy on a shared 2-core machine: each timing is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

import lightgbm as lgb
import numpy as np
import xgboost as xgb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))

from ctad.forest import runtime as mr  # noqa: E402

PYTHONS = {
    "3.9": "/root/.pyenv/versions/3.9.18/bin/python",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python",
}

SUB = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ctad.forest import runtime as mr
job = json.load(open(sys.argv[2]))
res = {}
for name, path in job["models"].items():
    t = time.perf_counter(); m = mr.load_model(path); load = time.perf_counter() - t
    t = time.perf_counter(); m.prepare('python'); comp = time.perf_counter() - t
    mr.load_model(path, cache_dir=sys.argv[3]).prepare('python')
    t = time.perf_counter(); mr.load_model(path, cache_dir=sys.argv[3]).prepare('python')
    cached = time.perf_counter() - t
    rows = job["rows"]; best = 1e9
    for _ in range(job["repeat"]):
        t = time.perf_counter(); m.predict(rows, engine="python"); best = min(best, time.perf_counter() - t)
    res[name] = {"load_s": load, "compile_s": comp, "cached_s": cached, "rows_per_s": len(rows) / best, "numpy": mr.HAVE_NUMPY}
print(json.dumps(res))
"""


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def make_data(rng: np.random.Generator, n: int, n_features: int) -> np.ndarray:
    X = rng.normal(size=(n, n_features))
    X[:, : n_features // 4] = rng.exponential(2.0, (n, n_features // 4))  # counts / rates
    X[:, n_features // 4 : n_features // 2] = rng.integers(0, 6, (n, n_features // 2 - n_features // 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


def interpreter_margins(model: mr.TreeModel, rows: List[List[float]]) -> List[float]:
    """The alternative to generated code: walk node arrays tree by tree."""
    forest = model._forest
    out = []
    for row in rows:
        s = forest.base
        for tree in forest.trees:
            s += tree.value[mr._leaf(tree, row)]
        out.append(s)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-subprocess", action="store_true", help="skip the Python 3.9 / 3.13 runs")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    F = args.features
    X = make_data(rng, 20000, F)
    z = np.nansum(X[:, :6], axis=1) * 0.5 - 3 + np.isnan(X[:, 7]) + rng.normal(size=len(X))
    y = (z > 0).astype(int)
    names = [f"f{i:02d}" for i in range(F)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_model_runtime_"))
    paths = {}
    t = time.perf_counter()
    bst = xgb.train(
        {
            "objective": "binary:logistic",
            "max_depth": args.depth,
            "eta": 0.05,
            "tree_method": "hist",
            "nthread": 1,
        },
        xgb.DMatrix(X, y, feature_names=names),
        args.trees,
    )
    paths["xgboost"] = tmp / "model.json"
    bst.save_model(str(paths["xgboost"]))
    gbm = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 2**args.depth - 1,
            "max_depth": args.depth,
            "learning_rate": 0.05,
            "num_threads": 1,
            "verbose": -1,
        },
        lgb.Dataset(X, y, feature_name=names),
        args.trees,
    )
    paths["lightgbm"] = tmp / "model.txt"
    gbm.save_model(str(paths["lightgbm"]))
    print(
        f"trained both models in {time.perf_counter() - t:.1f}s  (features={F} trees={args.trees} "
        f"depth={args.depth}; cores={os.cpu_count()}; python {sys.version.split()[0]}; numpy {np.__version__})"
    )

    Xe = make_data(rng, args.rows, F)
    rows = Xe.tolist()
    small = rows[: max(1000, args.rows // 10)]
    for name, path in paths.items():
        print(f"\n== {name}: {path.stat().st_size / 1e6:.2f} MB")
        load = best_of(lambda p=path: mr.load_model(p), args.repeat)
        model = mr.load_model(path)
        t = time.perf_counter()
        model.prepare("python")
        compile_s = time.perf_counter() - t
        mr.load_model(path, cache_dir=str(tmp / "cache")).prepare("python")
        cached = best_of(lambda p=path: mr.load_model(p, cache_dir=str(tmp / "cache")).prepare("python"), 3)
        print(f"  {model}")
        print(f"  load (parse+validate)      {load * 1e3:8.1f} ms")
        print(f"  load+compile from cache    {cached * 1e3:8.1f} ms   (load_model(..., cache_dir=...))")
        print(
            f"  codegen+compile (lazy)     {compile_s * 1e3:8.1f} ms   source "
            f"{len(model.python_source()) / 1e6:.2f} MB"
        )
        py = best_of(lambda m=model: m.predict(rows, engine="python"), args.repeat)
        print(f"  python generated code      {len(rows) / py:10.0f} rows/s")
        interp = best_of(lambda m=model: interpreter_margins(m, small), 1)
        print(f"  python node interpreter    {len(small) / interp:10.0f} rows/s   (alternative, not used)")
        one = best_of(lambda m=model: [m.predict_one(r) for r in small], 1)
        print(f"  python predict_one         {len(small) / one:10.0f} rows/s")
        for batch in (64, 512, 4096, len(rows)):
            chunks = [Xe[i : i + batch] for i in range(0, len(Xe), batch)]
            sec = best_of(lambda m=model, c=chunks: [m.predict(b, engine="numpy") for b in c], args.repeat)
            print(f"  numpy, batches of {batch:<6d}   {len(rows) / sec:10.0f} rows/s")
        sec = best_of(lambda m=model: m.predict(rows, engine="numpy"), args.repeat)
        print(f"  numpy from list rows       {len(rows) / sec:10.0f} rows/s   (includes list->array)")
        contrib = best_of(lambda m=model: [m.contributions(r) for r in small[:1000]], 1)
        print(f"  contributions              {1000 / contrib:10.0f} rows/s")
        many = best_of(lambda m=model: m.contributions_many(small[:1000]), args.repeat)
        print(f"  contributions_many         {1000 / many:10.0f} rows/s   (numpy, one batch of 1000)")
        if name == "xgboost":
            ref = best_of(lambda: bst.inplace_predict(Xe), args.repeat)
        else:
            ref = best_of(lambda: gbm.predict(Xe, num_threads=1), args.repeat)
        print(f"  ({name} itself, 1 thread  {len(rows) / ref:10.0f} rows/s, for reference)")

    if not args.no_subprocess:
        pkg = tmp / "pkg" / "ctad"
        (pkg / "forest").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        for src in (REPO / "app" / "ctad" / "forest").glob("*.py"):
            shutil.copy(src, pkg / "forest" / src.name)
        job = tmp / "job.json"
        job.write_text(
            json.dumps(
                {"models": {k: str(v) for k, v in paths.items()}, "rows": small, "repeat": args.repeat}
            )
        )
        print("\n== pure Python on Splunk-like interpreters (no numpy)")
        for version, python in PYTHONS.items():
            if not Path(python).exists():
                print(f"  python {version}: not installed")
                continue
            proc = subprocess.run(
                [python, "-I", "-c", SUB, str(pkg.parent), str(job), str(tmp / f"cache{version}")],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode:
                print(f"  python {version}: failed: {proc.stderr[-500:]}")
                continue
            for name, r in json.loads(proc.stdout).items():
                print(
                    f"  python {version} {name:8s} load {r['load_s'] * 1e3:6.0f} ms  compile "
                    f"{r['compile_s'] * 1e3:6.0f} ms  cached load+compile {r['cached_s'] * 1e3:5.0f} ms  "
                    f"{r['rows_per_s']:8.0f} rows/s  (numpy={r['numpy']})"
                )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
