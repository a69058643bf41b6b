"""`ctad train`: rebuild the bundled model from the simulator, or adapt it to a customer's estate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List

from ctad.train import DEFAULT_SPLITS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="simulate/featurise/evaluate/train and write a model directory")
    p.add_argument("--out", default="model", help="model directory to write (default: model/)")
    p.add_argument(
        "--events", nargs="*", default=[], help="labelled CloudTrail files (simulator output or your own)"
    )
    p.add_argument("--simulate-events", type=int, default=0, help="also simulate this many events in-process")
    p.add_argument("--days", type=int, default=30, help="simulated days")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--campaigns",
        type=int,
        default=None,
        help="attack campaigns to inject (default: 8 per simulated day)",
    )
    p.add_argument("--feedback", help="analyst verdicts (knowledge store .db or JSON lines) used as labels")
    p.add_argument("--algorithms", default="xgboost,lightgbm", help="comma list: xgboost,lightgbm,catboost")
    p.add_argument("--ship", default="auto", help="algorithm to ship (default: best on the technique split)")
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument(
        "--max-fpr", type=float, default=0.01, help="cap on benign false-positive rate at the threshold"
    )
    p.add_argument("--single-org", action="store_true",
                   help="simulate one organisation instead of a mix of sizes (see ORG_MIX)")  # fmt: skip
    p.add_argument("--splits", default=",".join(DEFAULT_SPLITS),
                   help="evaluation splits (default: %(default)s; see ctad/train/evaluate.py)")  # fmt: skip
    p.add_argument("--params", help="JSON of per-algorithm parameter overrides")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from ctad.train.pipeline import (
        ORG_MIX,
        load_feedback_labels,
        read_records,
        simulated_orgs,
        simulated_records,
        train,
    )

    if not args.events and not args.simulate_events:
        print("ctad train: give --events FILES and/or --simulate-events N", file=sys.stderr)
        return 2

    record_sets: List[Iterable[Dict[str, Any]]] = []
    if args.simulate_events:
        # Far more campaigns than a real month would have: the model needs many attack examples per technique.
        campaigns = args.campaigns if args.campaigns is not None else max(40, 8 * args.days)
        if args.single_org:
            record_sets.append(simulated_records(args.simulate_events, args.days, args.seed, campaigns))
        else:
            record_sets.extend(simulated_orgs(args.simulate_events, args.days, args.seed, campaigns))
    if args.events:
        record_sets.append(read_records(args.events))  # the user's estate: one organisation

    labels = load_feedback_labels(args.feedback) if args.feedback else None
    note: List[str] = []
    if args.simulate_events:
        note.append(
            f"`ctad train --simulate-events {args.simulate_events} --days {args.days} --seed {args.seed}`"
            + ("" if args.single_org else f" ({len(ORG_MIX)} simulated organisations of "
               "60/25/15% of the events, each featurised on its own)")
        )  # fmt: skip
    if args.events:
        note.append(f"events from {', '.join(args.events)}")
    if labels:
        note.append(f"{len(labels)} analyst verdicts")
    params = json.loads(args.params) if args.params else None
    try:
        report = train(
            Path(args.out),
            record_sets,
            algorithms=args.algorithms,
            target_recall=args.target_recall,
            max_fpr=args.max_fpr,
            labels=labels,
            params=params,
            splits=tuple(s.strip() for s in args.splits.split(",") if s.strip()),
            source_note="; ".join(note),
            ship=args.ship,
        )
    except ValueError as exc:
        print(f"ctad train: {exc}", file=sys.stderr)
        return 2
    at = report["at_threshold_heldout_techniques"]
    print(
        f"shipped {report['version']} -> {args.out}/ (threshold {report['threshold']:.4f}; held-out techniques: "
        f"recall {at['recall']:.1%}, precision {at['precision']:.1%}, FPR {at['fpr']:.2%})"
    )
    return 0
