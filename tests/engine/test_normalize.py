from __future__ import annotations

import json

import pytest
from cloudtrail_event import CloudTrailEvent, principal
from ctad.core.normalize import NormalizeError, classify_source, normalize, parse_time, risk_flags


def _key(ev):
    return (ev.event_id, ev.time, ev.api, ev.identity, ev.session, ev.ip, ev.net, ev.access_key, ev.region,
            ev.error_code, ev.flags, ev.identity_type)  # fmt: skip


ROLE = "arn:aws:iam::111122223333:role/ci-deployer"
ASSUMED = "arn:aws:sts::111122223333:assumed-role/ci-deployer/build-42"


@pytest.mark.parametrize("with_issuer", [True, False])
def test_assumed_role_is_keyed_by_role_and_session_kept(with_issuer):
    ev = normalize(
        CloudTrailEvent(
            identity=principal(ASSUMED, "AssumedRole", issuer=ROLE if with_issuer else None)
        ).as_record()
    )
    assert ev.identity == ROLE
    assert ev.session == "build-42"


def test_every_shape_gives_the_same_event():
    event = CloudTrailEvent(
        "PutBucketPolicy",
        params={
            "bucketName": "b1",
            "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]},
        },
        identity=principal(ASSUMED, "AssumedRole", issuer=ROLE),
    )
    src = event.as_record()
    shapes = [src, event.as_eventbridge(), event.as_splunk_row(), event.as_splunk_row(with_raw=False),
              event.as_ecs(), event.as_ecs(keep_original=True), json.dumps(src)]  # fmt: skip
    keys = {_key(normalize(s)) for s in shapes}
    assert len(keys) == 1, keys
    ev = normalize(src)
    assert ev.flags == ("public",)
    assert ev.resource == "b1"


def test_service_principal_is_not_a_human():
    ev = normalize(
        CloudTrailEvent(
            ip="config.amazonaws.com", ua="config.amazonaws.com", identity=principal("", "AWSService")
        ).as_record()
    )
    assert ev.identity.startswith("svc:")
    assert ev.ip_kind == "aws_service"


def test_invoked_by_is_kept():
    r = CloudTrailEvent(identity=principal(ASSUMED, "AssumedRole", issuer=ROLE)).as_record()
    r["userIdentity"]["invokedBy"] = "cloudformation.amazonaws.com"
    assert normalize(r).invoked_by == "cloudformation.amazonaws.com"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2024-07-30T21:31:10Z", 1722375070.0),
        ("2024-07-30T21:31:10.500Z", 1722375070.5),
        ("2024-07-30T23:31:10+02:00", 1722375070.0),
        ("1722375070.25", 1722375070.25),
        (1722375070, 1722375070.0),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    "row,message",
    [
        ({"foo": 1}, "unknown shape"),
        ({"eventName": "X", "eventSource": "s3.amazonaws.com"}, "eventTime is missing"),
        (
            {"eventName": "X", "eventTime": "2024-01-01T00:00:00Z", "userIdentity": {}},
            "eventSource is missing",
        ),
        (
            {"eventName": "X", "eventSource": "s", "eventTime": "yesterday", "userIdentity": {}},
            "not a timestamp",
        ),
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object"),
        ({"Records": []}, "Records file"),
        ({"_raw": "garbage", "sourcetype": "aws:cloudtrail"}, "_raw is not a CloudTrail"),
        ("x" * 1_000_001, "over the 1 MB limit"),
        ({"eventName": ["X"], "eventSource": 5, "eventTime": {"a": 1}, "userIdentity": "str"}, "eventTime"),
    ],
)
def test_bad_rows_say_why(row, message):
    with pytest.raises(NormalizeError) as exc:
        normalize(row)
    assert message in str(exc.value)


def test_wrongly_typed_fields_do_not_crash():
    r = CloudTrailEvent().as_record()
    r["userAgent"] = {"nested": True}
    r["readOnly"] = "maybe"
    r["requestParameters"] = "not an object"
    r["sourceIPAddress"] = 12345
    ev = normalize(r)
    assert ev.user_agent == "" and ev.read_only is None and ev.ip == "12345"


def test_missing_event_id_gets_a_stable_content_hash():
    r = CloudTrailEvent().as_record()
    del r["eventID"]
    assert normalize(r).event_id == normalize(dict(r)).event_id
    assert normalize(r).event_id.startswith("h-")


@pytest.mark.parametrize(
    "ip,kind",
    [("203.0.113.9", "public"), ("10.1.2.3", "private"), ("AWS Internal", "aws_internal"),
     ("ec2.amazonaws.com", "aws_service"), ("2001:db8::1", "private"), ("999.1.1.1", "invalid"), ("", "missing")],
)  # fmt: skip
def test_classify_source(ip, kind):
    assert classify_source(ip)[1] == kind


def test_risk_flags():
    own = "111122223333"
    snap = {
        "snapshotId": "snap-1",
        "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}},
    }
    assert risk_flags("ec2.amazonaws.com", "ModifySnapshotAttribute", snap, own) == ("cross_account",)
    pub = {"createVolumePermission": {"add": {"items": [{"group": "all"}]}}}
    assert risk_flags("ec2.amazonaws.com", "ModifySnapshotAttribute", pub, own) == ("public",)
    ingress = {
        "groupId": "sg-1",
        "ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
    }
    assert risk_flags("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ingress, own) == ("open_ingress",)
    assert risk_flags("cloudtrail.amazonaws.com", "StopLogging", {"name": "t"}, own) == ("logging_off",)
    internal = {
        "groupId": "sg-1",
        "ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]},
    }
    assert risk_flags("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", internal, own) == ()
    conditioned = {
        "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Condition": {"x": 1}}]}
    }
    assert risk_flags("s3.amazonaws.com", "PutBucketPolicy", conditioned, own) == ()


