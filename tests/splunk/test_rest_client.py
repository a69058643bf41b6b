"""ctad's splunkd REST client (ctad.knowledge.splunk_rest) against a local fake of splunkd's REST API over HTTP.

The fake (tests/splunk/fake_splunkd.py, the `splunkd` fixture) answers as splunkd does for what the app uses: KV
store collection data (query, limit/skip paging, insert, update by `_key`), storage/passwords and configs/conf-*.
Everything goes through the real client and the real HTTP stack: the triage cache, the analyst knowledge base,
the baseline reader, and the packaged app on Splunk's Pythons (3.9, 3.13), which ships no splunklib.
"""

from __future__ import annotations

import subprocess
import urllib.parse

import pytest
from ctad.knowledge import KVKnowledgeBase
from ctad.knowledge.splunk_rest import SplunkRest, SplunkRestError
from ctad.splunk.lookups import read_collection
from ctad.triage.cache import KVCache
from fake_splunkd import FakeSplunkd
from splunk_helpers import SESSION_KEY

KEY = SESSION_KEY  # the key the `splunkd` fixture (tests/splunk/fake_splunkd.py) accepts


@pytest.fixture
def rest(splunkd):
    return SplunkRest(splunkd.uri, KEY, timeout=5)


def test_requests_are_namespaced_and_authenticated(splunkd, rest):
    splunkd.collections["ctad_feedback"] = []
    assert rest.kv_all("ctad_feedback") == []
    method, path, query, auth = splunkd.log[-1]
    assert (method, path) == (
        "GET",
        "/servicesNS/nobody/ctad_cloudtrail/storage/collections/data/ctad_feedback",
    )
    assert query["output_mode"] == "json" and auth == f"Splunk {KEY}"


def test_kv_upsert_inserts_then_updates_and_queries_match(splunkd, rest):
    splunkd.collections["c"] = []
    rest.kv_upsert("c", "k/1", {"identity": "arn:a", "api": "s3:GetObject", "n": 1})
    rest.kv_upsert("c", "k/1", {"identity": "arn:a", "api": "s3:GetObject", "n": 2})  # same key: replaced
    rest.kv_upsert("c", "k2", {"identity": "arn:b", "api": "iam:CreateUser", "n": 3})
    assert splunkd.collections["c"] == [
        {"identity": "arn:a", "api": "s3:GetObject", "n": 2, "_key": "k/1"},
        {"identity": "arn:b", "api": "iam:CreateUser", "n": 3, "_key": "k2"},
    ]
    got = rest.kv_query("c", {"$or": [{"identity": "arn:b", "api": "iam:CreateUser"}, {"_key": "nope"}]})
    assert [r["_key"] for r in got] == ["k2"]
    assert rest.kv_query("missing", {}) == []  # a collection that does not exist reads as empty


def test_triage_cache_and_knowledge_base_through_the_kv_store(splunkd, rest):
    splunkd.collections["ctad_triage_cache"] = []
    splunkd.collections["ctad_feedback"] = []
    cache = KVCache(rest, ttl_s=3600)
    assert cache.get("abc") is None
    cache.put("abc", {"verdict": "true_positive", "n": [1, 2]})
    assert cache.get("abc") == {"verdict": "true_positive", "n": [1, 2]}

    kb = KVKnowledgeBase(rest)
    kb.add(verdict="false_positive", identity="arn:aws:iam::1:role/ci", api="s3.amazonaws.com:ListBuckets",
           note="nightly job")  # fmt: skip
    kb.add(event_id="e-9", verdict="true_positive")
    found = kb.match("arn:aws:iam::1:role/ci", ["s3.amazonaws.com:ListBuckets", "iam.amazonaws.com:GetUser"])
    assert [(r["verdict"], r["note"]) for r in found] == [("false_positive", "nightly job")]
    assert [r["event_id"] for r in kb.match("", [], ["e-9"])] == ["e-9"]
    assert len(kb.all()) == 2


def test_baseline_collection_is_read_in_pages(splunkd, rest):
    splunkd.collections["ctad_baseline"] = [
        {"_key": str(i), "kind": "api", "value": f"v{i}"} for i in range(1234)
    ]
    rows = read_collection(rest, "ctad_baseline", page=500)
    assert [r["value"] for r in rows] == [f"v{i}" for i in range(1234)]
    assert splunkd.pages("ctad_baseline") == [("500", "0"), ("500", "500"), ("500", "1000")]
    assert read_collection(rest, "not_there") is None


