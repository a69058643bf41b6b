"""ctadbaseline at estate scale: no per-session rows, bounded per-identity rows, stable keys for incremental updates.

bench/bench_baseline.py measures the sizes and times at 10,000 identities; these tests pin the behaviour.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest
from baseline_macro import folded_stats, session_fold
from ctad.core.profile import MAX_SEEN, Profile
from ctad.splunk.baseline_command import BY_FIELDS
from splunk_helpers import SESSION_KEY
from test_baseline_command import baseline_stats, ctadbaseline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "splunkapp"))  # the app's .conf reader
from splunkapp_helpers import conf  # noqa: E402

ROLE = "arn:aws:iam::111122223333:role/app-ec2-role"
T0 = 1764000000.0  # 2025-11-24


def stats_row(**fields: Any) -> Dict[str, str]:
    """One `ctad_baseline_stats` row (every by-field "-" unless given)."""
    row = {f: "-" for f in BY_FIELDS}
    row.update({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": "us-east-1",
                "sourceIPAddress": "10.0.0.5", "userAgent": "Boto3/1.34.10 md/Botocore#1.34.10",
                "recipientAccountId": "111122223333", "userIdentity.accountId": "111122223333"})  # fmt: skip
    row.update(fields)
    row.setdefault("ctad_hour", "3")
    row.setdefault("count", "2")
    row.setdefault("first", "%.3f" % T0)
    row.setdefault("last", "%.3f" % (T0 + 60))
    row.setdefault("weekend_count", "0")
    return row


def role_session_rows(sessions: int) -> List[Dict[str, str]]:
    """What the unfolded macro returned for one role: rows per session (its own arn, principal id and ASIA key)."""
    return [
        stats_row(**{
            "userIdentity.type": "AssumedRole",
            "userIdentity.arn": f"arn:aws:sts::111122223333:assumed-role/app-ec2-role/i-{s:08x}",
            "userIdentity.principalId": f"AROAEXAMPLE:i-{s:08x}",
            "userIdentity.accessKeyId": "ASIA" + f"{s:016X}",
            "userIdentity.sessionContext.sessionIssuer.arn": ROLE,
            "first": "%.3f" % (T0 + 3600 * s), "last": "%.3f" % (T0 + 3600 * s + 60), "ctad_hour": str(s % 24),
        })
        for s in range(sessions)
    ]  # fmt: skip


def kinds(rows: List[Dict[str, Any]]) -> Counter:
    return Counter(r["kind"] for r in rows)


def test_session_keys_make_one_row_per_identity(tmp_path):
    _, _, out = ctadbaseline(role_session_rows(40), tmp_path)
    keys = [r for r in out if r["kind"] == "key"]
    assert [(r["identity"], r["value"], r["count"]) for r in keys] == [(ROLE, "ASIA*", "80")]


def test_every_row_has_a_stable_unique_key(tmp_path):
    rows = role_session_rows(5)
    _, _, a = ctadbaseline(rows, tmp_path)
    _, _, b = ctadbaseline(list(reversed(rows)), tmp_path, sizes=[2, 1])
    assert [r["_key"] for r in a if r["kind"] == "meta"] == ["meta"]
    assert len({r["_key"] for r in a}) == len(a)
    by_key = {(r["kind"], r["identity"], r["value"]): r["_key"] for r in a}
    assert by_key == {(r["kind"], r["identity"], r["value"]): r["_key"] for r in b}


# ------------------------------------------------------------------------------ the macro folds sessions
def test_the_macro_fold_changes_no_baseline_value_and_cuts_stats_rows(records, tmp_path):
    plain = baseline_stats(records)
    folded = folded_stats(plain)
    assert len(folded) < len(plain), (len(folded), len(plain))  # 2,500 events: the bench shows it at scale
    _, _, a = ctadbaseline(plain, tmp_path, args=["retention_days=3650"])
    _, _, b = ctadbaseline(folded, tmp_path, args=["retention_days=3650"])
    assert Profile.from_rows(a).data == Profile.from_rows(b).data


def test_the_fold_keeps_the_role_and_long_term_keys():
    fold = session_fold()
    row = fold(role_session_rows(1)[0])
    assert row["userIdentity.arn"] == "arn:aws:sts::111122223333:assumed-role/app-ec2-role/-"
    assert row["userIdentity.principalId"] == "AROAEXAMPLE:-"
    assert row["userIdentity.accessKeyId"] == "ASIA*"
    user = stats_row(**{"userIdentity.type": "IAMUser", "userIdentity.arn": "arn:aws:iam::111122223333:user/bob",
                        "userIdentity.principalId": "AIDAEXAMPLE", "userIdentity.accessKeyId": "AKIAEXAMPLE0000001"})  # fmt: skip
    assert fold(user) == user


# --------------------------------------------------------------------------------- bounded per identity
def test_an_identity_keeps_its_most_recent_values_up_to_the_cap(tmp_path):
    """A CI role meeting a new runner address every few minutes (or an attacker spraying addresses): the baseline
    keeps MAX_SEEN['ip'] of them, the most recent, and the estate-wide source rows of only those."""
    n = MAX_SEEN["ip"] + 88
    rows = [
        stats_row(**{
            "userIdentity.type": "IAMUser", "userIdentity.arn": "arn:aws:iam::111122223333:user/ci",
            "userIdentity.userName": "ci", "sourceIPAddress": f"198.{i // 250}.{i % 250}.7",
            "first": "%.3f" % (T0 + 60 * i), "last": "%.3f" % (T0 + 60 * i),
        })
        for i in range(n)
    ]  # fmt: skip
    _, _, out = ctadbaseline(rows, tmp_path)
    counted = kinds(out)
    assert counted["ip"] == counted["gsrc"] == MAX_SEEN["ip"]
    assert counted["net"] == MAX_SEEN["net"]  # each address is its own /24 here
    kept = {r["value"] for r in out if r["kind"] == "ip"}
    assert kept == {f"198.{i // 250}.{i % 250}.7" for i in range(n - MAX_SEEN["ip"], n)}
    profile = Profile.from_rows(out)
    assert profile.data["identities"]["arn:aws:iam::111122223333:user/ci"]["n"] == 2 * n  # counts stay whole


def test_prune_drops_estate_rows_no_identity_holds():
    profile = Profile.from_rows(
        [
            {"kind": "id", "identity": "u", "value": "", "count": 1, "first": T0, "last": T0 + 90 * 86400},
            {"kind": "ip", "identity": "u", "value": "198.51.100.1", "count": 1, "first": T0, "last": T0},
            {"kind": "ip", "identity": "u", "value": "198.51.100.2", "count": 1, "first": T0, "last": T0 + 90 * 86400},
            {"kind": "api", "identity": "u", "value": "s3:Old", "count": 1, "first": T0, "last": T0},
            {"kind": "api", "identity": "u", "value": "s3:New", "count": 1, "first": T0, "last": T0 + 90 * 86400},
            {"kind": "gsrc", "identity": "", "value": "198.51.100.1", "count": 1, "extra": 1},
            {"kind": "gsrc", "identity": "", "value": "198.51.100.2", "count": 1, "extra": 1},
            {"kind": "gapi", "identity": "", "value": "s3:Old", "count": 1, "extra": 1},
            {"kind": "gapi", "identity": "", "value": "s3:New", "count": 1, "extra": 1},
        ]
    )  # fmt: skip
    assert profile.prune(30, now=T0 + 90 * 86400) == 4
    assert set(profile.data["sources"]) == {"198.51.100.2"} and set(profile.data["apis"]) == {"s3:New"}


# ------------------------------------------------------------------------------- incremental hourly update
def upsert(collection: List[Dict[str, Any]], rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What `outputlookup append=true key_field=_key` does to the collection."""
    by_key = {r["_key"]: r for r in collection}
    by_key.update({r["_key"]: dict(r) for r in rows})
    return list(by_key.values())


