"""Request risk flags, each with CloudTrail test events as data (as Panther keeps each rule with its events)."""

from __future__ import annotations

import pytest
from cloudtrail_event import ACCOUNT, CloudTrailEvent, assumed_role, iam_user
from ctad.core.normalize import Normalizer

ACCT = ACCOUNT
USER = iam_user("alice")
ROLE = assumed_role("ci", "session1")


def event(name: str, source: str, params: dict, who: dict = USER) -> dict:
    return CloudTrailEvent(
        name, source, identity=who, params=params, ip="203.0.113.9", event_id="e-" + name
    ).as_record()


CASES = [
    # credentials or a login for another principal: persistence; for oneself: routine
    ("key for another user", event("CreateAccessKey", "iam.amazonaws.com", {"userName": "bob"}), {"credential_other"}),
    ("own key", event("CreateAccessKey", "iam.amazonaws.com", {}), set()),
    ("own key, named", event("CreateAccessKey", "iam.amazonaws.com", {"userName": "alice"}), set()),
    ("login for another user", event("CreateLoginProfile", "iam.amazonaws.com", {"userName": "bob"}),
     {"credential_other"}),
    ("role makes a user's key", event("CreateAccessKey", "iam.amazonaws.com", {"userName": "bob"}, ROLE),
     {"credential_other"}),
    # a policy granted to oneself: privilege escalation
    ("user grants itself", event("AttachUserPolicy", "iam.amazonaws.com",
                                 {"userName": "alice", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
     {"self_grant"}),
    ("user grants another", event("AttachUserPolicy", "iam.amazonaws.com", {"userName": "bob"}), set()),
    ("role grants itself", event("PutRolePolicy", "iam.amazonaws.com", {"roleName": "ci", "policyName": "x"}, ROLE),
     {"self_grant"}),
    ("role grants another role", event("PutRolePolicy", "iam.amazonaws.com", {"roleName": "app"}, ROLE), set()),
    # objects set to expire within days: logs destroyed (Stratus cloudtrail-lifecycle-rule)
    ("1-day expiry", event("PutBucketLifecycle", "s3.amazonaws.com", {"bucketName": "trail-logs",
        "LifecycleConfiguration": {"Rule": {"Expiration": {"Days": 1}, "Status": "Enabled"}}}), {"short_expiry"}),
    ("1-year expiry", event("PutBucketLifecycle", "s3.amazonaws.com", {"bucketName": "trail-logs",
        "LifecycleConfiguration": {"Rule": [{"Expiration": {"Days": 365}}]}}), set()),
    ("hostile days", event("PutBucketLifecycle", "s3.amazonaws.com",
                           {"LifecycleConfiguration": {"Rule": {"Expiration": {"Days": "1e999x"}}}}), set()),
    # sharing: only an added foreign account or "all" is sharing; removing it (a revert) is not
    ("snapshot shared", event("ModifySnapshotAttribute", "ec2.amazonaws.com", {"snapshotId": "snap-1",
        "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}}}), {"cross_account"}),
    ("snapshot unshared", event("ModifySnapshotAttribute", "ec2.amazonaws.com", {"snapshotId": "snap-1",
        "createVolumePermission": {"remove": {"items": [{"userId": "999988887777"}]}}}), set()),
    ("logging stopped", event("StopLogging", "cloudtrail.amazonaws.com", {"name": "trail"}), {"logging_off"}),
]  # fmt: skip


@pytest.mark.parametrize("case, record, flags", CASES, ids=[c[0] for c in CASES])
def test_flags(case, record, flags):
    assert set(Normalizer().from_raw(record).flags) == flags


def test_deep_lifecycle_is_walked_within_bounds():
    params: dict = {"Expiration": {"Days": 2}}
    for _ in range(5000):
        params = {"Rule": [params]}
    # bounded walk: never raises, whatever the nesting (a result either way is fine; no crash is the contract)
    Normalizer().from_raw(event("PutBucketLifecycle", "s3.amazonaws.com", params))


def test_impact_of_a_revert_is_capped_but_a_share_is_top():
    from ctad.core.catalog import Catalog
    from ctad.core.features import FEATURE_INDEX, FeatureState

    cat = Catalog.load()
    n = Normalizer(cat)
    shared, unshared = (n.from_raw(CASES[i][1]) for i in (12, 13))
    state = FeatureState(cat)
    assert state.process(shared)[FEATURE_INDEX["impact"]] == 5
    assert state.process(unshared)[FEATURE_INDEX["impact"]] <= 3


def test_sign_in_event_without_arn_keeps_the_users_history():
    rec = event("CheckMfa", "signin.amazonaws.com", {})
    rec["userIdentity"] = {
        "type": "IAMUser",
        "accountId": ACCT,
        "userName": "alice",
        "principalId": "AIDAEXAMPLE",
    }
    assert Normalizer().from_raw(rec).identity == f"arn:aws:iam::{ACCT}:user/alice"
