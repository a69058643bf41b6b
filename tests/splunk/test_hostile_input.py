"""Hostile input at the three Splunk commands: every row that goes in comes out, and no command fails.

Log fields are attacker-written (userAgent, bucket names, request parameters) and lookups are editable by anyone
with write access, so the search-time layer is tried with: lone UTF-16 surrogates in `_raw`, NUL (what
KV_MODE=json makes of ``\\u0000``; Python 3.9's csv refused it), 300-deep nesting, numbers that are huge,
negative or NaN, event times in 2199 and 1970, rows without `_raw`, a stray quote and a bare CR in a cell, a
malformed `__mv_` cell, a chunk whose CSV header line is empty, and baselines that are broken in every way.
Each is run through the repository's commands (this venv, orjson available) and through the built app on bare
Python 3.9 and 3.13 (no orjson, no numpy): same rows out, same scores.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import random
import signal
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.core import jsonio
from ctad.splunk import protocol as P
from ctad.splunk.splunkd_sim import MV, Session, flatten, getinfo, run_search
from splunk_helpers import BASELINE, DETECT, REPO, SESSION_KEY

TRIAGE = [sys.executable, str(REPO / "bin" / "agenttriage.py")]
ISOLATED = ["-E", "-s", "-S", "-B"]  # no site-packages, no user site, no PYTHON* env: as bare as Splunk's
ACCOUNT = "123456789012"


# ------------------------------------------------------------------------------------------ the events
def event(i: int, **over: Any) -> Dict[str, Any]:
    return CloudTrailEvent("GetBucketAcl", identity=iam_user(key="AKIAEXAMPLE"), ip="203.0.113.9", ua="aws-cli/2.15.0",
                           time="2026-01-05T10:%02d:%02dZ" % (i // 60 % 60, i % 60), params={"bucketName": "data"},
                           event_id=f"ev-{i:04d}", account=ACCOUNT, extra=over).as_record()  # fmt: skip


def row(i: int, ev: Dict[str, Any], raw: Any = True, fields: Any = None) -> Dict[str, Any]:
    """A search result the way the AWS add-on's sourcetype makes it; `raw`: True, the `_raw` text, or None."""
    out: Dict[str, Any] = {"row_id": str(i), "_time": "1767607200.000", "host": "aws-addon",
                           "sourcetype": "aws:cloudtrail"}  # fmt: skip
    if raw is True:
        raw = json.dumps(ev, separators=(",", ":"))
    if raw is not None:
        out["_raw"] = raw
    out.update(flatten(ev) if fields is None else fields)
    return out


def hostile_rows() -> List[Dict[str, Any]]:
    rows = [row(0, event(0))]
    # 1: lone surrogates in the arn, the bucket name and the user agent (valid JSON text, not Unicode)
    ev = event(1, userAgent="evil\ufffdagent", requestParameters={"bucketName": "b\ufffducket"})
    ev["userIdentity"] = dict(ev["userIdentity"], arn=f"arn:aws:iam::{ACCOUNT}:user/al\ufffdice")
    raw = json.dumps(ev, separators=(",", ":")).replace("\\ufffd", "\\ud800", 2).replace("\\ufffd", "\\udc00")
    rows.append(row(1, ev, raw))
    # 2: NUL, escaped in _raw and decoded in the extracted field
    ev = event(2, userAgent="evil\x00agent")
    rows.append(row(2, ev))
    # 3: nested 300 levels deep
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"k": deep}
    rows.append(row(3, event(3, requestParameters={"bucketName": "data", "filter": deep})))
    # 4: numbers a count could be: huge, negative, NaN (json.dumps writes NaN, as a hostile writer may)
    rows.append(row(4, event(4, requestParameters={"maxItems": 1e308, "count": -1, "ratio": float("nan"),
                                                   "big": 10**400})))  # fmt: skip
    # 5, 6: event times far in the future and at the epoch
    rows.append(row(5, event(5, eventTime="2199-01-01T00:00:00Z")))
    rows.append(row(6, event(6, eventTime="1970-01-01T00:00:00Z")))
    # 7: no _raw, only the extracted fields (after `fields - _raw`, a data model, `table`)
    rows.append(row(7, event(7), raw=None))
    rows.append(row(8, event(8)))
    return rows