def test_changed_only_update_upserts_to_the_same_baseline_as_a_full_rewrite(records, splunkd, tmp_path):
    recs = sorted(records, key=lambda r: r["eventTime"])
    cut = len(recs) * 9 // 10
    _, _, built = ctadbaseline(baseline_stats(recs[:cut]), tmp_path)
    splunkd.collections["ctad_baseline"] = [dict(r) for r in built]
    info = {"splunkd_uri": splunkd.uri, "session_key": SESSION_KEY}
    hour = baseline_stats(recs[cut:])
    _, _, full = ctadbaseline(hour, tmp_path, args=["merge=true"], **info)
    _, _, changed = ctadbaseline(hour, tmp_path, args=["merge=true", "changed_only=true"], **info)
    assert 1 < len(changed) < len(full) / 2, (len(changed), len(full))
    assert changed[0]["kind"] == "meta"
    assert Profile.from_rows(upsert(built, changed)).data == Profile.from_rows(full).data


def test_changed_only_needs_merge(tmp_path):
    gi, _, _ = ctadbaseline([], tmp_path, args=["changed_only=true"])
    assert gi["finished"] is True and "changed_only=true needs merge=true" in gi["error"]


def test_a_duplicate_row_from_before_stable_keys_loses_to_the_newer_one():
    """A collection built before rows had stable keys, then updated by key, holds a value twice until the next full
    build: the newer sighting wins whatever the order the KV store returns them in."""
    old = {"kind": "api", "identity": "u", "value": "s3:Get", "count": 5, "first": T0, "last": T0 + 10}
    new = dict(old, count=7, last=T0 + 99)
    ident = {"kind": "id", "identity": "u", "value": "", "count": 7, "first": T0, "last": T0 + 99}
    for rows in ([ident, old, new], [ident, new, old]):
        assert Profile.from_rows(rows).data["identities"]["u"]["seen"]["api"]["s3:Get"] == [7, T0, T0 + 99]


@pytest.mark.parametrize("name", ["CTAD - Build baseline", "CTAD - Update baseline"])
def test_saved_searches_write_by_stable_key(name):
    search = conf("savedsearches")[name]["search"]
    assert "outputlookup" in search and "key_field=_key" in search
    assert ("changed_only=true" in search) == ("append=true" in search) == (name == "CTAD - Update baseline")


def test_loading_pauses_the_cyclic_collector_and_restores_it():
    """from_rows / to_state pause gc while they allocate (the load's cost at scale) and leave it as they found it,
    also when the rows' source fails midway."""
    import gc

    from ctad.core.catalog import Catalog

    def rows():
        yield {"kind": "id", "identity": "u", "value": "", "count": 1, "first": T0, "last": T0}
        assert not gc.isenabled()  # paused while the rows are consumed
        raise RuntimeError("KV store read failed")

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        Profile.from_rows(rows())
    assert gc.isenabled()
    gc.disable()
    try:
        Profile.from_rows([]).to_state(Catalog.load())
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()
