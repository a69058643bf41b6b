"""splunkd's side of the chunked protocol, for tests and benchmarks (stdlib only).

Renders CloudTrail records the way the Splunk Add-on for AWS indexes them (`sourcetype=aws:cloudtrail`,
KV_MODE=json: `_raw` plus flattened fields like `userIdentity.arn`, `{}` for arrays, arrays of scalars as
multivalue), writes execute bodies the way splunkd does (all fields, then an `__mv_` twin per field, CRLF rows) and
drives a command process: getinfo, execute chunks, reading exactly one reply per request.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ctad.core.normalize import parse_time
from ctad.splunk.protocol.chunks import Channel
from ctad.splunk.protocol.csvbody import MV, decode_mv, encode_mv

SPLUNK_FIELDS = {
    "host": "aws-addon",
    "index": "aws",
    "source": "aws_cloudtrail_input",
    "sourcetype": "aws:cloudtrail",
    "splunk_server": "sh1",
    "linecount": "1",
}


def flatten(obj: Any, prefix: str = "", out: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """KV_MODE=json style: dotted keys, `{}` for arrays, multivalue lists for repeated keys."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, list):
        for v in obj:
            sub = flatten(v, prefix + "{}", {})
            for k, val in sub.items():
                have = out.get(k)
                vals = val if isinstance(val, list) else [val]
                if have is None:
                    out[k] = vals if len(vals) > 1 else vals[0]
                else:
                    out[k] = (have if isinstance(have, list) else [have]) + vals
    elif obj is not None:
        out[prefix] = obj if isinstance(obj, str) else json.dumps(obj)
    return out


def splunk_row(record: Dict[str, Any], with_raw: bool = True) -> Dict[str, Any]:
    """One aws:cloudtrail search result; keys starting with `_` other than Splunk's own are dropped."""
    clean = {k: v for k, v in record.items() if not k.startswith("_")}
    row: Dict[str, Any] = {}
    try:
        row["_time"] = "%.3f" % parse_time(clean.get("eventTime"))
    except Exception:
        row["_time"] = ""
    if with_raw:
        row["_raw"] = json.dumps(clean, separators=(",", ":"))
    row.update(SPLUNK_FIELDS)
    row.update(flatten(clean))
    return row


def csv_body(rows: Sequence[Dict[str, Any]], header: Optional[List[str]] = None) -> bytes:
    """An execute body as splunkd writes it: fields, then `__mv_` twins, CRLF rows."""
    if header is None:
        header = []
        seen = set()
        for r in rows:
            for k in r:
                if k not in seen:
                    seen.add(k)
                    header.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header + [MV + h for h in header])
    for r in rows:
        vals, mvs = [], []
        for h in header:
            v = r.get(h)
            if isinstance(v, list):
                sv, mv = encode_mv(v)
            else:
                sv, mv = ("" if v is None else str(v)), ""
            vals.append(sv)
            mvs.append(mv)
        w.writerow(vals + mvs)
    return buf.getvalue().encode("utf-8")


def frame(meta: Dict[str, Any], body: bytes = b"") -> bytes:
    m = json.dumps(meta).encode("utf-8")
    return b"chunked 1.0,%d,%d\n" % (len(m), len(body)) + m + body


def getinfo(
    args: Iterable[str], dispatch_dir: str, command: str = "cloudtraildetect", **info: Any
) -> Dict[str, Any]:
    searchinfo = {
        "args": list(args),
        "raw_args": list(args),
        "dispatch_dir": dispatch_dir,
        "session_key": info.pop("session_key", "test-session-key"),
        "splunkd_uri": info.pop("splunkd_uri", ""),
        "app": "ctad_cloudtrail",
        "username": "admin",
        "owner": "admin",
        "search": f"| {command} " + " ".join(args),
        "sid": "1700000000.1",
        "splunk_version": "9.2.0",
        "maxresultrows": 50000,
        "command": command,
        "earliest_time": "0",
        "latest_time": "0",
    }
    searchinfo.update(info)
    return {
        "action": "getinfo",
        "preview": False,
        "streaming_command_will_restart": False,
        "searchinfo": searchinfo,
    }


