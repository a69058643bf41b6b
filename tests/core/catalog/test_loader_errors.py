"""Malformed lookups fail loudly with file, line and problem; allowlist and CTI queries behave."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ctad.core.catalog import Catalog, CatalogError, main


@pytest.fixture()
def copy(tmp_path: Path, lookups_dir: Path) -> Path:
    dest = tmp_path / "lookups"
    dest.mkdir()
    for f in lookups_dir.glob("*.csv"):
        shutil.copy(f, dest / f.name)
    return dest


def _append(path: Path, line: str) -> int:
    """Append a data line; return its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    text += line + "\n"
    path.write_text(text, encoding="utf-8")
    return text.count("\n")


def _replace(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def _fails(directory: Path, fname: str, line, *needles: str) -> CatalogError:
    with pytest.raises(CatalogError) as info:
        Catalog.load(directory)
    err = info.value
    msg = str(err)
    assert err.path.name == fname, msg
    assert err.line == line, msg
    where = f"{fname}:{line}:" if line else f"{fname}:"
    assert where in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return err


API = "sensitive_apis.csv"


def test_copy_loads(copy: Path) -> None:
    assert Catalog.load(copy).api("iam", "CreateAccessKey") is not None


def test_missing_file(copy: Path) -> None:
    (copy / "allowlist.csv").unlink()
    _fails(copy, "allowlist.csv", None, "cannot open")


def test_missing_column(copy: Path) -> None:
    _replace(
        copy / API,
        "event_source,event_name,category,tactic_id,technique_id,risk,description",
        "event_source,event_name,category,tactic_id,technique_id,description",
    )
    _fails(copy, API, 1, "lacks column(s) risk")


def test_empty_file(copy: Path) -> None:
    (copy / "attack_tactics.csv").write_text("", encoding="utf-8")
    _fails(copy, "attack_tactics.csv", 1, "empty file")


def test_unquoted_comma(copy: Path) -> None:
    n = _append(
        copy / API,
        "s3.amazonaws.com,PutBucketCors,exfiltration,TA0010,T1537,2,Changes CORS, which can expose data",
    )
    _fails(copy, API, n, "8 fields", "double-quoted")


def test_bad_quote(copy: Path) -> None:
    n = _append(copy / API, 's3.amazonaws.com,PutBucketCors,exfiltration,TA0010,T1537,2,"unterminated')
    _fails(copy, API, n, "CSV syntax error")


@pytest.mark.parametrize(
    "row,needles",
    [
        ("s3.amazonaws.com,PutBucketCors,exfiltration,TA0010,T1537,7,x", ["risk '7'"]),
        ("s3.amazonaws.com,PutBucketCors,exfiltration,TA0010,T1537,high,x", ["risk 'high'"]),
        ("s3.amazonaws.com,PutBucketCors,exfiltration,TA0010,T9999,2,x", ["unknown technique_id 'T9999'"]),
        ("s3.amazonaws.com,PutBucketCors,exfiltration,TA0099,T1537,2,x", ["unknown tactic_id 'TA0099'"]),
        (
            "s3.amazonaws.com,PutBucketCors,exfiltration,TA0005,T1537,2,x",
            ["T1537 belongs to TA0010", "TA0005"],
        ),
        ("s3.amazonaws.com,PutBucketCors,exfil,TA0010,T1537,2,x", ["category 'exfil'"]),
        ("S3,PutBucketCors,exfiltration,TA0010,T1537,2,x", ["event_source 'S3'"]),
        ("s3.amazonaws.com,Put Bucket,exfiltration,TA0010,T1537,2,x", ["event_name 'Put Bucket'"]),
        ("cloudtrail.amazonaws.com,StopLogging,defense_evasion,TA0005,T1562.008,5,again", ["duplicate key"]),
    ],
)
def test_bad_api_rows(copy: Path, row: str, needles: list) -> None:
    n = _append(copy / API, row)
    _fails(copy, API, n, *needles)


def test_bad_techniques(copy: Path) -> None:
    n = _append(
        copy / "attack_techniques.csv",
        "T1999.001,Orphan,TA0005,https://attack.mitre.org/techniques/T1999/001/",
    )
    _fails(copy, "attack_techniques.csv", n, "without its parent T1999")


def test_bad_technique_tactic(copy: Path) -> None:
    n = _append(
        copy / "attack_techniques.csv", "T1999,Thing,TA0005;TA0100,https://attack.mitre.org/techniques/T1999/"
    )
    _fails(copy, "attack_techniques.csv", n, "unknown tactic(s) TA0100")


def test_bad_tactic_id(copy: Path) -> None:
    n = _append(copy / "attack_tactics.csv", "T0001,thing,Thing")
    _fails(copy, "attack_tactics.csv", n, "'T0001'")


@pytest.mark.parametrize(
    "row,needles",
    [
        ("(a+)+$,evil,scanner", ["catastrophic backtracking"]),
        ('"(x|y*)*z",evil,scanner', ["catastrophic backtracking"]),
        ('"(?:ab{2,})+",evil,scanner', ["catastrophic backtracking"]),
        ("[unclosed,evil,scanner", ["invalid pattern"]),
        ("Mozilla,browser,browser", ["upper-case"]),
        ("foo,foo,hacker", ["kind 'hacker'"]),
        ("foo,$1-thing,sdk", ["no capturing group"]),
    ],
)
def test_bad_ua_rows(copy: Path, row: str, needles: list) -> None:
    n = _append(copy / "user_agent_families.csv", row)
    _fails(copy, "user_agent_families.csv", n, *needles)


def test_escaped_upper_case_classes_allowed(copy: Path) -> None:
    _append(copy / "user_agent_families.csv", r'"^zz\S{1,4}\d",zz,script')
    assert Catalog.load(copy).ua_family("ZZab1") == ("zz", "script")


@pytest.mark.parametrize(
    "row,needles",
    [
        ("hostname,x,y", ["field 'hostname'"]),
        ("user_agent,x,", ["needs a reason"]),
        ("user_agent,(a*)*,reason", ["catastrophic backtracking"]),
    ],
)
def test_bad_allowlist_rows(copy: Path, row: str, needles: list) -> None:
    n = _append(copy / "allowlist.csv", row)
    _fails(copy, "allowlist.csv", n, *needles)


@pytest.mark.parametrize(
    "row,needles",
    [
        # the rules of ctad.core.indicators, shared with the CTI loader (tests/core/test_contracts.py)
        ("203.0.113.300,ipv4,s,t,50,d", ["'203.0.113.300' is not an IP address"]),
        ("203.0.113.7/24,cidr,s,t,50,d", ["duplicate cidr indicator '203.0.113.0/24' (first on line 2)"]),
        ("AKIA123,access_key_id,s,t,50,d", ["'AKIA123' does not look like an AWS access key id"]),
        ("12345,account_id,s,t,50,d", ["12-digit"]),
        ("Bad_Domain!,domain,s,t,50,d", ["domain"]),
        ("1.2.3.4,ipv4,s,t,very,d", ["confidence 'very'"]),
        ("1.2.3.4,hash,s,t,50,d", ["type 'hash'"]),
        ("(a+)+,user_agent,s,t,50,d", ["catastrophic backtracking"]),
        ("198.51.100.23,ipv4,s,t,50,d", ["duplicate ipv4"]),
    ],
)
def test_bad_indicator_rows(copy: Path, row: str, needles: list) -> None:
    n = _append(copy / "cti_indicators.csv", row)
    _fails(copy, "cti_indicators.csv", n, *needles)


def test_extra_columns_and_bom_tolerated(copy: Path) -> None:
    path = copy / "attack_tactics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",notes"] + [line + ",analyst note" for line in lines[1:]]
    path.write_text("\ufeff" + "\n".join(lines) + "\n\n", encoding="utf-8")
    assert Catalog.load(copy).tactic("TA0001").name == "Initial Access"


def test_cli_validator(copy: Path, capsys) -> None:
    assert main([str(copy)]) == 0
    assert "apis" in capsys.readouterr().out
    _append(copy / API, "s3.amazonaws.com,PutBucketCors,exfiltration,TA0010,T1537,9,x")
    assert main([str(copy)]) == 1
    assert "sensitive_apis.csv:" in capsys.readouterr().err


def test_allowlist_matches(catalog: Catalog) -> None:
    assert catalog.allowlist_matches("invoked_by", "cloudformation.amazonaws.com")
    assert catalog.allowlist_matches("role_name", "AWSServiceRoleForConfig")
    assert catalog.allowlist_matches("user_agent", "AWS Internal")
    assert catalog.allowlist_matches("identity", "svc:config.amazonaws.com")
    # Whole-value match only: a look-alike or a suffix trick is not allowlisted.
    assert catalog.allowlist_matches("user_agent", "AWS Internal; curl/8") == []
    assert catalog.allowlist_matches("invoked_by", "evil.com/.amazonaws.com") == []
    assert catalog.allowlist_matches("invoked_by", "x.amazonaws.com.evil.com") == []
    assert catalog.allowlist_matches("role_name", "MyAWSServiceRoleForConfig") == []
    assert catalog.allowlist_matches("role_name", "OrganizationAccountAccessRole") == []
    assert catalog.allowlist_matches("nonexistent_field", "AWS Internal") == []
    assert catalog.allowlist_matches("user_agent", None) == []
    assert catalog.allowlist_matches("user_agent", "a" * 5_000_000) == []
    reasons = catalog.allowlist_matches("role_name", "AWSServiceRoleForConfig")
    assert all(isinstance(r, str) and len(r) > 20 for r in reasons)


def test_indicators(catalog: Catalog) -> None:
    inds = catalog.indicators()
    types = {i.type for i in inds}
    assert {"ipv4", "cidr", "user_agent", "access_key_id", "account_id", "domain"} <= types
    assert all("example" in i.description.lower() for i in inds)
    assert [i.indicator for i in catalog.indicators("cidr")] == ["203.0.113.0/24", "2001:db8::/32"]
    assert catalog.indicators("nonexistent") == []
    assert all(0 <= i.confidence <= 100 for i in inds)
