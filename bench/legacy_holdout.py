"""The technique hold-out of an earlier version's benchmark, re-run with today's code: like for like.

The model card's technique hold-out PR-AUC fell from 0.876 to about 0.76 when the simulator was made harder (attacks
through established identities, IaC runs, bulk reads, AWS-service noise), so the two figures measure different
things. This script asks the question the 0.876 target stands for, "is the method worse?", on the same data: it
checks the earlier version out (a detached `git worktree`), writes that version's training data with that version's
simulator (`simulated_orgs(1_500_000, 30, 7, 240)`, what its `ctad train --simulate-events 1500000 --days 30`
used), and runs the technique split (5-fold grouped by technique, XGBoost, out-of-fold) of both versions' pipelines
on those same records, for several booster seeds.

    .venv/bin/python bench/legacy_holdout.py                       # 958b659 (the 0.876 model card), seeds 7,1,2
    .venv/bin/python bench/legacy_holdout.py --seeds 7 --keep /tmp/legacy

About 4 minutes per (version, seed) on 2 cores, plus a minute to write the data. Needs git and the train extra.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent

# Runs inside a fresh interpreter with one version's package first on sys.path (its `ctad` package directory is
# given as argv[1]): writes that version's simulated organisations, or trains its technique split on them.
DUMP = """
import gzip, json, sys
sys.path.insert(0, sys.argv[1])
from ctad.train.pipeline import simulated_orgs
for i, records in enumerate(simulated_orgs(1_500_000, 30, 7, 240)):
    with gzip.open(f"{sys.argv[2]}/org{i}.jsonl.gz", "wt", compresslevel=1) as fh:
        for r in records:
            fh.write(json.dumps(r) + "\\n")
"""
TRAIN = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import ctad
assert ctad.__file__.startswith(sys.argv[1]), ctad.__file__
from ctad.train.pipeline import read_records, train
files = sorted(Path(sys.argv[2]).glob("org*.jsonl.gz"))
result = train(Path(sys.argv[3]), [read_records([str(f)]) for f in files], algorithms="xgboost",
               splits=("technique",), params={"xgboost": {"seed": int(sys.argv[4])}}, log=lambda m: None)
row = [r for r in result["leaderboard"] if r["split"] == "technique"][0]
print(json.dumps({k: row[k] for k in ("roc_auc", "pr_auc", "recall", "fpr")}))
"""


def package_root(checkout: Path) -> Path:
    """The directory holding a version's `ctad` package (the layout moved: app/ was the package, then app/ctad/)."""
    if (checkout / "app" / "ctad" / "__init__.py").exists():
        return checkout / "app"
    link = Path(tempfile.mkdtemp(prefix="ctad-legacy-pkg-"))
    (link / "ctad").symlink_to(checkout / "app")  # the old layout: pyproject mapped ctad = app/
    return link


def python(code: str, *argv: str) -> str:
    env = dict(os.environ, PYTHONPATH="")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return done.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="958b659", help="the earlier version (default: the 0.876 model card's)")
    ap.add_argument("--seeds", default="7,1,2", help="XGBoost seeds, comma-separated")
    ap.add_argument("--keep", help="directory for the checkout and the data (default: a temporary one)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.keep or tmp)
        where.mkdir(parents=True, exist_ok=True)
        checkout, data = where / "checkout", where / "data"
        if not checkout.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(checkout), args.ref],
                           check=True, capture_output=True)  # fmt: skip
        old_root, new_root = package_root(checkout), REPO / "app"
        if not (data / "org2.jsonl.gz").exists():
            data.mkdir(exist_ok=True)
            python(DUMP, str(old_root), str(data))
        rows: Dict[str, List[dict]] = {"earlier": [], "today": []}
        for seed in args.seeds.split(","):
            for name, root in (("earlier", old_root), ("today", new_root)):
                out = python(TRAIN, str(root), str(data), str(where / f"model-{name}-{seed}"), seed.strip())
                rows[name].append(dict(json.loads(out.strip().splitlines()[-1]), seed=seed))
                print(
                    f"{name} ({args.ref if name == 'earlier' else 'this checkout'}), seed {seed}: {rows[name][-1]}"
                )
        if not args.keep:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)], check=False
            )
    print(f"\ntechnique hold-out on {args.ref}'s simulated training data (means over seeds {args.seeds}):")
    print("| version | ROC-AUC | PR-AUC | FPR at 95% recall |\n|---|---|---|---|")
    for name, runs in rows.items():
        n = len(runs)
        print(f"| {name} | {sum(r['roc_auc'] for r in runs) / n:.4f} | {sum(r['pr_auc'] for r in runs) / n:.4f} "
              f"| {100 * sum(r['fpr'] for r in runs) / n:.2f}% |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