COLUMNS = ["row_id", "_time", "_raw", "host", "sourcetype", "tags"]


def body_of(rows: List[Dict[str, Any]], header: List[str]) -> bytes:
    """An execute body as splunkd writes it (fields, then their `__mv_` twins, CRLF rows)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header + [MV + h for h in header])
    for r in rows:
        w.writerow([str(r.get(h, "")) for h in header] + [str(r.get(MV + h, "")) for h in header])
    return buf.getvalue().encode("utf-8")


def hostile_bodies() -> List[bytes]:
    rows = hostile_rows()
    header = list(COLUMNS)
    for r in rows:
        header += [k for k in r if k not in header]
    first = body_of(rows, header)
    # second chunk: same header, a stray quote and a bare CR in unquoted cells, a malformed multivalue cell
    more = [row(10 + i, event(10 + i), raw=None if i == 2 else True) for i in range(4)]
    more[0]["host"] = "STRAYQUOTE"
    more[1]["host"] = "BARECR"
    more[2]["tags"] = "a\nb"
    more[2][MV + "tags"] = "$$x" * 20_000 + "$a$;$b"  # no _raw: decoded; the old regex took ~30 s on it
    second = body_of(more, header).replace(b"STRAYQUOTE", b'aws"addon').replace(b"BARECR", b"aws\raddon")
    # third chunk: an empty header line, two rows under it
    lines = body_of([row(20, event(20)), row(21, event(21))], header).split(b"\r\n", 1)[1]
    third = b"\r\n" + lines
    return [first, second, third, body_of([row(30, event(30))], header)]


IDS = [str(i) for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13)] + ["", ""] + ["30"]


# ------------------------------------------------------------------------------------ the interpreters
WHERE = ["venv", "3.9", "3.13"]


@pytest.fixture
def commands(request, built_app, monkeypatch, pyenv_python):
    """name -> argv of the three commands: the repository's (venv) or the built app's on a bare pyenv Python."""
    where = request.param
    if where == "venv":
        return {"cloudtraildetect": DETECT, "ctadbaseline": BASELINE, "agenttriage": TRIAGE}
    py = pyenv_python(where)
    if py is None:
        pytest.skip(f"no python{where} under ~/.pyenv on this machine")
    monkeypatch.delenv("CTAD_HOME")  # the built app uses its own model and lookups
    return {n: [py, *ISOLATED, str(built_app / "bin" / f"{n}.py")] for n in ("cloudtraildetect", "ctadbaseline",
                                                                             "agenttriage")}  # fmt: skip


def messages(meta: Dict[str, Any]) -> List[List[str]]:
    return (meta.get("inspector") or {}).get("messages") or []


# ------------------------------------------------------------------------------------------ unit level
SURROGATE_TEXTS = [
    '{"a":"al\\ud800ice","k\\udc00":["x\\uDFFF",{"\\ud83d\\ude00":1}]}',
    '{"a":"\\ud800\\ud800\\udc00"}',
    '{"a":"\ud800"}',  # a Python str holding a lone surrogate
    '{"a":"\\\\ud800"}',  # an escaped backslash: no surrogate at all
]


@pytest.mark.parametrize("text", SURROGATE_TEXTS)
def test_loads_replaces_lone_surrogates_the_same_with_and_without_orjson(text):
    stdlib = jsonio._loads_stdlib(text)
    assert jsonio.loads(text) == stdlib
    dumped = json.dumps(stdlib, ensure_ascii=False)
    dumped.encode("utf-8")  # no lone surrogate left anywhere, keys included
    if "\\\\ud800" not in str(text):
        assert "\ufffd" in dumped


@pytest.mark.parametrize("data", [b'{"a":"\xed\xa0\x80x"}', b'{"a":"caf\xe9"}'])
def test_loads_refuses_bytes_that_are_not_utf8_on_both_paths(data):
    """The readers then decode with U+FFFD and re-serialise, instead of copying invalid bytes to the output."""
    with pytest.raises(ValueError):
        jsonio._loads_stdlib(data)
    with pytest.raises(ValueError):
        jsonio.loads(data)


def test_loads_deep_nesting_is_a_value_error_not_a_recursion_error():
    with pytest.raises(ValueError):
        jsonio._loads_stdlib("[" * 100_000 + "]" * 100_000)


def test_writers_encode_a_lone_surrogate_as_replacement_character():
    assert jsonio.utf8("al\ud800ice") == "al\ufffdice".encode()
    assert P.rows_to_csv([{"a": "x\udc00"}]).decode() == "a\r\nx\ufffd\r\n"


@pytest.mark.parametrize(
    "body, cells",
    [
        (b'a,b\r\nx\x00y,"q\x00"\r\n', [["x\x00y", "q\x00"]]),
        (b'a,b\r\nx\ry,z\r\n"p\rq",r\r\n', [["x\ry", "z"], ["p\rq", "r"]]),
        (b"a,b\r\nx\x00\ry,z\r\n", [["x\x00\ry", "z"]]),
        ("a,b\r\n\ue000\x00,\r\n".encode(), [["\ue000\x00", ""]]),  # the body already holds a marker
    ],
)
def test_parse_csv_keeps_nul_and_bare_cr_in_their_cell(body, cells):
    header, rows = P.parse_csv(body)
    assert header == ["a", "b"] and [list(r) for r in rows] == cells
    assert len(P.split_records(body)) - 1 == len(cells)


def test_decode_mv_agrees_with_the_format_and_reads_a_malformed_megabyte():
    rnd = random.Random(7)
    for _ in range(3000):
        values = [
            "".join(rnd.choice("a$;\n ") for _ in range(rnd.randint(0, 5))) for _ in range(rnd.randint(2, 5))
        ]
        assert P.decode_mv(P.encode_mv(values)[1]) == values
    # 1 MB that is not the format (the regex this replaced needed hours for it): read leniently, "$$" being
    # an empty item and the "x" after it skipped; an unterminated last item is dropped
    assert P.decode_mv("$$x" * 333_333 + "$a$;$b$") == [""] * 333_333 + ["a", "b"]
    assert P.decode_mv("$$x" * 333_333 + "$a$;$b") == [""] * 333_333 + ["a"]


# ----------------------------------------------------------------------------------------- the commands
def run_detect(argv: List[str], tmp_path: Path, args=(), **info: Any):
    return run_search(argv, list(args), [], [], str(tmp_path), bodies=hostile_bodies(), **info)


@pytest.mark.parametrize("commands", WHERE, indirect=True)
@pytest.mark.parametrize("worker", ["true", "false"])
def test_cloudtraildetect_every_row_comes_out(commands, worker, tmp_path):
    _, (final,), out, err = run_detect(commands["cloudtraildetect"], tmp_path, [f"worker={worker}"])
    assert "error" not in final, final
    assert [r.get("row_id", "") for r in out] == IDS
    for r in out:
        assert r["ct_score"] or r["ct_error"], r
    by_id = {r["row_id"]: r for r in out if r["row_id"]}
    for i in ("0", "1", "2", "4", "7", "8", "10", "11", "12", "13", "30"):
        assert by_id[i]["ct_error"] == "" and 0.0 <= float(by_id[i]["ct_score"]) <= 1.0, by_id[i]
    # nested 300 levels: refused at every door (docs/DESIGN.md, "Nesting"), and still a row of its own
    deep = by_id["3"]
    assert deep["ct_score"] == "" and "nested more than 200 levels" in deep["ct_error"], deep
    assert by_id["1"]["ct_identity"] == f"arn:aws:iam::{ACCOUNT}:user/al\ufffdice"  # scored, not hidden
    assert by_id["2"]["userAgent"] == "evil\x00agent"
    assert by_id["10"]["host"] == 'aws"addon' and by_id["11"]["host"] == "aws\raddon"
    assert by_id["12"]["tags"] == [""] * 20_000 + ["a"]  # the malformed cell passed through as received
    headless = [r for r in out if not r["row_id"]]
    assert all("header" in r["ct_error"] for r in headless)
    assert b"Traceback" not in err


@pytest.fixture(scope="module")
def venv_scores(tmp_path_factory):
    out = run_detect(DETECT, tmp_path_factory.mktemp("ref"))[2]
    return [{k: v for k, v in r.items() if k.startswith("ct_")} for r in out]


@pytest.mark.parametrize("commands", ["3.9", "3.13"], indirect=True)
def test_same_scores_without_orjson(commands, venv_scores, tmp_path):
    """orjson (venv) and the stdlib json (Splunk's Python) read every hostile event the same way."""
    out = run_detect(commands["cloudtraildetect"], tmp_path)[2]
    assert [{k: v for k, v in r.items() if k.startswith("ct_")} for r in out] == venv_scores


@pytest.mark.parametrize("commands", WHERE, indirect=True)
def test_agenttriage_every_row_comes_out(commands, tmp_path):
    bodies = hostile_bodies()
    _, (final,), out, err = run_search(commands["agenttriage"], ["backend=offline"], [], [], str(tmp_path),
                                       bodies=bodies, buffered=False, command="agenttriage")  # fmt: skip
    assert "error" not in final, final
    assert [r.get("row_id", "") for r in out] == IDS
    assert all("triage_verdict" in r for r in out)
    assert all("header" in r["triage_error"] for r in out if not r.get("row_id"))


STATS = {"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "userIdentity.type": "IAMUser",
         "userIdentity.arn": f"arn:aws:iam::{ACCOUNT}:user/a", "count": "3", "first": "1767600000",
         "last": "1767607200", "ctad_hour": "10", "weekend_count": "0"}  # fmt: skip


@pytest.mark.parametrize("commands", WHERE, indirect=True)
def test_ctadbaseline_survives_hostile_aggregates(commands, tmp_path):
    rows = [
        STATS,
        dict(STATS, count="1e308"),
        dict(STATS, count="-1"),
        dict(STATS, count="nan"),
        dict(STATS, count="inf", weekend_count="1e400"),
        dict(STATS, first="7258118400", last="7258118400"),  # 2200
        dict(STATS, first="0", last="0"),
        dict(STATS, **{"userAgent": "evil\x00agent", "userIdentity.arn": "arn:aws:iam::1:user/al\x00ice"}),
    ]
    _, (final,), prof, err = run_search(commands["ctadbaseline"], [], rows, [3, 5], str(tmp_path),
                                        command="ctadbaseline")  # fmt: skip
    assert "error" not in final, final
    assert any(r["kind"] == "api" for r in prof)
    for r in prof:
        if r["count"]:
            # finite and bounded: the 1e308 row is clamped to 10**12, not written as a 309-digit integer
            assert math.isfinite(float(r["count"])) and 0 <= float(r["count"]) < 10**13, r
    assert any("rows skipped" in m[1] for m in messages(final))
    assert b"Traceback" not in err


# ------------------------------------------------------------------------------------- bad baselines
GOOD_ID = f"arn:aws:iam::{ACCOUNT}:user/alice"


def good_profile_rows() -> List[Dict[str, Any]]:
    meta = {"version": 1, "total": 40, "first_time": 1767000000, "last_time": 1767600000}
    return [
        {"kind": "meta", "identity": "", "value": json.dumps(meta), "count": 40, "first": "", "last": "", "extra": ""},
        {"kind": "gapi", "identity": "", "value": "s3.amazonaws.com:GetBucketAcl", "count": 40, "extra": 1},
        {"kind": "id", "identity": GOOD_ID, "value": ",".join(["2"] * 20 + ["0"] * 4), "count": 40,
         "first": 1767000000, "last": 1767600000, "extra": 0},
        {"kind": "api", "identity": GOOD_ID, "value": "s3.amazonaws.com:GetBucketAcl", "count": 40,
         "first": 1767000000, "last": 1767600000, "extra": ""},
    ]  # fmt: skip


def broken(rows, index, **change):
    rows = copy.deepcopy(rows)
    rows[index].update(change)
    for k in [k for k, v in change.items() if v is ...]:
        del rows[index][k]
    return rows


BAD_KV = {
    "negative count": broken(good_profile_rows(), 3, count=-5),
    "nan count": broken(good_profile_rows(), 2, count="nan"),
    "inf count": broken(good_profile_rows(), 1, count="inf"),
    "huge count": broken(good_profile_rows(), 3, count="1e400"),
    "nan time": broken(good_profile_rows(), 3, first="nan"),
    "malformed meta": broken(good_profile_rows(), 0, value="{not json"),
    "meta not an object": broken(good_profile_rows(), 0, value="[1, 2]"),
    "record without value": broken(good_profile_rows(), 1, value=...),
    "only garbage": [{"kind": "meta", "value": "5"}, {"kind": "gsrc"}],
}


@pytest.mark.parametrize("commands", WHERE, indirect=True)
@pytest.mark.parametrize("case", sorted(BAD_KV))
def test_bad_kv_baseline_warns_and_every_row_is_scored(commands, case, splunkd, tmp_path):
    splunkd.collections["ctad_baseline"] = [
        dict(r, _key=str(i)) if isinstance(r, dict) else r for i, r in enumerate(BAD_KV[case])
    ]
    gi, (final,), out, err = run_detect(commands["cloudtraildetect"], tmp_path, splunkd_uri=splunkd.uri,
                                        session_key=SESSION_KEY)  # fmt: skip
    assert "error" not in final and not gi.get("error"), (gi, final)
    warnings = [m[1] for m in messages(gi) if m[0] == "WARN"]
    assert any("baseline ctad_baseline" in w for w in warnings), messages(gi)
    assert [r.get("row_id", "") for r in out] == IDS
    assert all(r["ct_score"] or r["ct_error"] for r in out)


@pytest.mark.parametrize("commands", WHERE, indirect=True)
@pytest.mark.parametrize(
    "case",
    ["html collection", "html transforms", "transforms entry not an object", "transforms entries not a list"],
)
def test_bad_splunkd_replies_fall_back_to_hunting_mode(commands, case, splunkd, tmp_path):
    html = (200, {"Content-Type": "text/html"}, b"<html><body>Session expired, please log in</body></html>")
    if case == "html collection":
        splunkd.raw["storage/collections/data/ctad_baseline"] = html
    elif case == "html transforms":
        splunkd.raw["configs/conf-transforms/ctad_baseline"] = html
        splunkd.collections["ctad_baseline"] = good_profile_rows()
    else:
        entry = b'{"entry": ["not an object"]}' if "object" in case else b'{"entry": {"content": 5}}'
        splunkd.raw["configs/conf-transforms/ctad_baseline"] = (
            200,
            {"Content-Type": "application/json"},
            entry,
        )
        splunkd.collections["ctad_baseline"] = good_profile_rows()
    gi, (final,), out, err = run_detect(commands["cloudtraildetect"], tmp_path, splunkd_uri=splunkd.uri,
                                        session_key=SESSION_KEY)  # fmt: skip
    assert "error" not in final and not gi.get("error"), (gi, final)
    if case == "html collection":
        assert any(m[0] == "WARN" and "hunting mode" in m[1] for m in messages(gi)), messages(gi)
    assert [r.get("row_id", "") for r in out] == IDS
    assert all(r["ct_score"] or r["ct_error"] for r in out)


def test_good_baseline_still_used(splunkd, tmp_path):
    """The checks do not throw away a sound baseline: it changes the answers, with no warning about it."""
    splunkd.collections["ctad_baseline"] = good_profile_rows()
    gi, _, with_base, _ = run_detect(DETECT, tmp_path, splunkd_uri=splunkd.uri, session_key=SESSION_KEY)
    assert not any("unusable" in m[1] or "unavailable" in m[1] for m in messages(gi)), messages(gi)
    hunting = run_detect(DETECT, tmp_path, ["baseline=nothere"])[2]
    assert [r["ct_score"] for r in with_base] != [r["ct_score"] for r in hunting]


def test_csv_lookup_with_nul_on_python39(ctad_home, tmp_path, pyenv_python):
    py = pyenv_python("3.9")
    if py is None:
        pytest.skip("no python3.9 under ~/.pyenv on this machine")
    lookup = ctad_home / "lookups" / "nul_baseline.csv"
    with open(lookup, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["kind", "identity", "value", "count", "first", "last", "extra"])
        w.writeheader()
        w.writerows(broken(good_profile_rows(), 3, value="s3\x00:GetBucketAcl"))
    gi, (final,), out, _ = run_detect([py, *DETECT[1:]], tmp_path, ["baseline=nul_baseline.csv"])
    assert "error" not in final and not gi.get("error")
    assert [r.get("row_id", "") for r in out] == IDS


# ------------------------------------------------------------------------------------ cancelled searches
@pytest.mark.parametrize("how", ["eof", "sigterm", "error"])
def test_cancelled_search_leaves_no_rows_in_the_dispatch_dir(how, tmp_path):
    dispatch = tmp_path / "dispatch"
    dispatch.mkdir()
    s = Session(DETECT)
    s.send(getinfo([], str(dispatch)))
    bodies = hostile_bodies()
    meta, _ = s.send({"action": "execute", "finished": False}, bodies[0])
    assert meta["finished"] is False
    stored = [p for p in dispatch.rglob("*") if p.is_file() and "model-cache" not in str(p)]
    assert stored, "the command keeps received rows in the dispatch dir (the test would prove nothing)"
    if how == "sigterm":
        s.proc.send_signal(signal.SIGTERM)
    elif how == "error":  # a protocol error: a chunk that is not the protocol
        s.proc.stdin.write(b"garbage\n")
        s.proc.stdin.flush()
    s.proc.stdin.close()
    s.proc.wait(60)
    left = [p for p in dispatch.rglob("*") if p.is_file() and "model-cache" not in str(p)]
    assert left == [], left


def test_finished_search_leaves_no_rows_in_the_dispatch_dir(tmp_path):
    run_detect(DETECT, tmp_path)
    left = [p for p in tmp_path.rglob("*") if p.is_file() and "model-cache" not in str(p)]
    assert left == [], left


@pytest.mark.parametrize("commands", WHERE, indirect=True)
def test_busy_identity_with_threshold_zero(commands, tmp_path):
    """1,200 calls by one identity in a minute, every event explained (threshold=0): rows out, no failed search."""
    names = ("ListBuckets", "GetBucketAcl", "ListObjects")
    rows = [row(i, event(i % 60, eventID=f"b{i}", eventName=names[i % 3])) for i in range(1200)]
    _, (final,), out, _ = run_search(
        commands["cloudtraildetect"], ["threshold=0"], rows, [500], str(tmp_path)
    )
    assert "error" not in final, final
    assert [r["row_id"] for r in out] == [r["row_id"] for r in rows]
    assert all(r["ct_score"] and r["ct_error"] == "" for r in out)
