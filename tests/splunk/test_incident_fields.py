"""The ct_* cells `| cloudtraildetect` writes line up with its declared header, incident fields included."""

from __future__ import annotations

import csv
import io

from ctad.core.schema import OUTPUT_FIELDS, empty_output
from ctad.splunk import protocol as P
from ctad.splunk.detect_command import CT_COLUMNS, ct_cells


def test_header_declares_every_output_field_and_the_reasons_twin():
    assert [c for c in CT_COLUMNS if not c.startswith(P.MV)] == list(OUTPUT_FIELDS)
    assert [c for c in CT_COLUMNS if c.startswith(P.MV)] == [P.MV + "ct_reasons"]


def test_cells_match_the_header_for_an_incident_row_and_an_error_row():
    ct = {"ct_score": 0.97, "ct_anomaly": 1, "ct_severity": "critical",
          "ct_reasons": ["StopLogging on trail \"main\", by role/ci", "first time, from 203.0.113.9"],
          "ct_risk": 97, "ct_incident": "ctad-0123456789abcdef", "ct_incident_score": 99,
          "ct_incident_severity": "critical", "ct_tactic": "TA0005", "ct_technique": "T1562.008",
          "ct_identity": "arn:aws:iam::1:role/ci", "ct_model": "m1", "ct_error": ""}  # fmt: skip
    (cells,) = csv.reader(io.StringIO(ct_cells(ct)))
    got = dict(zip(CT_COLUMNS, cells))
    assert len(cells) == len(CT_COLUMNS)
    assert got["ct_risk"] == "97" and got["ct_incident"] == "ctad-0123456789abcdef"
    assert got["ct_incident_score"] == "99" and got["ct_incident_severity"] == "critical"
    assert got["ct_reasons"] == "\n".join(ct["ct_reasons"]) and got[P.MV + "ct_reasons"].startswith("$")
    assert got["ct_error"] == "" and got["ct_identity"] == ct["ct_identity"]

    (cells,) = csv.reader(io.StringIO(ct_cells(empty_output("eventName is missing", "m1"))))
    got = dict(zip(CT_COLUMNS, cells))
    assert len(cells) == len(CT_COLUMNS)
    assert (got["ct_risk"], got["ct_incident"], got["ct_incident_score"]) == ("0", "", "0")
    assert got["ct_error"] == "eventName is missing"
