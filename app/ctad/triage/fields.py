"""The triage output contract: the fields `ctad triage`, `| agenttriage` and the Elastic writer add to a row.

Kept in one place so every adapter writes the same names in the same order, and a row that was not triaged (not
flagged by stage one, or over the cap) still carries every field, empty, so Splunk's first-record header and
downstream tables never lose a column.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from ctad.core.schema import SEVERITIES

TRIAGE_FIELDS: Tuple[str, ...] = (
    "triage_verdict",
    "triage_confidence",
    "triage_severity",
    "triage_summary",
    "triage_explanation",
    "triage_tactic",
    "triage_technique",
    "triage_actions",
    "triage_backend",
    "triage_cached",
    "triage_error",
    "triage_injection_suspected",
)

VERDICTS: Tuple[str, ...] = ("true_positive", "false_positive", "needs_review")


def empty_triage(error: str = "") -> Dict[str, Any]:
    """Triage fields of a row that was not triaged: present and empty (error says why when there is one)."""
    return {
        "triage_verdict": "",
        "triage_confidence": None,
        "triage_severity": "",
        "triage_summary": "",
        "triage_explanation": "",
        "triage_tactic": "",
        "triage_technique": "",
        "triage_actions": [],
        "triage_backend": "",
        "triage_cached": 0,
        "triage_error": error,
        "triage_injection_suspected": 0,
    }


def raise_severity(severity: str, steps: int = 1) -> str:
    """One or more steps up the severity scale (injection attempts raise severity, never lower it)."""
    try:
        i = SEVERITIES.index(severity)
    except ValueError:
        i = 2
    return SEVERITIES[min(len(SEVERITIES) - 1, i + steps)]


def max_severity(*values: str) -> str:
    known = [SEVERITIES.index(v) for v in values if v in SEVERITIES]
    return SEVERITIES[max(known)] if known else "medium"
