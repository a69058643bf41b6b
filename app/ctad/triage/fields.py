"""The triage output contract: the fields `ctad triage`, `| agenttriage` and the Elastic writer add to a row.

Kept in one place so every adapter writes the same names in the same order, and a row that was not triaged (not
flagged by stage one, or over the cap) still carries every field, empty, so Splunk's first-record header and
downstream tables never lose a column.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, TypedDict

from ctad.core.schema import SEVERITIES


class TriageFields(TypedDict):
    """The triage fields of a row, in output order."""

    triage_verdict: str  # one of VERDICTS, or "" when not triaged
    triage_confidence: Optional[float]  # 0..1, None when not triaged
    triage_severity: str  # one of SEVERITIES, or ""
    triage_summary: str
    triage_explanation: str
    triage_tactic: str  # an ATT&CK tactic id the reference table knows, or ""
    triage_technique: str
    triage_actions: List[str]
    triage_backend: str
    triage_cached: int  # 0/1
    triage_error: str
    triage_injection_suspected: int  # 0/1


TRIAGE_FIELDS: Tuple[str, ...] = tuple(TriageFields.__annotations__)

VERDICTS: Tuple[str, ...] = ("true_positive", "false_positive", "needs_review")


def empty_triage(error: str = "") -> TriageFields:
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
