"""ctad results as Elastic Common Schema alert documents for the ``logs-ctad.alerts-<namespace>`` data stream.

Why a separate document shape from the ``index:`` results: Elastic Security, the entity risk engine and Attack
Discovery read ECS, not ``ct_*``. So the fields ECS has a name for go there (``event.kind: alert``,
``event.risk_score``, ``event.severity``, ``event.reason``, ``rule.*``, ``threat.*``, ``user.name``, ``source.ip``,
``cloud.account.id``, ``related.*``), copied from the source CloudTrail document where they describe the event,
and ctad's own fields go under ``ctad.*`` (ECS reserves no ``ctad`` namespace; custom fields belong in their own).

Checked against the ECS reference (elastic.co/guide/en/ecs/current: event, rule, threat, related fields; allowed
values of event.kind) on 2026-12-06:

* ``event.kind``: ``alert`` for an anomaly (ECS: "an alert or notable event, triggered by a detection rule
  executing externally to the Elastic Stack"), ``pipeline_error`` for a row ctad could not score, ``event`` for a
  scored normal row (only written without ``--anomalies-only``).
* ``event.severity`` (long) uses Elastic Security's own numbers (low 21, medium 47, high 73, critical 99) so the
  prebuilt "External Alerts" severity mapping reads it the same way; ``event.risk_score`` (float) is ``ct_risk``
  (0..100, the event's own risk; the incident's running score stays in ``ctad.incident.score`` so the entity risk
  engine does not count an incident's score once per event).
* ``rule.name`` is the detector, ``rule.version`` the model version (``ct_model``).
* ``threat.framework`` ``MITRE ATT&CK``, ``threat.tactic.{id,name,reference}``,
  ``threat.technique.{id,name,reference}`` and ``threat.technique.subtechnique.*`` for a sub-technique id.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from ctad.core.jsonio import scrub_surrogates

DATASET = "ctad.alerts"
DEFAULT_NAMESPACE = "default"
STREAM_PREFIX = f"logs-{DATASET}-"
RULE_NAME = "ctad CloudTrail anomaly detector"
RULE_UUID = "6a1f0e3c-6c2d-4d57-9a7e-2f4b1c0d7a11"  # stable: the ECS rule.uuid of every ctad alert
SEVERITY_NUMBER = {"informational": 0, "low": 21, "medium": 47, "high": 73, "critical": 99}

# ct_* contract field -> dotted path under the document (one table, used both ways: writing and triage reading).
CT_PATHS: Tuple[Tuple[str, str], ...] = (
    ("ct_score", "ctad.score"),
    ("ct_anomaly", "ctad.anomaly"),
    ("ct_severity", "ctad.severity"),
    ("ct_reasons", "ctad.reasons"),
    ("ct_risk", "ctad.risk"),
    ("ct_incident", "ctad.incident.id"),
    ("ct_incident_score", "ctad.incident.score"),
    ("ct_incident_severity", "ctad.incident.severity"),
    ("ct_tactic", "ctad.tactic"),
    ("ct_technique", "ctad.technique"),
    ("ct_identity", "ctad.identity"),
    ("ct_model", "ctad.model"),
    ("ct_error", "ctad.error"),
)

# Data stream names: lowercase, no wildcards or separators; the namespace may not contain '-'.
_NAMESPACE = re.compile(r"^[a-z0-9_.]{1,100}$")


def stream_name(namespace: str = DEFAULT_NAMESPACE) -> str:
    """``logs-ctad.alerts-<namespace>`` after checking the namespace (Fleet's rules: lowercase, no ``-``)."""
    ns = (namespace or DEFAULT_NAMESPACE).strip()
    if not _NAMESPACE.match(ns):
        raise ValueError(
            f"invalid data stream namespace {namespace!r}: lowercase letters, digits, '_' and '.' only, no '-'"
        )
    return STREAM_PREFIX + ns


def alert_id(source_index: Any, source_id: Any) -> str:
    """Deterministic ``_id`` of the alert for one source document: a re-run finds and overwrites it.

    Prefixed so it can never equal a ``ctad-anomalies-*`` result id (those are the bare hash) if both are ever
    reindexed together during a migration."""
    digest = hashlib.sha1(f"{source_index}\x00{source_id}".encode("utf-8", "replace")).hexdigest()
    return "ctad-" + digest


def set_path(doc: Dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at a dotted ECS path, making the objects on the way (a scalar in the way is replaced)."""
    parts = path.split(".")
    cur = doc
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _catalog() -> Any:
    """The ATT&CK names table, or None when the lookups cannot be read (ids are still written)."""
    global _CATALOG
    if _CATALOG is None:
        try:
            from ctad.core.catalog import Catalog

            _CATALOG = Catalog.load()
        except Exception:  # a broken lookup must not cost a row its alert
            _CATALOG = False
    return _CATALOG or None


_CATALOG: Any = None


def threat_fields(tactic: str, technique: str) -> Optional[Dict[str, Any]]:
    """ECS ``threat`` object for one tactic/technique id pair (names and references from the ATT&CK lookups)."""
    if not tactic and not technique:
        return None
    cat = _catalog()
    threat: Dict[str, Any] = {"framework": "MITRE ATT&CK"}
    if tactic:
        tac = cat.tactic(tactic) if cat is not None else None
        threat["tactic"] = {"id": [tactic]}
        if tac is not None:
            threat["tactic"]["name"] = [tac.name]
            threat["tactic"]["reference"] = [f"https://attack.mitre.org/tactics/{tac.tactic_id}/"]
    if technique:
        parent = technique.split(".")[0]
        tech = cat.technique(parent) if cat is not None else None
        threat["technique"] = {"id": [parent]}
        if tech is not None:
            threat["technique"]["name"] = [tech.name]
            threat["technique"]["reference"] = [tech.url]
        if parent != technique:
            sub = cat.technique(technique) if cat is not None else None
            threat["technique"]["subtechnique"] = {"id": [technique]}
            if sub is not None:
                threat["technique"]["subtechnique"]["name"] = [sub.name]
                threat["technique"]["subtechnique"]["reference"] = [sub.url]
    return threat


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_alert(
    key: Dict[str, Any],
    fields: Dict[str, Any],
    *,
    source_index: Any,
    source_id: Any,
    run_id: str,
    ingested: str,
) -> Dict[str, Any]:
    """The ECS document for one scored row.

    ``key`` holds the copied source fields (dotted path -> value, already scrubbed), ``fields`` the clean ``ct_*``
    contract fields. ``ingested`` is the write time: the Security rule windows on ``event.ingested`` so an alert
    written late (a re-scored window, a delayed run) is still seen.
    """
    doc: Dict[str, Any] = {}
    for path, value in key.items():
        if path == "@timestamp":
            doc["@timestamp"] = value
        else:
            set_path(doc, path, value)
    if (
        "@timestamp" not in doc
    ):  # a data stream refuses a document without one; an unreadable row still goes in
        doc["@timestamp"] = ingested
        set_path(doc, "ctad.timestamp_missing", True)
    anomaly = fields["ct_anomaly"] == 1
    error = bool(fields["ct_error"])
    kind = "pipeline_error" if error else ("alert" if anomaly else "event")
    severity = fields["ct_severity"] if fields["ct_severity"] in SEVERITY_NUMBER else "informational"
    reasons: List[str] = list(fields["ct_reasons"])
    reason = "; ".join(reasons) if reasons else (fields["ct_error"] or "")
    event = doc.setdefault("event", {})
    if not isinstance(event, dict):
        event = doc["event"] = {}
    event.update(
        {
            "kind": kind,
            "module": "ctad",
            "dataset": DATASET,
            "ingested": ingested,
            "severity": SEVERITY_NUMBER[severity],
            "risk_score": float(fields["ct_risk"]),
            "risk_score_norm": float(fields["ct_risk"]),
        }
    )
    if reason:
        event["reason"] = reason[:4096]
    doc["message"] = (
        f"ctad {severity} anomaly: {reason}"
        if anomaly
        else (f"ctad could not score this event: {fields['ct_error']}" if error else "ctad: scored, normal")
    )[:4096]
    doc["rule"] = {
        "name": RULE_NAME,
        "uuid": RULE_UUID,
        "ruleset": "ctad",
        "category": "CloudTrail anomaly",
        "version": fields["ct_model"] or "unknown",
    }
    threat = threat_fields(fields["ct_tactic"], fields["ct_technique"])
    if threat is not None:
        doc["threat"] = threat
    cloud = doc.setdefault("cloud", {})
    if isinstance(cloud, dict):
        cloud["provider"] = "aws"
    related_user = [v for v in (key.get("user.name"), fields["ct_identity"]) if isinstance(v, str) and v]
    related_ip = [key["source.ip"]] if isinstance(key.get("source.ip"), str) and key["source.ip"] else []
    related: Dict[str, Any] = {}
    if related_user:
        related["user"] = sorted(set(related_user))
    if related_ip:
        related["ip"] = related_ip
    if related:
        doc["related"] = related
    doc["data_stream"] = {"type": "logs", "dataset": DATASET}
    for name, path in CT_PATHS:
        set_path(doc, path, fields[name])
    set_path(doc, "ctad.source_index", source_index)
    set_path(doc, "ctad.source_id", source_id)
    set_path(doc, "ctad.run_id", scrub_surrogates(run_id) if isinstance(run_id, str) else run_id)
    return doc


def row_from_alert(source: Any) -> Dict[str, Any]:
    """A detector-output row (``ct_*`` at the top, the ECS event fields beside them) from an alert ``_source``,
    which is what the triage engine reads; anything unexpected yields a row that still comes out (it carries
    ``ct_error`` when the document is not an object)."""
    if not isinstance(source, dict):
        return {"ct_error": "alert document is not an object", "ct_anomaly": 0}
    row: Dict[str, Any] = {k: v for k, v in source.items() if k not in ("ctad",)}
    for name, path in CT_PATHS:
        value = _get(source, path)
        if value is not None:
            row[name] = value
    return row
