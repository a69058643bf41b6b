"""The setup page in a real browser: headless Chromium loads the page's own HTML panel (from ctad_setup.xml) and
appserver/static/ctad_setup.js against a mock splunkd REST proxy on 127.0.0.1, the way Splunk Web serves it
(/en-US/splunkd/__raw/..., CSRF cookie + X-Splunk-Form-Key). A driver script in the page fills the form and
saves; the test checks the REST calls the page made and what it shows."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import splunkapp_helpers as h

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (bash scripts/system-deps.sh)")

CSRF = "csrf-token-0123456789"
STATIC = h.REPO / "appserver" / "static"
RAW = "/en-US/splunkd/__raw/"
NS = "servicesNS/nobody/ctad_cloudtrail/"
KEY_PATH = NS + "storage/passwords/ctad_cloudtrail:anthropic:"

DRIVER = """
<script>
(function () {
  var params = new URLSearchParams(location.search);
  var out = {loaded: null, after: null, amd: window.__amd};
  function state() { return document.getElementById('ctad-setup').getAttribute('data-state'); }
  function waitFor(pred, then) {
    var n = 0;
    (function poll() { if (pred()) { then(); } else if (n++ < 400) { setTimeout(poll, 25); } else { finish('timeout'); } })();
  }
  function snapshot() {
    var boxes = {};
    document.querySelectorAll('input.ctad-search').forEach(function (b) { boxes[b.getAttribute('data-search')] = b.checked; });
    return {state: state(), index: document.getElementById('ctad-index').value,
            current: document.getElementById('ctad-index-current').textContent,
            keyState: document.getElementById('ctad-key-state').textContent,
            keyValue: document.getElementById('ctad-key').value,
            status: document.getElementById('ctad-status').textContent,
            statusClass: document.getElementById('ctad-status').className, boxes: boxes,
            saveVisible: document.getElementById('ctad-save').offsetWidth > 0};
  }
  function finish(why) {
    out.why = why;
    var pre = document.createElement('pre'); pre.id = 'ctad-test-result';
    pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
  }
  waitFor(function () { return state() !== 'loading'; }, function () {
    out.loaded = snapshot();
    if (params.get('index') === null) { finish('loaded'); return; }
    document.getElementById('ctad-index').value = params.get('index');
    document.getElementById('ctad-key').value = params.get('key') || '';
    if (params.get('remove')) { document.getElementById('ctad-key-remove').checked = true; }
    (params.get('enable') || '').split(',').filter(Boolean).forEach(function (name) {
      document.querySelector('input[data-search="' + name + '"]').checked = true;
    });
    document.getElementById('ctad-save').click();
    waitFor(function () { return state() === 'ok' || state() === 'error'; }, function () {
      out.after = snapshot(); finish('saved');
    });
  });
}());
</script>
"""


def panel_html() -> str:
    root = ET.parse(h.VIEWS / "ctad_setup.xml").getroot()
    html = root.find("row/panel/html")
    return "".join(ET.tostring(child, encoding="unicode", method="html") for child in html)


class Splunkd:
    """What the page can see of splunkd: macro, secret storage, saved searches, app state."""

    def __init__(self, key=None, enabled=()):
        self.macro = "index=aws"
        self.key = key
        self.created = []
        self.disabled = {n: n not in enabled for n, kv in h.conf("savedsearches").items() if "search" in kv}
        self.configured = False
        self.requests = []
        self.lock = threading.Lock()


def make_handler(api: Splunkd, port_box):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body=b"", ctype="application/json", headers=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code, obj):
            self._send(code, json.dumps(obj).encode())

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_DELETE(self):
            self._handle("DELETE")

        def _handle(self, method):
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode())) if length else {}
            if path == "/en-US/app/ctad_cloudtrail/ctad_setup":
                page = (
                    "<!doctype html><html><head><meta charset='utf-8'>"
                    "<link rel='stylesheet' href='/en-US/static/app/ctad_cloudtrail/ctad_setup.css'>"
                    "<script>window.$C = {LOCALE: 'en-US', MRSPARKLE_PORT_NUMBER: '%d'};"
                    "window.__amd = []; window.define = function () {}; window.define.amd = {};"
                    "window.require = function (deps, cb) { window.__amd.push(deps); setTimeout(cb, 0); };"
                    "</script></head><body><div class='dashboard-body'>%s</div>"
                    "<script src='/en-US/static/app/ctad_cloudtrail/ctad_setup.js'></script>%s</body></html>"
                    % (port_box[0], panel_html(), DRIVER)
                )
                cookie = f"splunkweb_csrf_token_{port_box[0]}={CSRF}; Path=/"
                return self._send(200, page.encode(), "text/html; charset=utf-8", [("Set-Cookie", cookie)])
            if path.startswith("/en-US/static/app/ctad_cloudtrail/"):
                f = STATIC / path.rsplit("/", 1)[1]
                ctype = "text/css" if f.suffix == ".css" else "application/javascript"
                return self._send(200, f.read_bytes(), ctype) if f.is_file() else self._send(404)
            if not path.startswith(RAW):
                return self._send(404)
            rest = path[len(RAW) :]
            with api.lock:
                api.requests.append(
                    {
                        "method": method,
                        "path": rest,
                        "form": form,
                        "query": dict(urllib.parse.parse_qsl(url.query)),
                        "csrf": self.headers.get("X-Splunk-Form-Key"),
                        "xrw": self.headers.get("X-Requested-With"),
                    }
                )
                if method != "GET" and self.headers.get("X-Splunk-Form-Key") != CSRF:
                    return self._json(401, {"messages": [{"type": "ERROR", "text": "bad CSRF token"}]})
                return self._rest(method, rest, form)

        def _rest(self, method, rest, form):
            if rest == NS + "configs/conf-macros/cloudtrail_index":
                if method == "POST":
                    api.macro = form["definition"]
                return self._json(
                    200, {"entry": [{"name": "cloudtrail_index", "content": {"definition": api.macro}}]}
                )
            if rest == KEY_PATH:
                if api.key is None:
                    return self._json(404, {"messages": [{"type": "ERROR", "text": "not found"}]})
                if method == "POST":
                    api.key = form["password"]
                if method == "DELETE":
                    api.key = None
                return self._json(
                    200,
                    {
                        "entry": [
                            {
                                "name": "ctad_cloudtrail:anthropic:",
                                "content": {"realm": "ctad_cloudtrail", "username": "anthropic"},
                            }
                        ]
                    },
                )
            if rest == NS + "storage/passwords" and method == "POST":
                api.created.append(form)
                api.key = form["password"]
                return self._json(201, {"entry": [{"name": "ctad_cloudtrail:anthropic:"}]})
            if rest.startswith(NS + "saved/searches/"):
                name = rest[len(NS + "saved/searches/") :]
                action = None
                if name.endswith(("/enable", "/disable")):
                    name, action = name.rsplit("/", 1)
                if name not in api.disabled:
                    return self._json(404, {"messages": [{"type": "ERROR", "text": "no such saved search"}]})
                if method == "POST" and action:
                    api.disabled[name] = action == "disable"
                return self._json(
                    200, {"entry": [{"name": name, "content": {"disabled": api.disabled[name]}}]}
                )
            if rest == "services/apps/local/ctad_cloudtrail" and method == "POST":
                api.configured = form.get("configured") == "1"
                return self._json(200, {"entry": [{"name": "ctad_cloudtrail"}]})
            return self._json(404, {"messages": [{"type": "ERROR", "text": f"unexpected {method} {rest}"}]})

    return Handler


@pytest.fixture
def splunkweb():
    servers = []

    def start(api: Splunkd):
        port_box = [0]
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api, port_box))
        port_box[0] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{port_box[0]}/en-US/app/ctad_cloudtrail/ctad_setup"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def browse(url, tmp_path):
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    start = out.stdout.find('<pre id="ctad-test-result">')
    assert start >= 0, "driver did not finish: " + out.stdout[-3000:]
    text = out.stdout[start:].split(">", 1)[1].split("</pre>", 1)[0]
    import html

    return json.loads(html.unescape(text))


def test_loads_current_settings(splunkweb, tmp_path):
    api = Splunkd(key="old-key", enabled=("CTAD - Detect",))
    api.macro = '(index="aws" OR index="ct_*")'
    result = browse(splunkweb(api), tmp_path)
    assert result["why"] == "loaded"
    assert result["amd"] == [["splunkjs/mvc/simplexml/ready!"]], "waits for Simple XML when loaded by Splunk"
    loaded = result["loaded"]
    assert loaded["state"] == "ready", loaded
    assert loaded["index"] == "aws, ct_*"
    assert loaded["current"] == '(index="aws" OR index="ct_*")'
    assert loaded["keyState"] == "yes"
    assert loaded["boxes"]["CTAD - Detect"] is True and loaded["boxes"]["CTAD - Triage"] is False
    assert loaded["saveVisible"]
    assert all(r["method"] == "GET" and r["query"].get("output_mode") == "json" for r in api.requests)


def test_saves_macro_key_and_schedules(splunkweb, tmp_path):
    api = Splunkd(key=None)
    url = (
        splunkweb(api)
        + "?"
        + urllib.parse.urlencode(
            {"index": "aws, cloudtrail_*", "key": "sk-ant-test-key", "enable": "CTAD - Detect,CTAD - Triage"}
        )
    )
    result = browse(url, tmp_path)
    after = result["after"]
    assert after["state"] == "ok", after
    assert "Saved" in after["status"]
    assert api.macro == '(index="aws" OR index="cloudtrail_*")'
    # the key went to storage/passwords (update attempt 404 -> create), never anywhere else
    assert api.created == [{"name": "anthropic", "realm": "ctad_cloudtrail", "password": "sk-ant-test-key"}]
    assert api.key == "sk-ant-test-key"
    for r in api.requests:
        if "sk-ant-test-key" in json.dumps(r):
            assert "storage/passwords" in r["path"], r
    assert after["keyValue"] == "", "the key field is cleared after saving"
    assert after["keyState"] == "yes"
    assert api.disabled["CTAD - Detect"] is False and api.disabled["CTAD - Triage"] is False
    assert api.disabled["CTAD - Build baseline"] is True, "unticked searches are left alone"
    assert api.configured
    for r in api.requests:
        if r["method"] != "GET":
            assert r["csrf"] == CSRF and r["xrw"] == "XMLHttpRequest", r


def test_updates_existing_key_and_can_remove_it(splunkweb, tmp_path):
    api = Splunkd(key="old")
    result = browse(
        splunkweb(api) + "?" + urllib.parse.urlencode({"index": "aws", "key": "new-key"}), tmp_path
    )
    assert result["after"]["state"] == "ok", result
    assert api.key == "new-key" and api.created == []
    assert api.macro == 'index="aws"'
    result = browse(
        splunkweb(api) + "?" + urllib.parse.urlencode({"index": "aws", "remove": "1"}), tmp_path / "b"
    )
    assert result["after"]["state"] == "ok", result
    assert api.key is None
    assert result["after"]["keyState"] == "none"


def test_rejects_spl_in_index_field(splunkweb, tmp_path):
    api = Splunkd()
    result = browse(
        splunkweb(api) + "?" + urllib.parse.urlencode({"index": "aws | delete", "key": "k"}), tmp_path
    )
    after = result["after"]
    assert after["state"] == "error"
    assert "Not an index name" in after["status"]
    assert [r for r in api.requests if r["method"] != "GET"] == [], "nothing saved"
    assert api.macro == "index=aws"
