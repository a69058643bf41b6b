"""Reference data the triage agents are checked against, read through `ctad.core.catalog` (which owns `lookups/`).

A thin adapter: the questions triage asks (is this ATT&CK id one we accept, which tactic goes with it, which
allowlist entries match this event, what does the catalogue know about this API) in one place, so the offline
expert and the checks on Claude's answers use the same table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ctad.core.catalog import ALLOWLIST_FIELDS, Catalog

_TACTIC_RX = re.compile(r"^TA\d{4}$")


class Reference:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @classmethod
    def load(cls, lookups_dir: Optional[Path] = None) -> Reference:
        return cls(Catalog.load(lookups_dir))

    def valid_technique(self, tid: str) -> bool:
        return bool(tid) and self.catalog.is_valid_technique(tid)

    def valid_tactic(self, tid: str) -> bool:
        return bool(tid) and bool(_TACTIC_RX.match(tid)) and self.catalog.tactic(tid) is not None

    def technique_name(self, tid: str) -> str:
        t = self.catalog.technique(tid)
        return t.name if t else ""

    def tactic_for(self, technique: str, hint: str = "") -> str:
        """The tactic to report with a technique: the hint when the table allows it, else its first tactic."""
        t = self.catalog.technique(technique)
        allowed = list(t.tactic_ids) if t else []
        if hint and self.valid_tactic(hint) and (not allowed or hint in allowed):
            return hint
        return allowed[0] if allowed else (hint if self.valid_tactic(hint) else "")

    def api(self, source: str, name: str) -> Optional[Dict[str, Any]]:
        info = self.catalog.api(source, name)
        if info is None:
            return None
        return {
            "technique_id": info.technique_id,
            "tactic_id": info.tactic_id,
            "risk": info.risk,
            "category": info.category,
        }

    def allow_matches(self, values: Mapping[str, Any]) -> List[Dict[str, str]]:
        """Allowlist entries matching the event: [{field, reason}] (catalogue semantics: full-value regex)."""
        out: List[Dict[str, str]] = []
        for field in sorted(ALLOWLIST_FIELDS):
            value = values.get(field)
            if value:
                out.extend(
                    {"field": field, "reason": r} for r in self.catalog.allowlist_matches(field, str(value))
                )
        return out
