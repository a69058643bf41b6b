"""The Elastic Security pieces ctad ships: a detection rule and Kibana saved objects, as NDJSON.

* The **detection rule** (the format of Kibana's rule export, ``POST /api/detection_engine/rules/_import``): a
  custom query rule over ``logs-ctad.alerts-*`` for ``event.kind:alert and event.module:ctad``, windowed on
  ``event.ingested`` (``timestamp_override``) so an alert written late is still picked up, with the alert's
  severity and risk score taken from the document (``severity_mapping`` on ``ctad.severity``,
  ``risk_score_mapping`` on ``event.risk_score``) and alerts suppressed per ctad incident (``alert_suppression``
  grouped by ``ctad.incident.id``; a Platinum feature: ``suppression=False`` leaves it out). Its Security alerts
  are what the entity risk engine scores and Attack Discovery reads.
* The **saved objects** (``POST /api/saved_objects/_import``): a data view (saved object type ``index-pattern``)
  on ``logs-ctad.alerts-*`` with ``@timestamp`` as time field, two saved searches (the alerts, the rows ctad could
  not score) and a dashboard showing both.

Both are plain dictionaries built here and written one JSON object per line; ``install`` posts the files to
Kibana as multipart uploads (``kbn-xsrf`` header, ``overwrite=true``) with urllib3, which the Elasticsearch
client already depends on.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from ctad.elastic.alerts import DATASET, RULE_NAME, STREAM_PREFIX

RULE_ID = "0b6e2d3c-5f4a-4c8e-9a51-7d2c1e3f4a60"
RULE_VERSION = 1
DATA_VIEW_ID = "ctad-alerts"
DASHBOARD_ID = "ctad-alerts-overview"
SEARCH_ALERTS_ID = "ctad-alerts-open"
SEARCH_ERRORS_ID = "ctad-alerts-unscored"
ALERTS_PATTERN = STREAM_PREFIX + "*"
QUERY = f"event.kind:alert and event.module:ctad and event.dataset:{DATASET}"
COLUMNS = ["ctad.severity", "ctad.identity", "event.action", "event.reason", "ctad.incident.id",
           "ctad.incident.score", "threat.technique.id", "source.ip", "ctad.triage.verdict"]  # fmt: skip
RULE_FILE = "ctad-detection-rule.ndjson"
OBJECTS_FILE = "ctad-kibana-objects.ndjson"


def _tactics_covered() -> List[Dict[str, Any]]:
    """The rule's static ATT&CK mapping: the tactics (with their techniques) ctad's API catalogue can flag.

    A rule's mapping is static, so it says what the rule can detect; the per-alert tactic and technique travel in
    each document's ``threat.*`` fields, which Security copies into the alert."""
    try:
        from ctad.core.catalog import Catalog

        cat = Catalog.load()
    except Exception:  # no lookups: a rule without a mapping still imports and fires
        return []
    by_tactic: Dict[str, Dict[str, Any]] = {}
    for tech in sorted(cat.techniques(), key=lambda t: t.technique_id):
        if "." in tech.technique_id:
            continue
        for tid in tech.tactic_ids:
            tac = cat.tactic(tid)
            if tac is None:
                continue
            entry = by_tactic.setdefault(tid, {"framework": "MITRE ATT&CK", "tactic": {
                "id": tid, "name": tac.name, "reference": f"https://attack.mitre.org/tactics/{tid}/"},
                "technique": []})  # fmt: skip
            entry["technique"].append(
                {"id": tech.technique_id, "name": tech.name, "reference": tech.url, "subtechnique": []}
            )
    return [by_tactic[k] for k in sorted(by_tactic)]


