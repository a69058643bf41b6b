"""A failing property must be reported with its example, not as a RecursionError from formatting it."""

from __future__ import annotations

import pytest
from fuzz_strategies import PARSER_DEPTH_LIMIT, nested
from hypothesis.internal.reflection import repr_call


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_the_deepest_drawn_value_can_be_formatted_for_a_failure_report(kind):
    """Hypothesis formats the final failing example with `repr_call`, recursing through each value outside the
    stack it gives tests (conftest.py raises the limit for it); before, this raised RecursionError."""

    def prop(value: object) -> None: ...

    text = repr_call(prop, [], {"value": nested(PARSER_DEPTH_LIMIT - 1, "x", kind)})
    assert text.count("[" if kind == "list" else "{") == PARSER_DEPTH_LIMIT - 1
