"""`id_uaf_share`: how much of an identity's history went through the tool of this call.

A stolen key is used with the attacker's tooling: an SDK script in the middle of an identity's Terraform work is a
tool it rarely uses, even when it used it once before (so `id_uaf_first` is 0). The share grades that, from the
per-family counts the history already keeps, so a Splunk-built baseline gives the same value
(`tests/splunk/test_baseline_command.py` compares every feature of later events).
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import pytest
from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.core.catalog import Catalog
from ctad.core.features import DIRECTIONS, FEATURE_INDEX, FeatureState
from ctad.core.normalize import Normalizer
from ctad.core.reasons import Explainer

TERRAFORM = "APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws/4.67.0"
GO_SDK = "aws-sdk-go-v2/1.17.3 os/linux lang/go#1.19.4 md/GOOS#linux md/GOARCH#amd64 api/iam#1.19.0"
ADMIN = iam_user("admin")
SHARE = FEATURE_INDEX["id_uaf_share"]
FIRST = FEATURE_INDEX["id_uaf_first"]


def call(i: int, ua: str, name: str = "ListBuckets") -> CloudTrailEvent:
    return CloudTrailEvent(name=name, identity=ADMIN, ua=ua, time=1714550000 + 10 * i, event_id=f"e-{i}")


def rows(events: Sequence[CloudTrailEvent]) -> List[Tuple[object, List[float]]]:
    catalog = Catalog.load()
    norm = Normalizer(catalog)
    state = FeatureState(catalog)
    return [(ev, state.process(ev)) for ev in (norm.normalize(e.as_record()) for e in events)]


def history() -> List[CloudTrailEvent]:
    """Thirty Terraform calls, one SDK call, then a second SDK call (the one under test)."""
    return [call(i, TERRAFORM) for i in range(30)] + [call(30, GO_SDK), call(31, GO_SDK, "GetSecretValue")]


def test_the_share_of_the_tool_in_the_identitys_history():
    got = rows(history())
    assert math.isnan(got[0][1][SHARE])  # no history yet: unknown, not "rare"
    assert got[1][1][SHARE] == 1.0  # one Terraform call before, through Terraform
    first_sdk, second_sdk = got[30][1], got[31][1]
    assert (first_sdk[FIRST], first_sdk[SHARE]) == (1, 0.0)
    assert second_sdk[FIRST] == 0
    assert second_sdk[SHARE] == pytest.approx(1 / 31)


def test_a_rare_tool_may_only_raise_the_score():
    assert DIRECTIONS["id_uaf_share"] == -1


def _reasons_when_only(feature: str, event: object, row: List[float]) -> List[str]:
    catalog = Catalog.load()
    weights = [0.0] * len(row)
    weights[FEATURE_INDEX[feature]] = 1.0
    info = FeatureState(catalog).api_info(event.source, event.name)  # type: ignore[attr-defined]
    return Explainer().reasons(event, row, weights, info)


def test_the_reason_says_how_rarely_the_identity_uses_the_tool():
    got = rows(history())
    ev, row = got[31]
    text = _reasons_when_only("id_uaf_share", ev, row)[0]
    assert (
        text
        == "arn:aws:iam::111122223333:user/admin rarely works through aws-sdk-go: 3.2% of its earlier calls"
    )


def test_a_first_use_is_said_once():
    """On the first call through a tool the share is 0; "first time ... uses" already says it."""
    got = rows(history())
    ev, row = got[30]
    weights_share = _reasons_when_only("id_uaf_share", ev, row)
    assert not any("rarely works through" in r for r in weights_share)


def test_an_unrecognised_user_agent_is_not_named_as_a_tool():
    """The user-agent label "unknown" is no tool: the real account's emptied user agent ("[]") read as
    "never made such a PutBucketLifecycle request through unknown"."""
    stop = CloudTrailEvent(name="StopLogging", source="cloudtrail.amazonaws.com", identity=ADMIN, ua="[]",
                           time=1714550000 + 320, event_id="e-32")  # fmt: skip
    ev, row = rows(history() + [stop])[32]
    assert ev.ua_family == "unknown"
    said = _reasons_when_only("id_uaf_first", ev, row) + _reasons_when_only("id_api_first", ev, row)
    text = " / ".join(said)
    assert "first time arn:aws:iam::111122223333:user/admin works through an unrecognised user agent" in text
    assert "never made such a StopLogging request (logging_off) through an unrecognised user agent" in text
    assert "through unknown" not in text and "unknown client" not in text


def test_a_forged_baseline_cannot_push_the_share_past_one():
    """Counts read back from a baseline are bounded each, not against one another: the share is clamped."""
    from ctad.core.profile import Profile

    catalog = Catalog.load()
    norm = Normalizer(catalog)
    state = FeatureState(catalog)
    for e in history()[:31]:
        state.process(norm.normalize(e.as_record()))
    profile = Profile.from_state(state)
    for ident in profile.data["identities"].values():
        for entry in ident["seen"]["uaf"].values():
            entry[0] = 10**9
    row = profile.to_state(catalog).process(norm.normalize(history()[31].as_record()))
    assert row[SHARE] == 1.0
