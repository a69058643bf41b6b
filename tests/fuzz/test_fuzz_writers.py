"""Properties of the output writers on hostile values (issue 11): the CLI's JSON lines and CSV, the Splunk reply
body (``rows_to_csv``), the Elastic bulk action. Invariants: one output record per row, no exception, and what
is read back is what was written (values with NUL, CR/LF, quotes, separators and Splunk's ``$`` markers)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Dict, List

from ctad.core.schema import OUTPUT_FIELDS, SEVERITIES
from ctad.elastic.writer import KEY_FIELDS, WriteTarget, build_action, row_meta
from ctad.engine.output import OutputWriter, row_body
from ctad.engine.readers import InputRow
from ctad.splunk.protocol.csvbody import RowReader, _text, parse_csv, rows_to_csv
from fuzz_strategies import (
    budget,
    encodable_text,
    has_surrogate_or_nul,
    hostile_numbers,
    hostile_text,
    json_values,
    nested,
    portable_json,
)
from hypothesis import assume, given
from hypothesis import strategies as st


def ct_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Dict[str, Any]]:
    """ct_* dicts as the engine makes them, with attacker-influenced text (identity, reasons, error)."""
    return st.fixed_dictionaries(
        {
            "ct_score": st.one_of(st.none(), st.floats(0, 1)),
            "ct_anomaly": st.sampled_from([0, 1]),
            "ct_severity": st.sampled_from(SEVERITIES),
            "ct_reasons": st.lists(text, max_size=5),
            "ct_risk": st.integers(0, 100),
            "ct_incident": st.one_of(st.just(""), st.from_regex(r"ctad-[0-9a-f]{16}", fullmatch=True), text),
            "ct_incident_score": st.integers(0, 100),
            "ct_incident_severity": st.sampled_from(["", "low", "medium", "high", "critical"]),
            "ct_tactic": st.sampled_from(["", "TA0007"]),
            "ct_technique": st.sampled_from(["", "T1619"]),
            "ct_identity": text,
            "ct_model": st.just("m-1"),
            "ct_error": text,
        }
    )


def objects(text: st.SearchStrategy[str]) -> st.SearchStrategy[Dict[str, Any]]:
    """Input objects as a reader hands them over: what JSON text parses to (no NaN, ints within 64 bits)."""
    return st.dictionaries(text, json_values(text), max_size=5).filter(portable_json)


def _write(tmp_path, name: str, items: List[Any]) -> bytes:
    path = tmp_path / name
    writer = OutputWriter(str(path))
    try:
        for body, ct in items:
            writer.write(body, ct)
    finally:
        writer.close()
    return path.read_bytes()


def _portable(obj: Any) -> Any:
    """What a JSON round trip gives for a value (NaN != NaN, so compare through text)."""
    return json.dumps(obj, sort_keys=True, default=str)


def _check_jsonl(data: bytes, bodies: List[Dict[str, Any]], cts: List[Dict[str, Any]]) -> None:
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(bodies)  # one line per row, no stray line break
    for line, obj, ct in zip(lines, bodies, cts):
        got = json.loads(line)
        for key, value in ct.items():
            assert _portable(got[key]) == _portable(value)
        for key, value in obj.items():
            if not key.startswith("ct_"):
                assert _portable(got[key]) == _portable(value)


def _input_rows(objs: List[Dict[str, Any]]) -> List[bytes]:
    return [row_body(InputRow(obj, None, "", "fuzz"))[0] for obj in objs]


@budget(30)
@given(st.lists(st.tuples(objects(encodable_text()), ct_values(encodable_text())), max_size=8))
def test_cli_jsonl_one_line_per_row_round_trips(tmp_path_factory, pairs):
    objs = [o for o, _ in pairs]
    cts = [c for _, c in pairs]
    data = _write(tmp_path_factory.mktemp("w"), "o.jsonl", list(zip(_input_rows(objs), cts)))
    _check_jsonl(data, objs, cts)


@budget(30)
@given(st.lists(st.tuples(objects(encodable_text()), ct_values(encodable_text())), max_size=8))
def test_cli_csv_one_record_per_row_round_trips(tmp_path_factory, pairs):
    objs = [o for o, _ in pairs]
    cts = [c for _, c in pairs]
    bodies = _input_rows(objs)
    data = _write(tmp_path_factory.mktemp("w"), "o.csv", list(zip(bodies, cts)))
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    header, records = records[0], records[1:]
    assert len(records) == len(pairs)
    for rec, body, ct in zip(records, bodies, cts):
        got = dict(zip(header, rec))
        assert got["_raw"] == body.decode("utf-8")
        for key in OUTPUT_FIELDS:
            value = ct[key]
            want = "\n".join(value) if isinstance(value, list) else ("" if value is None else str(value))
            assert got[key] == want


@budget(40)
@given(st.lists(st.tuples(objects(hostile_text()), ct_values(hostile_text())), min_size=1, max_size=6),
       st.sampled_from(["o.jsonl", "o.csv", "o.jsonl.gz"]))  # fmt: skip
def test_cli_writers_survive_lone_surrogates(tmp_path_factory, pairs, name):
    assume(any(has_surrogate_or_nul(o) or has_surrogate_or_nul(c) for o, c in pairs))
    objs = [o for o, _ in pairs]
    data = _write(tmp_path_factory.mktemp("w"), name, list(zip(_input_rows(objs), [c for _, c in pairs])))
    assert data


@budget(20)
@given(st.integers(250, 1000), st.sampled_from(["list", "dict"]))
def test_cli_row_body_of_deeply_nested_rows(depth, kind):
    body, problem = row_body(
        InputRow({"eventName": "X", "requestParameters": nested(depth, "x", kind)}, None, "", "f")
    )
    assert body.startswith(b"{") and b"\n" not in body
    assert problem  # deeper than the nesting limit: the row says why it is not scored


# ----------------------------------------------------------------------------------------- Splunk reply
def splunk_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalar = st.one_of(st.none(), st.booleans(), hostile_numbers(), text)
    return st.one_of(scalar, st.lists(scalar, max_size=4), st.dictionaries(text, scalar, max_size=3))


def _expected_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            return [_text(x) for x in value]
        return "\n".join(_text(x) for x in value)
    return _text(value)


@budget(80)
@given(st.lists(st.dictionaries(encodable_text().filter(lambda k: k != "" and not k.startswith("__mv_")),
                                splunk_values(encodable_text()), max_size=5), max_size=8))  # fmt: skip
def test_splunk_reply_body_round_trips(rows):
    body = rows_to_csv(rows)
    header, records = parse_csv(body)
    reader = RowReader(header)
    got = [reader(cells) for cells in records]
    assert len(got) == len(rows)
    for row, back in zip(rows, got):
        for key, value in row.items():
            want = _expected_cell(value)
            assert back.get(key, "") == want, key


@budget(30)
@given(st.lists(st.dictionaries(hostile_text().filter(lambda k: not k.startswith("__mv_")),
                                splunk_values(hostile_text()), max_size=4), min_size=1, max_size=5))  # fmt: skip
def test_splunk_reply_body_survives_lone_surrogates(rows):
    assume(any(has_surrogate_or_nul(r) for r in rows))
    body = rows_to_csv(rows)
    header, records = parse_csv(body)
    assert len(list(records)) == len(rows)


# ------------------------------------------------------------------------------------------ Elastic bulk
def hostile_ct(text: st.SearchStrategy[str]) -> st.SearchStrategy[Dict[str, Any]]:
    anything = st.one_of(st.none(), st.booleans(), hostile_numbers(), text, st.lists(text, max_size=3))
    return st.dictionaries(
        st.sampled_from(OUTPUT_FIELDS + ("extra",)), anything, max_size=len(OUTPUT_FIELDS) + 1
    )


def es_docs(text: st.SearchStrategy[str]) -> st.SearchStrategy[Dict[str, Any]]:
    """Documents as the reader yields them: parsed JSON (so no NaN) with string ``_id``/``_index`` (or None)."""
    value = st.one_of(json_values(text), st.just({"nested": {"x": 1}}))
    fields = st.dictionaries(st.sampled_from(KEY_FIELDS + ("event", "user")), value, max_size=6)
    ids = st.fixed_dictionaries({"_id": st.none() | text, "_index": st.none() | text})
    return st.tuples(fields, ids).map(lambda p: {**p[0], **p[1]}).filter(portable_json)


def _strict_json(value: Any) -> None:
    json.dumps(value, allow_nan=False).encode("utf-8")


@budget(80)
@given(es_docs(encodable_text()), hostile_ct(encodable_text()), st.sampled_from(["update", "index"]))
def test_elastic_bulk_action_is_strict_json_with_clean_ct_fields(doc, ct, mode):
    target = WriteTarget("update") if mode == "update" else WriteTarget("index", "ctad-anomalies-fuzz")
    meta = row_meta(doc, target.needs_key_fields)
    meta = json.loads(json.dumps(meta, default=str))  # what the spool gives back
    action = build_action(meta, ct, target, "run1")
    _strict_json(
        action
    )  # Elasticsearch refuses NaN/Infinity: one bad row must not fail the whole bulk request
    fields = action["doc"] if mode == "update" else action["_source"]
    score = fields["ct_score"]
    assert score is None or (isinstance(score, float) and math.isfinite(score))
    assert fields["ct_anomaly"] in (0, 1)
    assert isinstance(fields["ct_reasons"], list) and all(isinstance(r, str) for r in fields["ct_reasons"])
    for name in ("ct_risk", "ct_incident_score"):  # `integer` in the results template
        assert isinstance(fields[name], int) and 0 <= fields[name] <= 100, name
    for name in OUTPUT_FIELDS:
        if name not in ("ct_score", "ct_anomaly", "ct_reasons", "ct_risk", "ct_incident_score"):
            assert isinstance(fields[name], str), name
    assert "extra" not in fields


@budget(30)
@given(es_docs(hostile_text()), hostile_ct(hostile_text()), st.sampled_from(["update", "index"]))
def test_elastic_bulk_action_survives_lone_surrogates(doc, ct, mode):
    assume(has_surrogate_or_nul(doc) or has_surrogate_or_nul(ct))
    from elastic_transport import NdjsonSerializer

    target = WriteTarget("update") if mode == "update" else WriteTarget("index", "ctad-anomalies-fuzz")
    action = build_action(row_meta(doc, target.needs_key_fields), ct, target, "run1")
    # the client encodes the whole action (its _index/_id line and the body) with surrogatepass: bytes
    # Elasticsearch refuses as invalid UTF-8
    NdjsonSerializer().dumps([action]).decode("utf-8")
