"""Every registered request risk check against its own CloudTrail test events, and the registry's rules.

The cases live with the checks (ctad/core/risk_checks/*.py); this file only iterates them, so a new check is tested
by writing its events next to it.
"""

from __future__ import annotations

import pytest
from ctad.core import schema
from ctad.core.normalize import Normalizer
from ctad.core.risk_checks import ANY_SOURCE, FLAG_ORDER, REGISTRY, Case, Registry, Request, risk_flags
from ctad.core.risk_checks.registry import TEST_ACCOUNT

CASES = [(check, case) for check in REGISTRY.checks for case in check.cases]


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


@pytest.mark.parametrize(
    "check, case", CASES, ids=[f"{check.title}: {case.title}" for check, case in CASES]
)  # fmt: skip
def test_case_raises_exactly_its_flags(normalizer, check, case):
    """The test event, as CloudTrail writes it, through the normaliser: exactly these flags, in this order."""
    assert normalizer.from_raw(check.record(case)).flags == case.expect


@pytest.mark.parametrize("check, case", CASES, ids=[f"{check.title}: {case.title}" for check, case in CASES])
def test_case_with_parameters_as_json_text(normalizer, check, case):
    """Splunk and Elastic may hand requestParameters over as JSON text: the same flags."""
    import json

    record = check.record(case)
    if record["requestParameters"] is not None:
        record["requestParameters"] = json.dumps(record["requestParameters"])
    assert normalizer.from_raw(record).flags == case.expect


@pytest.mark.parametrize("check", REGISTRY.checks, ids=[c.title for c in REGISTRY.checks])
def test_each_check_has_a_flagged_and_a_benign_event(check):
    flagged = [c for c in check.cases if c.expect]
    assert len(check.cases) >= 2
    assert any(not c.expect for c in check.cases), "no benign event that must raise nothing"
    assert flagged, "no event that raises a flag"
    for case in flagged:  # a flagged event exercises this very check, not a neighbour
        assert (
            schema.bare_event_name(case.name or check.names[0]) in check.names
        )  # Lambda's names carry a version
        assert set(case.expect) & set(check.flags)
        assert check in REGISTRY.lookup(case.source or check.source, case.name or check.names[0])


def test_keyed_checks_judge_only_their_service():
    keyed = [c for c in REGISTRY.checks if c.source != ANY_SOURCE]
    assert keyed
    for check in keyed:
        for name in check.names:
            assert check in REGISTRY.lookup(check.source, name)
            assert check not in REGISTRY.lookup("elsewhere.amazonaws.com", name)
    # an IAM user name in another service's request is no credential made for another user
    assert risk_flags("cognito-idp.amazonaws.com", "CreateAccessKey", {"userName": "bob"}, TEST_ACCOUNT) == ()


def test_every_flag_of_the_table_is_raised_scored_and_said():
    """`ctad.core.risk_flags` is the one place a flag is declared: each row is raised by some check, has its
    monotone feature, its impact, prior and triage weight where those are read, and a reason sentence."""
    from ctad.core.features import DIRECTIONS, FEATURE_INDEX, FLAG_IMPACT
    from ctad.core.reasons import Explainer
    from ctad.core.risk_flags import FLAGS, feature_name
    from ctad.core.scoring import FLAG_PRIOR
    from ctad.triage.offline import FLAG_WEIGHT

    assert FLAG_ORDER == schema.RISK_FLAGS == tuple(flag.name for flag in FLAGS)
    assert {f for c in REGISTRY.checks for f in c.flags} == set(FLAG_ORDER)
    templates = Explainer().by_feature
    for flag in FLAGS:
        column = feature_name(flag.name)
        assert column in FEATURE_INDEX and DIRECTIONS[column] == 1
        assert FLAG_IMPACT[flag.name] == flag.impact >= 4
        assert FLAG_PRIOR[flag.name] == flag.prior and 0 < flag.prior < 1
        assert FLAG_WEIGHT[flag.name] == flag.triage_weight >= 1.0
        assert templates.get(column), f"no reason sentence for {column} in lookups/reason_templates.csv"


def test_judged_by_parameters_leaves_out_the_apis_whose_name_says_it():
    judged = REGISTRY.judged_by_parameters
    assert {"ModifySnapshotAttribute", "PutBucketPolicy", "CreateAccessKey", "PutBucketLifecycle"} <= judged
    assert not judged & {"StopLogging", "DeletePublicAccessBlock", "UpdateDetector", "PutEventSelectors"}


def _registry_with(*checks) -> Registry:
    reg = Registry()
    for source, name, flags, fn in checks:
        reg.check(source, name, flags=flags, cases=[])(fn)
    return reg


def test_several_flags_come_in_flag_order_whatever_the_registration_order():
    def late(req: Request):
        return ("cross_account",)

    def early(req: Request):
        return ("logging_off",)

    for order in ((late, early), (early, late)):
        reg = _registry_with(*[("svc.amazonaws.com", "Call", fn(None), fn) for fn in order])
        assert reg.flags("svc.amazonaws.com", "Call", {}, TEST_ACCOUNT) == ("logging_off", "cross_account")


