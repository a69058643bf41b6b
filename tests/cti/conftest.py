"""Fixtures for the CTI tests: the fixture CSV/bundle, and real local feed servers (module-scoped)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
sys.path.insert(0, str(HERE))

from cti_servers import MISP_KEY, TAXII_PASSWORD, TAXII_USER, FakeMisp, Medallion, misp_attribute  # noqa: E402


@pytest.fixture(scope="session")
def fixture_csv() -> str:
    return str(FIXTURES / "indicators.csv")


@pytest.fixture(scope="session")
def fixture_bundle() -> str:
    return str(FIXTURES / "bundle.json")


@pytest.fixture(scope="module")
def taxii_server(tmp_path_factory, fixture_bundle):
    pytest.importorskip("medallion")
    pytest.importorskip("taxii2client")
    bundle = json.loads(Path(fixture_bundle).read_text())
    server = Medallion(tmp_path_factory.mktemp("taxii"), bundle, TAXII_USER, TAXII_PASSWORD, page_size=3)
    yield server
    server.stop()


MISP_ATTRIBUTES = [
    misp_attribute(1, "ip-src", "203.0.113.50", "Phishing infrastructure", "login page host"),
    misp_attribute(2, "domain|ip", "c2.bad.example|198.51.100.9", "C2 server"),
    misp_attribute(3, "ip-dst|port", "192.0.2.200|443", "C2 server"),
    misp_attribute(
        4,
        "user-agent",
        "Mozilla/5.0 (compatible; CloudSnoop/2.1)",
        "Cloud recon tool",
        tags=[{"id": "9", "name": 'estimative-language:confidence-in-analytic-judgment="high"'}],
    ),
    misp_attribute(5, "url", "https://exfil.bad.example/upload?id=1", "Exfil endpoint"),
    misp_attribute(6, "md5", "d41d8cd98f00b204e9800998ecf8427e", "Malware sample"),
    misp_attribute(7, "ip-src", "not-an-address", "Broken attribute"),
]


@pytest.fixture(scope="module")
def misp_server():
    pytest.importorskip("pymisp")
    server = FakeMisp(MISP_KEY, MISP_ATTRIBUTES)
    yield server
    server.stop()