def detection_rule(suppression: bool = True, index: str = ALERTS_PATTERN) -> Dict[str, Any]:
    """The rule as Kibana's export writes it (one NDJSON line)."""
    rule: Dict[str, Any] = {
        "rule_id": RULE_ID,
        "name": "ctad: anomalous use of AWS APIs (CloudTrail)",
        "description": (
            "Raises an Elastic Security alert for every CloudTrail event the ctad detector scored as anomalous "
            "(novel API, network, key or user agent for the identity, risky request parameters, unusual rate or "
            "hour), one alert per ctad incident while it lasts. The reasons, the identity's incident and its "
            "running score, and the ATT&CK technique of the API are on the alert (event.reason, ctad.*, threat.*)."
        ),
        "type": "query",
        "language": "kuery",
        "query": QUERY,
        "index": [index],
        "enabled": False,
        "interval": "5m",
        "from": "now-20m",
        "timestamp_override": "event.ingested",
        "timestamp_override_fallback_disabled": False,
        "severity": "medium",
        "severity_mapping": [
            {"field": "ctad.severity", "operator": "equals", "value": s, "severity": s}
            for s in ("low", "medium", "high", "critical")
        ],
        "risk_score": 47,
        "risk_score_mapping": [{"field": "event.risk_score", "operator": "equals", "value": ""}],
        "rule_name_override": "",
        "max_signals": 1000,
        "author": ["ctad"],
        "license": "Apache-2.0",
        "tags": [
            "Domain: Cloud",
            "Data Source: AWS",
            "Data Source: Amazon Web Services",
            "Data Source: AWS CloudTrail",
            "Use Case: Threat Detection",
            "Tactic: Multiple",
            "ctad",
        ],  # fmt: skip
        "references": ["https://attack.mitre.org/"],
        "false_positives": [
            "New automation, a new employee or a rotated key: first-seen features fire until the baseline learns "
            "them. Tune with an exception on ctad.identity or user.name."
        ],
        "note": (
            "## Triage\n`ctad elastic triage` adds ctad.triage.verdict, summary and recommended actions to the "
            "source documents. Pivot on ctad.incident.id for the identity's other anomalies, ctad.source_index/"
            "ctad.source_id for the raw CloudTrail record."
        ),
        "setup": (
            "Run `ctad elastic detect --write stream:<namespace>` on a schedule (see docs/elastic.md) so "
            "logs-ctad.alerts-<namespace> receives ctad's ECS alerts. If the prebuilt 'External Alerts' rule is "
            "enabled, add an exception for event.module:ctad there, or this rule's alerts appear twice."
        ),
        "required_fields": [
            {"name": "event.kind", "type": "keyword", "ecs": True},
            {"name": "event.module", "type": "keyword", "ecs": True},
            {"name": "event.dataset", "type": "keyword", "ecs": True},
            {"name": "event.risk_score", "type": "float", "ecs": True},
            {"name": "ctad.severity", "type": "keyword", "ecs": False},
            {"name": "ctad.incident.id", "type": "keyword", "ecs": False},
        ],
        "related_integrations": [{"package": "aws", "version": "^2.0.0", "integration": "cloudtrail"}],
        "threat": _tactics_covered(),
        "exceptions_list": [],
        "actions": [],
        "version": RULE_VERSION,
    }
    if suppression:
        rule["alert_suppression"] = {
            "group_by": ["ctad.incident.id"],
            "duration": {"value": 4, "unit": "h"},
            "missing_fields_strategy": "doNotSuppress",
        }
    return rule


def rule_ndjson(suppression: bool = True) -> str:
    """The rule file: the rule line, then the export-details line Kibana's own exports end with."""
    details = {"exported_count": 1, "exported_rules_count": 1, "missing_rules": [], "missing_rules_count": 0,
               "exported_exception_list_count": 0, "exported_exception_list_item_count": 0,
               "missing_exception_list_item_count": 0, "missing_exception_list_items": [],
               "missing_exception_lists": [], "missing_exception_lists_count": 0,
               "exported_action_connector_count": 0}  # fmt: skip
    return "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in (detection_rule(suppression), details))


