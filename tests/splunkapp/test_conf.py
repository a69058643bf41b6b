"""default/*.conf: parse, and say what the contract (docs/splunk-app.md) says."""

from __future__ import annotations

import re

import pytest
import splunkapp_helpers as h

CONF_FILES = sorted(p.name for p in h.DEFAULT.glob("*.conf"))

# The contract's exact ctad_baseline_stats (runs on the indexers; ctadbaseline depends on its columns).
BASELINE_STATS = (
    'fillnull value="-" userIdentity.type userIdentity.arn userIdentity.principalId userIdentity.accountId '
    "userIdentity.invokedBy userIdentity.accessKeyId userIdentity.userName "
    "userIdentity.sessionContext.sessionIssuer.arn recipientAccountId eventSource eventName sourceIPAddress "
    "userAgent awsRegion\n"
    "| eval ctad_hour=floor(_time/3600)%24, ctad_weekend=if((floor(_time/86400)+3)%7>=5,1,0)\n"
    # session parts folded before the stats (tests/splunk/test_baseline_hygiene.py checks the fold's effect)
    "| eval ctad_key=if(match('userIdentity.accessKeyId', \"^(ASIA|ABIA|ACCA)\"), "
    "substr('userIdentity.accessKeyId', 1, 4).\"*\", 'userIdentity.accessKeyId'), "
    "ctad_arn=if('userIdentity.type'==\"AssumedRole\", replace('userIdentity.arn', "
    '"^(arn:[^:]*:sts::[^:]*:assumed-role/[^/]+)/.*$", "\\1/-"), \'userIdentity.arn\'), '
    "ctad_pid=if('userIdentity.type'==\"AssumedRole\", replace('userIdentity.principalId', \"^([^:]+):.*$\", "
    "\"\\1:-\"), 'userIdentity.principalId')\n"
    "| stats count min(_time) as first max(_time) as last sum(ctad_weekend) as weekend_count by userIdentity.type "
    "ctad_arn ctad_pid userIdentity.accountId userIdentity.invokedBy "
    "ctad_key userIdentity.userName userIdentity.sessionContext.sessionIssuer.arn "
    "recipientAccountId eventSource eventName sourceIPAddress userAgent awsRegion ctad_hour\n"
    "| rename ctad_arn as userIdentity.arn, ctad_pid as userIdentity.principalId, ctad_key as userIdentity.accessKeyId"
)


def test_expected_conf_files_exist():
    for name in (
        "app",
        "commands",
        "searchbnf",
        "macros",
        "collections",
        "transforms",
        "props",
        "savedsearches",
    ):
        assert f"{name}.conf" in CONF_FILES


@pytest.mark.parametrize("name", CONF_FILES)
def test_conf_parses(name):
    parsed = h.parse_conf(h.DEFAULT / name)
    assert len(parsed) > 1, f"{name} has no stanza"


@pytest.mark.parametrize("name", CONF_FILES)
def test_conf_parses_with_appinspect_parser(name):
    from splunk_appinspect.configuration_file import ConfigurationFile
    from splunk_appinspect.configuration_parser import configuration_lexer, parse

    text = (h.DEFAULT / name).read_text(encoding="utf-8")
    file = parse(text.splitlines(True), ConfigurationFile(name), configuration_lexer)
    assert file.errors == [], file.errors
    ours = {s for s in h.parse_conf(h.DEFAULT / name) if s != "default"}
    assert ours == set(file.section_names()) - {"default"}


def test_parser_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[a]\nkey = 1\nthis is not a setting\n")
    with pytest.raises(h.ConfError):
        h.parse_conf(bad)
    dup = tmp_path / "dup.conf"
    dup.write_text("[a]\nk = 1\nk = 2\n")
    with pytest.raises(h.ConfError):
        h.parse_conf(dup)


