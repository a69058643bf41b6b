from __future__ import annotations

import ipaddress
import json
import random
import time

from ctad.cti import CTIIndex, make_indicator

ATTACK_EVENT = {
    "eventVersion": "1.08",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "ModifySnapshotAttribute",
    "sourceIPAddress": "198.51.100.23",
    "userAgent": "Pacu/1.0 (botocore/1.31)",
    "recipientAccountId": "123456789012",
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/build",
        "accountId": "123456789012",
        "accessKeyId": "AKIAEXAMPLEATTACKER1",
    },
    "requestParameters": {
        "snapshotId": "snap-0123",
        "createVolumePermission": {"add": {"items": [{"userId": "111122223333"}]}},
    },
}

BENIGN_EVENT = {
    "eventSource": "s3.amazonaws.com",
    "eventName": "GetObject",
    "sourceIPAddress": "10.1.2.3",
    "userAgent": "aws-cli/2.15.0 Python/3.11",
    "recipientAccountId": "123456789012",
    "userIdentity": {"type": "IAMUser", "accountId": "123456789012", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
    "requestParameters": {"bucketName": "logs", "key": "2024/01/01/a.gz"},
}


def _pairs(matches):
    return {(m["indicator"], m["matched_field"]) for m in matches}


def test_raw_cloudtrail_matches_every_observable(fixture_csv):
    index = CTIIndex.load([fixture_csv])
    matches = index.match(ATTACK_EVENT)
    assert _pairs(matches) == {
        ("198.51.100.0/24", "sourceIPAddress"),
        (r"(?:^|\W)(?:pacu|cloudfox)(?:/|\s|$)", "userAgent"),
        ("AKIAEXAMPLEATTACKER1", "userIdentity.accessKeyId"),
        ("111122223333", "requestParameters.createVolumePermission.add.items.userId"),
    }
    assert [m["confidence"] for m in matches] == sorted((m["confidence"] for m in matches), reverse=True)
    first = matches[0]
    assert set(first) >= {
        "indicator",
        "type",
        "source",
        "threat",
        "confidence",
        "matched_field",
        "description",
    }
    assert (
        first["type"] == "access_key_id" and first["threat"] == "Leaked key" and first["source"] == "fixture"
    )


def test_benign_event_has_no_match(fixture_csv):
    assert CTIIndex.load([fixture_csv]).match(BENIGN_EVENT) == []


def test_flattened_splunk_row_and_raw_and_ecs(fixture_csv):
    index = CTIIndex.load([fixture_csv])
    splunk = {
        "userIdentity.accessKeyId": "AKIAEXAMPLEATTACKER1",
        "requestParameters.roleArn": "arn:aws:iam::111122223333:role/exfil",
        "src": "2001:db8:dead:1::5",
        "recipientAccountId": "123456789012",
    }
    assert _pairs(index.match(splunk)) == {
        ("AKIAEXAMPLEATTACKER1", "userIdentity.accessKeyId"),
        ("111122223333", "requestParameters.roleArn"),
        ("2001:db8:dead::/48", "src"),
    }
    # A Splunk row that only carries the record in _raw (plus a few extracted fields)
    row = {"_raw": json.dumps(ATTACK_EVENT), "_time": "1700000000", "sourcetype": "aws:cloudtrail"}
    assert _pairs(index.match(row)) == _pairs(index.match(ATTACK_EVENT))
    ecs = {"source": {"ip": "203.0.113.7"}, "user_agent": {"original": "cloudfox v1"}}
    assert {m["type"] for m in index.match(ecs)} == {"ipv4", "user_agent"}


def test_free_text_in_request_parameters(fixture_csv):
    index = CTIIndex.load([fixture_csv])
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "s3:*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.7/32"}},
            }
        ]
    }
    event = {
        "eventName": "PutBucketPolicy",
        "requestParameters": {
            "policy": json.dumps(policy),
            "notification": "https://hooks.evil-exfil.example/x?y=1",
            "email": "ops@mail.evil-exfil.example",
        },
    }
    hits = _pairs(index.match(event))
    assert ("111122223333", "requestParameters.policy") in hits
    assert ("203.0.113.7", "requestParameters.policy") in hits
    assert ("evil-exfil.example", "requestParameters.notification") in hits
    assert ("evil-exfil.example", "requestParameters.email") in hits
    # a parent domain must not match a look-alike
    assert index.match({"requestParameters": {"host": "notevil-exfil.example"}}) == []


def test_bad_input_never_raises(fixture_csv):
    index = CTIIndex.load([fixture_csv])
    deep: dict = {}
    node = deep
    for _ in range(500):
        node["requestParameters"] = {}
        node = node["requestParameters"]
    for bad in (
        None,
        "text",
        42,
        [],
        {"_raw": "{not json"},
        {"sourceIPAddress": None},
        deep,
        {"sourceIPAddress": "ec2.amazonaws.com"},
        {"userAgent": 12345},
    ):
        assert index.match(bad) == []
    assert CTIIndex().match(ATTACK_EVENT) == []


def test_hostile_user_agent_is_truncated_and_fast(fixture_csv):
    index = CTIIndex.load([fixture_csv])
    hostile = "a" * 200_000 + " pacu/1"
    start = time.perf_counter()
    assert index.match({"userAgent": hostile}) == []  # the tool name is past the truncation point
    assert time.perf_counter() - start < 0.5
    assert len(index.match({"userAgent": "pacu/1 " + "a" * 200_000})) == 1


def test_cidr_buckets_agree_with_brute_force():
    rng = random.Random(7)
    index = CTIIndex()
    nets = []
    for i in range(400):
        version = 4 if i % 4 else 6
        bits = 32 if version == 4 else 128
        plen = rng.randint(8, bits)
        addr = (
            ipaddress.ip_address(rng.getrandbits(bits))
            if version == 4
            else ipaddress.IPv6Address((0x2001_0DB8 << 96) | rng.getrandbits(96))
        )
        net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
        nets.append(net)
        index.add(make_indicator(str(net), "cidr", "rand", f"n{i}"))
    probes = [ipaddress.ip_address(rng.getrandbits(32)) for _ in range(2000)]
    probes += [n.network_address + rng.randint(0, n.num_addresses - 1) for n in nets[:200]]
    for addr in probes:
        expected = {
            str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
            for n in nets
            if n.version == addr.version and addr in n
        }
        got = {ind.indicator for ind in index.match_ip(str(addr))}
        assert got == expected, addr


def test_duplicate_indicators_are_indexed_once(fixture_csv):
    index = CTIIndex.load([fixture_csv, fixture_csv])
    assert len(index) == 7
    assert len(index.skipped) == 2  # the bad row, reported once per load
    assert index.stats()["by_source"]["fixture"]["cidr"] == 2
