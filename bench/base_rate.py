"""Precision where attacks are rare: small simulated accounts with few attack campaigns, scored as a user would.

The scorecard's simulator files carry 8 campaigns a day (1.6% of events are attacks), so their precision says little
about a real account, where one intrusion in a week is a lot. This benchmark simulates accounts of one AWS account
and two people (about 6,000 events a day, mostly AWS-service and workload traffic) with one campaign per 5 days,
runs `ctad eval --json` on them, and prints what an analyst would live with: false alerts, false incidents and false
incidents at the alert line per day, and whether each campaign was caught and alerted. Seeds are fixed and never
used by training (`ctad train` uses 7, 108 and 209; the scorecard 11).

Two ways of use, as a customer runs them:
- hunting (default): each account's 5 days scored with no history (`ctad detect` on a folder of logs);
- `--history-days 5`: each account simulated for 5 more days first; a baseline is built from those days
  (`ctad baseline build`), and the last 5 days are scored both without it and with it (`--baseline`, what the
  scheduled Splunk search does), so the two rows show what a week of history buys.

    .venv/bin/python bench/base_rate.py                        # 8 accounts, seeds 301..308, shipped model
    .venv/bin/python bench/base_rate.py --history-days 5       # + scheduled mode with a 5-day baseline
    .venv/bin/python bench/base_rate.py --model DIR --accounts 4

Simulated data: a benchmark of the product's behaviour at a realistic base rate, not a real-world figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

CTAD = [sys.executable, "-m", "ctad"]
EVENTS_PER_DAY = 6000


def run(cmd: List[str]) -> None:
    """A `ctad` command, quiet unless it fails (then its own message is shown)."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd[2:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def simulate(out: Path, seed: int, days: int) -> None:
    campaigns = max(1, round(days / 5))
    run(CTAD + ["simulate", "--events", str(EVENTS_PER_DAY * days), "--days", str(days), "--seed", str(seed),
                "--accounts", "1", "--humans", "2", "--campaigns", str(campaigns), "--format", "jsonl",
                "--out", str(out), "--quiet"])  # fmt: skip


def split_at_day(path: Path, day: int, early: Path, late: Path) -> None:
    """The account's first `day` days to `early` (the history), the rest to `late` (what is scored)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    first = min(str(r["eventTime"]) for r in records)
    # eventTime is ISO 8601 UTC ("2024-03-04T00:00:12Z"): the cut is the first day's midnight plus `day` days
    start = datetime.strptime(first[:10], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    cut = (start + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with gzip.open(early, "wt", encoding="utf-8") as a, gzip.open(late, "wt", encoding="utf-8") as b:
        for r in records:
            (a if str(r["eventTime"]) < cut else b).write(json.dumps(r) + "\n")


def evaluate(
    files: List[Path], out: Path, model: Optional[str], baseline: Optional[Path] = None
) -> Dict[str, Any]:
    cmd = CTAD + ["eval", *map(str, files), "--json", str(out), "--quiet"]
    if model:
        cmd += ["--model", model]
    if baseline:
        cmd += ["--baseline", str(baseline)]
    run(cmd)
    return json.loads(out.read_text(encoding="utf-8"))


HEAD = ("account", "mode", "events", "attack", "ROC-AUC", "PR-AUC", "caught", "alerted", "false alerts/day",
        "false incidents/day", "false alerted incidents/day")  # fmt: skip


def _ratio(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def summarise(rows: List[Dict[str, Any]], mode: str, days: int) -> str:
    """One line over all accounts of one mode."""
    mine = [f for f in rows if f["_mode"] == mode]
    with_attack = [f for f in mine if f["attack_events"]]
    account_days = len(mine) * days
    fa = sum(f["false_alerts"] for f in mine)
    fi = sum(f.get("false_incidents") or 0 for f in mine)
    fai = sum(f.get("false_alerted_incidents") or 0 for f in mine)
    caught = sum(1 for f in with_attack if f["techniques_hit"])
    alerted = sum(1 for f in with_attack if f.get("attack_incidents_alerted"))
    prs = [f["pr_auc"] for f in with_attack if f["pr_auc"] is not None]
    median = f"{statistics.median(prs):.3f}" if prs else "-"
    return (f"{mode}: attacks caught in {caught} and alerted in {alerted} of the {len(with_attack)} accounts that "
            f"have one in the scored days; median PR-AUC {median}; per account-day {fa / account_days:.1f} false "
            f"alerts, {fi / account_days:.1f} false incidents, {fai / account_days:.2f} false alerted incidents "
            f"({fa:,} false alerts in {sum(f['events'] for f in mine):,} events)")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=301)
    ap.add_argument("--days", type=int, default=5, help="days scored per account")
    ap.add_argument("--history-days", type=int, default=0,
                    help="days simulated before them, from which a baseline is built (0: hunting only)")  # fmt: skip
    ap.add_argument("--model", help="model directory (default: the bundled model/)")
    ap.add_argument("--keep", help="directory to keep the simulated accounts in (default: a temporary one)")
    args = ap.parse_args()

    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.keep or tmp)
        where.mkdir(parents=True, exist_ok=True)
        total = args.days + args.history_days
        for seed in range(args.first_seed, args.first_seed + args.accounts):
            path = where / f"account_{seed}_{total}d.jsonl.gz"
            if not path.exists():
                simulate(path, seed, total)
            scored, baseline = path, None
            if args.history_days:
                early, scored = where / f"history_{seed}.jsonl.gz", where / f"scored_{seed}.jsonl.gz"
                split_at_day(path, args.history_days, early, scored)
                baseline = where / f"baseline_{seed}.json.gz"
                run(CTAD + ["baseline", "build", str(early), "--out", str(baseline)])
            modes = [("hunting", None)] + ([("scheduled", baseline)] if baseline else [])
            for mode, base in modes:
                report = evaluate([scored], where / f"eval_{seed}_{mode}.json", args.model, base)
                fig = dict(report["files"][0], _mode=mode, _account=seed, _model=report["model"])
                rows.append(fig)

    history = f", after {args.history_days} days of history" if args.history_days else ""
    print(f"model {rows[0]['_model']}, {args.days} scored days per account{history}\n")
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    for f in rows:
        has = f["attack_events"] > 0
        print(f"| {f['_account']} | {f['_mode']} | {f['events']:,} | {f['attack_events']} | {_ratio(f['roc_auc'])} "
              f"| {_ratio(f['pr_auc'])} | {('yes' if f['techniques_hit'] else 'no') if has else '-'} "
              f"| {('yes' if f.get('attack_incidents_alerted') else 'no') if has else '-'} "
              f"| {f['false_alerts'] / args.days:.1f} | {(f.get('false_incidents') or 0) / args.days:.1f} "
              f"| {(f.get('false_alerted_incidents') or 0) / args.days:.1f} |")  # fmt: skip
    print()
    for mode in dict.fromkeys(f["_mode"] for f in rows):
        print(summarise(rows, mode, args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