def _search_source(query: str, index_ref: bool = True) -> str:
    src: Dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if index_ref:
        src["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
    return json.dumps(src, sort_keys=True)


def _saved_search(obj_id: str, title: str, query: str, columns: List[str]) -> Dict[str, Any]:
    return {
        "type": "search",
        "id": obj_id,
        "attributes": {
            "title": title,
            "description": "",
            "columns": columns,
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
        },
        "references": [
            {
                "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                "type": "index-pattern",
                "id": DATA_VIEW_ID,
            }
        ],
    }


def saved_objects() -> List[Dict[str, Any]]:
    """Data view, saved searches and dashboard, referenced objects first (as Kibana's own exports order them)."""
    data_view = {
        "type": "index-pattern",
        "id": DATA_VIEW_ID,
        "attributes": {
            "title": ALERTS_PATTERN,
            "name": "ctad alerts",
            "timeFieldName": "@timestamp",
            "allowNoIndex": True,
        },
        "references": [],
    }
    alerts = _saved_search(SEARCH_ALERTS_ID, "ctad: anomalies (alerts)", "event.kind:alert", COLUMNS)
    errors = _saved_search(
        SEARCH_ERRORS_ID,
        "ctad: events ctad could not score",
        "event.kind:pipeline_error",
        ["ctad.error", "ctad.source_index", "ctad.source_id"],
    )
    panels = [
        {"type": "search", "panelIndex": "1", "panelRefName": "panel_0", "embeddableConfig": {},
         "gridData": {"x": 0, "y": 0, "w": 48, "h": 20, "i": "1"}},
        {"type": "search", "panelIndex": "2", "panelRefName": "panel_1", "embeddableConfig": {},
         "gridData": {"x": 0, "y": 20, "w": 48, "h": 12, "i": "2"}},
    ]  # fmt: skip
    dashboard = {
        "type": "dashboard",
        "id": DASHBOARD_ID,
        "attributes": {
            "title": "ctad: CloudTrail anomalies",
            "description": f"{RULE_NAME}: alerts by severity and incident, and the events it could not score.",
            "panelsJSON": json.dumps(panels, sort_keys=True),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source("", index_ref=False)},
        },
        "references": [
            {"name": "panel_0", "type": "search", "id": SEARCH_ALERTS_ID},
            {"name": "panel_1", "type": "search", "id": SEARCH_ERRORS_ID},
        ],
    }
    return [data_view, alerts, errors, dashboard]


def objects_ndjson() -> str:
    return "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in saved_objects())


class KibanaError(Exception):
    """Kibana refused an import or could not be reached (the message says which and why)."""


def _post_file(http: Any, url: str, filename: str, body: str, headers: Dict[str, str]) -> Dict[str, Any]:
    import urllib3

    data, content_type = urllib3.encode_multipart_formdata(
        {"file": (filename, body.encode("utf-8"), "application/ndjson")}
    )
    try:
        resp = http.request("POST", url, body=data, headers=dict(headers, **{"Content-Type": content_type}))
    except urllib3.exceptions.HTTPError as exc:
        raise KibanaError(f"POST {url}: {type(exc).__name__}: {exc}") from exc
    text = resp.data.decode("utf-8", "replace")
    try:
        reply = json.loads(text)
    except ValueError:
        reply = {"raw": text[:500]}
    if resp.status >= 300:
        raise KibanaError(f"POST {url}: HTTP {resp.status}: {text[:500]}")
    # both import APIs answer 200 with per-object errors in the body: a partial import is a failure too
    if not isinstance(reply, dict) or reply.get("success") is False or reply.get("errors"):
        raise KibanaError(f"POST {url}: import incomplete: {text[:800]}")
    return reply


def install(
    kibana_url: str,
    *,
    api_key: Optional[str] = None,
    basic_auth: Optional[Tuple[str, str]] = None,
    ca_certs: Optional[str] = None,
    verify: bool = True,
    space: Optional[str] = None,
    suppression: bool = True,
    timeout: float = 60.0,
) -> Dict[str, Any]:
    """Import the saved objects, then the rule, into Kibana (both with ``overwrite=true``: idempotent)."""
    import urllib3

    base = kibana_url.rstrip("/") + (f"/s/{space}" if space else "")
    headers = {"kbn-xsrf": "true", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif basic_auth:
        headers.update(urllib3.make_headers(basic_auth=f"{basic_auth[0]}:{basic_auth[1]}"))
    kwargs: Dict[str, Any] = {"timeout": urllib3.Timeout(total=timeout), "retries": urllib3.Retry(2)}
    if ca_certs:
        kwargs["ca_certs"] = ca_certs
    if not verify:
        kwargs["cert_reqs"] = "CERT_NONE"
    http = urllib3.PoolManager(**kwargs)
    objects = _post_file(
        http, f"{base}/api/saved_objects/_import?overwrite=true", OBJECTS_FILE, objects_ndjson(), headers
    )
    rules = _post_file(
        http,
        f"{base}/api/detection_engine/rules/_import?overwrite=true",
        RULE_FILE,
        rule_ndjson(suppression),
        headers,
    )
    return {"saved_objects": objects, "rules": rules}
