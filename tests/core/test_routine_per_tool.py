"""What lowers a high-impact action is this identity doing this very request routinely, *through the same tool*.

The real account's miss: an admin's Terraform made a console password for one user; minutes later an SDK script
with the same identity made one for another user, and the prior halved because "it did that once before". A stolen
key is used with the attacker's tooling, not the victim's Terraform: the routine is counted per user-agent family.
"""

from __future__ import annotations

import json
import math
from typing import List, Sequence, Tuple

from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.core.catalog import Catalog
from ctad.core.features import FEATURE_INDEX, FeatureState, action_key, routine_key
from ctad.core.normalize import Normalizer
from ctad.core.profile import Profile
from ctad.core.reasons import Explainer
from ctad.core.scoring import FLAG_PRIOR, prior
from ctad.engine.detect import Detector

TERRAFORM = "APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws/4.67.0"
GO_SDK = "aws-sdk-go-v2/1.17.3 os/linux lang/go#1.19.4 md/GOOS#linux md/GOARCH#amd64 api/iam#1.19.0"
ADMIN = iam_user("admin")
ACTION = FEATURE_INDEX["id_action_log_count"]
API_COUNT = FEATURE_INDEX["id_api_log_count"]


def login_profile(i: int, ua: str, user: str) -> CloudTrailEvent:
    return CloudTrailEvent(name="CreateLoginProfile", source="iam.amazonaws.com", identity=ADMIN, ua=ua,
                           time=1714557600 + 60 * i, event_id=f"lp-{i}",
                           params={"userName": user, "passwordResetRequired": False})  # fmt: skip


def secret_read(i: int, ua: str) -> CloudTrailEvent:
    return CloudTrailEvent(name="GetSecretValue", source="secretsmanager.amazonaws.com", identity=ADMIN, ua=ua,
                           time=1714557600 + 60 * i, event_id=f"gs-{i}", params={"secretId": f"s-{i}"})  # fmt: skip


def warm_up(n: int = 30) -> List[CloudTrailEvent]:
    """The admin's ordinary work first, so every later call has an established identity behind it."""
    return [CloudTrailEvent(name="ListBuckets", identity=ADMIN, ua=TERRAFORM, time=1714550000 + 60 * i,
                            event_id=f"w-{i}") for i in range(n)]  # fmt: skip


def rows(events: Sequence[CloudTrailEvent]) -> List[Tuple[object, List[float]]]:
    catalog = Catalog.load()
    norm = Normalizer(catalog)
    state = FeatureState(catalog)
    out = []
    for e in events:
        ev = norm.normalize(e.as_record())
        out.append((ev, state.process(ev)))
    return out


def test_a_flagged_request_through_another_tool_keeps_its_full_prior():
    got = rows(warm_up() + [login_profile(0, TERRAFORM, "svc-a"), login_profile(1, GO_SDK, "svc-b"),
                            login_profile(2, TERRAFORM, "svc-c")])  # fmt: skip
    (_, tf_first), (sdk_ev, sdk), (_, tf_again) = got[-3:]
    assert sdk_ev.flags == ("credential_other",)
    # the SDK's request is a first time: the Terraform one before it is another tool's routine
    assert sdk[ACTION] == 0.0 and sdk[API_COUNT] == math.log1p(1)
    assert prior(sdk) == FLAG_PRIOR["credential_other"]
    # the same tool again: once before halves the prior, as it always did
    assert tf_again[ACTION] == math.log1p(1)
    assert prior(tf_again) == FLAG_PRIOR["credential_other"] / 2
    assert prior(tf_first) == FLAG_PRIOR["credential_other"]


def test_a_sensitive_api_counts_per_tool_and_an_ordinary_one_per_api():
    reads = [secret_read(i, TERRAFORM) for i in range(5)] + [secret_read(5, GO_SDK), secret_read(6, GO_SDK)]
    lists = [
        CloudTrailEvent(name="ListBuckets", identity=ADMIN, ua=GO_SDK, time=1714560000, event_id="lb-sdk")
    ]
    got = rows(warm_up() + reads + lists)
    first_sdk, second_sdk, list_sdk = got[-3][1], got[-2][1], got[-1][1]
    assert first_sdk[API_COUNT] == math.log1p(5) and first_sdk[ACTION] == 0.0  # risk 3: per tool
    assert second_sdk[ACTION] == math.log1p(1)
    # ListBuckets (not sensitive): the API's own count, whatever the tool; no per-tool rows for it
    assert list_sdk[ACTION] == list_sdk[API_COUNT] == math.log1p(30)


def test_routine_key_is_the_key_the_engine_keeps():
    catalog = Catalog.load()
    risk = catalog.api("secretsmanager.amazonaws.com", "GetSecretValue").risk
    assert risk >= 3
    api = "secretsmanager.amazonaws.com:GetSecretValue"
    assert (
        routine_key(api, (), "aws-sdk-go", risk) == action_key(api, (), "aws-sdk-go") == api + "|#aws-sdk-go"
    )
    assert routine_key("s3.amazonaws.com:ListBuckets", (), "aws-cli", 0) is None
    assert routine_key("s3.amazonaws.com:PutBucketPolicy", ("public",), None, 0) == (
        "s3.amazonaws.com:PutBucketPolicy|public#"
    )


def test_the_reason_names_the_tool_and_the_other_ways():
    got = rows(warm_up() + [login_profile(0, TERRAFORM, "svc-a"), login_profile(1, GO_SDK, "svc-b")])
    ev, row = got[-1]
    catalog = Catalog.load()
    info = FeatureState(catalog).api_info(ev.source, ev.name)
    text = Explainer().reasons(ev, row, None, info)[0]
    assert "never made such a CreateLoginProfile request (credential_other) through aws-sdk-go" in text
    assert "it called CreateLoginProfile once before in other ways" in text


def test_the_sdk_login_profile_is_flagged_whatever_the_model_says():
    """End to end with the shipped model: the prior alone puts the SDK's request over the alert line."""
    events = warm_up() + [login_profile(0, TERRAFORM, "svc-a"), login_profile(1, GO_SDK, "svc-b")]
    run = Detector().start()
    for e in events:
        run.add(e.as_record())
    sdk = list(run.results())[-1]  # in add order
    assert sdk["ct_anomaly"] == 1 and sdk["ct_score"] > 0.5, sdk


def test_a_baseline_written_before_the_tool_was_kept_drops_its_old_action_rows(tmp_path):
    run = Detector().start()
    for e in warm_up() + [login_profile(0, TERRAFORM, "svc-a")]:
        run.add(e.as_record())
    list(run.results())
    data = run.profile.data
    actions = data["identities"][next(iter(data["identities"]))]["seen"]["action"]
    assert list(actions) == ["iam.amazonaws.com:CreateLoginProfile|credential_other#terraform"]
    actions["iam.amazonaws.com:CreateLoginProfile|credential_other"] = [3, 1.0, 2.0]  # the old key format
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    loaded = Profile.load(path).data["identities"]
    assert list(loaded[next(iter(loaded))]["seen"]["action"]) == [
        "iam.amazonaws.com:CreateLoginProfile|credential_other#terraform"
    ]