def test_all_shared_events_normalise_or_say_why(shared_data):
    ok = bad = 0
    for name in ("stratus_detonations", "traildiscover", "panther_rule_tests", "otrf_scenarios"):
        for line in (shared_data / "cloudtrail" / f"{name}.jsonl").read_text().splitlines():
            try:
                ev = normalize(json.loads(line))
                assert ev.identity and ev.source and ev.name
                ok += 1
            except NormalizeError as exc:
                assert str(exc)
                bad += 1
    assert ok > 1400 and bad < 30


def test_mfa_unknown_for_identity_center_sessions():
    """SSO sessions log MFAUsed=No / mfaAuthenticated=false whatever the IdP did: never a 'no MFA' signal."""
    from ctad.core.normalize import normalize

    base = {
        "eventTime": "2026-01-05T10:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "eventID": "e1",
        "recipientAccountId": "111122223333",
        "additionalEventData": {"MFAUsed": "No"},
    }
    sso = dict(base, userIdentity={
        "type": "AssumedRole", "accountId": "111122223333",
        "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/ana@example.com",
    })  # fmt: skip
    user = dict(base, userIdentity={"type": "IAMUser", "accountId": "111122223333",
                                    "arn": "arn:aws:iam::111122223333:user/ana", "userName": "ana"})  # fmt: skip
    assert normalize(sso).mfa is None
    assert normalize(user).mfa is False


@pytest.mark.parametrize(
    "value",
    ["2024-07-30T21:31:10Z", "2024-07-30T21:31:59Z", "2024-07-30T21:31:60Z", "2024-07-30T21:31:1xZ",
     "2024-07-30T21:31: 1Z", "2024-07-30T21:31:\u0661\u0662Z", " 2024-07-30T21:31:10Z", "2024-13-30T21:31:10Z",
     "2024-07-30 21:31:10Z", "2024-07x30T21:31:10Z", "0001-01-01T00:00:00Z"],
)  # fmt: skip
def test_parse_time_is_the_same_on_a_remembered_minute(value):
    """The minute memo must not change a result or an error, whether the minute was seen before or not."""

    def outcome(v):
        try:
            return parse_time(v)
        except NormalizeError as exc:
            return str(exc)

    first = outcome(value)
    outcome("2024-07-30T21:31:00Z")  # the same minute, remembered from the strict form
    assert outcome(value) == first


def test_identity_memo_keeps_identities_apart():
    from ctad.core.normalize import Normalizer

    n = Normalizer()
    base = CloudTrailEvent(identity=principal(ASSUMED, "AssumedRole", issuer=ROLE)).as_record()
    other_issuer = CloudTrailEvent(identity=principal(ASSUMED, "AssumedRole", issuer=ROLE + "-2")).as_record()
    svc = [
        CloudTrailEvent("ListBuckets", s, identity=principal("", "AWSService")).as_record()
        for s in ("s3.amazonaws.com", "ec2.amazonaws.com")
    ]
    sso = CloudTrailEvent(
        identity=principal(ASSUMED.replace("ci-deployer", "AWSReservedSSO_Admin_0123"), "AssumedRole")
    ).as_record()
    sso["userIdentity"]["sessionContext"] = {"attributes": {"mfaAuthenticated": "false"}}
    for _ in range(2):  # the second round is answered from the memo
        assert n.from_raw(base).identity == ROLE
        assert n.from_raw(other_issuer).identity == ROLE + "-2"
        assert [n.from_raw(r).identity for r in svc] == ["svc:s3.amazonaws.com", "svc:ec2.amazonaws.com"]
        assert n.from_raw(sso).mfa is None and n.from_raw(base).mfa is False


def test_resource_keeps_key_priority():
    from ctad.core.normalize import _resource

    assert _resource({"roleArn": "r", "bucketName": "b"}) == "b"
    assert _resource({"bucketName": "", "keyId": "k", "name": "n"}) == "n"
    assert _resource({"bucketName": 5, "other": "x"}) == ""
    assert _resource({"a": 1}) == "" and _resource({}) == "" and _resource("x") == ""
    # logging and detection targets name themselves in their own keys
    assert _resource({"logGroupName": "/aws/lambda/x"}) == "/aws/lambda/x"
    assert _resource({"resolverQueryLogConfigId": "rqlc-1", "originSequenceNumber": 0}) == "rqlc-1"
    assert _resource({"groupId": "sg-1", "groupName": "web"}) == "sg-1"  # the older keys keep their rank


def test_sign_in_event_without_arn_keeps_the_users_history():
    acct = "111122223333"
    rec = {"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "signin.amazonaws.com",
           "eventName": "CheckMfa", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
           "userAgent": "aws-cli/2.15.0", "requestParameters": {}, "eventID": "e-CheckMfa", "recipientAccountId": acct,
           "userIdentity": {"type": "IAMUser", "accountId": acct, "userName": "alice", "principalId": "AIDAEXAMPLE"}}  # fmt: skip
    assert normalize(rec).identity == f"arn:aws:iam::{acct}:user/alice"
