"""The Elastic reader and ``ctad elastic`` on replies and options that are wrong (issue 11, item 14): a clear
one-line error and the documented exit code, or for a bad document a warning and a row with ``ct_error``;
never a traceback, never an open PIT left behind. Through the real elasticsearch client and the fake cluster."""

from __future__ import annotations

import json

import pytest
from ctad.cli import main
from ctad.elastic.reader import ReadError, ReadStats, read_documents

INDEX = ".ds-logs-aws.cloudtrail-default-2026.11.20-000001"
WINDOW = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T00:00:00Z"]


def _run(fake_es, tmp_path, *extra):
    summary = tmp_path / "summary.json"
    argv = ["elastic", "detect", "--url", fake_es.url, "--index", INDEX, *WINDOW, "--no-explain",
            "--summary-json", str(summary), *extra]  # fmt: skip
    return main(argv), summary


def _one_error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("ctad elastic:")]
    assert len(lines) == 1, err
    return lines[0]


def _drop_sort(reply):
    for hit in reply["hits"]["hits"]:
        hit.pop("sort", None)
    return reply


def test_full_page_of_hits_without_sort_is_a_read_error_not_a_traceback(fake_es, make_ecs, tmp_path, capsys):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(30)])
    fake_es.search_reply_hook = _drop_sort
    out = tmp_path / "out.jsonl"
    code, _ = _run(fake_es, tmp_path, "--page-size", "10", "--out", str(out))
    assert code == 3
    line = _one_error_line(capsys)
    assert "without sort values" in line and "nothing written" in line
    assert fake_es.open_pits() == []


def test_short_last_page_without_sort_needs_no_sort(fake_es, make_ecs, tmp_path):
    """Sort values are only needed to ask for the next page: a short page ends the read."""
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(7)])
    fake_es.search_reply_hook = _drop_sort
    code, summary = _run(fake_es, tmp_path, "--page-size", "10")
    assert code == 0
    assert json.loads(summary.read_text())["detector"]["rows"] == 7


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: {k: v for k, v in r.items() if k != "hits"},
        lambda r: dict(r, hits=None),
        lambda r: dict(r, hits={"hits": "none"}),
        lambda r: dict(r, hits=[]),
    ],
    ids=["no-hits", "hits-null", "hits-hits-string", "hits-list"],
)
def test_reply_without_hits_is_a_read_error(fake_es, make_ecs, tmp_path, capsys, mangle):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(5)])
    fake_es.search_reply_hook = mangle
    code, summary = _run(fake_es, tmp_path)
    assert code == 3
    assert "no hits.hits" in _one_error_line(capsys)
    assert json.loads(summary.read_text())["read"]["pit_closed"] is True
    assert fake_es.open_pits() == []


def test_export_reports_a_reply_without_hits_too(fake_es, make_ecs, tmp_path, capsys):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(5)])
    fake_es.search_reply_hook = lambda r: {k: v for k, v in r.items() if k != "hits"}
    code = main(["elastic", "export", "--url", fake_es.url, "--index", INDEX, *WINDOW,
                 "--out", str(tmp_path / "x.jsonl")])  # fmt: skip
    assert code == 3
    assert "no hits.hits" in _one_error_line(capsys)


def test_hits_that_are_not_objects_still_come_out_with_ct_error(fake_es, make_ecs, tmp_path):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(6)])

    def mangle(reply):
        hits = reply["hits"]["hits"]
        if hits:
            hits[0]["_source"] = ["not", "an", "object"]
            hits[1]["_source"] = "a string"
            hits.insert(2, "a hit that is a string")
        return reply

    fake_es.search_reply_hook = mangle
    out = tmp_path / "out.jsonl"
    code, summary = _run(fake_es, tmp_path, "--page-size", "100", "--out", str(out))
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7  # six documents plus the string hit: every hit read comes out
    errors = [r for r in rows if r["ct_error"]]
    assert len(errors) == 3 and all(r["ct_score"] is None for r in errors)
    assert all(0.0 <= r["ct_score"] <= 1.0 for r in rows if not r["ct_error"])
    warnings = json.loads(summary.read_text())["read"]["warnings"]
    assert len(warnings) == 3 and any("not an object" in w for w in warnings)


