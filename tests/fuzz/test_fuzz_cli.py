"""``ctad detect`` end to end on files of hostile lines (issue 11): one output row per input line, each a score
or a ct_error, and the parallel run byte-identical to ``--workers 1``."""

from __future__ import annotations

import json
import sys
from typing import Any, List

from ctad.cli import main
from fuzz_strategies import budget, cloudtrail_events, hostile_events, hostile_text, portable_json
from hypothesis import given
from hypothesis import strategies as st


def _line(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))  # our own json.dumps of the ~1,000-deep values
    try:
        if isinstance(value, dict) and portable_json(value):
            return json.dumps(value).encode("utf-8")
        return json.dumps(value, default=str).encode("utf-8", "replace")
    finally:
        sys.setrecursionlimit(limit)


lines = st.lists(
    st.one_of(
        cloudtrail_events(),
        hostile_events(keep_id=True),
        hostile_text().map(lambda s: s.encode("utf-8", "replace").replace(b"\n", b" ").replace(b"\r", b" ")),
        st.sampled_from([b"{", b"[]", b"null", b'{"Records": 5}', b"\xff\xfe", b'{"eventName": 1e999}']),
    ),
    min_size=1,
    max_size=20,
).map(lambda values: [_line(v) for v in values])


def _detect(tmp, src, name: str, workers: str) -> List[bytes]:
    out = tmp / name
    assert main(["detect", str(src), "-o", str(out), "-q", "--workers", workers]) == 0
    return out.read_bytes().splitlines()


@budget(3)
@given(lines)
def test_cli_every_line_comes_out_once_and_parallel_matches(tmp_path_factory, raw_lines):
    tmp = tmp_path_factory.mktemp("cli")
    src = tmp / "in.jsonl"
    src.write_bytes(b"\n".join(raw_lines) + b"\n")
    blank = sum(1 for line in raw_lines if not line.strip())
    one = _detect(tmp, src, "one.jsonl", "1")
    assert len(one) == len(raw_lines) - blank  # blank lines are not rows; every other line is one
    for line in one:
        row = json.loads(line)
        assert row["ct_error"] or 0.0 <= row["ct_score"] <= 1.0
        assert not row["ct_error"] or row["ct_score"] is None
    assert _detect(tmp, src, "two.jsonl", "2") == one
