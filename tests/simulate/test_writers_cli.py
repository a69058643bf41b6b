"""Writers (S3 tree, JSON lines) and the `ctad simulate` command."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from ctad.cli import main
from ctad.simulate import SimConfig, generate, write_jsonl, write_s3_tree

S3_NAME = re.compile(r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$")


def test_s3_tree_layout(tmp_path: Path) -> None:
    recs = list(generate(SimConfig(seed=4, days=2, events=3000, campaigns=3)))
    summary = write_s3_tree(iter(recs), str(tmp_path), seed=4)
    files = sorted(tmp_path.rglob("*.json.gz"))
    assert summary.files == len(files) > 10
    total = 0
    for f in files:
        rel = f.relative_to(tmp_path).parts
        assert rel[0] == "AWSLogs" and rel[2] == "CloudTrail"
        m = S3_NAME.match(f.name)
        assert m, f.name
        acct, region, stamp = m.groups()
        assert rel[1] == acct and rel[3] == region and "".join(rel[4:7]) == stamp[:8]
        body = json.loads(gzip.decompress(f.read_bytes()))
        assert set(body) == {"Records"}
        for r in body["Records"]:
            assert r["recipientAccountId"] == acct and r["awsRegion"] == region
            minute = int(r["eventTime"][14:16])
            assert r["eventTime"][11:13] == stamp[9:11] and minute // 5 * 5 == int(stamp[11:13])
        total += len(body["Records"])
    assert total == len(recs) == summary.events


def test_jsonl_without_labels(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    s = write_jsonl(generate(SimConfig(seed=4, days=1, events=800, campaigns=1)), str(out), labels=False)
    lines = out.read_text().splitlines()
    assert len(lines) == s.events
    assert not any(k.startswith("_") for line in lines for k in json.loads(line))


def test_cli_jsonl(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sim.jsonl.gz"
    rc = main(
        [
            "simulate",
            "--out",
            str(out),
            "--days",
            "2",
            "--events",
            "2000",
            "--seed",
            "3",
            "--campaigns",
            "3",
            "--quiet",
            "--exclude-technique",
            "traildiscover:*",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with gzip.open(out, "rt") as fh:
        recs = [json.loads(x) for x in fh]
    assert summary["events"] == len(recs)
    assert summary["attack_events"] == sum(r["_label"] for r in recs) > 0
    assert not any(r["_technique"].startswith("traildiscover:") for r in recs)


def test_cli_errors_and_listing(tmp_path: Path, capsys) -> None:
    assert main(["simulate", "--out", str(tmp_path / "a.jsonl"), "--include-technique", "nope"]) == 2
    assert "unknown technique" in capsys.readouterr().err
    assert main(["simulate"]) == 2
    with pytest.raises(SystemExit):  # argparse names the known scenarios
        main(["simulate", "--out", str(tmp_path / "a.jsonl"), "--scenario", "nope"])
    assert "established-admin" in capsys.readouterr().err
    assert main(["simulate", "--list-techniques"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert any(line.startswith("aws.defense-evasion.cloudtrail-stop\tstratus\tTA0005") for line in listing)
