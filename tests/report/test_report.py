"""The report: streaming aggregation, escaping of hostile log text, the CLI, and rendering in headless Chromium."""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import time
from collections import Counter

import pytest
from ctad.report import cli
from ctad.report.aggregate import Aggregator, TopK, as_list, truthy
from ctad.report.render import build_report, render
from report_fixture_rows import rows
from report_png import colour_stats

SECTIONS = (
    "totals",
    "timeline",
    "by-severity",
    "by-tactic",
    "top-identities",
    "top-reasons",
    "anomalies",
    "data-quality",
)


def _triples(items):
    return ((r, "", f"fixture:{i}") for i, r in enumerate(items, 1))


def test_aggregates_match_a_brute_force_count():
    data_rows = list(rows(n=900, anomaly_every=11))
    agg = Aggregator(top_n=25)
    for r in data_rows:
        agg.add(r)
    d = agg.finish()
    anomalies = [r for r in data_rows if r["ct_anomaly"]]
    assert d.rows == 900 and d.anomalies == len(anomalies) and d.scored == 900
    assert dict(d.by_severity) == dict(Counter(r["ct_severity"] for r in anomalies))
    assert {t: n for t, _, n in d.by_tactic} == dict(
        Counter(r["ct_tactic"] for r in anomalies if r["ct_tactic"])
    )
    assert dict(d.verdicts) == dict(Counter(r["triage_verdict"] for r in anomalies))
    top_ident = Counter(r["ct_identity"] for r in anomalies).most_common(1)[0]
    assert d.identities[0][:2] == top_ident
    assert d.injection_suspected == sum(r["triage_injection_suspected"] for r in data_rows)
    # the table keeps exactly the 25 highest scores, most severe first
    best = sorted((r["ct_score"] for r in anomalies), reverse=True)[:25]
    assert sorted((a.score for a in d.table), reverse=True) == best
    ranks = [("critical", "high", "medium", "low", "informational").index(a.severity) for a in d.table]
    assert ranks == sorted(ranks)
    assert sum(b["events"] for b in d.timeline) == 900
    assert sum(sum(b["by_severity"].values()) for b in d.timeline) == len(anomalies)
    assert d.triage_ran and d.triaged == len(anomalies)


def test_streaming_state_stays_bounded():
    """60k anomalies with 60k distinct identities and reasons: the aggregator keeps bounded state."""
    agg = Aggregator(top_n=50, top_k_capacity=500)
    base = 1_700_000_000

    def gen():
        for i in range(60_000):
            yield {
                "eventTime": base + i * 30,
                "ct_anomaly": 1,
                "ct_score": (i * 7919 % 100_000) / 100_000,
                "ct_severity": "high" if i % 1000 == 0 else "low",
                "ct_identity": f"arn:aws:iam::123456789012:user/u{i}"
                if i % 10
                else "arn:aws:iam::123456789012:user/hot",
                "ct_reasons": [f"new ip 203.0.113.{i % 250} #{i}", "hot reason"],
            }

    start = time.perf_counter()
    for r in gen():
        agg.add(r)
        assert len(agg._heap) <= 50 and len(agg.identities) < 1000 and len(agg.reasons) < 1000
    elapsed = time.perf_counter() - start
    d = agg.finish()
    assert d.anomalies == 60_000 and d.approximate
    assert d.identities[0][0].endswith("/hot") and d.identities[0][1] == 6_000
    assert d.reasons[0] == ("hot reason", 60_000)
    best = sorted(((i * 7919 % 100_000) / 100_000 for i in range(60_000)), reverse=True)[:50]
    assert sorted((a.score for a in d.table), reverse=True) == best
    assert elapsed < 60, elapsed  # generous: the CI machine is shared; figures come from bench/


def test_topk_is_exact_under_capacity():
    k = TopK(capacity=10)
    for i, key in enumerate("abcabca"):
        k.add(key, extra=i)
    assert k.top(2) == [("a", 3), ("b", 2)] and not k.approximate and k.extra["a"] == 6


