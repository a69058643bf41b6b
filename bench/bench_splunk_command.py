"""Benchmark `cloudtraildetect` against a do-nothing splunklib StreamingCommand on the same search.

Both commands run as child processes driven the way splunkd drives them (getinfo, then execute chunks, one reply
read per request) over the same 50,000 aws:cloudtrail rows from `ctad.simulate`, rendered as Splunk rows
(`_raw` + KV_MODE=json flattened fields + `__mv_` twins, CRLF, newest first) in chunks sized like the splunkd
8.0.3 recording (6638, 5861, 1, 6574, 5926 ... rows). Measured per run: wall time from spawn to exit (startup,
model load and the whole protocol exchange included), rows/s, child CPU seconds and peak RSS (psutil, polled
every 10 ms, summed over the process tree). Run from the repo root:

    .venv/bin/python bench/bench_splunk_command.py --rows 50000 --repeat 3
    .venv/bin/python bench/bench_splunk_command.py --rows 50000 --source ../shared/data/real/invictus_dev.jsonl.gz

`--source FILE` takes the rows from a CloudTrail file instead (JSON lines or an S3 `.json.gz`; label fields such as
`_label` dropped): real rows are wider than simulated ones (longer requestParameters and responseElements, more
flattened fields), and that width is what both commands pay to parse and write. A file shorter than --rows is
repeated, each pass moved later by the file's own span and given fresh eventIDs, so the detector sees one longer
history, not the same instants again. The rendered request streams are cached under --cache (default
/tmp/ctad-bench-splunk).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
SIZES = [6638, 5861, 1, 6574, 5926, 6120, 5400, 6320, 7160]

PASSTHROUGH = """
import sys
from splunklib.searchcommands import Configuration, StreamingCommand, dispatch


@Configuration(distributed=False)
class PassThrough(StreamingCommand):
    def stream(self, records):
        for record in records:
            yield record


