"""Which attack techniques are caught when the attacker is a given kind of identity: one attack story at a time.

The scorecard mixes every attack story. On the real account the misses are all one story: the identity that runs
the account's Terraform is the attacker, minutes after its own run. This benchmark asks the simulator for one story
only (`ctad simulate --scenario`), for the Stratus Red Team techniques by default (the detonation tool of the real
account), over several small accounts, scores each with `ctad detect` in hunting mode as a user would, and counts
*technique runs*: one technique of one campaign, caught when at least one of its events is flagged. That is the
unit of the real scorecard's "techniques hit" (each technique there is one detonation).

    .venv/bin/python bench/scenario_recall.py                                   # established-admin, 6 accounts
    .venv/bin/python bench/scenario_recall.py --scenario leaked-key --scenario insider
    .venv/bin/python bench/scenario_recall.py --technique 'aws.*' --model DIR --accounts 3

Seeds 401.. are used by nothing else (training 7/108/209, the scorecard 11, base_rate 301..). Simulated data: a
measure of which stories and techniques the model is weak on, not a real-world rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from base_rate import CTAD, EVENTS_PER_DAY, run  # the same small accounts, the same quiet `ctad` runner


def simulate(out: Path, seed: int, days: int, campaigns: int, scenario: str, technique: str) -> None:
    run(CTAD + ["simulate", "--events", str(EVENTS_PER_DAY * days), "--days", str(days), "--seed", str(seed),
                "--accounts", "1", "--humans", "3", "--campaigns", str(campaigns), "--scenario", scenario,
                "--include-technique", technique, "--format", "jsonl", "--out", str(out), "--quiet"])  # fmt: skip


RunKey = Tuple[str, str]  # (campaign, technique)


def technique_runs(detected: Path) -> Tuple[Dict[RunKey, List[float]], int, int]:
    """Per technique run, the scores of its events and whether any was flagged; and the benign events and the
    false alerts among them."""
    runs: Dict[RunKey, List[float]] = defaultdict(lambda: [0.0, 0.0])  # [flagged events, best score]
    benign = false_alerts = 0
    with detected.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if str(row.get("_label")) != "1":
                benign += 1
                false_alerts += int(row.get("ct_anomaly") or 0)
                continue
            entry = runs[(str(row.get("_campaign")), str(row.get("_technique")))]
            entry[0] += int(row.get("ct_anomaly") or 0)
            entry[1] = max(entry[1], float(row.get("ct_score") or 0.0))
    return dict(runs), benign, false_alerts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scenario", action="append", help="attack story (repeatable; default: established-admin)"
    )
    ap.add_argument(
        "--technique", default="aws.*", help="technique filter, as --include-technique (default: Stratus)"
    )
    ap.add_argument("--accounts", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=401)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--campaigns", type=int, default=12, help="campaigns per account")
    ap.add_argument("--model", help="model directory (default: the bundled model/)")
    ap.add_argument("--keep", help="directory to keep the simulated accounts in (default: a temporary one)")
    ap.add_argument("--verbose", action="store_true", help="also list every missed run with its best score")
    args = ap.parse_args()
    scenarios = args.scenario or ["established-admin"]

    model: Optional[str] = None
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.keep or tmp)
        where.mkdir(parents=True, exist_ok=True)
        for scenario in scenarios:
            per_technique: Dict[str, List[int]] = defaultdict(lambda: [0, 0])  # technique -> [runs, caught]
            missed: List[Tuple[str, int, float]] = []
            benign = false_alerts = 0
            for seed in range(args.first_seed, args.first_seed + args.accounts):
                path = where / f"{scenario}_{seed}_{args.days}d.jsonl.gz"
                if not path.exists():
                    simulate(path, seed, args.days, args.campaigns, scenario, args.technique)
                detected = where / f"{scenario}_{seed}_detected.jsonl"
                cmd = CTAD + ["detect", "-q", "--workers", "1", str(path), "-o", str(detected)]
                run(cmd + (["--model", args.model] if args.model else []))
                runs, b, fa = technique_runs(detected)
                benign, false_alerts = benign + b, false_alerts + fa
                for (_campaign, technique), (flagged, best) in runs.items():
                    per_technique[technique][0] += 1
                    per_technique[technique][1] += int(flagged > 0)
                    if not flagged:
                        missed.append((technique, seed, best))
                if model is None:
                    with detected.open(encoding="utf-8") as fh:
                        model = json.loads(fh.readline()).get("ct_model", "?")
            total = sum(r for r, _ in per_technique.values())
            caught = sum(c for _, c in per_technique.values())
            print(f"\n{scenario} ({args.technique}; model {model}; {args.accounts} accounts x {args.days} days, "
                  f"{args.campaigns} campaigns each, hunting mode)")  # fmt: skip
            core = [(r, c) for t, (r, c) in per_technique.items() if ".discovery." not in t]
            print(f"technique runs caught: {caught} of {total} ({100 * caught / max(total, 1):.1f} %); "
                  f"beyond discovery: {sum(c for _, c in core)} of {sum(r for r, _ in core)}; "
                  f"techniques always caught: {sum(1 for r, c in per_technique.values() if r == c)} of "
                  f"{len(per_technique)}; false alerts {false_alerts:,} of {benign:,} benign events")  # fmt: skip
            print("| technique | runs | caught |\n|---|---|---|")
            for technique, (r, c) in sorted(
                per_technique.items(), key=lambda kv: (kv[1][1] / kv[1][0], kv[0])
            ):
                if c < r:
                    print(f"| {technique} | {r} | {c} |")
            for technique, seed, best in sorted(missed) if args.verbose else ():
                print(f"  missed: {technique} (seed {seed}), best score {best:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
