"""Indicators for the CTI adapter: the rules live in `ctad.core.indicators` (one owner for the catalogue and the
CTI loader); this module adds the helpers only feeds need (STIX LIKE patterns, literal MISP user agents)."""

from __future__ import annotations

import re
from typing import Optional

from ctad.core.indicators import (
    ACCESS_KEY_RE,
    ACCOUNT_RE,
    CONFIDENCE_WORDS,
    DEFAULT_CONFIDENCE,
    DOMAIN_RE,
    MAX_UA_PATTERN,
    TYPE_ALIASES,
    TYPES,
    Indicator,
    IndicatorError,
    check_user_agent_pattern,
    make_indicator,
    normalise_domain,
    parse_confidence,
)

__all__ = [
    "ACCESS_KEY_RE",
    "ACCOUNT_RE",
    "CONFIDENCE_WORDS",
    "DEFAULT_CONFIDENCE",
    "DOMAIN_RE",
    "MAX_UA_PATTERN",
    "TYPES",
    "TYPE_ALIASES",
    "Indicator",
    "IndicatorError",
    "check_user_agent_pattern",
    "like_to_regex",
    "literal_user_agent",
    "make_indicator",
    "normalise_domain",
    "parse_confidence",
]


def literal_user_agent(value: str) -> str:
    """A regex matching `value` literally (feeds that list exact user-agent strings, e.g. MISP)."""
    return re.escape(value.strip())


def like_to_regex(like: str) -> Optional[str]:
    """STIX/SQL LIKE pattern -> regex ('%' any run, '_' one character); None when empty."""
    if not like:
        return None
    out = []
    for ch in like:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"