def test_field_coercion_from_splunk_and_csv():
    assert truthy("1") and truthy(["true"]) and truthy(1) and not truthy("0") and not truthy(None)
    assert as_list('["a", "b"]') == ["a", "b"]
    assert as_list("a|b") == ["a", "b"]
    assert as_list("x" * 1000)[0].endswith("…")
    agg = Aggregator()
    agg.add(
        {
            "ct_anomaly": "1",
            "ct_score": "0.91",
            "ct_severity": "HIGH",
            "ct_reasons": "r1|r2",
            "_time": "1715000000",
        }
    )
    agg.add({"ct_anomaly": "1", "ct_score": "nan", "ct_severity": "bogus", "eventTime": "not a time"})
    agg.add("not a dict")
    d = agg.finish()
    assert d.anomalies == 2 and d.unreadable == 1 and d.undated == 1
    assert dict(d.by_severity) == {"high": 1, "informational": 1}
    assert d.table[0].reasons == ["r1", "r2"] and d.table[0].time_text == "2024-05-06 12:53:20"


def test_hostile_text_is_escaped():
    html, d = build_report(_triples(rows(n=300)), top_n=300)
    assert d.anomalies and d.injection_suspected
    lowered = html.lower()
    # no executable or loading markup anywhere: the page has no scripts of its own
    for tag in ("<script", "<iframe", "<img", "<link", "<object", "<embed"):
        assert tag not in lowered, tag
    assert not re.search(r"<[a-z]+[^>]*\son(error|load)=", lowered)
    # ...and the payloads are shown, escaped, where they belong
    assert "&lt;script&gt;alert(&#34;ua&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;" in html
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;iframe src=javascript:alert(4)&gt;" in html
    assert "user/&lt;svg onload=alert(3)&gt;" in html  # in the SVG identity chart and the table
    assert 'http-equiv="Content-Security-Policy"' in html and "default-src 'none'" in html
    assert not re.search(
        r"""(src|href)=["']?(https?:)?//""", html.replace('href="https://attack.mitre.org/', "")
    )


def test_sections_notes_and_truncation():
    html, d = build_report(_triples(rows(n=600, triage=False, xss=False)), top_n=10)
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert 'id="triage-note"' in html and "Triage was not run" in html and 'id="verdicts"' not in html
    assert f"Showing the 10 highest-scoring of {d.anomalies} anomalies" in html
    assert html.count('<tr class="anomaly">') == 10
    html2, _ = build_report(_triples(rows(n=120)), top_n=200)
    assert 'id="triage-note"' not in html2 and 'id="verdicts"' in html2 and "All " in html2


def test_empty_and_garbage_input_still_renders():
    html, d = build_report(iter([(None, "line 1: not valid JSON", "x:1")]), top_n=5)
    assert d.rows == 1 and d.unreadable == 1
    assert "No anomalies in this input." in html and "No event times" in html
    assert "Unreadable: x:1: line 1: not valid JSON" in html or "line 1: not valid JSON" in html


def _write_input(path, items, extra_lines=()):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for r in items:
            fh.write(json.dumps(r) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="ctad")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_report(tmp_path, capsys):
    src = tmp_path / "triaged.jsonl.gz"
    _write_input(src, rows(n=200), extra_lines=["{not json", "[1, 2]"])
    out = tmp_path / "out" / "report.html"
    assert (
        run_cli(["report", str(src), "--output", str(out), "--top", "15", "--title", "Prod account <weekly>"])
        == 0
    )
    html = out.read_text()
    assert "<h1>Prod account &lt;weekly&gt;</h1>" in html
    assert "3 unreadable" in capsys.readouterr().err
    assert out.stat().st_mode & 0o044  # readable by others: it is meant to be shared
    assert run_cli(["report", str(src), "--output", str(out), "--top", "-1"]) == 2


# --------------------------------------------------------------------------- real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2000",
]


@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (bash scripts/system-deps.sh)")
def test_renders_in_headless_chromium(tmp_path):
    report = tmp_path / "report.html"
    data = _agg(rows(n=1500, anomaly_every=23)).finish()
    report.write_text(render(data), encoding="utf-8")
    common = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*common, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    assert dom.count('<tr class="anomaly">') == data.anomalies == 138
    assert dom.count("<svg") >= 7 and "<script" not in dom.lower() and "<img" not in dom.lower()
    assert '&lt;script&gt;alert("ua")&lt;/script&gt;' in dom  # the browser parsed it as text
    shot = tmp_path / "report.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120, check=True
    )
    colours, ink = colour_stats(shot.read_bytes())
    assert colours > 40, colours  # header gradient, KPI colours, chart bars: far from a blank page
    assert ink > 0.3, ink  # the dark header and grey page background cover most of the top


def _agg(items):
    agg = Aggregator()
    for i, r in enumerate(items):
        agg.add(r, f"fx:{i}")
    return agg