def parse_reply_body(body: bytes) -> Tuple[List[str], List[Dict[str, Any]]]:
    """(columns without twins, rows with multivalue cells decoded to lists)."""
    if not body:
        return [], []
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    header = next(reader)
    names = [h for h in header if not h.startswith(MV)]
    rows = []
    for cells in reader:
        d = dict(zip(header, cells))
        row: Dict[str, Any] = {}
        for h in names:
            mv = d.get(MV + h, "")
            row[h] = decode_mv(mv) if mv else d.get(h, "")
        rows.append(row)
    return names, rows


class Session:
    """Drive a command process (argv) through one search; collects every reply."""

    def __init__(self, argv: List[str], stderr: Any = subprocess.PIPE) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.chan = Channel(self.proc.stdout, self.proc.stdin)  # type: ignore[arg-type]
        self.replies: List[Tuple[Dict[str, Any], bytes]] = []

    def send(self, meta: Dict[str, Any], body: bytes = b"") -> Optional[Tuple[Dict[str, Any], bytes]]:
        """One request, one reply (None if the process ended instead)."""
        try:
            self.proc.stdin.write(frame(meta, body))  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            return None
        reply = self.chan.read()
        if reply is not None:
            self.replies.append(reply)
        return reply

    def close(self, timeout: float = 60) -> Tuple[int, bytes]:
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        rest = self.proc.stdout.read()  # type: ignore[union-attr]
        err = self.proc.stderr.read() if self.proc.stderr else b""  # type: ignore[union-attr]
        code = self.proc.wait(timeout)
        if rest.strip():
            raise AssertionError(f"unexpected output after the last reply: {rest[:200]!r}")
        return code, err


def chunks_of(seq: Sequence[Any], sizes: Sequence[int]) -> List[Sequence[Any]]:
    """Split seq into consecutive pieces with the given sizes, cycling them."""
    out = []
    i = k = 0
    while i < len(seq):
        n = max(1, sizes[k % len(sizes)])
        out.append(seq[i : i + n])
        i += n
        k += 1
    return out


def run_search(
    argv: List[str],
    args: Iterable[str],
    rows: Sequence[Dict[str, Any]],
    sizes: Sequence[int],
    dispatch_dir: str,
    bodies: Optional[List[bytes]] = None,
    buffered: bool = True,
    **info: Any,
) -> Tuple[Dict[str, Any], List[Dict[str, Any]], List[Dict[str, Any]], bytes]:
    """getinfo + execute chunks; returns (getinfo reply, [final reply meta], output rows, stderr).

    buffered: the command answers non-final chunks with empty bodies (cloudtraildetect, ctadbaseline); otherwise
    rows from every reply are collected (agenttriage).
    """
    s = Session(argv)
    first = s.send(getinfo(args, dispatch_dir, **info))
    if first is None:
        code, err = s.close()
        raise AssertionError(f"no getinfo reply (exit {code}): {err.decode('utf-8', 'replace')[-2000:]}")
    if first[0].get("finished"):
        s.close()
        return first[0], [{}], [], b""
    pieces = bodies if bodies is not None else [csv_body(list(c)) for c in chunks_of(rows, sizes)]
    pieces = pieces or [b""]
    final: Dict[str, Any] = {}
    out: List[Dict[str, Any]] = []
    for i, body in enumerate(pieces):
        last = i == len(pieces) - 1
        reply = s.send({"action": "execute", "finished": last}, body)
        assert reply is not None, "command ended early"
        meta, rbody = reply
        if not last:
            assert meta.get("finished") is False, meta
            if buffered:
                assert rbody == b"", rbody[:200]
            else:
                out += parse_reply_body(rbody)[1]
        else:
            final = meta
            out += parse_reply_body(rbody)[1]
    code, err = s.close()
    assert code == 0, err.decode("utf-8", "replace")[-3000:]
    return first[0], [final], out, err
