"""Reasons state what is news, in plain English. Missing MFA is a reason only where MFA is expected (console
sign-in or session, root user).

Role sessions and access-key calls never carry MFA; saying "session not authenticated with MFA" of a CI role's
call states the normal case and hid the real reason on most anomalies of the sample and the real account.
"""

from __future__ import annotations

from typing import Any, Dict, List

from cloudtrail_event import CloudTrailEvent, assumed_role, iam_user, principal
from ctad.core.catalog import Catalog
from ctad.core.features import FEATURE_INDEX, FeatureState
from ctad.core.normalize import Normalizer
from ctad.core.reasons import Explainer, mfa_expected

MFA_SENTENCE = "session not authenticated with MFA"
ROOT = principal("arn:aws:iam::123456789012:root", "Root", key="ASIAROOTEXAMPLE00001")


def reasons_when_only(feature: str, record: Dict[str, Any]) -> List[str]:
    """The reasons of one event when the model put all its weight on `feature` (contributions zero elsewhere)."""
    catalog = Catalog.load()
    ev = Normalizer(catalog).normalize(record)
    state = FeatureState(catalog)
    row = state.process(ev)
    weights = [0.0] * len(row)
    weights[FEATURE_INDEX[feature]] = 1.0
    return Explainer().reasons(ev, row, weights, state.api_info(ev.source, ev.name))


def reasons_when_only_mfa_counts(record: Dict[str, Any]) -> List[str]:
    return reasons_when_only("mfa", record)


def with_mfa_false(record: Dict[str, Any]) -> Dict[str, Any]:
    uid = record["userIdentity"]
    uid.setdefault("sessionContext", {}).setdefault("attributes", {})["mfaAuthenticated"] = "false"
    return record


def test_a_role_session_is_not_blamed_for_missing_mfa():
    record = CloudTrailEvent(name="DescribeTrails", source="cloudtrail.amazonaws.com",
                             identity=assumed_role("github-actions-terraform")).as_record()  # fmt: skip
    got = reasons_when_only_mfa_counts(record)
    assert MFA_SENTENCE not in got
    assert got, "the anomaly still gets a reason (the history fallback)"


def test_a_console_session_without_mfa_is_said():
    record = CloudTrailEvent(name="DescribeTrails", source="cloudtrail.amazonaws.com",
                             identity=assumed_role("admin"), ua="console.amazonaws.com",
                             extra={"sessionCredentialFromConsole": "true"}).as_record()  # fmt: skip
    assert MFA_SENTENCE in reasons_when_only_mfa_counts(record)


def test_a_console_login_without_mfa_is_said():
    record = CloudTrailEvent(name="ConsoleLogin", source="signin.amazonaws.com", identity=iam_user("bob"),
                             ua="Mozilla/5.0 (X11; Linux x86_64)",
                             extra={"additionalEventData": {"MFAUsed": "No"}}).as_record()  # fmt: skip
    assert MFA_SENTENCE in reasons_when_only_mfa_counts(record)


def test_the_root_user_without_mfa_is_said():
    record = with_mfa_false(CloudTrailEvent(name="ListBuckets", identity=ROOT).as_record())
    assert MFA_SENTENCE in reasons_when_only_mfa_counts(record)


def test_mfa_expected_reads_the_event_not_attacker_text():
    """A user agent that merely contains "console" does not make an API call a console session."""
    catalog = Catalog.load()
    ev = Normalizer(catalog).normalize(
        CloudTrailEvent(identity=assumed_role("ci"), ua="python-requests console-helper").as_record()
    )
    assert not mfa_expected(ev)


def test_short_gaps_read_as_english():
    from ctad.core.reasons import _seconds_text

    assert [_seconds_text(x) for x in (0.2, 1.0, 3.0, 89.0)] == [
        "less than a second",
        "1 second",
        "3 seconds",
        "89 seconds",
    ]


def _high_impact_sentence(record: Dict[str, Any]) -> str:
    return reasons_when_only("impact", record)[0]


def test_a_high_impact_call_without_a_resource_does_not_invent_one():
    """LeaveOrganization names no resource (nor does a call whose requestParameters CloudTrail left null)."""
    record = CloudTrailEvent(name="LeaveOrganization", source="organizations.amazonaws.com",
                             identity=assumed_role("ops")).as_record()  # fmt: skip
    record["requestParameters"] = None
    text = _high_impact_sentence(record)
    assert text.startswith("LeaveOrganization by arn:aws:iam::111122223333:role/ops: a high-impact action; ")
    assert "a resource" not in text


def test_a_high_impact_call_names_its_target():
    record = CloudTrailEvent(name="DeleteLogGroup", source="logs.amazonaws.com", identity=assumed_role("ops"),
                             params={"logGroupName": "/aws/cloudtrail/org"}).as_record()  # fmt: skip
    assert _high_impact_sentence(record).startswith("DeleteLogGroup on /aws/cloudtrail/org by ")