@pytest.mark.parametrize(("option", "value"), [("--page-size", "0"), ("--page-size", "10001"),
                                               ("--page-size", "-5"), ("--slices", "0"),
                                               ("--threshold", "nan"), ("--threshold", "inf"),
                                               ("--threshold", "-1"), ("--threshold", "2"),
                                               ("--max-memory-rows", "0"), ("--chunk-size", "0"),
                                               ("--max-retries", "-1"), ("--initial-backoff", "nan"),
                                               ("--initial-backoff", "-1"), ("--request-timeout", "0"),
                                               ("--request-timeout", "inf")])  # fmt: skip
def test_bad_options_are_usage_errors_before_connecting(fake_es, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exc:
        _run(fake_es, tmp_path, f"{option}={value}")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"argument {option}" in err
    assert fake_es.requests == []  # refused before any request


def test_export_page_size_zero_is_a_usage_error(fake_es, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["elastic", "export", "--url", fake_es.url, "--page-size", "0", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "argument --page-size" in capsys.readouterr().err


def test_spill_dir_that_does_not_exist_is_a_usage_error(fake_es, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run(fake_es, tmp_path, "--spill-dir", str(tmp_path / "missing"))
    assert exc.value.code == 2
    assert "not an existing directory" in capsys.readouterr().err


def test_truncated_gz_baseline_is_one_line_and_exit_2(fake_es, make_ecs, tmp_path, capsys):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(5)])
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\x56")
    code, _ = _run(fake_es, tmp_path, "--baseline", str(cut))
    assert code == 2
    assert "cannot read baseline profile" in _one_error_line(capsys)


def test_reader_refuses_bad_arguments_at_the_call_not_at_first_next(es_client):
    with pytest.raises(ValueError, match="page size"):
        read_documents(es_client, INDEX, page_size=0)
    with pytest.raises(ValueError, match="slices"):
        read_documents(es_client, INDEX, slices=0)


def test_reader_raises_read_error_for_sortless_full_pages_in_every_slice(fake_es, es_client, make_ecs):
    fake_es.add_docs(INDEX, [make_ecs(i) for i in range(60)])
    fake_es.search_reply_hook = _drop_sort
    stats = ReadStats()
    with pytest.raises(ReadError, match="without sort values"):
        list(read_documents(es_client, INDEX, page_size=5, slices=2, stats=stats))
    assert stats.pit_closed and fake_es.open_pits() == []


@pytest.mark.parametrize(("ct", "score", "reasons"), [({"ct_score": 10**400, "ct_reasons": 3}, None, ["3"]),
                                                      ({"ct_score": "nan", "ct_reasons": None}, None, []),
                                                      ({"ct_score": 0.5, "ct_reasons": ("a", 1)}, 0.5, ["a", "1"])])  # fmt: skip
def test_clean_ct_never_raises_on_odd_values(ct, score, reasons):
    """Found by tests/fuzz: an int past float range (OverflowError) or a non-list ct_reasons (TypeError)."""
    from ctad.elastic.writer import clean_ct

    fields = clean_ct(ct)
    assert fields["ct_score"] == score and fields["ct_reasons"] == reasons
    json.dumps(fields, allow_nan=False)


@pytest.mark.parametrize(
    "value, want", [(10**400, 100), (-(10**400), 0), (float("nan"), 0), ("1e999", 0), ("42", 42), (None, 0)]
)
def test_incident_integers_are_bounded_whatever_the_row_holds(value, want):
    """Found by the long fuzz profile: ct_risk of 10**400 raised OverflowError in the integer fields' cleaner."""
    from ctad.elastic.writer import clean_ct

    fields = clean_ct({"ct_risk": value, "ct_incident_score": value})
    assert fields["ct_risk"] == fields["ct_incident_score"] == want
    json.dumps(fields, allow_nan=False)
