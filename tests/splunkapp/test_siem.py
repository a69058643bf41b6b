"""ctad in the SIEM's own language (issue 12, Splunk): anomaly events in a summary index, CIM Alerts, risk-based
alerting, the tuning macro, KV store retention, app.manifest and quoted dashboard tokens.

The names Splunk documents are kept below as data, each with where it comes from, and the app's .conf files are
checked against them: a renamed CIM field, a misspelt risk parameter or an unknown threat object type fails here
instead of silently producing nothing in Splunk."""

from __future__ import annotations

import csv
import json
import re

import pytest
import splunkapp_helpers as h

# ---------------------------------------------------------------------------------------- documented names
# CIM Alerts data model. Sources: Splunk CIM manual, "Alerts" (docs.splunk.com/Documentation/CIM/6.0.0/User/Alerts:
# tag `alert`, fields app, body, description, dest, ...), "CIM fields per associated data model"
# (help.splunk.com/data-management/common-information-model/6.1/...: app in Alerts, body deprecated in favour of
# description), and Splunk's pytest-splunk-addon, pytest_splunk_addon/standard_lib/data_models/Alerts.json (field
# list, severity and type values). That file lists `src` twice, the second time with the comment "The user involved
# in the alert event": that entry is `user`, which the CIM manual lists for Alerts.
CIM_ALERTS_TAG = "alert"
CIM_ALERTS_FIELDS = frozenset(
    {
        "app",
        "body",
        "description",
        "dest",
        "dest_type",
        "id",
        "mitre_technique_id",
        "severity",
        "severity_id",
        "signature",
        "signature_id",
        "src",
        "src_type",
        "subject",
        "type",
        "user",
        "user_name",
        "vendor_account",
        "vendor_region",
    }
)
CIM_ALERTS_SEVERITIES = frozenset(
    {"critical", "high", "medium", "low", "informational"}
)  # Alerts.json expected_values
CIM_ALERTS_TYPES = frozenset({"alarm", "alert", "event", "task", "warning"})  # Alerts.json expected_values
# Fields ctad adds to its alert events that are CIM fields of other models, not of Alerts (Web: http_user_agent's
# sibling user_agent in the AWS add-on's mapping; vendor_product is common to most models).
NON_ALERTS_EXTRAS = frozenset({"user_agent", "vendor_product"})
# The fields issue 12 asks for.
REQUIRED_ALERT_FIELDS = ("signature", "severity", "src", "user", "dest", "id", "app", "type", "description")

# Enterprise Security risk action as saved-search settings. Sources: splunk/contentctl
# contentctl/output/templates/savedsearches_detections.j2 (action.risk, action.risk.param._risk_message,
# action.risk.param._risk as a JSON list, action.risk.param._risk_score, action.risk.param.verbose,
# action.correlationsearch.enabled/label/annotations) and the ESCU detections built from it in splunk/security_content
# (e.g. _risk = [{"risk_object_field": "user", "risk_object_type": "other", "risk_score": 48},
# {"threat_object_field": "src", "threat_object_type": "ip_address"}], annotations {"mitre_attack": [...]}).
RISK_ACTION_KEYS = frozenset(
    {
        "action.risk",
        "action.risk.param._risk",
        "action.risk.param._risk_message",
        "action.risk.param._risk_score",
        "action.risk.param.verbose",
    }
)
CORRELATION_SEARCH_KEYS = frozenset(
    {
        "action.correlationsearch.enabled",
        "action.correlationsearch.label",
        "action.correlationsearch.annotations",
    }
)
RISK_OBJECT_KEYS = frozenset({"risk_object_field", "risk_object_type", "risk_score"})
THREAT_OBJECT_KEYS = frozenset({"threat_object_field", "threat_object_type"})
# splunk/contentctl docs/RBA_Types.md (contentctl 5.1): the accepted risk_object_type and threat_object_type values.
RISK_OBJECT_TYPES = frozenset({"user", "system", "other"})
THREAT_OBJECT_TYPES = frozenset(
    {
        "certificate_common_name",
        "certificate_organization",
        "certificate_serial",
        "certificate_unit",
        "command",
        "domain",
        "email_address",
        "email_subject",
        "file_hash",
        "file_name",
        "file_path",
        "http_user_agent",
        "ip_address",
        "process",
        "process_name",
        "parent_process",
        "parent_process_name",
        "process_hash",
        "registry_path",
        "registry_value_name",
        "registry_value_text",
        "service",
        "signature",
        "system",
        "tls_hash",
        "url",
    }
)
# Fields of a risk event in ES's risk index (the RBA drilldowns of splunk/rba read risk_object, risk_object_type,
# risk_score, risk_message; threat objects are threat_object / threat_object_type): what the fallback writes.
RISK_EVENT_FIELDS = frozenset(
    {"risk_object", "risk_object_type", "risk_score", "risk_message", "threat_object", "threat_object_type"}
)

