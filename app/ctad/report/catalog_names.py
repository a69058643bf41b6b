"""ATT&CK tactic and technique names for the report, from the engine's catalog when it can be loaded.

The report must still render when the lookups are missing or broken (a copied output file on an analyst's
laptop), so a failure to load the catalog just means ids are shown without names.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional


@lru_cache(maxsize=1)
def _catalog() -> Optional[Any]:
    try:
        from ctad.core.catalog import Catalog

        return Catalog.load()
    except Exception:  # CatalogError, missing lookups, import problems: names are a nicety
        return None


def tactic_name(tactic_id: str) -> str:
    catalog = _catalog()
    found = catalog.tactic(tactic_id) if catalog and tactic_id else None
    return found.name if found else ""


def technique_name(technique_id: str) -> str:
    catalog = _catalog()
    found = catalog.technique(technique_id) if catalog and technique_id else None
    return found.name if found else ""


def technique_url(technique_id: str) -> str:
    catalog = _catalog()
    found = catalog.technique(technique_id) if catalog and technique_id else None
    return getattr(found, "url", "") if found else ""
