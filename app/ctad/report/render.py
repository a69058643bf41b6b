"""Render `ReportData` into one self-contained HTML page (Jinja2, autoescaped, inline CSS and SVG)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, List, Optional, Tuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ctad import __version__
from ctad.report import charts
from ctad.report.aggregate import SEVERITIES, Aggregator, ReportData
from ctad.report.catalog_names import tactic_name, technique_url

TEMPLATES = Path(__file__).resolve().parent / "templates"
VERDICT_NAMES = {
    "true_positive": "True positive",
    "needs_review": "Needs review",
    "false_positive": "False positive",
}


def _utc(t: Optional[float]) -> str:
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min"


def _count(n: Any) -> str:
    return f"{int(n):,}"


def _pct(part: float, whole: float) -> str:
    if not whole:
        return "0%"
    value = 100.0 * part / whole
    return f"{value:.2f}%" if value < 1 else f"{value:.1f}%"


def environment() -> Environment:
    """Autoescape on for every template (the input is attacker-written); undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        utc=_utc,
        duration=_duration,
        count_fmt=_count,
        pct=_pct,
        tactic_name=tactic_name,
        technique_url=technique_url,
    )
    return env


def _charts(d: ReportData) -> dict:
    sev_colors = charts.SEVERITY_COLORS
    tactic_items = [(f"{tid} {name}".strip(), n) for tid, name, n in d.by_tactic]
    technique_items = [(f"{tid} {name}".strip(), n) for tid, name, n in d.by_technique]
    return {
        "timeline": charts.timeline_svg(d.timeline, d.bucket_seconds),
        "severity": charts.hbar_svg(
            [(s.capitalize(), n) for s, n in d.by_severity],
            colors=[sev_colors[s] for s, _ in d.by_severity],
            empty="No anomalies.",
        ),
        "severity_strip": charts.severity_strip(d.by_severity),
        "tactics": charts.hbar_svg(tactic_items, empty="No ATT&CK tactic on any anomaly."),
        "techniques": charts.hbar_svg(
            technique_items, colors=["#7c3aed"] * len(technique_items), empty="None."
        ),
        "identities": charts.hbar_svg(
            [(ident, n) for ident, n, _ in d.identities],
            colors=[sev_colors.get(worst, charts.ACCENT) for _, _, worst in d.identities],
            sublabels=[f"worst: {worst}" for _, _, worst in d.identities],
            label_width=250,
            empty="No anomalies.",
            cut_middle=True,
        ),
        "reasons": charts.hbar_svg(
            d.reasons, colors=["#6366f1"] * len(d.reasons), label_width=300, empty="No reasons recorded."
        ),
        "verdicts": charts.hbar_svg(
            [(VERDICT_NAMES.get(v, v), n) for v, n in d.verdicts],
            colors=[charts.VERDICT_COLORS.get(v, "#94a3b8") for v, _ in d.verdicts],
            empty="No verdicts yet.",
        ),
    }


def render(d: ReportData) -> str:
    env = environment()
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    bucket = charts.bucket_name(charts.chart_bucket_seconds(d.timeline, d.bucket_seconds))
    return env.get_template("report.html.j2").render(
        d=d,
        css=css,
        charts=_charts(d),
        bucket=bucket,
        severities=SEVERITIES,
        colors=charts.SEVERITY_COLORS,
        verdict_names=VERDICT_NAMES,
        version=__version__,
    )


def build_report(
    rows: Iterable[Tuple[Any, str, str]],
    top_n: int = 200,
    title: str = "CloudTrail anomaly report",
    inputs: Optional[List[str]] = None,
) -> Tuple[str, ReportData]:
    """(html, data) from (row, error, source ref) triples, streamed once."""
    agg = Aggregator(top_n=top_n)
    for obj, error, ref in rows:
        if error:
            agg.add_error(f"{ref}: {error}" if ref and ref not in error else error)
        else:
            agg.add(obj, ref)
    data = agg.finish(title=title, inputs=inputs)
    return render(data), data


def write_atomic(path: str, text: str) -> None:
    """Write then rename, so a half-written report never replaces a good one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(target.parent), prefix=".report-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
