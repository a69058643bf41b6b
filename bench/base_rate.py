"""Precision where attacks are rare: small simulated accounts with one attack campaign each, scored as a user would.

The scorecard's simulator files carry 8 campaigns a day (1.6% of events are attacks), so their precision says little
about a real account, where one intrusion in a week is a lot. This benchmark simulates accounts of one AWS account
and two people over five days (about 30,000 events, mostly AWS-service and workload traffic) with a single
campaign each, runs `ctad eval --json` on them in hunting mode, and prints what an analyst would live with: false
alerts, false incidents and false incidents at the alert line per day, and whether the one campaign was caught and
alerted. Seeds are fixed and never used by training (`ctad train` uses 7, 108 and 209; the scorecard 11).

    .venv/bin/python bench/base_rate.py                 # 8 accounts, seeds 301..308, shipped model
    .venv/bin/python bench/base_rate.py --model DIR --accounts 4

Simulated data: a benchmark of the product's behaviour at a realistic base rate, not a real-world figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[1]
CTAD = [sys.executable, "-m", "ctad"]


def run(cmd: List[str]) -> None:
    """A `ctad` command, quiet unless it fails (then its own message is shown)."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd[2:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def simulate(out: Path, seed: int, days: int, events: int) -> None:
    run(CTAD + ["simulate", "--events", str(events), "--days", str(days), "--seed", str(seed), "--accounts", "1",
                "--humans", "2", "--campaigns", "1", "--format", "jsonl", "--out", str(out), "--quiet"])  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=301)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--events", type=int, default=30000)
    ap.add_argument("--model", help="model directory (default: the bundled model/)")
    ap.add_argument("--keep", help="directory to keep the simulated accounts in (default: a temporary one)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.keep or tmp)
        where.mkdir(parents=True, exist_ok=True)
        files = []
        for seed in range(args.first_seed, args.first_seed + args.accounts):
            path = where / f"account_{seed}.jsonl.gz"
            if not path.exists():
                simulate(path, seed, args.days, args.events)
            files.append(path)
        report = where / "eval.json"
        cmd = CTAD + ["eval", *map(str, files), "--json", str(report), "--quiet"]
        if args.model:
            cmd += ["--model", args.model]
        run(cmd)
        result = json.loads(report.read_text(encoding="utf-8"))

    print(f"model {result['model']}, hunting mode, {args.days} days per account\n")
    head = ("account", "events", "attack", "ROC-AUC", "PR-AUC", "caught", "alerted", "false alerts/day",
            "false incidents/day", "false alerted incidents/day")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    totals = {"events": 0, "attack": 0, "caught": 0, "alerted": 0, "fa": 0, "fi": 0, "fai": 0}
    prs = []
    for f in result["files"]:
        caught = f["techniques_hit"] > 0
        fi = f.get("false_incidents") or 0
        fai = f.get("false_alerted_incidents") or 0
        alerted = bool(f.get("attack_incidents_alerted"))
        prs.append(f["pr_auc"])
        totals["events"] += f["events"]
        totals["attack"] += f["attack_events"]
        totals["caught"] += caught
        totals["fa"] += f["false_alerts"]
        totals["fi"] += fi
        totals["fai"] += fai
        totals["alerted"] += alerted
        print(f"| {Path(f['file']).name} | {f['events']:,} | {f['attack_events']} | {f['roc_auc']:.3f} | "
              f"{f['pr_auc']:.3f} | {'yes' if caught else 'no'} | {'yes' if alerted else 'no'} | "
              f"{f['false_alerts'] / args.days:.1f} | {fi / args.days:.1f} | {fai / args.days:.1f} |")  # fmt: skip
    n = len(result["files"])
    days = n * args.days
    print(f"\n{totals['caught']} of {n} campaigns caught (an event of it flagged), {totals['alerted']} alerted (an "
          f"incident of it at the alert line); median PR-AUC {statistics.median(prs):.3f}; per account-day: "
          f"{totals['fa'] / days:.1f} false alerts, {totals['fi'] / days:.1f} false incidents, "
          f"{totals['fai'] / days:.1f} false alerted incidents ({totals['fa']:,} false alerts in "
          f"{totals['events']:,} events)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
