"""A baseline read back from a lookup, the KV store or a file is untrusted: every row is checked, never raises."""

from __future__ import annotations

import json
import math

import pytest
from ctad.core.features import KINDS
from ctad.core.profile import MAX_COUNT, Profile

ID = "arn:aws:iam::123456789012:user/alice"


def rows():
    meta = {"version": 1, "total": 40, "first_time": 1767000000, "last_time": 1767600000}
    return [
        {"kind": "meta", "identity": "", "value": json.dumps(meta), "count": 40},
        {"kind": "gapi", "identity": "", "value": "s3.amazonaws.com:ListBuckets", "count": 40, "extra": 1},
        {"kind": "gsrc", "identity": "", "value": "203.0.113.9", "count": 40, "extra": 1},
        {"kind": "id", "identity": ID, "value": ",".join(["2"] * 20 + ["0"] * 4), "count": 40,
         "first": 1767000000, "last": 1767600000, "extra": 0},
        {"kind": "api", "identity": ID, "value": "s3.amazonaws.com:ListBuckets", "count": 40,
         "first": 1767000000, "last": 1767600000},
    ]  # fmt: skip


def all_counts(profile):
    d = profile.data
    yield d["total"]
    for v in list(d["apis"].values()) + list(d["sources"].values()):
        yield from v[:2]
    for ident in d["identities"].values():
        yield ident["n"]
        yield from ident["hours"]
        for kind in KINDS:
            for e in ident["seen"][kind].values():
                yield e[0]


def test_sound_rows_round_trip_without_problems():
    problems = {}
    profile = Profile.from_rows(rows(), problems)
    assert problems == {}
    again = Profile.from_rows(list(profile.to_rows()))
    assert again.data == profile.data and profile.total == 40 and ID in profile.data["identities"]


@pytest.mark.parametrize(
    "index, change, reason",
    [
        (4, {"count": -5}, "count out of range (clamped)"),
        (4, {"count": "1e400"}, "count is not a finite number"),
        (3, {"count": "nan"}, "count is not a finite number"),
        (1, {"count": "inf"}, "count is not a finite number"),
        (4, {"count": 10**30}, "count out of range (clamped)"),
        (4, {"first": "nan"}, "time is not a finite number"),
        (3, {"value": "1,2,inf"}, "count is not a finite number"),
        (0, {"value": "{not json"}, "meta row value is not a JSON object"),
        (0, {"value": "[1]"}, "meta row value is not a JSON object"),
        (1, {"value": None}, "gapi row without value"),
        (3, {"identity": ""}, "id row without identity"),
        (2, {"kind": "mystery"}, "unknown kind"),
    ],
)
def test_bad_rows_are_reported_and_never_reach_the_numbers(index, change, reason):
    bad = rows()
    bad[index] = dict(bad[index], **change)
    problems = {}
    profile = Profile.from_rows(bad + ["not a row"], problems)
    assert problems.get(reason) == 1 and problems.get("row is not an object") == 1, problems
    for n in all_counts(profile):
        assert isinstance(n, int) and 0 <= n <= MAX_COUNT
    for ident in profile.data["identities"].values():
        assert all(math.isfinite(t) for t in (ident["first"], ident["last"]))
    profile.to_state(None)  # the engine can take it in
    assert profile.span_days >= 0


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(apis=[1, 2]),
        lambda d: d["apis"].update(x=5),
        lambda d: d["sources"].update(x=[1, 2, 3]),
        lambda d: d["identities"].update(x="a string"),
        lambda d: d["identities"][ID].pop("seen"),
        lambda d: d["identities"][ID]["seen"].update(api={"x": [1]}),
        lambda d: d["identities"][ID].update(win_long=[[1, 2]]),
        lambda d: d["identities"][ID].update(win_short=5),
    ],
)
def test_load_rejects_a_damaged_file_with_one_clear_message(damage, tmp_path):
    data = Profile.from_rows(rows()).data
    damage(data)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="damaged ctad baseline profile"):
        Profile.load(path)


def test_load_accepts_what_save_wrote(tmp_path):
    profile = Profile.from_rows(rows())
    profile.save(tmp_path / "p.json.gz")
    assert Profile.load(tmp_path / "p.json.gz").data == json.loads(json.dumps(profile.data))
