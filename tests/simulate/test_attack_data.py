"""The shipped attack data matches the team's shared copy (skips when ../shared is absent)."""

from __future__ import annotations

import gzip
import json

from ctad.simulate.attacks import DATA_DIR


def _shipped(name: str) -> list:
    with gzip.open(DATA_DIR / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_shipped_equals_shared(shared_data) -> None:
    src = shared_data / "cloudtrail"
    for name in ("stratus_detonations", "traildiscover", "panther_rule_tests", "otrf_scenarios"):
        with open(src / (name + ".jsonl"), encoding="utf-8") as fh:
            shared = [json.loads(line) for line in fh if line.strip()]
        shipped = _shipped(name + ".jsonl.gz")
        assert shipped == [r for r in shared if r.get("label") == 1], name
    assert (DATA_DIR / "stratus_techniques.tsv").read_bytes() == (src / "stratus_techniques.tsv").read_bytes()


def test_notice_names_every_file() -> None:
    notice = (DATA_DIR / "NOTICE").read_text()
    for p in DATA_DIR.iterdir():
        if p.suffix in (".gz", ".tsv"):
            assert p.name in notice, p.name
    for licence in ("Apache License, Version 2.0", "Creative Commons Attribution 4.0", "MIT License"):
        assert licence in notice
