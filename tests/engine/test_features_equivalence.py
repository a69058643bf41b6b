"""The tuned `FeatureState.process` gives exactly the rows and state of the reference code (features_reference)."""

from __future__ import annotations

import json
import random

import pytest
from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.core.catalog import Catalog
from ctad.core.features import FeatureState
from ctad.core.normalize import Normalizer
from ctad.core.profile import Profile
from ctad.core.schema import Event
from ctad.simulate import SimConfig, generate
from features_reference import ReferenceState


def same_row(a, b) -> bool:
    return len(a) == len(b) and all((x != x and y != y) or x == y for x, y in zip(a, b))


def run_both(ref, new, events):
    for i, ev in enumerate(events):
        a, b = ref.process(ev), new.process(ev)
        assert same_row(a, b), (i, ev, a, b)
    assert Profile.from_state(ref).data == Profile.from_state(new).data


def both_from(profile: Profile, catalog):
    data = json.loads(json.dumps(profile.data))  # what a saved profile looks like when loaded
    ref = Profile(data).to_state(catalog)
    ref.__class__ = ReferenceState
    return ref, Profile(json.loads(json.dumps(profile.data))).to_state(catalog)


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


@pytest.fixture(scope="module")
def events(catalog):
    normalize = Normalizer(catalog).from_raw
    recs = generate(SimConfig(seed=5, days=4, events=8000, campaigns=6))
    return sorted((normalize(r) for r in recs), key=lambda e: (e.time, e.event_id))


def test_same_rows_and_state_from_empty(catalog, events):
    run_both(ReferenceState(catalog), FeatureState(catalog), events)


def test_same_rows_and_state_from_a_loaded_profile(catalog, events):
    """Restored windows, counts and sightings; the second half starts inside the profile's last hour."""
    half = len(events) // 2
    base = ReferenceState(catalog)
    for ev in events[:half]:
        base.process(ev)
    ref, new = both_from(Profile.from_state(base), catalog)
    run_both(ref, new, events[half:])


def test_same_rows_for_odd_events(catalog, events):
    """Times before the profile's end, missing region/key, every error class, risk flags, an unknown API, and an
    identity the profile has sightings but no event count for (as lookup rows can give)."""
    normalize = Normalizer(catalog).from_raw
    base = ReferenceState(catalog)
    for ev in events[:3000]:
        base.process(ev)
    profile = Profile.from_state(base)
    profile.data["identities"]["arn:aws:iam::111122223333:user/ghost"] = {
        "n": 0, "first": 0.0, "last": 0.0, "hours": [0] * 24, "weekend": 0,
        "seen": {"api": {"s3.amazonaws.com:ListBuckets": [3, 1.0, 2.0]}, "ip": {}, "net": {}, "uaf": {},
                 "region": {"us-east-1": [1, 1.0, 1.0]}, "key": {}},
    }  # fmt: skip
    ref, new = both_from(profile, catalog)
    rng = random.Random(3)
    t0 = events[2999].time
    odd = []
    for i in range(400):  # variations of known identities' events, some before what the profile has seen
        ev = Event.from_tuple(rng.choice(events[2000:3000]).to_tuple())
        ev.event_id = f"odd-{i:04d}"
        ev.time = t0 + rng.choice((-7200, -600, -1, 0, 0, 1, 30, 400, 4000))
        ev.region = rng.choice(("", ev.region, "eu-west-1"))
        ev.access_key = rng.choice(("", ev.access_key, "AKIAEXAMPLE0000002"))
        ev.error_code = rng.choice(
            ("", "", "AccessDenied", "NoSuchBucket", "ThrottlingException", "InternalError")
        )
        ev.flags = rng.choice(((), (), ("public",), ("cross_account", "logging_off"), ("open_ingress",)))
        ev.mfa = rng.choice((None, True, False))
        ev.read_only = rng.choice((None, True, False))
        if i % 10 == 0:
            ev.name = "NoSuchCall"
        if i % 7 == 0:
            ev.identity = "arn:aws:iam::111122223333:user/ghost"
        odd.append(ev)
    for i in range(100):  # new identities, addresses and keys
        odd.append(
            normalize(
                CloudTrailEvent(
                    event_id=f"new-{i:03d}",
                    ip=f"203.0.113.{i % 13}",
                    region="",
                    identity=iam_user(f"u{i % 9}", key=f"AKIANEW{i % 5}"),
                ).as_record()
            )
        )
    evs = sorted(odd, key=lambda e: (e.time, e.event_id))
    for i in range(0, len(evs), 25):  # the state after each few events, before later ones hide a difference
        run_both(ref, new, evs[i : i + 25])
    run_both(ref, new, events[3000:4000])
