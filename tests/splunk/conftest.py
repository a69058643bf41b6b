"""Fixtures for the Splunk command tests: simulated CloudTrail, a CTAD_HOME, a fake splunkd REST server."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from splunk_helpers import REPO, SESSION_KEY  # noqa: E402


@pytest.fixture(scope="session")
def ctad_home(tmp_path_factory) -> Path:
    """CTAD_HOME for the command subprocesses: the bundled model, a copy of lookups we may add files to."""
    home = tmp_path_factory.mktemp("ctad_home")
    os.symlink(REPO / "model", home / "model")
    shutil.copytree(REPO / "lookups", home / "lookups")
    (home / "splunk").mkdir()
    return home


@pytest.fixture(autouse=True)
def _env(ctad_home, monkeypatch):
    monkeypatch.setenv("CTAD_HOME", str(ctad_home))
    monkeypatch.setenv("SPLUNK_HOME", str(ctad_home / "splunk"))  # model cache in var/run/ctad
    monkeypatch.setenv("CTAD_KV_PAGE", "500")


@pytest.fixture(scope="session")
def records() -> List[Dict[str, Any]]:
    """Three days of simulated CloudTrail (with campaigns), oldest first."""
    from ctad.simulate import SimConfig, generate

    recs = list(generate(SimConfig(seed=21, days=3, events=2500)))
    assert len(recs) > 2000
    return recs


class FakeSplunkd:
    """Enough of splunkd's REST API: KV store collection data (limit/skip paging) and conf-transforms."""

    def __init__(self) -> None:
        self.collections: Dict[str, List[Dict[str, Any]]] = {}
        self.transforms: Dict[str, Dict[str, Any]] = {}
        self.requests: List[str] = []
        self.auth: List[str] = []
        # path (under servicesNS/nobody/ctad_cloudtrail/) -> (status, content type, body) sent as is
        self.raw: Dict[str, Any] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                fake.requests.append(self.path)
                fake.auth.append(self.headers.get("Authorization", ""))
                if self.headers.get("Authorization") != f"Splunk {SESSION_KEY}":
                    return self._send(401, {"messages": [{"type": "ERROR", "text": "unauthorized"}]})
                parts = [urllib.parse.unquote(p) for p in url.path.split("/")]
                if parts[1:4] != ["servicesNS", "nobody", "ctad_cloudtrail"]:
                    return self._send(404, {})
                raw = fake.raw.get("/".join(parts[4:]))
                if raw is not None:
                    code, ctype, data = raw
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if parts[4:7] == ["storage", "collections", "data"]:
                    rows = fake.collections.get(parts[7])
                    if rows is None:
                        return self._send(404, {})
                    limit, skip = int(q.get("limit", 0)), int(q.get("skip", 0))
                    page = rows[skip : skip + limit] if limit else rows[skip:]
                    return self._send(200, page)
                if parts[4:6] == ["configs", "conf-transforms"]:
                    conf = fake.transforms.get(parts[6])
                    if conf is None:
                        return self._send(404, {})
                    return self._send(200, {"entry": [{"name": parts[6], "content": conf}]})
                return self._send(404, {})

            def _send(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def splunkd():
    fake = FakeSplunkd()
    yield fake
    fake.close()
