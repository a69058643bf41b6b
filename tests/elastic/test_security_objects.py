"""The Elastic Security pieces (issue 12): the detection rule and the Kibana saved objects are valid NDJSON with the
fields Kibana requires, and ``ctad elastic template --kibana`` imports them the way Kibana's import APIs take them
(multipart upload, ``kbn-xsrf``), against a local stand-in."""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ctad.cli import main
from ctad.elastic import kibana

# What Kibana requires, as data, with where it is documented.
# Detection rules: elastic.co/guide/en/security/current/rules-api-create.html ("Required fields for all rule
# types": description, name, risk_score, severity, type; for query rules: query; import needs rule_id:
# rules-api-import.html, "rule_id ... used to identify the rule" and overwrite matches on it).
RULE_REQUIRED = {"rule_id": str, "name": str, "description": str, "risk_score": int, "severity": str,
                 "type": str, "query": str}  # fmt: skip
RULE_SEVERITIES = {"low", "medium", "high", "critical"}
RULE_TYPES = {"query", "eql", "esql", "threshold", "machine_learning", "threat_match", "new_terms"}
RULE_LANGUAGES = {"kuery", "lucene"}
# Saved objects: elastic.co/guide/en/kibana/current/saved-objects-api-import.html (each line: type, id,
# attributes; references by name/type/id); data views are saved-object type "index-pattern" with attributes.title
# (the pattern) and timeFieldName; a dashboard needs attributes.title and panelsJSON (a JSON string).
OBJECT_REQUIRED = ("type", "id", "attributes", "references")
OBJECT_ATTRS = {"index-pattern": ("title", "timeFieldName"), "search": ("title", "kibanaSavedObjectMeta"),
                "dashboard": ("title", "panelsJSON", "kibanaSavedObjectMeta")}  # fmt: skip


def _lines(text):
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _check_rule(rule):
    for name, kind in RULE_REQUIRED.items():
        assert isinstance(rule.get(name), kind) and rule[name] != "", name
    assert 0 <= rule["risk_score"] <= 100
    assert rule["severity"] in RULE_SEVERITIES and rule["type"] in RULE_TYPES
    assert rule["language"] in RULE_LANGUAGES
    assert rule["index"] == ["logs-ctad.alerts-*"]
    assert rule["timestamp_override"] == "event.ingested"  # late alerts are not missed
    assert rule["interval"].endswith("m") and rule["from"].startswith("now-")
    assert isinstance(rule["version"], int) and rule["version"] >= 1
    for m in rule["severity_mapping"]:
        assert set(m) == {"field", "operator", "value", "severity"} and m["severity"] in RULE_SEVERITIES
    for m in rule["risk_score_mapping"]:
        assert m["field"] == "event.risk_score" and m["operator"] == "equals"
    for t in rule["threat"]:
        assert t["framework"] == "MITRE ATT&CK"
        assert set(t["tactic"]) == {"id", "name", "reference"} and t["tactic"]["id"].startswith("TA")
        assert all(set(x) >= {"id", "name", "reference"} for x in t["technique"])
    assert rule["threat"], "the rule maps the tactics ctad's catalogue covers"


@pytest.mark.parametrize("suppression", [True, False])
def test_rule_ndjson_has_the_fields_kibana_requires(suppression):
    lines = _lines(kibana.rule_ndjson(suppression))
    rule, details = lines
    _check_rule(rule)
    assert details["exported_count"] == 1  # the export-details line Kibana's own exports end with
    assert ("alert_suppression" in rule) is suppression
    if suppression:
        assert rule["alert_suppression"]["group_by"] == ["ctad.incident.id"]


def test_saved_objects_are_valid_and_their_references_resolve():
    objs = _lines(kibana.objects_ndjson())
    ids = {(o["type"], o["id"]) for o in objs}
    assert {o["type"] for o in objs} == {"index-pattern", "search", "dashboard"}
    for o in objs:
        for key in OBJECT_REQUIRED:
            assert key in o, (o["id"], key)
        for attr in OBJECT_ATTRS[o["type"]]:
            assert o["attributes"].get(attr) not in (None, ""), (o["id"], attr)
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in ids, ref
        meta = o["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            src = json.loads(meta["searchSourceJSON"])
            if "indexRefName" in src:
                assert src["indexRefName"] in {r["name"] for r in o["references"]}
    view = next(o for o in objs if o["type"] == "index-pattern")
    assert (
        view["attributes"]["title"] == "logs-ctad.alerts-*"
        and view["attributes"]["timeFieldName"] == "@timestamp"
    )
    dash = next(o for o in objs if o["type"] == "dashboard")
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert {p["panelRefName"] for p in panels} == {r["name"] for r in dash["references"]}


class _Kibana:
    """Kibana's two import endpoints, strict about what they are sent."""

    def __init__(self):
        self.imports = {}
        self.errors = []
        self.refuse_rules = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                problem = ""
                if self.headers.get("kbn-xsrf") != "true":
                    problem = "missing kbn-xsrf"
                elif self.headers.get("Authorization") != "ApiKey a2V5aWQ6c2VjcmV0":
                    problem = "bad auth"
                elif query != "overwrite=true":
                    problem = "not overwrite"
                msg = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
                )
                parts = [p for p in msg.iter_parts()] if msg.is_multipart() else []
                files = [p for p in parts if p.get_param("name", header="content-disposition") == "file"]
                if not problem and (len(files) != 1 or not files[0].get_filename().endswith(".ndjson")):
                    problem = "no file part"
                if problem:
                    fake.errors.append(problem)
                    return self._send(400, {"error": problem})
                text = files[0].get_payload(decode=True).decode()
                fake.imports[path] = text
                if path.endswith("/rules/_import") and fake.refuse_rules:
                    return self._send(200, {"success": False, "errors": [{"error": {"message": "license"}}]})
                return self._send(
                    200, {"success": True, "success_count": len(text.splitlines()), "errors": []}
                )

            def _send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_kibana():
    k = _Kibana()
    yield k
    k.server.shutdown()
    k.server.server_close()


def test_template_writes_and_installs_the_security_objects(fake_es, fake_kibana, tmp_path, monkeypatch):
    monkeypatch.delenv("CTAD_KIBANA_URL", raising=False)
    fake_es.api_key = "a2V5aWQ6c2VjcmV0"  # base64 of keyid:secret
    code = main(["elastic", "template", "--url", fake_es.url, "--api-key", "keyid:secret", "--out-dir",
                 str(tmp_path), "--kibana", fake_kibana.url, "--kibana-space", "soc"])  # fmt: skip
    assert code == 0, fake_kibana.errors
    assert fake_kibana.errors == []
    rules = fake_kibana.imports["/s/soc/api/detection_engine/rules/_import"]
    objects = fake_kibana.imports["/s/soc/api/saved_objects/_import"]
    assert rules == (tmp_path / kibana.RULE_FILE).read_text() == kibana.rule_ndjson()
    assert objects == (tmp_path / kibana.OBJECTS_FILE).read_text() == kibana.objects_ndjson()
    _check_rule(_lines(rules)[0])
    assert "logs-ctad.alerts" in fake_es.templates


def test_a_partial_kibana_import_is_an_error(fake_es, fake_kibana, capsys):
    fake_kibana.refuse_rules = True
    fake_es.api_key = "a2V5aWQ6c2VjcmV0"
    code = main(["elastic", "template", "--url", fake_es.url, "--api-key", "keyid:secret", "--kibana",
                 fake_kibana.url])  # fmt: skip
    assert code == 1
    assert "import incomplete" in capsys.readouterr().err
