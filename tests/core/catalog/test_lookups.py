"""The shipped lookup CSVs: well-formed, unique keys, ATT&CK ids consistent, the mappings analysts rely on."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
from ctad.core.catalog import CATEGORIES, FILES, UA_KINDS, Catalog, find_lookups_dir

KEYS = {
    "attack_tactics.csv": ("tactic_id",),
    "attack_techniques.csv": ("technique_id",),
    "sensitive_apis.csv": ("event_source", "event_name"),
    "cti_indicators.csv": ("type", "indicator"),
    "allowlist.csv": ("field", "pattern"),
    "user_agent_families.csv": ("pattern",),
}


def _read(path: Path) -> list:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f, strict=True))


@pytest.mark.parametrize("name", sorted(FILES))
def test_csv_well_formed_with_unique_keys(lookups_dir: Path, name: str) -> None:
    rows = _read(lookups_dir / name)
    header = rows[0]
    assert header == list(FILES[name]), f"{name}: header is {header}"
    assert len(rows) > 1, f"{name} has no data rows"
    for i, row in enumerate(rows[1:], start=2):
        assert len(row) == len(header), f"{name}:{i}: {len(row)} fields"
        assert all(v == v.strip() for v in row), f"{name}:{i}: stray whitespace"
        assert all(v for c, v in zip(header, row) if c != "technique_id"), f"{name}:{i}: empty value"
    idx = [header.index(k) for k in KEYS[name]]
    keys = Counter(tuple(r[i] for i in idx) for r in rows[1:])
    assert [k for k, n in keys.items() if n > 1] == []


def test_tactics_are_the_14_enterprise_tactics(catalog: Catalog) -> None:
    ids = {t.tactic_id for t in catalog.tactics()}
    assert len(ids) == 14
    assert {"TA0001", "TA0005", "TA0006", "TA0007", "TA0010", "TA0040", "TA0042", "TA0043"} <= ids
    assert catalog.tactic("TA0005").name == "Defense Evasion"
    assert catalog.tactic("ta0040").shortname == "impact"
    assert catalog.tactic("TA9999") is None


def test_every_technique_id_used_anywhere_exists(lookups_dir: Path, catalog: Catalog) -> None:
    """Scan every file of lookups/ (build inputs too) for ATT&CK-looking ids, not just the known columns."""
    pattern = re.compile(r"\bT\d{4}(?:\.\d{3})?\b")
    used = set()
    for path in list(lookups_dir.glob("*.csv")) + list((lookups_dir / "build").glob("*.csv")):
        for tid in pattern.findall(path.read_text(encoding="utf-8")):
            used.add((path.name, tid))
    assert len(used) > 50
    unknown = sorted((f, t) for f, t in used if not catalog.is_valid_technique(t))
    assert unknown == []


def test_every_tactic_id_used_anywhere_exists(lookups_dir: Path, catalog: Catalog) -> None:
    pattern = re.compile(r"\bTA\d{4}\b")
    for path in list(lookups_dir.glob("*.csv")) + list((lookups_dir / "build").glob("*.csv")):
        for tid in set(pattern.findall(path.read_text(encoding="utf-8"))):
            assert catalog.tactic(tid) is not None, f"{path.name}: {tid}"


def test_techniques_well_formed(catalog: Catalog) -> None:
    techs = catalog.techniques()
    assert len(techs) >= 120
    for t in techs:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", t.technique_id)
        assert t.url == "https://attack.mitre.org/techniques/" + t.technique_id.replace(".", "/") + "/"
        assert all(catalog.tactic(x) for x in t.tactic_ids)
        assert catalog.technique(t.parent_id) is not None
    # Sub-techniques share their parent's tactics in ATT&CK.
    for t in techs:
        if t.parent_id != t.technique_id:
            assert set(t.tactic_ids) == set(catalog.technique(t.parent_id).tactic_ids), t.technique_id


def test_sensitive_api_rows_consistent(catalog: Catalog) -> None:
    apis = catalog.apis()
    assert 300 <= len(apis) <= 800
    for a in apis:
        assert a.category in CATEGORIES
        assert 1 <= a.risk <= 5
        tech = catalog.technique(a.technique_id)
        assert tech is not None and a.tactic_id in tech.tactic_ids, (a.event_source, a.event_name)
        assert a.description
    # Categories are the tactic's, except resource hijacking (an Impact technique of its own).
    expected = {
        "TA0001": "initial_access",
        "TA0002": "execution",
        "TA0003": "persistence",
        "TA0004": "privilege_escalation",
        "TA0005": "defense_evasion",
        "TA0006": "credential_access",
        "TA0007": "discovery",
        "TA0008": "lateral_movement",
        "TA0009": "collection",
        "TA0010": "exfiltration",
    }
    for a in apis:
        if a.category == "resource_hijacking":
            assert a.technique_id.startswith("T1496"), a
        elif a.tactic_id == "TA0040":
            assert a.category == "impact", a
        else:
            assert expected[a.tactic_id] == a.category, a
    # Every category is in use, and all risks from 1 to 5.
    assert {a.category for a in apis} == set(CATEGORIES)
    assert {a.risk for a in apis} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    "source,name,technique,tactic,min_risk",
    [
        ("cloudtrail.amazonaws.com", "StopLogging", "T1562.008", "TA0005", 5),
        ("cloudtrail.amazonaws.com", "DeleteTrail", "T1562.008", "TA0005", 5),
        ("guardduty.amazonaws.com", "DeleteDetector", "T1562.001", "TA0005", 5),
        ("iam.amazonaws.com", "CreateAccessKey", "T1098.001", "TA0003", 4),
        ("iam.amazonaws.com", "CreateLoginProfile", "T1098.001", "TA0003", 4),
        ("iam.amazonaws.com", "AttachUserPolicy", "T1098.003", "TA0004", 4),
        ("iam.amazonaws.com", "CreateUser", "T1136.003", "TA0003", 3),
        ("sts.amazonaws.com", "GetCallerIdentity", "T1087.004", "TA0007", 1),
        ("s3.amazonaws.com", "ListBuckets", "T1619", "TA0007", 1),
        ("s3.amazonaws.com", "PutBucketPolicy", "T1537", "TA0010", 4),
        ("ec2.amazonaws.com", "ModifySnapshotAttribute", "T1537", "TA0010", 5),
        ("ec2.amazonaws.com", "GetPasswordData", "T1552", "TA0006", 4),
        ("secretsmanager.amazonaws.com", "GetSecretValue", "T1555.006", "TA0006", 3),
        ("organizations.amazonaws.com", "LeaveOrganization", "T1666", "TA0005", 5),
        ("ssm.amazonaws.com", "SendCommand", "T1651", "TA0002", 3),
        ("ec2.amazonaws.com", "RunInstances", "T1496.001", "TA0040", 2),
    ],
)
def test_key_mappings(
    catalog: Catalog, source: str, name: str, technique: str, tactic: str, min_risk: int
) -> None:
    info = catalog.api(source, name)
    assert info is not None
    assert (info.technique_id, info.tactic_id) == (technique, tactic)
    assert info.risk >= min_risk


def test_keyed_by_source_and_name(catalog: Catalog) -> None:
    """DeleteRule/CreateUser exist in several services with different meanings: never match on name alone."""
    events = catalog.api("events.amazonaws.com", "DeleteRule")
    waf = catalog.api("waf.amazonaws.com", "DeleteRule")
    assert events and waf and events.technique_id != waf.technique_id
    assert catalog.api("elasticloadbalancing.amazonaws.com", "DeleteRule") is None
    users = {
        catalog.api(s + ".amazonaws.com", "CreateUser").description
        for s in ("iam", "sso-directory", "transfer")
    }
    assert len(users) == 3
    names = Counter(a.event_name for a in catalog.apis())
    assert any(n > 1 for n in names.values())


def test_api_lookup_tolerances(catalog: Catalog) -> None:
    full = catalog.api("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2")
    assert full is not None
    assert catalog.api("lambda.amazonaws.com", "UpdateFunctionConfiguration") is full  # Sigma's spelling
    assert catalog.api("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331") is full
    assert catalog.api("IAM.amazonaws.com ", " CreateAccessKey") is catalog.api("iam", "CreateAccessKey")
    assert (
        catalog.api("iam.amazonaws.com", "createaccesskey") is None
    )  # eventName is case-sensitive in CloudTrail
    for bad in [("", "StopLogging"), ("cloudtrail.amazonaws.com", ""), (None, None)]:
        assert catalog.api(*bad) is None
    assert catalog.api("cloudtrail.amazonaws.com", "StopLogging" + "x" * 10000) is None


def test_vocabularies_match_design(catalog: Catalog) -> None:
    assert {k for _, k in (catalog.ua_family(x) for x in ["aws-cli/2", "Boto3/1", "x"])} <= set(UA_KINDS)


def test_find_lookups_dir_repo_and_vendored(tmp_path: Path, lookups_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("CTAD_LOOKUPS", raising=False)
    assert find_lookups_dir() == lookups_dir
    # Splunk app layout: <app>/bin/ctad (package) and <app>/lookups.
    app = tmp_path / "TA-ctad"
    (app / "bin" / "ctad").mkdir(parents=True)
    (app / "lookups").mkdir()
    (app / "lookups" / "sensitive_apis.csv").write_text("x", encoding="utf-8")
    assert find_lookups_dir(app / "bin" / "ctad") == app / "lookups"
    # Explicit override wins.
    monkeypatch.setenv("CTAD_LOOKUPS", str(lookups_dir))
    assert find_lookups_dir(app / "bin" / "ctad") == lookups_dir
    assert Catalog.load().api("iam", "CreateUser") is not None
