"""Temporary session keys are not per-identity history: the baseline keeps long-term keys by id, session keys by kind.

A role gets a new ASIA key for every session (an instance profile every hour or so, a Lambda per container):
kept by id they were ~40 % of the sample's baseline rows and made every session's first call a "new key".
"""

from __future__ import annotations

import json
from typing import List

import pytest
from cloudtrail_event import CloudTrailEvent, principal
from ctad.core.catalog import Catalog
from ctad.core.features import FEATURE_NAMES, history_key
from ctad.core.normalize import Normalizer
from ctad.core.profile import Profile
from ctad.engine.detect import Detector

KEY_FIRST = FEATURE_NAMES.index("id_key_first")
ROLE = "arn:aws:iam::111122223333:role/app-ec2-role"
USER = "arn:aws:iam::111122223333:user/alice"


def raw_event(
    time: str,
    event_id: str,
    arn: str,
    key: str,
    name: str = "ListBuckets",
    source: str = "s3.amazonaws.com",
    itype: str = "IAMUser",
    issuer: str = None,
) -> dict:
    identity = principal(arn, itype, key=key, issuer=issuer, created=time)
    return CloudTrailEvent(
        name=name, source=source, time=time, event_id=event_id, identity=identity
    ).as_record()


def session_key(i: int) -> str:
    return "ASIA" + f"{i:016X}"


def role_events(sessions: int, per_session: int = 3) -> List[dict]:
    """One role, `sessions` sessions an hour apart, each with its own session name and ASIA key."""
    out = []
    for s in range(sessions):
        for j in range(per_session):
            t = f"2024-05-01T{s % 24:02d}:{j:02d}:00Z" if s < 24 else f"2024-05-02T{s - 24:02d}:{j:02d}:00Z"
            out.append(
                raw_event(
                    name="DescribeInstances",
                    source="ec2.amazonaws.com",
                    time=t,
                    event_id=f"r-{s}-{j}",
                    itype="AssumedRole",
                    arn=f"arn:aws:sts::111122223333:assumed-role/app-ec2-role/i-{s:08x}",
                    issuer=ROLE,
                    key=session_key(s),
                )
            )
    return out


def key_first_values(records: List[dict], profile: Profile = None) -> List[float]:
    catalog = Catalog.load()
    norm = Normalizer(catalog)
    state = (profile or Profile()).to_state(catalog)
    events = sorted((norm.normalize(r) for r in records), key=lambda e: (e.time, e.event_id))
    return [state.process(e)[KEY_FIRST] for e in events]


def engine_profile(records: List[dict]) -> Profile:
    run = Detector().start()
    for r in records:
        run.add(r)
    list(run.results())
    return run.profile


@pytest.mark.parametrize(
    "key, kept",
    [
        ("ASIAABCDEFGHIJKLMNOP", "ASIA*"),
        ("ABIAABCDEFGHIJKLMNOP", "ABIA*"),
        ("ACCAABCDEFGHIJKLMNOP", "ACCA*"),
        ("AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
        ("ASIA*", "ASIA*"),  # idempotent: a folded baseline, or a search that folded keys, folds to itself
        ("", ""),
        ("odd", "odd"),
    ],
)
def test_history_key(key, kept):
    assert history_key(key) == kept


def test_a_new_session_of_a_known_role_is_not_a_new_key():
    values = key_first_values(role_events(sessions=5))
    # the role's very first call has no history (missing); no later session's fresh ASIA key counts as novel
    assert values[1:] == [0] * (len(values) - 1)


def test_a_new_long_term_key_is_still_novel():
    records = [
        raw_event(time="2024-05-01T10:00:00Z", event_id="u1", arn=USER, key="AKIAEXAMPLE0000001"),
        raw_event(time="2024-05-01T11:00:00Z", event_id="u2", arn=USER, key="AKIAEXAMPLE0000001"),
        raw_event(time="2024-05-01T12:00:00Z", event_id="u3", arn=USER, key="AKIAEXAMPLE0000002"),
    ]
    assert key_first_values(records)[1:] == [0, 1]


def test_a_user_who_never_used_temporary_credentials_gets_a_new_key_kind():
    """An IAM user on its long-term key who suddenly calls with session credentials (GetSessionToken, console):
    the kind is new for it, which the feature still says."""
    records = [
        raw_event(time="2024-05-01T10:00:00Z", event_id="u1", arn=USER, key="AKIAEXAMPLE0000001"),
        raw_event(time="2024-05-01T11:00:00Z", event_id="u2", arn=USER, key=session_key(1)),
        raw_event(time="2024-05-01T12:00:00Z", event_id="u3", arn=USER, key=session_key(2)),
    ]
    assert key_first_values(records)[1:] == [1, 0]


def test_the_engine_built_baseline_keeps_one_key_row_per_role_whatever_the_sessions():
    profile = engine_profile(role_events(sessions=30))
    keys = profile.data["identities"][ROLE]["seen"]["key"]
    assert keys == {"ASIA*": [90, keys["ASIA*"][1], keys["ASIA*"][2]]}
    rows = [r for r in profile.to_rows() if r["kind"] == "key"]
    assert len(rows) == 1


def test_a_saved_baseline_with_session_keys_folds_them_on_load(tmp_path):
    """A baseline written before the fix (one key entry per session) loads folded: counts summed, first/last
    widened, long-term keys untouched, and the next save no longer holds the per-session rows."""
    profile = engine_profile(role_events(sessions=3))
    ident = profile.data["identities"][ROLE]
    ident["seen"]["key"] = {
        session_key(1): [4, 100.0, 200.0],
        session_key(2): [6, 50.0, 150.0],
        "AKIAEXAMPLE0000001": [2, 10.0, 20.0],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(profile.data))
    loaded = Profile.load(path)
    assert loaded.data["identities"][ROLE]["seen"]["key"] == {
        "ASIA*": [10, 50.0, 200.0],
        "AKIAEXAMPLE0000001": [2, 10.0, 20.0],
    }


def test_baseline_rows_with_session_keys_fold_when_read_back():
    """The KV store / lookup path: rows written before the fix merge into one entry per key kind."""
    profile = engine_profile(role_events(sessions=2))
    rows = [r for r in profile.to_rows() if r["kind"] != "key"]
    rows += [
        {
            "kind": "key",
            "identity": ROLE,
            "value": session_key(i),
            "count": 3,
            "first": 1000.0 + i,
            "last": 2000.0 + i,
        }
        for i in range(50)
    ]
    back = Profile.from_rows(rows)
    assert back.data["identities"][ROLE]["seen"]["key"] == {"ASIA*": [150, 1000.0, 2049.0]}
    assert sum(1 for r in back.to_rows() if r["kind"] == "key") == 1
