"""`ctad eval FILE...`: the real-data scorecard. How the shipped detector does on labelled CloudTrail.

Each file is one run of the detector on its own (one file, one account), in hunting mode unless a baseline is
given, exactly as `ctad detect` would score it. `--window MINUTES` instead scores each consecutive window of the file
as its own run, which is what an analyst sees running `| cloudtraildetect` over "Last 60 minutes" with no baseline:
the short-history regime a whole-file run only has in its first hour. The labels (`_label`, `_technique`) are read
beside the events and never reach the engine (it ignores `_` keys). The figures are the ones a SOC asks for before trusting a
detector: ranking quality (ROC-AUC, PR-AUC, recall at 1 % FPR), what the shipped threshold does (precision,
recall, false alerts, techniques hit) and how many incidents an analyst would open for nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ctad.core.incidents import ALERT_INCIDENT_SCORE
from ctad.core.profile import Profile
from ctad.core.schema import Event
from ctad.engine import argtypes
from ctad.engine.detect import Detector, ModelError, normalize_row
from ctad.engine.readers import iter_rows
from ctad.evaluation.scorecard import FileScore, label_of, technique_of

MAX_FPR = 0.01
MIN_WINDOW_MINUTES, MAX_WINDOW_MINUTES = 5, 60 * 24 * 366


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score labelled CloudTrail files and print detection quality per file")
    p.add_argument("paths", nargs="+", metavar="FILE",
                   help="labelled CloudTrail (_label 0/1, _technique): JSON lines, S3 files or a directory; "
                        "each is its own run")  # fmt: skip
    p.add_argument("--model", help="model directory (default: the bundled model/)")
    p.add_argument(
        "--threshold", type=float, help="anomaly threshold (default: the model's shipped threshold)"
    )
    p.add_argument("--baseline", help="baseline profile every file starts from (default: hunting mode, none)")
    p.add_argument("--json", dest="json_out", metavar="FILE", help="also write every figure as JSON here")
    p.add_argument("--by-technique", action="store_true", help="also print recall per attack technique")
    p.add_argument("--window", type=argtypes.int_range(MIN_WINDOW_MINUTES, MAX_WINDOW_MINUTES), metavar="MINUTES",
                   help="score each consecutive MINUTES-long window of a file as its own hunting run (fresh state: "
                        "what a search over the last MINUTES without a baseline sees); figures pool the windows")  # fmt: skip
    p.add_argument("--card", metavar="MODEL_CARD",
                   help="also write the figures as the scorecard table at the top of this model card (evaluation "
                        "only: the model and its threshold are not touched)")  # fmt: skip
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on standard error")
    p.set_defaults(func=cmd_eval)


# One readable row: its label (None: left out of the figures), its technique, and its Event or the ct_error message
# it gets. The row's object itself is not kept: a large file is held as Events, as a detect run holds it.
Row = Tuple[Optional[int], str, Union[Event, str]]


def score_file(detector: Detector, path: str, window_minutes: Optional[int] = None) -> FileScore:
    """Runs of the detector over one file (one run, or one per window), verdicts paired with the labels row by
    row."""
    card = FileScore(path)
    rows: List[Row] = []
    for item in iter_rows([path]):
        if item.error:
            card.add_unreadable(item.error)  # not a JSON object: no label, nothing to score
            continue
        obj = item.obj
        label = label_of(obj) if isinstance(obj, dict) else None
        technique = technique_of(obj) if label is not None else ""
        rows.append((label, technique, normalize_row(detector.normalizer, obj)))
    for window, part in windows(rows, window_minutes):
        run = detector.start()
        # per added row: (label, technique, time, pair) or None for a row left out of the figures
        pending: List[Any] = []
        for label, technique, ev in part:
            if isinstance(ev, str):
                run.skip(ev)
                time, pair = None, None
            else:
                run.add_event(ev)
                time, pair = ev.time, (window, ev.identity, f"{ev.source}:{ev.name}")
                card.count_pair(pair)
            if label is None:
                card.add_unlabelled()
                pending.append(None)
            else:
                pending.append((label, technique, time, pair))
        for meta, result in zip(pending, run.results()):
            if meta is not None:
                card.add(meta[0], meta[1], result, meta[2], meta[3])
    return card


def windows(rows: List[Row], window_minutes: Optional[int]) -> Iterator[Tuple[int, List[Row]]]:
    """The file as one part (window 0), or cut into consecutive windows from its earliest event, in time order.
    A window starts from the file's own clock, never from where the attacks are, so the labels cannot choose
    what history an event gets. Rows that cannot be normalised have no time: they form a part of their own."""
    if not window_minutes:
        yield 0, rows
        return
    start = min((ev.time for _, _, ev in rows if not isinstance(ev, str)), default=0.0)
    parts: Dict[int, List[Row]] = {}
    for row in rows:
        ev = row[2]
        key = -1 if isinstance(ev, str) else int((ev.time - start) // (60.0 * window_minutes))
        parts.setdefault(key, []).append(row)
    for key in sorted(parts):
        yield key, parts[key]


def cmd_eval(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(f"ctad eval: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.threshold is not None and not math.isfinite(args.threshold):
        print("ctad eval: --threshold must be a number", file=sys.stderr)
        return 2
    profile: Optional[Profile] = None
    if args.baseline:
        try:
            profile = Profile.load(args.baseline)
        except (OSError, ValueError) as exc:
            print(f"ctad eval: cannot read baseline {args.baseline}: {exc}", file=sys.stderr)
            return 2
    try:
        detector = Detector(model_dir=args.model, profile=profile, threshold=args.threshold, explain=False)
    except ModelError as exc:
        print(f"ctad eval: {exc}", file=sys.stderr)
        return 2
    figures: List[Dict[str, Any]] = []
    failed = False
    for path in args.paths:
        if not args.quiet:
            print(f"ctad eval: scoring {path}", file=sys.stderr)
        fig = score_file(detector, path, args.window).figures(MAX_FPR)
        if not fig["events"]:
            print(
                f"ctad eval: {path}: no labelled rows ({fig['rows']:,} rows, none with _label 0 or 1):"
                " ctad eval needs labelled events (ctad simulate writes them; --no-labels drops them)",
                file=sys.stderr,
            )
            failed = True
            continue
        figures.append(fig)
    report = {
        "model": detector.model_version,
        "threshold": detector.threshold,
        "mode": "baseline" if profile is not None else "hunting",
        "window_minutes": args.window,
        "baseline": profile.describe() if profile is not None else None,
        "files": figures,
    }
    if args.json_out:
        try:
            Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"ctad eval: cannot write {args.json_out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.card and figures:
        try:
            update_card(Path(args.card), card_section(report, " ".join(["ctad eval", *args.paths])))
        except OSError as exc:
            print(f"ctad eval: cannot update {args.card}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if figures:
        print_report(report, args.by_technique)
    return 2 if failed else 0


CARD_START, CARD_END = "<!-- ctad eval: start -->", "<!-- ctad eval: end -->"


def card_section(report: Dict[str, Any], command: str) -> str:
    """The scorecard as Markdown for the model card: real data first, whatever the simulator says after it."""
    lines = [
        CARD_START,
        "## Scorecard on labelled CloudTrail (`ctad eval`, evaluation only)",
        "",
        f"`{command}` ({report['mode']} mode, threshold {report['threshold']:g}). Never trained or tuned on.",
        "",
        "| file | events | attack | ROC-AUC | PR-AUC | recall @1% FPR | precision | recall | false alerts "
        f"| techniques hit | incidents | false incidents | alerted incidents (score ≥ {ALERT_INCIDENT_SCORE}): false / attack |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in report["files"]:
        lines.append(
            f"| `{Path(f['file']).name}` | {f['events']:,} | {f['attack_events']:,} | {_ratio(f['roc_auc'])} "
            f"| {_ratio(f['pr_auc'])} | {_ratio(f['recall_at_fpr'])} | {_ratio(f['precision'])} "
            f"| {_ratio(f['recall'])} | {f['false_alerts']:,} ({_percent(f['false_alert_rate'])}) "
            f"| {f['techniques_hit']} of {f['techniques_total']} | {f['incidents']:,} | {f['false_incidents']:,} "
            f"| {_alerted(f)} |"
        )
    naive = "; ".join(f"`{Path(f['file']).name}` {_naive(f)}" for f in report["files"])
    lines.append(
        "\nNaive reference, events ranked by how rare their (identity, API) pair is in the file (what `stats count "
        f"by identity, eventName` gives an analyst), ROC-AUC / PR-AUC: {naive}."
    )
    for f in report["files"]:
        if f["missed_techniques"]:
            missed = ", ".join(f"`{t}`" for t in f["missed_techniques"])
            lines.append(f"\nMissed in `{Path(f['file']).name}`: {missed}.")
    lines.append(CARD_END)
    return "\n".join(lines) + "\n"


def update_card(path: Path, section: str) -> None:
    """Put `section` after the card's opening block (title and bullet list), replacing an earlier one."""
    text = path.read_text(encoding="utf-8")
    if CARD_START in text and CARD_END in text:
        head, rest = text.split(CARD_START, 1)
        tail = rest.split(CARD_END, 1)[1].lstrip("\n")
        text = head + section + "\n" + tail
    else:
        cut = text.find("\n## ")
        text = (text + "\n" + section) if cut < 0 else (text[: cut + 1] + section + text[cut:])
    path.write_text(text, encoding="utf-8")


