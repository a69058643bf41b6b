"""The role-kind table: every kind the organisation plans has its stream and its volume in one entry."""

from __future__ import annotations

import math

from ctad.simulate import SimConfig, plan
from ctad.simulate.actors import ROLE_KINDS


def test_every_planned_role_has_a_registered_kind_and_every_kind_is_planned():
    p = plan(SimConfig(seed=3, days=7, events=20_000))
    kinds = {a.role.kind for a in p.roles}
    assert kinds == set(ROLE_KINDS), "a planned kind without an entry, or an entry no organisation uses"
    for actor in p.roles:
        per_day = actor.expected_per_day()
        assert math.isfinite(per_day) and per_day >= 0, (actor.role.kind, per_day)


def test_a_kind_streams_through_its_entry():
    p = plan(SimConfig(seed=3, days=2, events=5_000))
    actor = next(a for a in p.roles if a.role.kind == "instance")
    records = [rec for _, rec in actor.stream()]
    arns = [str(rec["userIdentity"].get("arn", "")) for rec in records]
    assert any(f":assumed-role/{actor.role.name}/" in arn for arn in arns)
    assert actor.expected_per_day() == ROLE_KINDS["instance"].per_day(
        actor.role, (p.org.days - actor.role.start_day) / max(1, p.org.days)
    )
