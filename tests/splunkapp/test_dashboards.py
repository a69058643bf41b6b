"""Dashboards: Studio JSON inside <dashboard version="2"> wrappers, internally consistent; the setup page is
Simple XML (Studio cannot load custom JavaScript)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import splunkapp_helpers as h

STUDIO = ("ctad_overview", "ctad_identity", "ctad_model_health")
VIZ_TYPES = {
    "splunk.singlevalue",
    "splunk.table",
    "splunk.line",
    "splunk.column",
    "splunk.bar",
    "splunk.pie",
    "splunk.area",
    "splunk.markdown",
}
INPUT_TYPES = {"input.timerange", "input.dropdown", "input.text", "input.multiselect"}


def test_all_views_parse_as_xml():
    views = sorted(h.VIEWS.glob("*.xml"))
    assert {p.stem for p in views} == set(STUDIO) | {"ctad_setup"}
    for path in views:
        root = ET.parse(path).getroot()
        assert root.tag in ("dashboard", "form"), path
        assert root.findtext("label"), path


@pytest.mark.parametrize("view", STUDIO)
def test_studio_definition(view):
    root = ET.parse(h.VIEWS / f"{view}.xml").getroot()
    assert root.get("version") == "2"
    d = json.loads(root.find("definition").text)
    assert d["title"] and d["dataSources"] and d["visualizations"]
    ds_ids = set(d["dataSources"])
    viz_ids = set(d["visualizations"])
    input_ids = set(d.get("inputs", {}))
    used = set()
    for vid, viz in d["visualizations"].items():
        assert viz["type"] in VIZ_TYPES, (vid, viz["type"])
        assert viz.get("title"), vid
        for ref in viz.get("dataSources", {}).values():
            assert ref in ds_ids, (vid, ref)
            used.add(ref)
    for iid, inp in d.get("inputs", {}).items():
        assert inp["type"] in INPUT_TYPES, iid
        assert inp["options"]["token"], iid
        for ref in inp.get("dataSources", {}).values():
            assert ref in ds_ids, (iid, ref)
            used.add(ref)
    for dsid, ds in d["dataSources"].items():
        if ds["type"] == "ds.chain":
            assert ds["options"]["extend"] in ds_ids, dsid
            used.add(ds["options"]["extend"])
    assert ds_ids == used, f"unused data sources: {ds_ids - used}"
    layout = d["layout"]
    assert layout["type"] in ("grid", "absolute")
    placed = [item["item"] for item in layout["structure"]]
    assert sorted(placed) == sorted(viz_ids), "every visualization placed exactly once"
    for item in layout["structure"]:
        pos = item["position"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["y"] >= 0
        assert pos["x"] + pos["w"] <= layout.get("options", {}).get("width", 1200)
    assert set(layout.get("globalInputs", [])) == input_ids


def test_overview_covers_the_brief():
    d = h.studio_dashboards()["ctad_overview"]
    queries = " ".join(ds["options"]["query"] for ds in d["dataSources"].values())
    for piece in (
        "timechart count by ct_severity",
        "by ct_severity",
        "ctad_attack_tactics",
        "by ct_identity",
        "by account",
        "`ctad_baseline_status`",
        "`ctad_incidents`",
        "dc(ct_incident)",
    ):
        assert piece in queries, piece


def test_identity_dashboard_filters_on_chosen_identity():
    d = h.studio_dashboards()["ctad_identity"]
    token = d["inputs"]["input_identity"]["options"]["token"]
    for dsid, ds in d["dataSources"].items():
        if dsid != "ds_identity_list":
            assert f"${token}|s$" in ds["options"]["query"], dsid
    queries = " ".join(ds["options"]["query"] for ds in d["dataSources"].values())
    assert "ct_reasons" in queries and "inputlookup ctad_baseline" in queries
    assert "`ctad_incidents`" in queries and "ct_incident_score" in queries


def test_model_health_covers_the_brief():
    d = h.studio_dashboards()["ctad_model_health"]
    queries = " ".join(ds["options"]["query"] for ds in d["dataSources"].values())
    for piece in (
        "cloudtraildetect",
        "ct_score*20",
        "lowest_flagged_score",
        "tstats count",
        "mean_score",
        "`ctad_baseline_status`",
        "CTAD - Update baseline",
    ):
        assert piece in queries, piece


def test_setup_page_is_simple_xml_with_script():
    root = ET.parse(h.VIEWS / "ctad_setup.xml").getroot()
    assert root.get("version") == "1.1"
    assert root.get("script") == "ctad_setup.js"
    assert (h.REPO / "appserver" / "static" / root.get("script")).is_file()
    assert (h.REPO / "appserver" / "static" / root.get("stylesheet")).is_file()
    html = root.find("row/panel/html")
    ids = {el.get("id") for el in html.iter() if el.get("id")}
    assert {"ctad-setup-form", "ctad-index", "ctad-key", "ctad-save", "ctad-status"} <= ids
    key = [el for el in html.iter("input") if el.get("id") == "ctad-key"][0]
    assert key.get("type") == "password"
    saved = set(h.conf("savedsearches"))
    for el in html.iter("input"):
        if el.get("data-search"):
            assert el.get("data-search") in saved
