"""``ctad detect`` / ``ctad baseline`` refuse bad options and unreadable baselines with one clear line, never a
traceback (issue 11, item 14). Run in process through ``ctad.cli.main``: an exception escaping it is what the
user would see as a traceback."""

from __future__ import annotations

import gzip
import json

import pytest
from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.cli import main
from ctad.engine.cli import build_profile


def _events(tmp_path, n=30):
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps(CloudTrailEvent("DescribeInstances", "ec2.amazonaws.com", time=f"2026-11-20T08:{i:02d}:00Z",
                                   ua="aws-cli/2.15.0", identity=iam_user(key="AKIAEXAMPLE"),
                                   event_id=f"00000000-0000-0000-0000-{i:012d}").as_record())
        for i in range(n)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def _usage_error(capsys, argv, option):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert f"argument {option}" in line
    return line


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-0.1", "1.5", "x"])
def test_threshold_outside_0_1_is_a_usage_error(tmp_path, capsys, value):
    src = _events(tmp_path)
    line = _usage_error(capsys, ["detect", str(src), "-o", str(tmp_path / "o.jsonl"), f"--threshold={value}"],
                        "--threshold")  # fmt: skip
    assert value in line
    assert not (tmp_path / "o.jsonl").exists()  # refused before anything ran


@pytest.mark.parametrize("value", ["0", "1", "0.25"])
def test_threshold_in_range_is_accepted(tmp_path, value):
    src = _events(tmp_path)
    out = tmp_path / "o.jsonl"
    code = main(
        ["detect", str(src), "-o", str(out), "--threshold", value, "--workers", "1", "-q", "--no-explain"]
    )
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 30
    assert all(r["ct_anomaly"] == int(r["ct_score"] >= float(value)) for r in rows)


def test_spill_dir_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    src = _events(tmp_path)
    missing = tmp_path / "no" / "such"
    line = _usage_error(capsys, ["detect", str(src), "-o", str(tmp_path / "o.jsonl"), "--spill-dir", str(missing)],
                        "--spill-dir")  # fmt: skip
    assert "not an existing directory" in line


def test_spill_dir_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    src = _events(tmp_path)
    _usage_error(capsys, ["detect", str(src), "-o", str(tmp_path / "o.jsonl"), "--spill-dir", str(src)],
                 "--spill-dir")  # fmt: skip


@pytest.mark.parametrize(("option", "value"), [("--workers", "-1"), ("--max-memory-rows", "0"),
                                               ("--max-memory-rows", "many")])  # fmt: skip
def test_counts_out_of_range_are_usage_errors(tmp_path, capsys, option, value):
    src = _events(tmp_path)
    _usage_error(capsys, ["detect", str(src), "-o", str(tmp_path / "o.jsonl"), option, value], option)


def _truncated_baseline(tmp_path):
    src = _events(tmp_path)
    profile, _ = build_profile([str(src)])
    whole = tmp_path / "whole.json.gz"
    profile.save(whole)
    cut = tmp_path / "cut.json.gz"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return src, cut


@pytest.mark.parametrize("workers", ["1", "2"])
def test_truncated_gz_baseline_is_one_line_and_exit_2(tmp_path, capsys, workers):
    src, cut = _truncated_baseline(tmp_path)
    before = cut.read_bytes()
    code = main(["detect", str(src), "-o", str(tmp_path / "o.jsonl"), "--baseline", str(cut), "-q",
                 "--workers", workers])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "cannot read baseline profile" in err and str(cut) in err
    assert cut.read_bytes() == before  # a bad baseline is reported, never overwritten


def test_corrupt_gz_baseline_is_one_line_and_exit_2(tmp_path, capsys):
    src = _events(tmp_path)
    bad = tmp_path / "bad.json.gz"
    data = bytearray(gzip.compress(b'{"version": 1, "identities": {}}' * 50))
    data[20:40] = b"\xff" * 20  # deflate data that does not inflate (zlib.error)
    bad.write_bytes(bytes(data))
    code = main(["detect", str(src), "-o", str(tmp_path / "o.jsonl"), "--baseline", str(bad), "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cannot read baseline profile" in err


def test_baseline_build_and_show_refuse_a_truncated_profile(tmp_path, capsys):
    src, cut = _truncated_baseline(tmp_path)
    assert main(["baseline", "show", str(cut)]) == 2
    assert "cannot read baseline profile" in capsys.readouterr().err
    out = tmp_path / "new.json"
    assert main(["baseline", "build", str(src), "--base", str(cut), "--out", str(out)]) == 2
    assert "cannot read baseline profile" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("empty", [b"[]", b'{"Records": []}', b" [ ] "])
def test_a_line_or_file_holding_an_empty_array_still_gives_a_row(tmp_path, workers, empty):
    """Found by tests/fuzz: a JSON-lines line `[]` (or an empty Records list) vanished from the output."""
    src = _events(tmp_path, n=2)
    src.write_bytes(src.read_bytes() + empty + b"\n")
    whole = tmp_path / "whole.json"
    whole.write_bytes(empty)
    out = tmp_path / "o.jsonl"
    assert main(["detect", str(src), str(whole), "-o", str(out), "-q", "--workers", workers]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    assert [bool(r["ct_error"]) for r in rows] == [False, False, True, True]
    assert all("empty JSON array" in r["ct_error"] for r in rows[2:])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_json_lines_that_begin_with_an_array_give_a_row_per_line(tmp_path, workers):
    """Found by the long fuzz profile: a file whose first line is `[]` was taken for one JSON document, and its
    two lines came out as one error row. Lines that are JSON values on their own are JSON lines; a pretty-printed
    document that does not parse stays one row."""
    src = tmp_path / "lines.jsonl"
    event = json.loads(_events(tmp_path, n=1).read_text().splitlines()[0])
    src.write_bytes(b"[]\n{\n" + json.dumps(event).encode() + b"\n")
    pretty = tmp_path / "pretty.json"
    pretty.write_bytes(b'[\n  {"eventName": \n')  # one document, cut short
    out = tmp_path / "o.jsonl"
    assert main(["detect", str(src), str(pretty), "-o", str(out), "-q", "--workers", workers]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    assert "empty JSON array" in rows[0]["ct_error"] and "not valid JSON" in rows[1]["ct_error"]
    assert rows[2]["ct_error"] == "" and rows[2]["eventID"] == event["eventID"]
    assert "not valid JSON" in rows[3]["ct_error"]
