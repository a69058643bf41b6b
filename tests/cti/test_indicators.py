from __future__ import annotations

import pytest
from ctad.cti.indicators import IndicatorError, like_to_regex, make_indicator, parse_confidence


@pytest.mark.parametrize(
    "value,declared,expected_value,expected_type",
    [
        ("203.0.113.7", "ipv4", "203.0.113.7", "ipv4"),
        ("203.0.113.7/32", "ip-src", "203.0.113.7", "ipv4"),
        ("198.51.100.17/24", "cidr", "198.51.100.0/24", "cidr"),
        ("2001:DB8::1", "ipv6-addr", "2001:db8::1", "ipv6"),
        ("::ffff:203.0.113.9", "ipv6", "203.0.113.9", "ipv4"),
        ("2001:db8::/32", "ipv6", "2001:db8::/32", "cidr"),
        ("*.Evil.Example.", "domain-name", "evil.example", "domain"),
        ("akiaexampleattacker1", "access_key_id", "AKIAEXAMPLEATTACKER1", "access_key_id"),
        ("1111-2222-3333", "aws_account_id", "111122223333", "account_id"),
        ("^pacu", "user-agent", "^pacu", "user_agent"),
    ],
)
def test_normalises_feed_spellings(value, declared, expected_value, expected_type):
    ind = make_indicator(value, declared, "src", "threat", "high", "d")
    assert (ind.indicator, ind.type, ind.confidence) == (expected_value, expected_type, 85)


@pytest.mark.parametrize(
    "value,declared,fragment",
    [
        ("", "ipv4", "empty"),
        ("999.1.1.1", "ipv4", "not an IP"),
        ("1.2.3.4", "sha256", "unsupported indicator type"),
        ("12345", "account_id", "12-digit"),
        ("not a key", "access_key_id", "access key"),
        ("bad domain!", "domain", "domain"),
        ("(a+)+$", "user_agent", "nested quantifier"),
        ("(.*x)*", "user_agent", "nested quantifier"),
        ("[unclosed", "user_agent", "not a valid regex"),
        ("x" * 600, "user_agent", "longer than"),
    ],
)
def test_rejects_bad_rows_with_a_reason(value, declared, fragment):
    with pytest.raises(IndicatorError, match=fragment):
        make_indicator(value, declared)


def test_confidence_scales():
    assert parse_confidence(None) == 50
    assert parse_confidence("") == 50
    assert parse_confidence(0.9) == 90
    assert parse_confidence("0.25") == 25
    assert parse_confidence("1") == 1  # an integer 1 is 1 on the 0..100 scale
    assert parse_confidence(250) == 100
    assert parse_confidence("Low") == 15
    with pytest.raises(IndicatorError):
        parse_confidence("very")


def test_like_to_regex_is_literal_except_wildcards():
    import re

    rx = re.compile(like_to_regex("python-requests/%.%"))
    assert rx.match("python-requests/2.31")
    assert not rx.match("python-requestsX2.31")
    assert like_to_regex("") is None