# collect. Source: Splunk Search Reference, collect (help.splunk.com/splunk-enterprise/spl-search-reference/9.4/
# search-commands/collect): index=<string> (must exist), addinfo, addtime, file, spool, marker, uselb,
# output_format (raw | hec), testmode, run_in_preview, host, source, sourcetype, timeformat.
COLLECT_OPTIONS = frozenset(
    {
        "index",
        "addinfo",
        "addtime",
        "file",
        "spool",
        "marker",
        "uselb",
        "output_format",
        "testmode",
        "run_in_preview",
        "host",
        "source",
        "sourcetype",
        "timeformat",
    }
)

# app.manifest. Source: splunk/addonfactory-ucc-generator splunk_add_on_ucc_framework/app_manifest.py (the
# packaging toolkit's schema 2.0.0 as UCC validates it).
MANIFEST_SCHEMA_VERSION = "2.0.0"
MANIFEST_DEPLOYMENTS = frozenset({"*", "_standalone", "_distributed", "_search_head_clustering"})
MANIFEST_WORKLOADS = frozenset({"*", "_search_heads", "_indexers", "_forwarders"})

# indexes.conf settings Splunk Cloud vetting allows (splunk-appinspect check_indexes_conf_properties).
INDEXES_ALLOWED = frozenset(
    {"homePath", "coldPath", "thawedPath", "frozenTimePeriodInSecs", "disabled", "datatype", "repFactor"}
)

# ------------------------------------------------------------------------------------------------ helpers
MACROS = h.conf("macros")
SAVED = h.conf("savedsearches")
PROPS = h.conf("props")
RISK_SEARCH = "CTAD - Risk"
FALLBACK_SEARCH = "CTAD - Risk (without ES)"


def _expanded(spl: str) -> str:
    return h.expand_macros(spl, MACROS)


def _stages(spl: str):
    """(command, stage) of every stage of every pipeline of a search, macros expanded."""
    for stages in h.split_pipelines(_expanded(spl)):
        yield from h.pipeline_commands(stages)


def _table_fields(spl: str) -> set:
    fields = set()
    for cmd, stage in _stages(spl):
        if cmd == "table":
            fields |= set(stage.split()[1:])
    return fields


def _produced_by(definition: str) -> set:
    """Field names a pipeline fragment creates: `x=` in eval and `as x` in stats/rename."""
    names = set(re.findall(r"(?:^|[\s,])([A-Za-z_][A-Za-z0-9_.]*)=(?!=)", definition))
    names |= set(re.findall(r"\bas\s+([A-Za-z_][A-Za-z0-9_]*)", definition, flags=re.I))
    return names


def _sensitive_api_techniques() -> list:
    with open(h.REPO / "lookups" / "sensitive_apis.csv", newline="", encoding="utf-8") as f:
        return sorted({row["technique_id"] for row in csv.DictReader(f) if row["technique_id"]})


def _is_detection(kv: dict) -> bool:
    """A search that finds, stores or raises detections: runs the detector, collects, alerts, or sends risk."""
    s = kv.get("search", "")
    return "cloudtraildetect" in s or "| collect" in s or "counttype" in kv or kv.get("action.risk") == "1"


# ------------------------------------------------------------------------------------- anomalies as events
def test_summary_index_macro_names_one_index_the_app_creates():
    definition = MACROS["ctad_summary_index"]["definition"]
    m = re.fullmatch(r"index=([a-z0-9_][a-z0-9_-]*)", definition)
    assert m, (
        f"`ctad_summary_index` must be one index=<name> term (it is collect's index= argument): {definition}"
    )
    indexes = h.conf("indexes")
    assert m.group(1) in indexes, "default/indexes.conf creates the summary index"
    for stanza, kv in indexes.items():
        if stanza == "default":
            continue
        assert set(kv) <= INDEXES_ALLOWED, set(kv) - INDEXES_ALLOWED
        for key, sub in (("homePath", "db"), ("coldPath", "colddb"), ("thawedPath", "thaweddb")):
            assert kv[key] == f"$SPLUNK_DB/{stanza}/{sub}", (stanza, key)
        assert int(kv["frozenTimePeriodInSecs"]) > 0


