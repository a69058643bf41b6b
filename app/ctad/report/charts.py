"""Inline SVG charts for the report, drawn in Python so the page needs no JavaScript, CDN or network.

Every label can come from attacker-written log fields (identities, reasons), so each piece of text goes through
`markupsafe.escape` before it is placed in the SVG; the functions return `Markup` for the template.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from markupsafe import Markup, escape

SEVERITY_COLORS = {
    "critical": "#c0262d",
    "high": "#e8620c",
    "medium": "#e0a106",
    "low": "#3b82f6",
    "informational": "#94a3b8",
}
VERDICT_COLORS = {"true_positive": "#c0262d", "needs_review": "#e0a106", "false_positive": "#16a34a"}
ACCENT = "#4f46e5"
GRID = "#e5e7eb"
INK = "#334155"
MUTED = "#64748b"
FONT = "font-family=\"Inter, 'Segoe UI', system-ui, -apple-system, sans-serif\""

BUCKET_CHOICES = (3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400, 365 * 86400)
MAX_BARS = 96


def _nice_max(value: float) -> Tuple[float, float]:
    """An axis maximum >= value and a tick step, both round numbers (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(step, 1.0)
    return step * math.ceil(value / step), step


def _fmt_count(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n:.0f}"


def _truncate(text: str, limit: int, middle: bool = False) -> str:
    """Cut to `limit` characters; `middle` keeps both ends (ARNs: account at the start, name at the end)."""
    if len(text) <= limit:
        return text
    if middle:
        head = max(1, limit // 3)
        return text[:head] + "…" + text[-(limit - head - 1) :]
    return text[: limit - 1] + "…"


def _rebucket(timeline: List[Dict[str, Any]], bucket_seconds: int) -> Tuple[int, List[Dict[str, Any]]]:
    """Merge the aggregator's buckets into at most MAX_BARS contiguous ones (empty buckets included)."""
    first, last = timeline[0]["start"], timeline[-1]["start"]
    span = last - first + bucket_seconds
    width = next(
        (b for b in BUCKET_CHOICES if b >= bucket_seconds and span / b <= MAX_BARS), BUCKET_CHOICES[-1]
    )
    width = max(width, bucket_seconds)
    start0 = first // width * width
    n = int((last - start0) // width) + 1
    bars = [
        {"start": start0 + i * width, "events": 0, "by_severity": dict.fromkeys(SEVERITY_COLORS, 0)}
        for i in range(n)
    ]
    for b in timeline:
        slot = bars[int((b["start"] - start0) // width)]
        slot["events"] += b["events"]
        for sev, count in b["by_severity"].items():
            slot["by_severity"][sev] = slot["by_severity"].get(sev, 0) + count
    return width, bars


def _time_label(t: int, width: int, with_date: bool) -> str:
    d = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
    if width >= 30 * 86400:
        return d.strftime("%Y-%m")
    if width >= 86400:
        return d.strftime("%b %d")
    return d.strftime("%b %d %H:%M") if with_date else d.strftime("%H:%M")


def timeline_svg(
    timeline: List[Dict[str, Any]], bucket_seconds: int, width: int = 1120, height: int = 260
) -> Markup:
    """Anomalies per time bucket, stacked by severity, with an events-per-bucket strip underneath."""
    if not timeline:
        return Markup('<p class="empty">No event times in the input, so there is no timeline.</p>')
    bw, bars = _rebucket(timeline, bucket_seconds)
    left, right, top = 48, 12, 12
    strip_h, gap, axis_h = 34, 26, 22
    plot_h = height - top - axis_h - gap - strip_h
    plot_w = width - left - right
    peak = max(sum(b["by_severity"].values()) for b in bars)
    ymax, step = _nice_max(peak)
    slot_w = plot_w / len(bars)
    bar_w = max(1.0, slot_w * 0.78)
    out: List[str] = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Anomalies over time" xmlns="http://www.w3.org/2000/svg" {FONT}>'
    ]
    # grid + y labels
    ticks = int(round(ymax / step))
    for i in range(ticks + 1):
        value = step * i
        y = top + plot_h - plot_h * value / ymax
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11" fill="{MUTED}" text-anchor="end">'
            f"{escape(_fmt_count(value))}</text>"
        )
    # stacked bars
    order = (
        "informational",
        "low",
        "medium",
        "high",
        "critical",
    )  # critical on top: it is what the eye finds
    for i, b in enumerate(bars):
        x = left + i * slot_w + (slot_w - bar_w) / 2
        y = top + plot_h
        total = sum(b["by_severity"].values())
        label = _time_label(b["start"], bw, True)
        detail = ", ".join(f"{s} {b['by_severity'][s]}" for s in reversed(order) if b["by_severity"].get(s))
        tip = (
            f"{label} UTC: {total} anomalies" + (f" ({detail})" if detail else "") + f", {b['events']} events"
        )
        out.append(f"<g><title>{escape(tip)}</title>")
        out.append(f'<rect x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" fill="transparent"/>')
        for sev in order:
            count = b["by_severity"].get(sev, 0)
            if not count:
                continue
            h = plot_h * count / ymax
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.8):.1f}" '
                f'fill="{SEVERITY_COLORS[sev]}" rx="1.5"/>'
            )
        out.append("</g>")
    # x labels
    label_every = max(1, math.ceil(len(bars) / 8))
    base = top + plot_h
    last_day = None
    for i in range(0, len(bars), label_every):
        t = bars[i]["start"]
        day = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).date()
        text = _time_label(t, bw, day != last_day)
        last_day = day
        x = left + i * slot_w + slot_w / 2
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{MUTED}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{base + 16}" font-size="11" fill="{MUTED}" text-anchor="middle">{escape(text)}</text>'
        )
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="#cbd5e1"/>')
    # events strip
    strip_top = base + axis_h + gap - 6
    emax = max(b["events"] for b in bars) or 1
    out.append(
        f'<text x="{left - 8}" y="{strip_top + strip_h / 2 + 4:.1f}" font-size="10" fill="{MUTED}" '
        f'text-anchor="end">events</text>'
    )
    for i, b in enumerate(bars):
        if not b["events"]:
            continue
        h = max(1.0, strip_h * b["events"] / emax)
        x = left + i * slot_w + (slot_w - bar_w) / 2
        out.append(
            f'<rect x="{x:.1f}" y="{strip_top + strip_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="#c7d2fe"><title>{escape(_time_label(b["start"], bw, True))} UTC: {b["events"]} events</title></rect>'
        )
    out.append(
        f'<text x="{width - right}" y="{strip_top - 4}" font-size="10" fill="{MUTED}" text-anchor="end">'
        f"peak {escape(_fmt_count(emax))} events per {escape(_bucket_name(bw))}</text>"
    )
    out.append("</svg>")
    return Markup("".join(out))


