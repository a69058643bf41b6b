"""Properties of the normaliser, the causal features and the reasons on hostile input (issue 11).

Invariants: no exception escapes (a bad row becomes a message, never a crash); an event the normaliser accepts
has bounded, typed fields; hostile values in fields the attacker chooses never hide an otherwise valid event;
features are one number per feature name, never infinite; reasons are at most five plain strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ctad.core.features import FEATURE_NAMES, FeatureState
from ctad.core.normalize import MAX_UA, NormalizeError
from ctad.core.schema import Event
from ctad.engine.detect import normalize_row
from fuzz_strategies import (
    budget,
    cloudtrail_events,
    deep_values,
    encodable_text,
    has_surrogate_or_nul,
    hostile_events,
    hostile_numbers,
    hostile_text,
    json_values,
    nested,
    portable_json,
    rows,
)
from hypothesis import assume, given
from hypothesis import strategies as st

TEXT_FIELDS = ("event_id", "source", "name", "region", "ip", "user_agent", "error_code", "account", "identity",
               "identity_type", "session", "access_key", "invoked_by", "ua_family", "ua_kind", "net", "ip_kind",
               "resource")  # fmt: skip
T_MIN, T_MAX = 0, 7_258_118_400  # the normaliser's plausible range: 1970 .. 2200


def _check_event(ev: Event) -> None:
    for name in TEXT_FIELDS:
        assert isinstance(getattr(ev, name), str), name
    assert ev.name and ev.source
    assert isinstance(ev.time, float) and T_MIN < ev.time < T_MAX
    assert len(ev.user_agent) <= MAX_UA
    assert ev.read_only in (None, True, False) and ev.mfa in (None, True, False)
    assert isinstance(ev.flags, tuple) and all(isinstance(f, str) for f in ev.flags)
    assert Event.from_tuple(ev.to_tuple()).to_tuple() == ev.to_tuple()  # spills round-trip


@budget(100)
@given(rows())
def test_normalize_any_row_gives_an_event_or_a_message(normalizer, row):
    got = normalize_row(normalizer, row)
    if isinstance(got, str):
        assert got.strip()
    else:
        _check_event(got)


@budget(80)
@given(hostile_events())
def test_normalizer_raises_only_normalize_error(normalizer, record):
    """normalize_row's catch-all hides bugs as ct_error: the normaliser itself must only say NormalizeError."""
    try:
        ev = normalizer.normalize(record)
    except NormalizeError as exc:
        assert str(exc).strip()
    else:
        _check_event(ev)


@budget(60)
@given(
    st.sampled_from(["list", "dict"]),
    st.integers(0, 1100),
    st.sampled_from(["requestParameters", "userAgent"]),
)
def test_normalize_nesting_up_to_and_past_the_parser_limit(normalizer, kind, depth, field):
    record = {"eventTime": "2025-11-20T08:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy",
              "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"}, "eventID": "e1"}  # fmt: skip
    record[field] = nested(depth, "x", kind)
    for row in (record, json.dumps(record) if depth < 900 else record):
        got = normalize_row(normalizer, row)
        if isinstance(got, str):
            assert got.strip()
        else:
            _check_event(got)


@budget(60)
@given(hostile_events(required=False, text=encodable_text()))
def test_hostile_optional_fields_never_hide_a_valid_event(normalizer, record):
    """Attacker-written fields (userAgent, request parameters, ARN parts) must not turn an event into ct_error:
    that would let an attacker hide any call. Strings here are valid UTF-8 without NUL."""
    ev = normalize_row(normalizer, record)
    assert isinstance(ev, Event), ev
    if portable_json(record):
        ev_text = normalize_row(normalizer, json.dumps(record))
        assert isinstance(ev_text, Event), ev_text
        assert ev_text.to_tuple() == ev.to_tuple()  # a dict and its JSON text are the same event


@budget(40)
@given(hostile_events(required=False, text=encodable_text()))
def test_numbers_only_python_json_reads_never_hide_a_valid_event(normalizer, record):
    assume(not portable_json(record))
    ev = normalize_row(normalizer, json.dumps(record))
    assert isinstance(ev, Event), ev


@budget(60)
@given(hostile_events(required=False, text=hostile_text()))
def test_lone_surrogates_or_nul_in_json_text_never_hide_a_valid_event(normalizer, record):
    assume(has_surrogate_or_nul(record))
    ev = normalize_row(normalizer, json.dumps(record))  # json.dumps escapes them: valid JSON text
    assert isinstance(ev, Event), ev


@budget(30)
@given(st.lists(st.one_of(hostile_events(), cloudtrail_events()), min_size=1, max_size=25))
def test_features_are_one_finite_or_missing_number_per_name(normalizer, records):
    state = FeatureState(normalizer.catalog)
    events = [e for e in (normalize_row(normalizer, r) for r in records) if isinstance(e, Event)]
    for ev in sorted(events, key=lambda e: (e.time, e.event_id)):
        row = state.process(ev)
        assert len(row) == len(FEATURE_NAMES)
        for name, x in zip(FEATURE_NAMES, row):
            assert isinstance(x, (int, float)) and not isinstance(x, bool), name
            assert not math.isinf(x), name
        info = state.api_info(ev.source, ev.name)
        assert isinstance(info.tactic_id, str) and isinstance(info.technique_id, str)


@budget(40)
@given(
    hostile_events(required=False),
    st.lists(
        st.floats(min_value=-700, max_value=700) | st.just(math.nan),
        min_size=len(FEATURE_NAMES),
        max_size=len(FEATURE_NAMES),
    ),  # fmt: skip
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        min_size=len(FEATURE_NAMES),
        max_size=len(FEATURE_NAMES),
    ),  # fmt: skip
)
def test_reasons_are_at_most_five_plain_sentences(detector, record, row, contributions):
    ev = normalize_row(detector.normalizer, record)
    assume(isinstance(ev, Event))
    state = FeatureState(detector.catalog)
    info = state.api_info(ev.source, ev.name)
    out = detector.explainer.explain(ev, row, contributions, info)
    assert len(out) <= 5
    for sentence, template in out:
        assert isinstance(sentence, str) and sentence.strip() and isinstance(template, str)
    assert len({s for s, _ in out}) == len(out)


def _as_float(x: Any) -> float:
    """A feature row holds floats: an int past the float range stands as the largest float of its sign."""
    try:
        return float(x)
    except OverflowError:
        return 1.7976931348623157e308 if x > 0 else -1.7976931348623157e308


@budget(80)
@given(
    hostile_events(required=False),
    st.lists(
        hostile_numbers().filter(lambda x: not isinstance(x, bool)).map(_as_float),
        min_size=len(FEATURE_NAMES),
        max_size=len(FEATURE_NAMES),
    ),  # fmt: skip
)
def test_reasons_never_raise_for_any_feature_value(detector, record, row):
    ev = normalize_row(detector.normalizer, record)
    assume(isinstance(ev, Event))
    info = FeatureState(detector.catalog).api_info(ev.source, ev.name)
    out = detector.explainer.explain(ev, row, [1.0] * len(row), info)
    assert len(out) <= 5


@budget(40)
@given(deep_values() | json_values())
def test_any_value_as_a_whole_row(normalizer, value):
    got = normalize_row(normalizer, value)
    assert isinstance(got, str) and got.strip()  # not an object, or no eventName: never an event
