"""Reference data the triage agents check answers against: the ATT&CK table, the allowlist, API risk info.

Read through `ctad.catalog` when it is importable (it owns `lookups/`); the two CSVs triage depends on
(attack_techniques.csv, allowlist.csv) have a fixed contract (docs/DESIGN.md), so they are read directly with the
csv module from the same lookups directory, which also lets tests point at a small fixture directory.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

_TECH_RX = re.compile(r"^T\d{4}(\.\d{3})?$")
_TACTIC_RX = re.compile(r"^TA\d{4}$")


def default_lookups_dir() -> Path:
    here = Path(__file__).resolve().parent
    for base in (here.parents[1], here.parents[2]):
        if (base / "lookups").is_dir():
            return base / "lookups"
    return here.parents[1] / "lookups"


class AllowRule:
    """One allowlist row: a regex on one field, with the reason an analyst wrote."""

    __slots__ = ("field", "pattern", "reason", "_rx")

    def __init__(self, field: str, pattern: str, reason: str):
        self.field = field.strip()
        self.pattern = pattern
        self.reason = reason
        self._rx = re.compile(pattern, re.IGNORECASE)

    def match(self, values: Mapping[str, Any]) -> bool:
        value = values.get(self.field)
        if value is None:
            return False
        items = value if isinstance(value, (list, tuple, set)) else [value]
        return any(isinstance(v, str) and v and self._rx.search(v) for v in items)


class Reference:
    """ATT&CK techniques and tactics we accept, allowlist rules, and (with ctad.catalog) API risk info."""

    def __init__(
        self,
        techniques: Dict[str, Dict[str, Any]],
        tactics: Dict[str, str],
        allowlist: List[AllowRule],
        catalog: Any = None,
        source: str = "",
    ):
        self.techniques = techniques
        self.tactics = tactics
        self.allowlist = allowlist
        self.catalog = catalog
        self.source = source
        self.errors: List[str] = []

    @classmethod
    def load(cls, lookups_dir: Optional[Path] = None) -> Reference:
        folder = Path(lookups_dir) if lookups_dir else default_lookups_dir()
        errors: List[str] = []
        techniques: Dict[str, Dict[str, Any]] = {}
        for row in _read_csv(folder / "attack_techniques.csv", errors):
            tid = (row.get("technique_id") or "").strip()
            if _TECH_RX.match(tid):
                tactics = [t.strip() for t in (row.get("tactic_ids") or "").split(";") if t.strip()]
                techniques[tid] = {"name": (row.get("name") or "").strip(), "tactics": tactics}
        tactics: Dict[str, str] = {}
        for row in _read_csv(folder / "attack_tactics.csv", errors):
            tid = (row.get("tactic_id") or "").strip()
            if _TACTIC_RX.match(tid):
                tactics[tid] = (row.get("name") or row.get("shortname") or "").strip()
        allow: List[AllowRule] = []
        for row in _read_csv(folder / "allowlist.csv", errors):
            try:
                allow.append(AllowRule(row.get("field") or "", row.get("pattern") or "", row.get("reason") or ""))
            except re.error as exc:
                errors.append(f"allowlist.csv: bad pattern {row.get('pattern')!r}: {exc}")
        catalog = None
        try:
            from ctad.catalog import Catalog

            catalog = Catalog.load(folder)
        except Exception as exc:  # optional: catalog not built yet, or lookups incomplete
            errors.append(f"ctad.catalog unavailable ({type(exc).__name__}: {str(exc)[:100]})")
        ref = cls(techniques, tactics, allow, catalog, str(folder))
        ref.errors = errors
        return ref

    # ---------------------------------------------------------------------------------------------- ATT&CK
    def valid_technique(self, tid: str) -> bool:
        """True when the id is in the accepted table (or, with no table at all, has the official shape)."""
        if not tid or not _TECH_RX.match(tid):
            return False
        return tid in self.techniques if self.techniques else True

    def valid_tactic(self, tid: str) -> bool:
        if not tid or not _TACTIC_RX.match(tid):
            return False
        if self.tactics:
            return tid in self.tactics
        if self.techniques:
            return any(tid in t["tactics"] for t in self.techniques.values())
        return True

    def technique_name(self, tid: str) -> str:
        return self.techniques.get(tid, {}).get("name", "")

    def tactic_for(self, technique: str, hint: str = "") -> str:
        """The tactic to report with a technique: the hint when the table allows it, else its first tactic."""
        allowed = self.techniques.get(technique, {}).get("tactics", [])
        if hint and (not allowed or hint in allowed) and self.valid_tactic(hint):
            return hint
        return allowed[0] if allowed else (hint if self.valid_tactic(hint) else "")

    # --------------------------------------------------------------------------------------------- catalog
    def api(self, source: str, name: str) -> Optional[Dict[str, Any]]:
        """Risk info for eventSource+eventName from ctad.catalog (technique_id, tactic_id, risk, category)."""
        if self.catalog is None:
            return None
        try:
            info = self.catalog.api(source, name)
        except Exception:
            return None
        if info is None:
            return None
        if isinstance(info, dict):
            return info
        return {k: getattr(info, k, "") for k in ("technique_id", "tactic_id", "risk", "category", "description")}

    def allow_matches(self, values: Mapping[str, Any]) -> List[Dict[str, str]]:
        return [{"field": r.field, "pattern": r.pattern, "reason": r.reason} for r in self.allowlist if r.match(values)]


def _read_csv(path: Path, errors: List[str]) -> List[Dict[str, str]]:
    if not path.is_file():
        errors.append(f"{path.name} not found in {path.parent}")
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [row for row in csv.DictReader(line for line in fh if not line.startswith("#"))]
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        errors.append(f"{path.name}: {exc}")
        return []


def split_tactics(value: str) -> Tuple[str, ...]:
    return tuple(t for t in (value or "").replace(",", ";").split(";") if t)
