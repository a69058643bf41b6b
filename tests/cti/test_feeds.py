"""Remote feeds against real local servers: medallion (TAXII 2.1) and a MISP REST stand-in; the TTL cache."""

from __future__ import annotations

import json
import time

import pytest
from ctad.cti import CTIIndex
from ctad.cti.feeds import FeedCache, FeedError, MispSource, TaxiiSource, collect
from cti_servers import MISP_KEY, TAXII_PASSWORD, TAXII_USER

EXPECTED_FROM_BUNDLE = {
    "192.0.2.10",
    "192.0.2.128/25",
    "drop.bad-bucket.example",
    "paste.evil.example",
    "AKIAEXAMPLESTIXKEY01",
    "444455556666",
    "(?i)stratus-red-team",
}


def test_taxii_collection_paged_with_basic_auth(taxii_server):
    source = TaxiiSource(taxii_server.api_root, taxii_server.collection, TAXII_USER, TAXII_PASSWORD)
    found, skipped = source.fetch()  # server pages by 3: the 11 objects take four requests
    assert {i.indicator for i in found} == EXPECTED_FROM_BUNDLE
    assert len(skipped) == 4
    assert next(i for i in found if i.type == "account_id").threat == "CloudHopper Kit"


def test_taxii_all_readable_collections(taxii_server):
    found, _ = TaxiiSource(taxii_server.api_root, None, TAXII_USER, TAXII_PASSWORD).fetch()
    assert {i.indicator for i in found} == EXPECTED_FROM_BUNDLE  # the write-only collection is not read


def test_taxii_wrong_password_is_feed_error(taxii_server):
    with pytest.raises(FeedError, match="401"):
        TaxiiSource(taxii_server.api_root, taxii_server.collection, TAXII_USER, "wrong").fetch()


def test_misp_attributes_paged(misp_server):
    before = len(misp_server.searches)
    found, skipped = MispSource(misp_server.url, MISP_KEY, page_size=2).fetch()
    searches = misp_server.searches[before:]
    assert [s["page"] for s in searches] == [
        1,
        2,
        3,
        4,
    ]  # 6 wanted attributes, 2 per page, then an empty page
    assert all(s["to_ids"] in (True, 1, "1") and s["includeContext"] for s in searches)
    assert "md5" not in searches[0]["type"]
    got = {(i.indicator, i.type, i.threat) for i in found}
    assert got == {
        ("203.0.113.50", "ipv4", "Phishing infrastructure"),
        ("c2.bad.example", "domain", "C2 server"),
        ("198.51.100.9", "ipv4", "C2 server"),
        ("192.0.2.200", "ipv4", "C2 server"),
        (r"Mozilla/5\.0\ \(compatible;\ CloudSnoop/2\.1\)", "user_agent", "Cloud recon tool"),
        ("exfil.bad.example", "domain", "Exfil endpoint"),
    }
    assert [s["indicator"] for s in skipped] == ["not-an-address"]
    ua = next(i for i in found if i.type == "user_agent")
    assert ua.confidence == 85  # from the estimative-language tag; others get the default
    assert next(i for i in found if i.indicator == "203.0.113.50").confidence == 75
    index = CTIIndex()
    index.add_all(found)
    hits = index.match(
        {"userAgent": "Mozilla/5.0 (compatible; CloudSnoop/2.1)", "sourceIPAddress": "192.0.2.200"}
    )
    assert {h["type"] for h in hits} == {"user_agent", "ipv4"}


def test_misp_bad_key_is_feed_error(misp_server):
    with pytest.raises(FeedError, match="Authentication failed|403"):
        MispSource(misp_server.url, "wrong-key").fetch()
    with pytest.raises(FeedError, match="no API key"):
        MispSource(misp_server.url, "").fetch()


class CountingSource:
    """A remote source that records how often it was fetched, and can be made to fail."""

    remote = True

    def __init__(self, name, values):
        from ctad.cti import make_indicator

        self.name = name
        self.url = "test://" + name
        self.calls = 0
        self.fail = False
        self.indicators = [make_indicator(v, "ip", name) for v in values]

    def fetch(self):
        self.calls += 1
        if self.fail:
            raise FeedError(f"{self.name}: connection refused")
        return list(self.indicators), []


def test_cache_ttl_offline_and_fallback(tmp_path):
    cache = tmp_path / "feeds.json"
    feed = CountingSource("feed-a", ["203.0.113.1", "203.0.113.2"])
    first = list(collect([feed], cache_path=cache, ttl=3600))
    assert feed.calls == 1 and len(first[0][0]) == 2 and cache.is_file()
    again = list(collect([feed], cache_path=cache, ttl=3600))
    assert feed.calls == 1 and len(again[0][0]) == 2 and again[0][2] == []  # fresh: served from cache

    # triage reads the cache file as a plain source: no network
    index = CTIIndex.load([str(cache)])
    assert index.match({"sourceIPAddress": "203.0.113.2"})[0]["source"] == "feed-a"

    # expire it: next collect fetches again; when the fetch fails, the stale copy is used with a warning
    data = json.loads(cache.read_text())
    data["sources"]["feed-a"]["fetched_at"] = time.time() - 7200
    cache.write_text(json.dumps(data))
    feed.fail = True
    stale = list(collect([feed], cache_path=cache, ttl=3600))
    assert feed.calls == 2 and len(stale[0][0]) == 2 and "using cached copy" in stale[0][2][0]
    offline = list(collect([feed], cache_path=cache, ttl=3600, offline=True))
    assert feed.calls == 2 and "stale cache" in offline[0][2][0]
    index = CTIIndex.load([str(cache)])
    assert index.warnings and "stale" in index.warnings[0]

    feed.fail = False
    refreshed = list(collect([feed], cache_path=cache, ttl=3600, refresh=True))
    assert feed.calls == 3 and refreshed[0][2] == []
    assert FeedCache(cache).fresh("feed-a")

    never = CountingSource("feed-b", ["203.0.113.3"])
    never.fail = True
    out = list(collect([never], cache_path=cache))
    assert out == [([], [], ["feed-b: connection refused"])]


def test_corrupt_cache_is_reported(tmp_path):
    cache = tmp_path / "feeds.json"
    cache.write_text('{"format": "ctad-cti-cache", "sources": [')
    index = CTIIndex.load([str(cache)])
    assert len(index) == 0 and "unreadable CTI cache" in index.warnings[0]