def test_detect_collects_anomaly_events_before_the_kv_write():
    s = SAVED["CTAD - Detect"]["search"]
    collect = "| collect `ctad_summary_index` sourcetype=ctad:anomaly"
    assert collect in s
    # the event first: when the KV write fails, the next window writes the event again rather than never
    assert s.index(collect) < s.index("| outputlookup append=true key_field=eventID ctad_anomalies")
    assert s.index("`ctad_detect_filter`") < s.index(collect), "tuning applies before anything is stored"


@pytest.mark.parametrize("name", sorted(k for k, v in SAVED.items() if "| collect" in v.get("search", "")))
def test_collect_options_are_documented(name):
    stages = [stage for cmd, stage in _stages(SAVED[name]["search"]) if cmd == "collect"]
    assert stages
    for stage in stages:
        text = re.sub(r'"[^"]*"', '""', stage)
        options = set(re.findall(r"([A-Za-z_]+)\s*=", text))
        assert options <= COLLECT_OPTIONS, options - COLLECT_OPTIONS
        assert re.search(r"\bindex\s*=\s*\S", stage), "collect needs index= (the index must exist)"
        assert re.search(r"\bsourcetype\s*=\s*ctad:(anomaly|risk)\b", stage), stage


def test_kv_collections_have_retention():
    collections = h.conf("collections")
    for collection, time_field in (
        ("ctad_anomalies", "detected_at"),
        ("ctad_triage_cache", "created"),
        ("ctad_feedback", "created"),
    ):
        assert f"field.{time_field}" in collections[collection], (collection, time_field)
        jobs = [
            (name, kv)
            for name, kv in SAVED.items()
            if re.search(rf"^\| inputlookup {collection}\b", kv.get("search", ""))
            and re.search(rf"\| outputlookup\b[^|]*\b{collection}$", kv["search"].strip())
            and "retention_days`" in kv["search"]
        ]
        assert len(jobs) == 1, (collection, [n for n, _ in jobs])
        name, kv = jobs[0]
        s = kv["search"]
        macro = re.search(r"`(ctad_[a-z_]+_retention_days)`", s)
        assert macro, f"{name}: the number of days comes from a macro"
        assert int(MACROS[macro.group(1)]["definition"]) >= 1
        assert time_field in s and "now()-86400*" in s.replace(" ", "")
        assert "override_if_empty=false" in s, f"{name}: an empty read must not empty {collection}"
        assert kv["enableSched"] == "1" and kv["disabled"] == "1" and kv["cron_schedule"]
        assert h.analyse(s, MACROS) == []


# ---------------------------------------------------------------------------------------------- CIM Alerts
def test_alert_eventtype_and_tag():
    eventtypes = h.conf("eventtypes")
    assert eventtypes["ctad_alert"]["search"] == "sourcetype=ctad:anomaly"
    tags = h.conf("tags")
    assert tags["eventtype=ctad_alert"] == {CIM_ALERTS_TAG: "enabled"}
    meta = h.parse_conf(h.REPO / "metadata" / "default.meta")
    assert meta["eventtypes"]["export"] == "system" and meta["tags"]["export"] == "system"


def _alert_props():
    props = PROPS["ctad:anomaly"]
    aliases = {}
    for key, value in props.items():
        if key.startswith("FIELDALIAS-"):
            m = re.fullmatch(r"(\S+) AS (\S+)", value)
            assert m, (key, value)
            aliases[m.group(2)] = m.group(1)
    evals = {k[len("EVAL-") :]: v for k, v in props.items() if k.startswith("EVAL-")}
    assert not set(aliases) & set(evals), "one definition per field"
    return aliases, evals


def test_alert_fields_are_the_cim_alerts_names():
    aliases, evals = _alert_props()
    provided = set(aliases) | set(evals)
    assert set(REQUIRED_ALERT_FIELDS) <= provided, set(REQUIRED_ALERT_FIELDS) - provided
    assert provided <= CIM_ALERTS_FIELDS | NON_ALERTS_EXTRAS, provided - CIM_ALERTS_FIELDS - NON_ALERTS_EXTRAS


