"""The registered attack corpora: each loads techniques under its own name, and API tactics follow the ranks."""

from __future__ import annotations

import pytest
from ctad.simulate.attacks import CORPORA, _catalog, technique_ids


@pytest.mark.parametrize("name", list(CORPORA))
def test_each_corpus_catalogues_techniques_under_its_name(name):
    techs, events = _catalog()
    ids = technique_ids(name)
    assert ids, f"corpus {name} gave no technique"
    for tid in ids:
        assert techs[tid].source == name and events[tid]
        assert all(e.get("eventSource") and e.get("eventName") for e in events[tid])
        times = [str(e.get("eventTime") or "") for e in events[tid]]
        assert times == sorted(times)


def test_an_api_two_corpora_map_differently_takes_the_better_ranked_tactic():
    """TrailDiscover (rank 0) and Stratus (rank 1) disagree on some APIs; a Panther rule calling one of them (its
    tactic comes from its APIs) gets TrailDiscover's."""
    loaded = {name: c.load() for name, c in CORPORA.items()}
    ranked = sorted(CORPORA.values(), key=lambda c: c.api_tactic_rank)
    best, second = ranked[0].name, ranked[1].name
    assert (best, second) == ("traildiscover", "stratus")  # per-call tactics are more specific
    first = {}
    for key, tactic in loaded[best].api_tactics:
        first.setdefault(key, tactic)
    other = {}
    for key, tactic in loaded[second].api_tactics:
        other.setdefault(key, tactic)
    disputed = {k for k in first.keys() & other.keys() if first[k] != other[k]}
    assert disputed
    techs, events = _catalog()
    checked = 0
    for tid in technique_ids("panther"):
        keys = [(e["eventSource"], e["eventName"]) for e in events[tid]]
        known = [k for k in keys if k in first or k in other]
        if len(set(keys)) == 1 and known and known[0] in disputed:
            assert techs[tid].tactic == first[known[0]] != other[known[0]]
            checked += 1
    assert checked