dispatch(PassThrough, sys.argv, sys.stdin, sys.stdout, __name__)
"""


def simulated_records(rows: int) -> List[Dict[str, Any]]:
    from ctad.simulate import SimConfig, generate

    recs = list(itertools.islice(generate(SimConfig(seed=11, days=7, events=int(rows * 1.05))), rows))
    if len(recs) < rows:
        raise SystemExit(f"simulation gave {len(recs)} events < {rows}")
    return recs


def file_records(path: Path, rows: int) -> List[Dict[str, Any]]:
    """`rows` records from a CloudTrail file, oldest first; passes after the first are moved later by the file's
    span (plus a second) and get fresh eventIDs, so they continue the history instead of repeating its instants."""
    from ctad.core.bounded import describe_time
    from ctad.core.normalize import parse_time
    from ctad.engine.readers import iter_file

    timed = []
    for row in iter_file(path):
        if isinstance(row.obj, dict):
            t = parse_time(row.obj.get("eventTime"))
            if t == t:  # records without a readable time are left out of a speed benchmark
                timed.append((int(t), {k: v for k, v in row.obj.items() if not k.startswith("_")}))
    if not timed:
        raise SystemExit(f"{path}: no CloudTrail records with an eventTime")
    timed.sort(key=lambda pair: pair[0])
    span = timed[-1][0] - timed[0][0] + 1
    out: List[Dict[str, Any]] = []
    for n in itertools.count():
        for t, rec in timed:
            if len(out) == rows:
                return out
            if n:
                rec = dict(
                    rec, eventTime=describe_time(t + n * span), eventID=f"{rec.get('eventID', '')}-pass{n}"
                )
            out.append(rec)
    return out


def build_requests(rows: int, with_raw: bool, cache: Path, source: Optional[Path] = None) -> Path:
    tag = f"-{source.name.split('.')[0]}" if source else ""
    target = cache / f"requests-{rows}-{'raw' if with_raw else 'flat'}{tag}.bin"
    if target.exists():
        return target
    sys.path.insert(0, str(REPO / "app"))
    from ctad.splunk.splunkd_sim import chunks_of, csv_body, frame, getinfo, splunk_row

    recs = file_records(source, rows) if source else simulated_records(rows)
    recs.reverse()  # newest first, as splunkd sends them
    data = [splunk_row(r, with_raw=with_raw) for r in recs]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    pieces = chunks_of(data, SIZES)
    with open(tmp, "wb") as fh:
        fh.write(frame(getinfo([], str(cache / "dispatch"))))
        for i, piece in enumerate(pieces):
            fh.write(frame({"action": "execute", "finished": i == len(pieces) - 1}, csv_body(list(piece))))
    tmp.replace(target)
    return target


def _pss(proc) -> int:
    try:
        return proc.memory_full_info().pss
    except (AttributeError, OSError):
        return proc.memory_info().rss


def drive(argv, requests: Path, env) -> dict:
    """Run one search: send each request, read its reply; returns timings, peak RSS and output row count."""
    import psutil

    sys.path.insert(0, str(REPO / "app"))
    from ctad.splunk.protocol import Channel

    raw = requests.read_bytes()
    src = Channel(__import__("io").BytesIO(raw), None)  # type: ignore[arg-type]
    frames = []
    while True:
        r = src.read()
        if r is None:
            break
        m = json.dumps(r[0]).encode()
        frames.append(b"chunked 1.0,%d,%d\n" % (len(m), len(r[1])) + m + r[1])
    (Path(env["BENCH_DISPATCH"])).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    ps = psutil.Process(proc.pid)
    peak = [0]
    peak_pss = [0]
    cpu = [0.0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            try:
                # The whole process tree: cloudtraildetect's formatter worker counts too. RSS summed over a
                # forked tree counts shared copy-on-write pages twice (an upper bound); PSS shares them out.
                rss = ps.memory_info().rss
                pss = _pss(ps)
                for child in ps.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                        pss += _pss(child)
                peak[0] = max(peak[0], rss)
                peak_pss[0] = max(peak_pss[0], pss)
                t = ps.cpu_times()
                cpu[0] = t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
            time.sleep(0.01)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    chan = Channel(proc.stdout, proc.stdin)  # type: ignore[arg-type]
    out_rows = 0
    for f in frames:
        proc.stdin.write(f)  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        reply = chan.read()
        if reply is None:
            raise SystemExit(f"{argv[-1]} ended early")
        body = reply[1]
        if body:
            out_rows += body.count(b"\n")  # rough: records + header (+ quoted newlines)
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait()
    wall = time.perf_counter() - started
    done.set()
    th.join()
    return {
        "wall_s": wall,
        "cpu_s": cpu[0],
        "peak_rss_mb": peak[0] / 2**20,
        "peak_pss_mb": peak_pss[0] / 2**20,
        "out_lines": out_rows,
        "rc": proc.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/ctad-bench-splunk")
    ap.add_argument(
        "--source", type=Path, help="CloudTrail file to take the rows from (default: simulated rows)"
    )
    args = ap.parse_args()
    cache = Path(args.cache)
    passthrough = cache / "passthrough.py"
    cache.mkdir(parents=True, exist_ok=True)
    passthrough.write_text(PASSTHROUGH)
    env = dict(os.environ)
    env["SPLUNK_HOME"] = str(cache / "splunk")  # the model cache lives there, warm after the first search
    env["BENCH_DISPATCH"] = str(cache / "dispatch")
    env.pop("CTAD_HOME", None)
    commands = {
        "splunklib pass-through": [sys.executable, str(passthrough)],
        "cloudtraildetect": [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")],
        "cloudtraildetect, no worker": [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")],
    }
    results = []
    for with_raw in (True, False):
        req = build_requests(args.rows, with_raw, cache, args.source)
        for name, argv in commands.items():
            run_env = dict(env, CTAD_SPLUNK_WORKER="0" if name.endswith("no worker") else "1")
            drive(argv, req, run_env)  # warm-up: page cache, model cache
            runs = [drive(argv, req, run_env) for _ in range(args.repeat)]
            wall = statistics.median(r["wall_s"] for r in runs)
            r = {
                "command": name,
                "input": "_raw + fields" if with_raw else "fields only",
                "rows": args.rows,
                "rows_per_s": round(args.rows / wall),
                "wall_s": round(wall, 2),
                "cpu_s": round(statistics.median(x["cpu_s"] for x in runs), 2),
                "peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs)),
                "peak_pss_mb": round(max(x["peak_pss_mb"] for x in runs)),
                "request_mb": round(req.stat().st_size / 2**20, 1),
                "rc": runs[-1]["rc"],
            }
            results.append(r)
            print(json.dumps(r), flush=True)
    print("\n| input | command | rows/s | wall s | CPU s | peak RSS MB (tree sum) | peak PSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['input']} ({r['request_mb']} MB) | {r['command']} | {r['rows_per_s']:,} | {r['wall_s']} | "
              f"{r['cpu_s']} | {r['peak_rss_mb']} | {r['peak_pss_mb']} |")  # fmt: skip
    rows_from = args.source or "ctad.simulate (seed 11)"
    print(f"\nmachine: {os.cpu_count()} cores; python {sys.version.split()[0]}; median of {args.repeat} runs; "
          f"rows from {rows_from}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