# -------------------------------------------------------------------------------------------------- table
def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _naive(f: Dict[str, Any]) -> str:
    """The rare-pair reference's ROC-AUC / PR-AUC (a JSON report of an older version has neither)."""
    return f"{_ratio(f.get('rare_pair_roc_auc'))} / {_ratio(f.get('rare_pair_pr_auc'))}"


def _alerted(f: Dict[str, Any]) -> str:
    """Incidents at the alert line, false / attack ("-" for output without incident scores)."""
    if f.get("alerted_incidents") is None:
        return "-"
    return f"{f['false_alerted_incidents']:,} / {f['attack_incidents_alerted']:,}"


def print_report(report: Dict[str, Any], by_technique: bool = False) -> None:
    """One table, a column per file; then what each file missed and which rows could not be used."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    files = report["files"]
    title = f"ctad eval: model {report['model']}, threshold {report['threshold']:g}, {report['mode']} mode"
    if report.get("window_minutes"):
        title += f", each {report['window_minutes']}-minute window its own run"
    table = Table(title=Text(title))
    table.add_column("")
    for fig in files:
        table.add_column(Text(Path(fig["file"]).name), justify="right")
    pct = f"{100 * MAX_FPR:g} %"
    rows = [
        ("events (labelled)", lambda f: f"{f['events']:,}"),
        ("attack events", lambda f: f"{f['attack_events']:,}"),
        ("ROC-AUC", lambda f: _ratio(f["roc_auc"])),
        ("PR-AUC (avg precision)", lambda f: _ratio(f["pr_auc"])),
        (f"recall at {pct} FPR", lambda f: _ratio(f["recall_at_fpr"])),
        ("naive rare-pair ROC / PR", _naive),
        ("at the threshold:", lambda f: ""),
        ("  precision", lambda f: _ratio(f["precision"])),
        ("  recall", lambda f: _ratio(f["recall"])),
        ("  false alerts", lambda f: f"{f['false_alerts']:,} ({_percent(f['false_alert_rate'])} of benign)"),
        ("  techniques hit", lambda f: f"{f['techniques_hit']} of {f['techniques_total']}"),
        ("  incidents", lambda f: f"{f['incidents']:,}"),
        ("  false incidents", lambda f: f"{f['false_incidents']:,}"),
        (f"  alerted (score >= {ALERT_INCIDENT_SCORE}): false / attack", _alerted),
        ("rows not scored (ct_error)",
         lambda f: f"{f['error_rows']:,}" + (f" ({f['error_attack_rows']:,} attack)" if f["error_rows"] else "")),
        ("rows unreadable / unlabelled", lambda f: f"{f['unreadable_rows']:,} / {f['unlabelled_rows']:,}"),
    ]  # fmt: skip
    for name, cell in rows:
        table.add_row(name, *(cell(f) for f in files))
    console.print(table)
    groupings = sorted({f["incident_grouping"] for f in files})
    console.print(Text("incidents: " + "; ".join(groupings)))
    for fig in files:
        name = Path(fig["file"]).name
        if fig["missed_techniques"]:
            console.print(Text(f"{name}: techniques with no event flagged at the threshold:"))
            for technique in fig["missed_techniques"]:
                console.print(Text(f"  {technique}"), overflow="fold")
        if fig["error_messages"]:
            text = ", ".join(f"{m} ({n:,})" for m, n in fig["error_messages"][:5])
            console.print(Text(f"{name}: rows not scored, counted as not flagged: {text}"))
        if fig["unreadable_messages"]:
            text = ", ".join(f"{m} ({n:,})" for m, n in fig["unreadable_messages"][:5])
            console.print(Text(f"{name}: unreadable rows, left out of the figures: {text}"))
        if fig["unlabelled_rows"]:
            console.print(
                Text(
                    f"{name}: {fig['unlabelled_rows']:,} rows without _label 0/1: scored, left out of the figures"
                )
            )
    if by_technique:
        for fig in files:
            t = Table(title=Text(f"recall per technique: {Path(fig['file']).name}"))
            t.add_column("technique", overflow="fold")
            t.add_column("attack events", justify="right")
            t.add_column("flagged", justify="right")
            t.add_column("recall", justify="right")
            for technique, c in sorted(fig["techniques"].items(), key=lambda kv: (kv[1]["recall"], kv[0])):
                t.add_row(Text(technique), f"{c['events']:,}", f"{c['flagged']:,}", f"{c['recall']:.2f}")
            console.print(t)
