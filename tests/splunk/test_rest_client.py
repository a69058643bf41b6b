"""ctad's splunkd REST client (ctad.knowledge.splunk_rest) against a local fake of splunkd's REST API over HTTP.

The fake on 127.0.0.1 answers as splunkd does for what the app uses: KV store collection data (query, limit/skip
paging, insert, update by `_key`: 404 when absent, 409 on a duplicate insert), storage/passwords entries and
configs/conf-* stanzas, all under servicesNS/nobody/ctad_cloudtrail with `Authorization: Splunk <session key>`.
Everything goes through the real client and the real HTTP stack: the triage cache, the analyst knowledge base,
the baseline reader, and the packaged app on Splunk's Pythons (3.9, 3.13), which ships no splunklib.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

import pytest
from ctad.knowledge import KVKnowledgeBase
from ctad.knowledge.splunk_rest import SplunkRest, SplunkRestError
from ctad.splunk.lookups import read_collection
from ctad.triage.cache import KVCache

KEY = "rest-test-session-key-0123456789"
NS = ["servicesNS", "nobody", "ctad_cloudtrail"]


def matches(record: Dict[str, Any], query: Dict[str, Any]) -> bool:
    """The part of the KV store's query language the app uses: field equality, $or and $and."""
    for field, want in query.items():
        if field == "$or":
            if not any(matches(record, q) for q in want):
                return False
        elif field == "$and":
            if not all(matches(record, q) for q in want):
                return False
        elif record.get(field) != want:
            return False
    return True


class FakeSplunkd:
    def __init__(self) -> None:
        self.collections: Dict[str, List[Dict[str, Any]]] = {}
        self.passwords: Dict[Tuple[str, str], str] = {}
        self.confs: Dict[Tuple[str, str], Dict[str, str]] = {}
        self.raw: Dict[str, Tuple[int, Dict[str, str], bytes]] = {}  # path under the namespace -> reply as is
        self.log: List[Tuple[str, str, Dict[str, str], str]] = []  # method, path, query, Authorization
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET", None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._handle("POST", self.rfile.read(length))

            def _handle(self, method: str, body: Optional[bytes]) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                fake.log.append((method, url.path, query, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"Splunk {KEY}":
                    return self._send(
                        401, {"messages": [{"type": "WARN", "text": "call not properly authenticated"}]}
                    )
                parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
                if parts[:3] != NS:
                    return self._send(404, {"messages": []})
                rest = parts[3:]
                raw = fake.raw.get("/".join(rest))
                if raw is not None:
                    code, headers, data = raw
                    self.send_response(code)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if rest[:3] == ["storage", "collections", "data"] and len(rest) in (4, 5):
                    return self._kv(method, rest[3], rest[4] if len(rest) == 5 else None, query, body)
                if rest[:2] == ["storage", "passwords"] and len(rest) == 3 and method == "GET":
                    realm, name, _ = rest[2].split(":")
                    if (realm, name) not in fake.passwords:
                        return self._send(404, {"messages": [{"type": "ERROR", "text": "not found"}]})
                    content = {"realm": realm, "username": name, "clear_password": fake.passwords[realm, name],
                               "encr_password": "$7$...", "eai:acl": {"app": "ctad_cloudtrail"}}  # fmt: skip
                    return self._send(200, {"entry": [{"name": rest[2], "content": content}]})
                if len(rest) == 3 and rest[0] == "configs" and rest[1].startswith("conf-"):
                    stanza = fake.confs.get((rest[1][5:], rest[2]))
                    if stanza is None:
                        return self._send(404, {"messages": []})
                    content = dict(stanza, **{"eai:appName": "ctad_cloudtrail", "eai:userName": "nobody"})
                    return self._send(200, {"entry": [{"name": rest[2], "content": content}]})
                return self._send(404, {"messages": []})

            def _kv(
                self, method: str, name: str, key: Optional[str], query: Dict[str, str], body: Any
            ) -> None:
                rows = fake.collections.get(name)
                if rows is None:
                    return self._send(404, {"messages": [{"type": "ERROR", "text": "Collection not found"}]})
                if method == "GET":
                    found = [r for r in rows if matches(r, json.loads(query.get("query") or "{}"))]
                    skip, limit = int(query.get("skip", 0)), int(query.get("limit", 0))
                    return self._send(200, found[skip : skip + limit] if limit else found[skip:])
                record = json.loads(body)
                have = [i for i, r in enumerate(rows) if r.get("_key") == (key or record.get("_key"))]
                if key is None:  # insert
                    if have:
                        return self._send(409, {"messages": [{"type": "ERROR", "text": "duplicate _key"}]})
                    rows.append(record)
                    return self._send(201, {"_key": record.get("_key")})
                if not have:  # update of a record that is not there
                    return self._send(404, {"messages": [{"type": "ERROR", "text": "Could not find object"}]})
                rows[have[0]] = dict(record, _key=key)
                return self._send(200, {"_key": key})

            def _send(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def splunkd():
    fake = FakeSplunkd()
    yield fake
    fake.close()


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
    pages = [(q["limit"], q["skip"]) for m, p, q, _ in splunkd.log if p.endswith("/ctad_baseline")]
    assert pages == [("500", "0"), ("500", "500"), ("500", "1000")]
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