def test_alert_fields_come_from_fields_the_events_carry():
    from ctad.core.schema import OUTPUT_FIELDS

    written = _table_fields(SAVED["CTAD - Detect"]["search"])
    assert set(OUTPUT_FIELDS) <= written, "every ct_* output field is in the anomaly event"
    aliases, evals = _alert_props()
    for target, source in aliases.items():
        assert source in written, (target, source)
    for target, expr in evals.items():
        used = set(re.findall(r"\b(ct_[a-z_]+|event[A-Z][A-Za-z]*|sourceIPAddress|userAgent)\b", expr))
        assert used <= written, (target, used - written)


def test_alert_severity_and_type_take_cim_values():
    from ctad.core.schema import SEVERITIES

    _, evals = _alert_props()
    expr = evals["severity"]
    pairs = dict(re.findall(r'ct_severity=="([a-z]+)", "([a-z]+)"', expr))
    default = re.search(r'true\(\), "([a-z]+)"\)$', expr)
    assert default, expr
    for sev in SEVERITIES:
        mapped = pairs.get(sev, default.group(1))
        assert mapped in CIM_ALERTS_SEVERITIES, (sev, mapped)
        assert mapped == sev, "ctad's severities are CIM's: kept as they are"
    assert default.group(1) in CIM_ALERTS_SEVERITIES
    assert re.fullmatch(r'"([a-z]+)"', evals["type"]).group(1) in CIM_ALERTS_TYPES


# ------------------------------------------------------------------------------------ risk-based alerting
def _risk_entries():
    return json.loads(SAVED[RISK_SEARCH]["action.risk.param._risk"])


def test_risk_action_parameters_are_documented():
    kv = SAVED[RISK_SEARCH]
    action_keys = {k for k in kv if k.startswith("action.")}
    assert action_keys <= RISK_ACTION_KEYS | CORRELATION_SEARCH_KEYS, action_keys - RISK_ACTION_KEYS
    assert {"action.risk", "action.risk.param._risk", "action.risk.param._risk_message"} <= action_keys
    assert kv["action.risk"] == "1" and kv["action.correlationsearch.enabled"] == "1"
    entries = _risk_entries()
    assert isinstance(entries, list) and entries
    risk = [e for e in entries if "risk_object_field" in e]
    threat = [e for e in entries if "threat_object_field" in e]
    assert len(risk) + len(threat) == len(entries)
    for e in risk:
        assert set(e) == RISK_OBJECT_KEYS, e
        assert e["risk_object_type"] in RISK_OBJECT_TYPES
        assert isinstance(e["risk_score"], int) and 0 < e["risk_score"] <= 100
    for e in threat:
        assert set(e) == THREAT_OBJECT_KEYS, e
        assert e["threat_object_type"] in THREAT_OBJECT_TYPES, e
    # the identity is the risk object, as a user or a system; source IP, user agent and API are threat objects
    assert {e["risk_object_type"] for e in risk} == {"user", "system"}
    assert {e["threat_object_type"] for e in threat} == {"ip_address", "http_user_agent", "command"}


def test_risk_fields_and_message_tokens_exist_in_the_results():
    produced = _produced_by(MACROS["ctad_risk_events"]["definition"])
    for e in _risk_entries():
        field = e.get("risk_object_field") or e["threat_object_field"]
        assert field in produced, field
    tokens = re.findall(r"\$([A-Za-z0-9_.]+)\$", SAVED[RISK_SEARCH]["action.risk.param._risk_message"])
    assert tokens and set(tokens) <= produced, set(tokens) - produced
    assert "risk_score" in produced, "the score an incident gained overrides the static risk_score"


def test_risk_objects_split_identity_by_type():
    definition = MACROS["ctad_risk_events"]["definition"]
    assert 'ctad_risk_user=if(ctad_risk_object_type=="user", ct_identity, null())' in definition
    assert 'ctad_risk_system=if(ctad_risk_object_type=="system", ct_identity, null())' in definition
    # the score comes from ct_incident_score, bounded to 0..100 before any arithmetic
    assert "min(100, max(0, tonumber(ct_incident_score)))" in definition
    assert "by ct_incident ct_identity" in definition


def test_risk_annotations_list_ctad_techniques():
    annotations = json.loads(SAVED[RISK_SEARCH]["action.correlationsearch.annotations"])
    assert set(annotations) == {"mitre_attack"}
    assert annotations["mitre_attack"] == _sensitive_api_techniques()
    for tid in annotations["mitre_attack"]:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", tid), tid


