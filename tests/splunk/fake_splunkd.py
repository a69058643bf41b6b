"""A local fake of splunkd's REST API over HTTP, for every Splunk test that needs one (the `splunkd` fixture).

It answers as splunkd does for what the app uses, all under servicesNS/nobody/ctad_cloudtrail with
`Authorization: Splunk <session key>`: KV store collection data (query with comparisons, limit/skip paging, insert,
update by `_key`: 404 when absent, 409 on a duplicate insert), storage/passwords entries and configs/conf-* stanzas (transforms.conf
included, which the baseline resolver reads). `raw` sends a chosen reply as is (an outage, an HTML login page, a
redirect); `log` records every request, so a test can check paging and that the session key went only here.
"""

from __future__ import annotations

import json
import operator
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from splunk_helpers import SESSION_KEY

NS = ["servicesNS", "nobody", "ctad_cloudtrail"]


COMPARE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _compares(value: Any, conditions: Dict[str, Any]) -> bool:
    """`{"$gte": lo, "$lt": hi}` on one field: like the KV store, numbers compare with numbers only."""
    number = (int, float)
    if not isinstance(value, number) or isinstance(value, bool):
        return False
    return all(isinstance(arg, number) and COMPARE[op](value, arg) for op, arg in conditions.items())


def matches(record: Dict[str, Any], query: Dict[str, Any]) -> bool:
    """The part of the KV store's query language the app uses: field equality, $gt/$gte/$lt/$lte, $or and $and."""
    for field, want in query.items():
        if field == "$or":
            if not any(matches(record, q) for q in want):
                return False
        elif field == "$and":
            if not all(matches(record, q) for q in want):
                return False
        elif isinstance(want, dict) and want and all(k in COMPARE for k in want):
            if not _compares(record.get(field), want):
                return False
        elif record.get(field) != want:
            return False
    return True


class FakeSplunkd:
    """splunkd's REST API on 127.0.0.1 (a free port), accepting `key` as the only session key."""

    def __init__(self, key: str = SESSION_KEY) -> None:
        self.key = key
        self.collections: Dict[str, List[Dict[str, Any]]] = {}
        self.passwords: Dict[Tuple[str, str], str] = {}
        self.confs: Dict[Tuple[str, str], Dict[str, str]] = {}  # (conf file, stanza) -> settings
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
                if self.headers.get("Authorization") != f"Splunk {fake.key}":
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

    def pages(self, collection: str) -> List[Tuple[str, str]]:
        """(limit, skip) of every read of `collection`'s data, in the order they came."""
        suffix = f"/storage/collections/data/{collection}"
        return [(q.get("limit", ""), q.get("skip", "")) for _, p, q, _ in self.log if p.endswith(suffix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