def _bucket_name(seconds: int) -> str:
    names = {3600: "hour", 86400: "day", 7 * 86400: "week", 30 * 86400: "30 days", 365 * 86400: "year"}
    if seconds in names:
        return names[seconds]
    return f"{seconds // 3600} hours" if seconds < 86400 else f"{seconds // 86400} days"


def bucket_name(seconds: int) -> str:
    """Human name of the timeline bucket the chart will use for this data (for the caption)."""
    return _bucket_name(seconds)


def chart_bucket_seconds(timeline: List[Dict[str, Any]], bucket_seconds: int) -> int:
    return _rebucket(timeline, bucket_seconds)[0] if timeline else bucket_seconds


def hbar_svg(
    items: Sequence[Tuple[str, float]],
    colors: Optional[Sequence[str]] = None,
    width: int = 540,
    label_width: int = 210,
    sublabels: Optional[Sequence[str]] = None,
    empty: str = "Nothing to show.",
    cut_middle: bool = False,
) -> Markup:
    """Horizontal bars: one row per (label, value); long labels are cut on screen, whole in the tooltip."""
    if not items:
        return Markup(f'<p class="empty">{escape(empty)}</p>')
    row_h = 30
    height = row_h * len(items) + 6
    vmax = max(v for _, v in items) or 1
    bar_left = label_width + 10
    bar_span = width - bar_left - 56
    max_chars = int(label_width / 7.2)  # average glyph width at 12px
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT}>'
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row_h
        color = colors[i] if colors else ACCENT
        w = max(2.0, bar_span * value / vmax)
        sub = sublabels[i] if sublabels else ""
        tip = f"{label}: {_fmt_count(value)}" + (f" ({sub})" if sub else "")
        out.append(f"<g><title>{escape(tip)}</title>")
        out.append(
            f'<text x="{label_width}" y="{y + 19}" font-size="12" fill="{INK}" text-anchor="end">'
            f"{escape(_truncate(label, max_chars, cut_middle))}</text>"
        )
        out.append(f'<rect x="{bar_left}" y="{y + 6}" width="{bar_span}" height="18" fill="#f1f5f9" rx="4"/>')
        out.append(f'<rect x="{bar_left}" y="{y + 6}" width="{w:.1f}" height="18" fill="{color}" rx="4"/>')
        out.append(
            f'<text x="{bar_left + w + 6:.1f}" y="{y + 19}" font-size="12" font-weight="600" fill="{INK}">'
            f"{escape(_fmt_count(value))}</text>"
        )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def severity_strip(by_severity: Sequence[Tuple[str, int]], width: int = 540) -> Markup:
    """One stacked bar showing the severity mix, with a legend; complements the per-severity bars."""
    total = sum(n for _, n in by_severity)
    if not total:
        return Markup("")
    out = [
        f'<svg class="chart" viewBox="0 0 {width} 22" width="100%" xmlns="http://www.w3.org/2000/svg" {FONT}>'
    ]
    x = 0.0
    for sev, n in by_severity:
        w = width * n / total
        out.append(
            f'<rect x="{x:.1f}" y="2" width="{w:.1f}" height="18" fill="{SEVERITY_COLORS.get(sev, ACCENT)}">'
            f"<title>{escape(sev)}: {n} ({100 * n / total:.1f}%)</title></rect>"
        )
        x += w
    out.append("</svg>")
    return Markup("".join(out))
