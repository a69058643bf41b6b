"""Every search the app ships (saved searches, macros, dashboard data sources) uses only macros, commands and
lookups the app defines or Splunk has, with options searchbnf.conf documents, and looks like valid SPL."""

from __future__ import annotations

import pytest
import splunkapp_helpers as h

MACROS = h.conf("macros")
SAVED = {k: v for k, v in h.conf("savedsearches").items() if "search" in v}
DASHBOARDS = h.studio_dashboards()


# Values to put in for dashboard tokens when reading a query (any token not defined by an input is an error).
def _token_values(definition):
    values = {}
    for inp in definition.get("inputs", {}).values():
        token = inp.get("options", {}).get("token")
        if not token:
            continue
        if inp["type"] == "input.timerange":
            values[f"{token}.earliest"] = "-24h"
            values[f"{token}.latest"] = "now"
        else:
            values[token] = "1000" if "size" in token else "arn:aws:iam::123456789012:user/alice"
    return values


def _dashboard_queries():
    for view, d in DASHBOARDS.items():
        for ds_id, ds in d["dataSources"].items():
            yield f"{view}:{ds_id}", view, ds


def test_checker_catches_mistakes():
    assert h.analyse("| inputlookup ctad_anomalies | stats count", MACROS) == []
    assert h.analyse("| inputlookup no_such_lookup | stats count", MACROS)
    assert h.analyse("`cloudtrail_events` | stat count", MACROS)
    assert h.analyse("`no_such_macro` | stats count", MACROS)
    assert h.analyse("`cloudtrail_events` | cloudtraildetect threshhold=0.5", MACROS)
    assert h.analyse('`cloudtrail_events` | where x="a | stats count', MACROS)
    assert h.analyse("`cloudtrail_events` | stats count |", MACROS)
    assert h.analyse("`cloudtrail_events` | append [| inputlookup nope] | stats count", MACROS)
    assert h.analyse("| `ctad_anomalies` | eval x=(1 | stats count", MACROS)


@pytest.mark.parametrize("name", sorted(SAVED))
def test_saved_search(name):
    assert h.analyse(SAVED[name]["search"], MACROS) == []


@pytest.mark.parametrize("name", sorted(k for k, v in MACROS.items() if "definition" in v))
def test_macro_definition(name):
    definition = MACROS[name]["definition"]
    if name in ("cloudtrail_index", "cloudtrail_sourcetype", "cloudtrail_events", "ctad_min_baseline_days",
                "ctad_incident_alert_score", "ctad_summary_index", "ctad_anomaly_retention_days",
                "ctad_triage_cache_retention_days", "ctad_feedback_retention_days"):  # fmt: skip
        assert h.analyse(definition, MACROS) == []
    else:  # pipeline fragments used after a pipe: | `name`
        assert h.analyse("| " + definition, MACROS) == []


@pytest.mark.parametrize("key", [k for k, _, _ in _dashboard_queries()])
def test_dashboard_query(key):
    view, ds_id = key.split(":")
    definition = DASHBOARDS[view]
    ds = definition["dataSources"][ds_id]
    assert ds["type"] in ("ds.search", "ds.chain"), ds["type"]
    query = h.substitute_tokens(ds["options"]["query"], _token_values(definition))
    if ds["type"] == "ds.chain":
        base = definition["dataSources"][ds["options"]["extend"]]
        assert base["type"] == "ds.search"
        assert query.lstrip().startswith("|"), "a chained search continues its base search"
        base_q = h.substitute_tokens(base["options"]["query"], _token_values(definition))
        query = base_q + " " + query
    assert h.analyse(query, MACROS) == []
    params = ds["options"].get("queryParameters", {})
    for value in params.values():
        h.substitute_tokens(value, _token_values(definition))  # only defined tokens


def test_custom_commands_used_somewhere():
    used = " ".join(v["search"] for v in SAVED.values())
    for cmd in h.APP_COMMANDS:
        assert f"| {cmd}" in used, cmd
