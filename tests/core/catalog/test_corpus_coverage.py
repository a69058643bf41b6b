"""The public attack corpora in ../shared are covered by sensitive_apis.csv (skips without ../shared)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from ctad.core.catalog import Catalog


def test_stratus_technique_pairs_all_present(shared_data: Path, catalog: Catalog) -> None:
    rows = list(
        csv.DictReader(
            (shared_data / "cloudtrail/stratus_techniques.tsv").open(encoding="utf-8"), delimiter="\t"
        )
    )
    assert len(rows) >= 40
    missing = []
    pairs = 0
    for row in rows:
        for item in row["main_eventSources:eventNames"].split(","):
            service, name = item.strip().split(":", 1)
            name = name.split()[0]
            pairs += 1
            if catalog.api(service + ".amazonaws.com", name) is None:
                missing.append(f"{row['technique_id']}: {service}:{name}")
    assert pairs > 80
    assert missing == []


def test_stratus_technique_tactic_agrees(shared_data: Path, catalog: Catalog) -> None:
    """The technique's headline call (first listed pair that is not sts) is in the Stratus tactic."""
    names = {t.shortname: t.tactic_id for t in catalog.tactics()}
    rows = list(
        csv.DictReader(
            (shared_data / "cloudtrail/stratus_techniques.tsv").open(encoding="utf-8"), delimiter="\t"
        )
    )
    agree = 0
    for row in rows:
        tactic = names[row["technique_id"].split(".")[1]]
        infos = [
            catalog.api(p.split(":")[0], p.split(":")[1].split()[0])
            for p in row["main_eventSources:eventNames"].split(",")
        ]
        techs = {t for i in infos for t in catalog.technique(i.technique_id).tactic_ids}
        agree += tactic in techs or tactic in {i.tactic_id for i in infos}
    assert agree / len(rows) >= 0.8, agree


def test_traildiscover_pairs_present_and_tactics_mostly_agree(shared_data: Path, catalog: Catalog) -> None:
    agree = total = 0
    with (shared_data / "cloudtrail/traildiscover.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            info = catalog.api(rec["eventSource"], rec["eventName"])
            assert info is not None, (rec["eventSource"], rec["eventName"])
            if rec.get("_mitre_tactics"):
                total += 1
                agree += info.tactic_id in {t.split(" ")[0] for t in rec["_mitre_tactics"]}
    assert total > 300
    # Our tactic is fixed by the ATT&CK technique we chose; TrailDiscover is free-form. Most must agree.
    assert agree / total >= 0.85, f"{agree}/{total}"


def test_sigma_pairs_present(shared_data: Path, catalog: Catalog) -> None:
    missing = []
    with (shared_data / "cloudtrail/sigma_cloudtrail_rules.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            sources = [s for s in row["eventSource"].split(",") if s]
            names = [n for n in row["eventName"].split(",") if n]
            for name in names:
                if not sources:
                    continue
                if not any(catalog.api(s, name) for s in sources):
                    missing.append(f"{row['title']}: {name}")
    assert missing == []


def test_build_script_output_is_current(shared_data: Path, lookups_dir: Path) -> None:
    script = lookups_dir / "build" / "build_sensitive_apis.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--shared", str(shared_data), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
