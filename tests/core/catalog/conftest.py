"""Fixtures for the catalog tests: the repo's lookups and a loaded Catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctad.core.catalog import Catalog

LOOKUPS = Path(__file__).resolve().parents[3] / "lookups"


@pytest.fixture(scope="session")
def lookups_dir() -> Path:
    return LOOKUPS


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load(LOOKUPS)
