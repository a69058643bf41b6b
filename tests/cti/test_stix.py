from __future__ import annotations

import pytest
from ctad.cti import CTIIndex
from ctad.cti.stix import UnsupportedPattern, load_bundle, pattern_atoms


@pytest.mark.parametrize(
    "pattern,atoms",
    [
        ("[ipv4-addr:value = '1.2.3.4']", [("1.2.3.4", "ip")]),
        ("[ipv4-addr:value ISSUBSET '10.0.0.0/8']", [("10.0.0.0/8", "cidr")]),
        ("[ipv4-addr:value IN ('1.2.3.4', '5.6.7.8')]", [("1.2.3.4", "ip"), ("5.6.7.8", "ip")]),
        ("[ipv6-addr:value = '2001:db8::1']", [("2001:db8::1", "ip")]),
        ("[network-traffic:src_ref.value = '192.0.2.1']", [("192.0.2.1", "ip")]),
        ("[network-traffic:dst_ref.value ISSUBSET '192.0.2.0/24']", [("192.0.2.0/24", "cidr")]),
        (
            "[domain-name:value = 'evil.example'] OR [url:value = 'http://x.evil.example:8080/a']",
            [("evil.example", "domain"), ("x.evil.example", "domain")],
        ),
        ("[domain-name:value LIKE '%.evil.example']", [("evil.example", "domain")]),
        (
            "([ipv4-addr:value = '1.1.1.1'] OR [ipv4-addr:value = '2.2.2.2'])",
            [("1.1.1.1", "ip"), ("2.2.2.2", "ip")],
        ),
        ("[x-aws-access-key:value = 'AKIAEXAMPLESTIXKEY01']", [("AKIAEXAMPLESTIXKEY01", "access_key_id")]),
        ("[x-aws-principal:account_id = '444455556666']", [("444455556666", "account_id")]),
        (
            "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Evil/1.0 (x)']",
            [(r"Evil/1\.0\ \(x\)", "user_agent")],
        ),
        ("[x-aws-user-agent:value LIKE 'pacu%']", [("^pacu.*$", "user_agent")]),
    ],
)
def test_supported_patterns(pattern, atoms):
    assert pattern_atoms(pattern) == atoms


@pytest.mark.parametrize(
    "pattern,reason",
    [
        ("[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']", "AND"),
        ("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.example']", "AND"),
        ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']", "FOLLOWEDBY"),
        ("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES", "qualified"),
        ("[ipv4-addr:value != '1.2.3.4']", "negated"),
        ("[ipv4-addr:value > '1.2.3.4']", "operator >"),
        ("[ipv4-addr:value NOT = '1.2.3.4']", "negated"),
        ("[file:name = 'evil.exe']", "no CloudTrail counterpart"),
        ("[domain-name:value MATCHES '.*evil']", "operator MATCHES"),
    ],
)
def test_unsupported_patterns_say_why(pattern, reason):
    with pytest.raises(UnsupportedPattern, match=reason):
        pattern_atoms(pattern)


def test_invalid_pattern_is_value_error():
    with pytest.raises(ValueError):
        pattern_atoms("[ipv4-addr:value = ")


def test_bundle_to_index(fixture_bundle):
    found, skipped = load_bundle(fixture_bundle)
    assert {(i.indicator, i.type) for i in found} == {
        ("192.0.2.10", "ipv4"),
        ("192.0.2.128/25", "cidr"),
        ("drop.bad-bucket.example", "domain"),
        ("paste.evil.example", "domain"),
        ("AKIAEXAMPLESTIXKEY01", "access_key_id"),
        ("444455556666", "account_id"),
        ("(?i)stratus-red-team", "user_agent"),
    }
    reasons = sorted(s["reason"].split(" ")[0] for s in skipped)
    assert reasons == ["AND", "expired", "file:hashes.SHA-256", "pattern_type"]
    key = next(i for i in found if i.type == "access_key_id")
    assert key.threat == "CloudHopper Kit" and key.confidence == 95
    ip = next(i for i in found if i.type == "ipv4")
    assert ip.source.endswith("(Example ISAC)")

    index = CTIIndex.load([fixture_bundle])
    event = {
        "sourceIPAddress": "192.0.2.200",
        "userAgent": "stratus-red-team_4f3a",
        "requestParameters": {"bucketName": "drop.bad-bucket.example"},
        "userIdentity": {"accessKeyId": "AKIAEXAMPLESTIXKEY01"},
    }
    assert {m["indicator"] for m in index.match(event)} == {
        "192.0.2.128/25",
        "(?i)stratus-red-team",
        "drop.bad-bucket.example",
        "AKIAEXAMPLESTIXKEY01",
    }


def test_broken_bundle_is_a_warning_not_a_crash(tmp_path, fixture_csv):
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--x", "pattern": 5}]}'
    )
    worse = tmp_path / "worse.json"
    worse.write_text("{nope")
    index = CTIIndex.load([str(bad), str(worse), str(tmp_path / "missing.csv"), fixture_csv])
    assert len(index) == 7  # the CSV still loaded
    assert index.skipped[0]["reason"].startswith("invalid STIX indicator")
    assert any("worse.json" in w for w in index.warnings)
    assert any("no such file" in w for w in index.warnings)