def test_app_conf():
    app = h.conf("app")
    assert app["package"]["id"] == h.APP == app["id"]["name"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", app["id"]["version"])
    assert app["launcher"]["version"] == app["id"]["version"]
    assert app["install"]["is_configured"] in ("false", "0")
    assert app["ui"]["label"]
    assert app["ui"]["setup_view"] == "ctad_setup"
    assert (h.VIEWS / "ctad_setup.xml").is_file()
    pyproject = (h.REPO / "pyproject.toml").read_text()
    assert f'version = "{app["id"]["version"]}"' in pyproject, "app.conf and pyproject versions differ"


def test_commands_conf():
    cmds = h.conf("commands")
    assert set(cmds) - {"default"} == set(h.APP_COMMANDS)
    for name in h.APP_COMMANDS:
        kv = cmds[name]
        assert kv["filename"] == f"{name}.py"
        assert kv["chunked"] == "true"
        assert kv["python.required"] == "3.9,3.13"


def test_baseline_stats_macro_is_the_contracts():
    macros = h.conf("macros")
    assert macros["ctad_baseline_stats"]["definition"] == BASELINE_STATS


def test_cloudtrail_macros():
    macros = h.conf("macros")
    assert macros["cloudtrail_index"]["definition"] == "index=aws"
    assert macros["cloudtrail_sourcetype"]["definition"] == "sourcetype=aws:cloudtrail"
    assert macros["cloudtrail_events"]["definition"] == "`cloudtrail_index` `cloudtrail_sourcetype`"
    assert macros["ctad_min_baseline_days"]["definition"] == "7"


@pytest.mark.parametrize("name", ["ctad_baseline", "ctad_anomalies", "ctad_triage_cache", "ctad_feedback"])
def test_kv_collection_has_lookup(name):
    collections = h.conf("collections")
    transforms = h.conf("transforms")
    assert name in collections
    assert transforms[name]["external_type"] == "kvstore"
    assert transforms[name]["collection"] == name
    declared = {k[len("field.") :] for k in collections[name] if k.startswith("field.")}
    listed = {f.strip() for f in transforms[name]["fields_list"].split(",")}
    assert "_key" in listed
    assert declared <= listed, f"fields typed in collections.conf but not in the lookup: {declared - listed}"
    for key, value in collections[name].items():
        if key.startswith("field."):
            assert value in ("number", "bool", "string", "time"), (key, value)


def test_baseline_collection_fields_match_profile_rows():
    from ctad.core.profile import Profile

    rows = list(Profile().to_rows())
    assert rows, "Profile.to_rows gave nothing"
    listed = {f.strip() for f in h.conf("transforms")["ctad_baseline"]["fields_list"].split(",")} - {"_key"}
    assert set(rows[0]) == listed


def test_anomaly_collection_holds_every_output_field():
    from ctad.core.schema import OUTPUT_FIELDS
    from ctad.triage.fields import empty_triage

    listed = {f.strip() for f in h.conf("transforms")["ctad_anomalies"]["fields_list"].split(",")}
    assert set(OUTPUT_FIELDS) <= listed, set(OUTPUT_FIELDS) - listed
    assert set(empty_triage("x")) <= listed, set(empty_triage("x")) - listed


def test_csv_lookups_exist():
    transforms = h.conf("transforms")
    for stanza, kv in transforms.items():
        if "filename" in kv:
            assert (h.REPO / "lookups" / kv["filename"]).is_file(), stanza


def test_props_never_overwrite_existing_cim_fields():
    props = h.conf("props")["aws:cloudtrail"]
    aliases = {k: v for k, v in props.items() if k.startswith("FIELDALIAS-")}
    assert aliases
    for key, value in aliases.items():
        assert " ASNEW " in value and " AS " not in value, (
            f"{key} would overwrite the add-on's field: {value}"
        )
    targets = {v.split(" ASNEW ")[1] for v in aliases.values()}
    evals = {k[len("EVAL-") :]: v for k, v in props.items() if k.startswith("EVAL-")}
    assert {"src", "user_agent", "vendor_region", "vendor_account"} <= targets
    assert {"user", "action"} <= set(evals)
    for field, expr in evals.items():
        assert expr.startswith(f"if(isnotnull({field}), {field},"), (
            f"EVAL-{field} must keep an existing value"
        )


def _saved():
    return h.conf("savedsearches")


def test_saved_searches_of_the_contract():
    ss = _saved()
    for name in (
        "CTAD - Build baseline",
        "CTAD - Update baseline",
        "CTAD - Detect",
        "CTAD - Triage",
        "CTAD - Incident",
    ):
        assert name in ss, name
        assert ss[name]["disabled"] == "1", f"{name} needs the index macro set first: disabled by default"
        assert ss[name]["enableSched"] == "1"
    build = ss["CTAD - Build baseline"]["search"]
    assert build == (
        "`cloudtrail_events` earliest=-30d@h latest=-2h@h | `ctad_baseline_stats` | ctadbaseline "
        "retention_days=30 | outputlookup key_field=_key ctad_baseline"
    )
    update = ss["CTAD - Update baseline"]
    # the hourly update upserts the rows its hour changed (stable _key) instead of rewriting the collection
    assert update["search"] == (
        "`cloudtrail_events` earliest=-3h@h latest=-2h@h | `ctad_baseline_stats` | "
        "ctadbaseline merge=true changed_only=true retention_days=30 | outputlookup append=true key_field=_key "
        "ctad_baseline"
    )
    assert update["cron_schedule"] == "7 * * * *"


def test_detect_schedule_and_dedup():
    d = _saved()["CTAD - Detect"]
    assert d["cron_schedule"] == "*/15 * * * *"
    assert d["dispatch.earliest_time"] == "-2h@h"
    s = d["search"]
    assert "earliest=-2h@h" in s
    assert "cloudtraildetect baseline=ctad_baseline" in s
    assert "where ct_anomaly=1" in s
    assert "dedup eventID" in s
    # an anomaly stored by an earlier, overlapping window is not written again (keeps its triage)
    assert "lookup ctad_anomalies eventID OUTPUT" in s
    # an incident keeps the id stored by an earlier window once that window's first event has slid out
    assert (
        "ct_incident AS ctad_prev_incident" in s
        and "by ct_incident" in s.split("| where isnull(ctad_prev")[0]
    )
    assert s.rstrip().endswith("outputlookup append=true key_field=eventID ctad_anomalies")
    for field in ("_time", "eventID", "ct_score", "ct_reasons", "ct_identity", "detected_at", "ct_risk", "ct_incident",
                  "ct_incident_score", "ct_incident_severity"):  # fmt: skip
        assert re.search(rf"\btable\b[^|]*\b{re.escape(field)}\b", s), field


def test_alert_fires_per_incident_throttled_per_incident():
    a = _saved()["CTAD - Incident"]
    s = a["search"]
    assert a["alert.suppress"] == "1"
    # one alert per incident, again only when it escalates to a higher severity
    assert a["alert.suppress.fields"] == "ct_incident,incident_severity"
    assert a["alert.suppress.period"]
    assert a["alert.digest_mode"] == "0"
    assert "`ctad_incidents`" in s and "incident_score>=`ctad_incident_alert_score`" in s
    assert 'detected_at>=relative_time(now(), "-15m")' in s
    assert re.search(r"\btable\b[^|]*\bct_incident\b[^|]*\bct_identity\b", s)
    assert a["counttype"] == "number of events" and a["relation"] == "greater than" and a["quantity"] == "0"
    macro = h.conf("macros")["ctad_incidents"]["definition"]
    assert "by ct_incident ct_identity" in macro and "max(ct_incident_score) as incident_score" in macro
    assert h.conf("macros")["ctad_incident_alert_score"]["definition"] == "50"
    assert not any("ct_severity=" in v.get("search", "") for v in _saved().values()), "no per-row alert left"


def test_triage_is_chained_after_detection():
    ss = _saved()
    t = ss["CTAD - Triage"]
    assert "agenttriage" in t["search"]
    assert "key_field=eventID ctad_anomalies" in t["search"]
    assert "triage_verdict" in t["search"].split("agenttriage")[0], "only incidents not triaged yet"
    # whole incidents: an incident with a new untriaged anomaly goes to agenttriage with all its anomalies
    assert "by ctad_group" in t["search"] and "ct_incident" in t["search"].split("eventstats")[0]
    # runs 5 minutes after each detection, the alert 5 minutes after triage
    assert t["cron_schedule"] == "5-59/15 * * * *"
    assert ss["CTAD - Incident"]["cron_schedule"] == "10-59/15 * * * *"


def test_baseline_status_search_shows_not_enough_history():
    ss = _saved()
    assert ss["CTAD - Baseline status"]["search"] == "| `ctad_baseline_status`"
    status = h.conf("macros")["ctad_baseline_status"]["definition"]
    assert 'kind="meta"' in status
    assert "not enough history yet" in status
    assert "`ctad_min_baseline_days`" in status


def test_metadata_exports():
    meta = h.parse_conf(h.REPO / "metadata" / "default.meta")
    for stanza in ("commands", "macros", "transforms", "lookups", "collections"):
        assert meta[stanza]["export"] == "system", stanza
    assert "admin" in meta["views/ctad_setup"]["access"]
    assert "*" not in meta["views/ctad_setup"]["access"].split("write")[0], "setup page is for admins only"


def test_no_secret_in_any_conf():
    for path in list(h.DEFAULT.rglob("*")) + list((h.REPO / "metadata").glob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not re.search(r"sk-ant-[A-Za-z0-9_-]{8,}", text), path
            assert not re.search(r"(?im)^\s*(api_key|password|anthropic_key)\s*=", text), path


def test_nav_lists_existing_views():
    import xml.etree.ElementTree as ET

    nav = ET.parse(h.DEFAULT / "data" / "ui" / "nav" / "default.xml").getroot()
    views = [v.get("name") for v in nav.iter("view")]
    assert {"ctad_overview", "ctad_identity", "ctad_model_health", "ctad_setup"} <= set(views)
    builtin = {"search"}
    for name in views:
        assert name in builtin or (h.VIEWS / f"{name}.xml").is_file(), name
    saved = {s.get("name") for s in nav.iter("saved")}
    assert saved <= set(_saved()), saved - set(_saved())
    assert [v for v in nav.iter("view") if v.get("default") == "true"][0].get("name") == "ctad_overview"