def test_a_keyed_request_also_runs_the_name_only_checks():
    def keyed(req: Request):
        return ("self_grant",)

    def anywhere(req: Request):
        return ("public",)

    reg = _registry_with(
        ("iam.amazonaws.com", "Call", ("self_grant",), keyed), (ANY_SOURCE, "Call", ("public",), anywhere)
    )
    assert reg.flags("iam.amazonaws.com", "Call", {}, TEST_ACCOUNT) == ("self_grant", "public")
    assert reg.flags("sqs.amazonaws.com", "Call", {}, TEST_ACCOUNT) == ("public",)
    assert reg.flags("iam.amazonaws.com", "Other", {}, TEST_ACCOUNT) == ()


def test_checks_that_need_parameters_do_not_run_without_them():
    seen = []

    def fn(req: Request):
        seen.append(req)
        return ("public",)

    reg = _registry_with(("svc.amazonaws.com", "Call", ("public",), fn))
    assert reg.flags("svc.amazonaws.com", "Call", None, TEST_ACCOUNT) == ()
    assert reg.flags("svc.amazonaws.com", "Call", "not json", TEST_ACCOUNT) == ()
    assert not seen
    reg.always("svc.amazonaws.com", "Gone", flag="logging_off", cases=[])
    assert reg.flags("svc.amazonaws.com", "Gone", None, TEST_ACCOUNT) == ("logging_off",)


def test_the_registry_refuses_what_would_fail_silently():
    reg = Registry()

    def fn(req: Request):
        return ()

    with pytest.raises(ValueError, match="unknown flags"):
        reg.check("svc.amazonaws.com", "Call", flags=("made_up",), cases=[])(fn)
    reg.check("svc.amazonaws.com", "Call", flags=("public",), cases=[])(fn)
    with pytest.raises(ValueError, match="registered twice"):
        reg.check("svc.amazonaws.com", "Other", flags=("public",), cases=[])(fn)
    reg.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        reg.always("svc.amazonaws.com", "Late", flag="public", cases=[])
    assert REGISTRY.frozen  # the shared table: the normaliser copied its names at import


def test_a_case_for_any_source_must_name_its_service():
    check = next(c for c in REGISTRY.checks if c.source == ANY_SOURCE)
    with pytest.raises(ValueError, match="eventSource"):
        check.record(Case("no source", (), {}))


def test_deep_lifecycle_is_walked_within_bounds(normalizer):
    check = next(c for c in REGISTRY.checks if "PutBucketLifecycle" in c.names)
    params: dict = {"Expiration": {"Days": 2}}
    for _ in range(5000):
        params = {"Rule": [params]}
    # bounded walk: never raises, whatever the nesting (a result either way is fine; no crash is the contract)
    normalizer.from_raw(check.record(Case("deep", (), params)))


def test_impact_of_a_revert_is_capped_but_a_share_is_top():
    from ctad.core.catalog import Catalog
    from ctad.core.features import FEATURE_INDEX, FeatureState

    cat = Catalog.load()
    n = Normalizer(cat)
    check = next(c for c in REGISTRY.checks if "ModifySnapshotAttribute" in c.names)
    by_title = {c.title: n.from_raw(check.record(c)) for c in check.cases}
    shared, unshared = by_title["snapshot shared"], by_title["snapshot unshared"]
    assert shared.flags and not unshared.flags
    state = FeatureState(cat)
    assert state.process(shared)[FEATURE_INDEX["impact"]] == 5
    assert state.process(unshared)[FEATURE_INDEX["impact"]] <= 3


HOSTILE = ("x", 5, 1e308, True, None, [], [1, "a"], {}, {"a": [None]})


def _hostile_variants(params):
    """`params` with each value (to three levels down) replaced by each hostile shape in turn."""
    if not isinstance(params, dict):
        return
    for key, value in params.items():
        for bad in HOSTILE:
            yield {**params, key: bad}
        for inner in _hostile_variants(value) if isinstance(value, dict) else ():
            yield {**params, key: inner}


@pytest.mark.parametrize("check, case", CASES, ids=[f"{check.title}: {case.title}" for check, case in CASES])
def test_hostile_parameters_never_raise(check, case):
    """Request parameters are attacker-written: any shape in any field gives flags, never an exception (which
    would cost the row its score)."""
    record = check.record(case)
    for params in _hostile_variants(record["requestParameters"]):
        for name in check.names:
            flags = risk_flags(record["eventSource"], name, params, TEST_ACCOUNT, "alice", "ci")
            assert set(flags) <= set(FLAG_ORDER)


def test_versioned_names_are_judged_and_the_name_caches_stay_bounded(normalizer):
    """Lambda writes AddPermission20150331v2; the normaliser and the features remember per name whether a check
    judges it, and eventName is attacker-written: thousands of made-up names must not grow those tables, nor
    change the answer for a real name once they are full."""
    from ctad.core.risk_checks import CHECKED, JUDGED

    check = next(c for c in REGISTRY.checks if c.title == "lambda_permission")
    public = next(c for c in check.cases if c.name == "AddPermission20150331v2")
    for n in range(CHECKED.limit + 500):
        record = check.record(public)
        record["eventName"] = f"Made{n}Up20150331v2"
        assert normalizer.from_raw(record).flags == ()
        JUDGED(record["eventName"])
    assert len(CHECKED.known) <= CHECKED.limit and len(JUDGED.known) <= JUDGED.limit
    assert normalizer.from_raw(check.record(public)).flags == ("public",)
    assert JUDGED("AddPermission20150331v2") and not JUDGED("Made1Up20150331v2")