def test_risk_search_throttles_per_incident_score():
    kv = SAVED[RISK_SEARCH]
    assert kv["alert.suppress"] == "1" and kv["alert.suppress.fields"] == "ct_incident,incident_score"
    assert kv["alert.digest_mode"] == "0" and kv["disabled"] == "1"
    assert kv["search"].startswith("`ctad_summary_index` eventtype=ctad_alert")


def test_fallback_writes_the_same_risk_events():
    kv = SAVED[FALLBACK_SEARCH]
    s = kv["search"]
    assert not any(k.startswith("action.") for k in kv), "no ES alert action without ES"
    assert "`ctad_risk_events` | `ctad_risk_fields` | collect `ctad_summary_index` sourcetype=ctad:risk" in s
    # already written risk events take part, so a repeated or skipped run neither doubles nor loses risk
    assert "sourcetype=ctad:risk" in s.split("`ctad_risk_events`")[0]
    fields = _table_fields(MACROS["ctad_risk_fields"]["definition"])
    assert fields >= RISK_EVENT_FIELDS, RISK_EVENT_FIELDS - fields
    # the same threat objects, typed as in the ES search
    fallback_types = dict(
        re.findall(r'mvmap\((ctad_[a-z_]+), "([a-z_]+)"\)', MACROS["ctad_risk_fields"]["definition"])
    )
    es_types = {
        e["threat_object_field"]: e["threat_object_type"]
        for e in _risk_entries()
        if "threat_object_field" in e
    }
    assert fallback_types == es_types
    es_risk_types = {e["risk_object_type"] for e in _risk_entries() if "risk_object_field" in e}
    assert (
        set(re.findall(r'"(user|system|other)"', MACROS["ctad_risk_events"]["definition"])) == es_risk_types
    )


# ---------------------------------------------------------------------------------------------- tuning macro
def test_detect_filter_macro_is_empty_by_default():
    assert MACROS["ctad_detect_filter"]["definition"] == "search *"


def test_every_detection_search_uses_the_filter():
    detections = {name for name, kv in SAVED.items() if name != "default" and _is_detection(kv)}
    assert {"CTAD - Detect", "CTAD - Incident", RISK_SEARCH, FALLBACK_SEARCH} <= detections
    for name in sorted(detections):
        assert "`ctad_detect_filter`" in SAVED[name]["search"], name


@pytest.mark.parametrize("name", ["CTAD - Detect", "CTAD - Incident", RISK_SEARCH, FALLBACK_SEARCH])
def test_detection_searches_parse_with_their_macros(name):
    s = SAVED[name]["search"]
    assert h.analyse(s, MACROS) == []
    for macro in re.findall(r"`([^`(]+)`", s):
        assert macro in MACROS, macro


# ----------------------------------------------------------------------------------- dashboards and manifest
def test_dashboard_tokens_in_spl_are_quoted():
    checked = 0
    for view, definition in h.studio_dashboards().items():
        for ds_id, ds in definition["dataSources"].items():
            for m in h.TOKEN.finditer(ds["options"].get("query", "")):
                checked += 1
                assert m.group(2) == "s", f"{view}:{ds_id}: ${m.group(1)}$ spliced into SPL without |s"
    assert checked >= 10


def test_token_quoting_escapes_quotes():
    query = "| where ct_identity=$identity|s$"
    hostile = 'x" OR 1=1 | delete | eval y="'
    out = h.substitute_tokens(query, {"identity": hostile})
    assert out == '| where ct_identity="x\\" OR 1=1 | delete | eval y=\\""'
    assert len(h.split_pipelines(out)[0]) == 2, "the hostile value stays inside one quoted string"


def test_app_manifest_matches_app_conf():
    manifest = json.loads((h.REPO / "app.manifest").read_text(encoding="utf-8"))
    app = h.conf("app")
    assert manifest["schemaVersion"] == MANIFEST_SCHEMA_VERSION
    info = manifest["info"]
    assert info["id"]["name"] == app["id"]["name"] == app["package"]["id"]
    assert info["id"]["version"] == app["id"]["version"] == app["launcher"]["version"]
    assert info["title"] == app["ui"]["label"]
    assert info["description"] == app["launcher"]["description"]
    assert manifest["supportedDeployments"] and set(manifest["supportedDeployments"]) <= MANIFEST_DEPLOYMENTS
    assert manifest["targetWorkloads"] and set(manifest["targetWorkloads"]) <= MANIFEST_WORKLOADS
    assert (h.REPO / info["license"]["text"]).is_file()
    assert 'cp app.manifest "$STAGE/app.manifest"' in (h.REPO / "package.sh").read_text(encoding="utf-8")
