"""The protocol layer on its own: framing, CSV records, multivalue encoding, options, the splunkd recording."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
from ctad.splunk import protocol as P
from ctad.splunk.splunkd_sim import frame
from splunk_helpers import RECORDING, read_replies


def test_multivalue_roundtrip_with_dollars():
    values = ["a", "b$c", "$$", "", "x$;$y", "line\nbreak"]
    sv, mv = P.encode_mv(values)
    assert sv == "\n".join(values)
    assert P.decode_mv(mv) == values
    assert P.encode_mv(["only"]) == ("only", "")
    assert P.decode_mv("$a$;$b$$c$") == ["a", "b$c"]


def test_splunklib_decodes_our_multivalue_the_same():
    sc = pytest.importorskip("splunklib.searchcommands.search_command")
    values = ["p$q", "r", "$"]
    _, mv = P.encode_mv(values)
    assert sc.SearchCommand._decode_list(mv) == values == P.decode_mv(mv)


TRICKY = (
    'a,"b",c\r\n1,"two\r\nlines",3\r\n"q""uote",,"x,y"\r\n"multi\nline\nvalue","""",""\r\nplain,row,end\r\n'
)


@pytest.mark.parametrize("body", [TRICKY, TRICKY.replace("\r\n", "\n"), TRICKY + "last,no,terminator"])
def test_split_records_matches_csv_reader(body):
    raw = body.encode()
    records = P.split_records(raw)
    expected = list(csv.reader(io.StringIO(body, newline="")))
    assert len(records) == len(expected)
    for rec, cells in zip(records, expected):
        assert next(csv.reader(io.StringIO(rec.decode(), newline=""))) == cells
        assert not rec.endswith(b"\r")


def test_row_dict_drops_empty_and_decodes_mv():
    header = ["a", "b", "c", "__mv_a", "__mv_b", "__mv_c"]
    cells = ["1\n2", "", "z", "$1$;$2$", "", ""]
    row = P.row_dict(P.strip_mv(header), cells, P.mv_pairs(header))
    row.pop("", None)
    assert row == {"a": ["1", "2"], "c": "z"}


def test_parse_options_good_and_bad():
    spec = {
        "threshold": P.Option(P.number(0, 1), None),
        "explain": P.Option(P.boolean, True),
        "engine": P.Option(P.choice("auto", "python"), "auto"),
    }
    assert P.parse_options(['threshold="0.7"', "explain=f"], spec, "cmd") == {
        "threshold": 0.7,
        "explain": False,
        "engine": "auto",
    }
    with pytest.raises(P.CommandError) as err:
        P.parse_options(["threshold=2", "engine=gpu", "bogus=1", "positional"], spec, "cmd")
    text = str(err.value)
    for part in ("threshold='2'", "engine='gpu'", "unknown option 'bogus'", "'positional'"):
        assert part in text


def test_channel_roundtrip_and_truncation():
    data = frame({"action": "execute", "finished": False}, b"a,b\r\n1,2\r\n") + frame({"action": "execute"})
    chan = P.Channel(io.BytesIO(data), io.BytesIO())
    assert chan.read() == ({"action": "execute", "finished": False}, b"a,b\r\n1,2\r\n")
    assert chan.read() == ({"action": "execute"}, b"")
    assert chan.read() is None
    truncated = P.Channel(io.BytesIO(data[:-12]), io.BytesIO())
    assert truncated.read()[1] == b"a,b\r\n1,2\r\n"
    with pytest.raises(P.ProtocolError, match="truncated"):
        truncated.read()
    with pytest.raises(P.ProtocolError):
        P.Channel(io.BytesIO(b"garbage 1.0,2,2\n{}ab"), io.BytesIO()).read()


def test_field_size_limit_raised():
    big = "x" * 300_000
    body = ('f,g\r\n"%s",1\r\n' % big).encode()
    header, rows = P.parse_csv(body)
    assert header == ["f", "g"] and next(rows)[0] == big


class Echo(P.Command):
    """A stateful pass-through on the protocol layer: every row back at the end, plus one column."""

    name = "echo"
    options = {"tag": P.Option(str, "t")}

    def configure(self):
        self.bodies = []
        self.messages.info("configured")

    def execute(self, body, finished):
        if body:
            self.bodies.append(body)
        if not finished:
            return b""
        out = []
        header = None
        for b in self.bodies:
            recs = P.split_records(b)
            header = header or recs[0]
            assert recs[0] == header
            out += [r + b"," + self.opts["tag"].encode() for r in recs[1:]]
        return header + b",tag\r\n" + b"\r\n".join(out) + b"\r\n" if header else b""


@pytest.fixture(scope="module")
def recording():
    if not RECORDING.is_file():
        pytest.skip("../shared/data/splunkd recording is absent in this checkout")
    with gzip.open(RECORDING, "rb") as fh:
        return fh.read()


def test_recording_parses(recording):
    chunks = read_replies(recording)
    assert chunks[0][0]["action"] == "getinfo" and len(chunks) == 10
    sizes = []
    for meta, body in chunks[1:]:
        assert meta["action"] == "execute"
        header, rows = P.parse_csv(body)
        assert header == ["_time", "teststring", "__mv__time", "__mv_teststring"]
        rows = list(rows)
        sizes.append(len(rows))
        assert all(r[1] == "\u0e17t" for r in rows)
        assert len(P.split_records(body)) == len(rows) + 1
    assert sizes[:4] == [6638, 5861, 1, 6574]
    assert chunks[-1][0].get("finished") is True


def test_recording_replayed_through_a_command(recording):
    out = io.BytesIO()
    code = Echo().run(io.BytesIO(recording), out)
    assert code == 0
    replies = read_replies(out.getvalue())
    assert len(replies) == 10  # exactly one reply per request
    assert replies[0][0]["type"] == "stateful"
    assert replies[0][0]["inspector"]["messages"] == [["INFO", "configured"]]
    assert all(m == {"finished": False} and b == b"" for m, b in replies[1:-1])
    meta, body = replies[-1]
    assert meta["finished"] is True
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
    requests = read_replies(recording)[1:]
    expected = [r for _, b in requests for r in csv.DictReader(io.StringIO(b.decode("utf-8"), newline=""))]
    assert len(rows) == len(expected) == sum(len(list(P.parse_csv(b)[1])) for _, b in requests)
    assert [r["_time"] for r in rows] == [r["_time"] for r in expected]
    assert all(r["tag"] == "t" and r["teststring"] == "\u0e17t" for r in rows)


def test_bad_option_is_a_clean_error():
    data = frame({"action": "getinfo", "searchinfo": {"args": ["tag"]}}) + frame(
        {"action": "execute", "finished": True}
    )
    out = io.BytesIO()
    assert Echo().run(io.BytesIO(data), out) == 1
    replies = read_replies(out.getvalue())
    assert len(replies) == 1
    meta = replies[0][0]
    assert meta["finished"] is True and "unexpected argument 'tag'" in meta["error"]
    assert meta["inspector"]["messages"][0][0] == "ERROR"
    assert "Traceback" not in json.dumps(meta)


def test_exception_in_execute_is_reported_not_raised():
    class Boom(Echo):
        def execute(self, body, finished):
            raise KeyError("nope")

    data = frame({"action": "getinfo", "searchinfo": {}}) + frame(
        {"action": "execute", "finished": True}, b"a\r\n1\r\n"
    )
    out = io.BytesIO()
    assert Boom().run(io.BytesIO(data), out) == 1
    replies = read_replies(out.getvalue())
    assert len(replies) == 2 and replies[1][0]["finished"] is True
    assert "KeyError" in replies[1][0]["error"]
