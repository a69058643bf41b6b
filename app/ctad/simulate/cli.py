# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""`ctad simulate`: write a labelled, realistic CloudTrail data set (benign organisation + replayed attacks)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

from ctad.simulate.attacks import SCENARIOS, technique_ids, techniques
from ctad.simulate.generator import SimConfig, generate, plan
from ctad.simulate.writers import write_jsonl, write_s3_tree


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="generate labelled CloudTrail (benign org + injected attack campaigns)",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", help="output: a .jsonl/.jsonl.gz file, or a directory for --format s3")
    p.add_argument(
        "--format",
        choices=["s3", "jsonl"],
        default=None,
        help="s3 = AWSLogs/... tree of {'Records': [...]} .json.gz files; jsonl = one record per line "
        "(default: jsonl when --out ends in .jsonl/.jsonl.gz, else s3)",
    )
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--start", default="2024-03-04", help="first UTC day (YYYY-MM-DD)")
    p.add_argument(
        "--events",
        type=int,
        default=100_000,
        help="approximate number of benign events (0 = the organisation's natural volume)",
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--accounts", type=int, default=None)
    p.add_argument("--humans", type=int, default=None)
    p.add_argument("--no-attacks", action="store_true", help="benign traffic only")
    p.add_argument(
        "--campaigns",
        type=int,
        default=None,
        help="number of attack campaigns (default: --campaigns-per-day x days)",
    )
    p.add_argument("--campaigns-per-day", type=float, default=0.6)
    p.add_argument(
        "--include-technique",
        action="append",
        default=[],
        metavar="ID",
        help="only inject these techniques (repeatable; 'prefix*' allowed)",
    )
    p.add_argument(
        "--exclude-technique",
        action="append",
        default=[],
        metavar="ID",
        help="never inject these techniques (repeatable; 'prefix*' allowed)",
    )
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=SCENARIOS,
        metavar="NAME",
        help="only these attack stories (repeatable): " + ", ".join(SCENARIOS),
    )
    p.add_argument(
        "--compress-level",
        type=int,
        default=6,
        choices=range(1, 10),
        metavar="1-9",
        help="gzip level (1 = fastest, 9 = smallest)",
    )
    p.add_argument("--no-labels", action="store_true", help="drop the _label/_technique/... keys")
    p.add_argument(
        "--list-techniques", action="store_true", help="print technique id, source, tactic and exit"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_techniques:
        t = techniques()
        for tid in technique_ids():
            print("%s\t%s\t%s\t%d" % (tid, t[tid].source, t[tid].tactic, t[tid].n_events))
        return 0
    if not args.out:
        print("ctad simulate: --out is required", file=sys.stderr)
        return 2
    fmt = args.format or (
        "jsonl" if args.out.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")) else "s3"
    )
    cfg = SimConfig(
        seed=args.seed,
        start=args.start,
        days=args.days,
        events=args.events or None,
        accounts=args.accounts,
        humans=args.humans,
        attacks=not args.no_attacks,
        campaigns=args.campaigns,
        campaigns_per_day=args.campaigns_per_day,
        include_techniques=args.include_technique,
        exclude_techniques=args.exclude_technique,
        scenarios=args.scenario,
    )
    try:
        pl = plan(cfg)
    except ValueError as exc:
        print(f"ctad simulate: {exc}", file=sys.stderr)
        return 2
    bar = None
    if not args.quiet:
        try:
            from tqdm import tqdm

            bar = tqdm(
                total=int(pl.expected_benign),
                unit="ev",
                unit_scale=True,
                file=sys.stderr,
                desc="simulate",
                mininterval=0.5,
            )
        except ImportError:  # tqdm is a core dependency, but never fail a run over a progress bar
            bar = None
    tick: Dict[str, int] = {"n": 0}

    def progress(_rec: Dict[str, Any]) -> None:
        tick["n"] += 1
        if tick["n"] == 5000:
            bar.update(5000)  # type: ignore[union-attr]
            tick["n"] = 0

    records = generate(cfg, pl)
    hook = progress if bar is not None else None
    if fmt == "jsonl":
        summary = write_jsonl(
            records, args.out, labels=not args.no_labels, level=args.compress_level, on_record=hook
        )
    else:
        summary = write_s3_tree(
            records,
            args.out,
            seed=args.seed,
            labels=not args.no_labels,
            level=args.compress_level,
            on_record=hook,
        )
    if bar is not None:
        bar.update(tick["n"])
        bar.close()
    d = summary.as_dict()
    print(
        "wrote %d events (%d attack events in %d campaigns, %d techniques) to %s [%s, %d file(s)], %s .. %s"
        % (
            d["events"],
            d["attack_events"],
            d["campaigns"],
            d["techniques"],
            args.out,
            fmt,
            d["files"],
            d["first"],
            d["last"],
        ),
        file=sys.stderr,
    )
    if d["by_technique"]:
        print("attack events by technique:", file=sys.stderr)
        for tid, n in sorted(d["by_technique"].items(), key=lambda x: (-x[1], x[0])):
            print("  %5d  %s" % (n, tid), file=sys.stderr)
    print(
        json.dumps(
            {k: d[k] for k in ("events", "attack_events", "campaigns", "techniques", "files", "by_scenario")}
        )
    )
    return 0