def test_password_and_conf_stanza(splunkd, rest):
    splunkd.passwords["ctad_cloudtrail", "anthropic"] = "sk-ant-secret"
    splunkd.confs["ctad", "triage"] = {"api_base_url": "https://api.anthropic.com", "disabled": "0"}
    assert rest.password("ctad_cloudtrail", "anthropic") == "sk-ant-secret"
    assert rest.password("ctad_cloudtrail", "other") is None
    assert urllib.parse.unquote(splunkd.log[-1][1]).endswith("/storage/passwords/ctad_cloudtrail:other:")
    assert rest.conf_stanza("ctad", "triage") == {
        "api_base_url": "https://api.anthropic.com",
        "disabled": "0",
    }
    assert rest.conf_stanza("ctad", "nope") is None


def test_refusals_and_outages_are_safe_errors(splunkd):
    splunkd.collections["c"] = []
    with pytest.raises(SplunkRestError, match="HTTP 401") as refused:
        SplunkRest(splunkd.uri, "wrong-key").kv_all("c")
    assert "wrong-key" not in str(refused.value)
    splunkd.raw["storage/collections/data/c"] = (
        503,
        {"Content-Type": "text/plain"},
        b"KV Store is initializing",
    )
    with pytest.raises(SplunkRestError, match="HTTP 503"):
        SplunkRest(splunkd.uri, KEY).kv_all("c")
    closed = FakeSplunkd()
    closed.close()  # a port nothing listens on
    with pytest.raises(SplunkRestError, match="unreachable") as down:
        SplunkRest(closed.uri, KEY, timeout=2).password("ctad_cloudtrail", "anthropic")
    assert KEY not in str(down.value)


def test_a_redirect_is_refused_and_the_session_key_stays_home(splunkd):
    """splunkd never redirects a REST call; whatever does (a proxy, a login page) must not receive the key."""
    elsewhere = FakeSplunkd()
    try:
        target = (
            f"{elsewhere.uri}/servicesNS/nobody/ctad_cloudtrail/storage/passwords/ctad_cloudtrail:anthropic:"
        )
        for code in (301, 302, 303, 307, 308):
            splunkd.raw["storage/passwords/ctad_cloudtrail:anthropic:"] = (code, {"Location": target}, b"")
            with pytest.raises(SplunkRestError, match=f"HTTP {code}"):
                SplunkRest(splunkd.uri, KEY).password("ctad_cloudtrail", "anthropic")
        assert elsewhere.log == []
    finally:
        elsewhere.close()


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_the_packaged_app_talks_to_splunkd_on_splunk_python(version, built_app, splunkd, pyenv_python):
    """The built app (no splunklib in it) reaches the KV store and storage/passwords on bare 3.9 and 3.13."""
    py = pyenv_python(version)
    if py is None:
        pytest.skip(f"no python{version} under ~/.pyenv on this machine")
    bin_dir = built_app / "bin"
    assert not (bin_dir / "splunklib").exists()
    splunkd.passwords["ctad_cloudtrail", "anthropic"] = "sk-ant-xyz"
    splunkd.collections["ctad_triage_cache"] = []
    splunkd.collections["ctad_baseline"] = [
        {"_key": str(i), "kind": "api", "value": str(i)} for i in range(25)
    ]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import _ctad_bootstrap; _ctad_bootstrap.setup()\n"
        "from ctad.splunk.lookups import rest_client, read_collection\n"
        "from ctad.triage.cache import KVCache\n"
        "rest = rest_client({'splunkd_uri': sys.argv[2], 'session_key': sys.argv[3]})\n"
        "cache = KVCache(rest)\n"
        "cache.put('k', {'v': 1})\n"
        "print(rest.password('ctad_cloudtrail', 'anthropic'), cache.get('k'), len(read_collection(rest, "
        "'ctad_baseline', page=10)), 'splunklib' in sys.modules)\n"
    )
    out = subprocess.run([py, "-I", "-S", "-B", "-c", code, str(bin_dir), splunkd.uri, KEY],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["sk-ant-xyz", "{'v':", "1}", "25", "False"]
