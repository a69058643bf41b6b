"""The model card: what the shipped booster was trained on, how it was judged, and where it is weak."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from ctad.core.scoring import shift_for

SPLIT_TEXT = {
    "technique": "grouped K-fold over attack techniques (held-out techniques never seen in training; benign split by time)",
    "established": "attack scenarios whose attacker is an identity with weeks of history (CI role key, admin "
    "session, insider, stolen instance credentials) held out; trained on the other scenarios, tested on those plus "
    "the later 30% of benign rows",
    "time": "earlier 70% of the timeline -> later 30%",
    "account": "a third of the accounts held out entirely",
    "random": "random 75/25 row split (optimistic contrast only: near-duplicate rows leak across it)",
}


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


def _table(rows: List[Dict[str, Any]]) -> str:
    head = ("| algorithm | split | ROC-AUC | PR-AUC | precision | recall | specificity | accuracy | F1 | FPR | "
            "threshold | train s |")  # fmt: skip
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['algorithm']} | {r['split']} | {r['roc_auc']:.4f} | {r['pr_auc']:.4f} | {_pct(r['precision'])} | "
            f"{_pct(r['recall'])} | {_pct(r['specificity'])} | {_pct(r['accuracy'])} | {r['f1']:.3f} | "
            f"{_pct(r['fpr'])} | {r['threshold_at_target_recall']:.4f} | {r['train_seconds']} |"
        )
    return "\n".join(lines)


def write_card(path: Path, report: Dict[str, Any]) -> None:
    at = report["at_threshold_heldout_techniques"]
    per_tech = report["per_technique_recall_heldout"]
    missed = sorted((r, t) for t, r in per_tech.items() if r < 0.5)
    runtime = report["runtime"]
    stages = "\n".join(f"| {s['stage']} | {s['seconds']} | {s['peak_rss_mb']} |" for s in report["stages"])
    splits = "\n".join(f"- `{k}`: {v}" for k, v in SPLIT_TEXT.items())
    tech_rows = "\n".join(f"| `{t}` | {_pct(r)} |" for t, r in sorted(per_tech.items(), key=lambda kv: kv[1]))
    by_mode = "\n".join(
        ["| mode | precision | recall | FPR | attack rows | benign rows |", "|---|---|---|---|---|---|"]
        + [f"| {m} | {_pct(r['precision'])} | {_pct(r['recall'])} | {_pct(r['fpr'])} | {r['positives']:,} | "
           f"{r['negatives']:,} |" for m, r in report.get("at_threshold_heldout_techniques_by_mode", {}).items()]
    )  # fmt: skip
    text = f"""# Model card: {report["version"]}

- Date: {report["date"]}; file `{report["file"]}` ({report["size_bytes"]:,} bytes), sha256 `{report["sha256"]}`
- Algorithm shipped: **{report["chosen"]}** (best PR-AUC on the technique hold-out split)
- Threshold: **0.5** on `ct_score`, calibrated (`ctad.core.scoring`): the booster's probability and the knowledge prior for high-impact actions, combined (noisy-or), reach the alert line at **{report["threshold"]:.4f}** — {report["threshold_rule"]}; a log-odds shift of {shift_for(report["threshold"]):.3f} puts that line at 0.5
- Constraints: monotone in the directions of `ctad.core.features.DIRECTIONS` (novelty, rarity, impact and failures may only move the score the way an analyst reads them)
- Source data: {report["source"] or "see command"}

## Data
{report["data"]["records"]:,} labelled records ({report["data"]["unreadable"]} unreadable), featurised into
{report["data"]["rows"]:,} rows ({report["rows_by_mode"]["scheduled"]:,} scheduled-mode rows with a causal baseline,
{report["rows_by_mode"]["hunting"]:,} hunting-mode rows from cold-start windows), {report["data"]["attack_rows"]:,}
attack rows. Benign background: the project's simulator only; attacks: public detonation and rule-test events
(Stratus Red Team, TrailDiscover, Panther, OTRF) replayed onto simulated identities and timelines. No customer data.

## Splits
{splits}

## Leaderboard (threshold per row = the score reaching 95% recall on that split's test attacks)
{_table(report["leaderboard"])}

## At the shipped threshold, on techniques never seen in training (out-of-fold)
precision {_pct(at["precision"])}, recall {_pct(at["recall"])}, specificity {_pct(at["specificity"])},
FPR {_pct(at["fpr"])}, F1 {at["f1"]:.3f} ({at["positives"]:,} attack rows, {at["negatives"]:,} benign rows).

{by_mode}

Recall per held-out technique (each technique scored by a model that never saw it):

| technique | recall |
|---|---|
{tech_rows}

## Runtime (our pure-Python evaluator on {runtime["rows"]:,} rows)
pure Python {runtime["pure_python_rows_per_second"]:,} rows/s (max |diff| vs trainer {runtime["pure_python_max_abs_diff"]:.2e});
numpy {runtime["numpy_rows_per_second"]:,} rows/s (max |diff| {runtime["numpy_max_abs_diff"]:.2e}).

## Cost per stage (this machine: 2 cores)
| stage | seconds | peak RSS MB |
|---|---|---|
{stages}

## Known weaknesses
- Trained on simulated benign traffic: real estates have automation the simulator does not know. Expect more false
  positives in the first days; stage two (triage) and analyst feedback (`ctad train --feedback`) are the remedy.
- Techniques recalled below 50% when held out: {", ".join(t for _, t in missed) or "none"}.
- Features need history: in hunting mode (no baseline) novelty is weaker evidence; the model sees identity maturity.
"""
    path.write_text(text, encoding="utf-8")
