"""Fingerprint every output a user sees, so a restructuring commit can show it changed none of them.

A refactor (moving modules, one detection driver, one option table) must leave results byte-identical. This script
runs the front doors the way a user does and prints one SHA-256 per artefact:

- `ctad detect` on the bundled sample: JSON lines with 1 and 2 workers, CSV, the updated baseline and the run
  summary (timings removed);
- `ctad detect` on a simulated 50,000-event S3 tree (`ctad simulate --events 50000 --days 7 --seed 11`), 2 workers;
- `ctad eval --json` on the sample and on the real labelled account (when ../shared is beside the checkout);
- `bin/cloudtraildetect.py` driven over the chunked protocol with 20,000 simulated rows (newest first, chunk
  sizes of the splunkd recording): every reply body and reply metadata.

Run it before and after a change and diff the two outputs:

    .venv/bin/python bench/output_fingerprint.py > /tmp/before.txt
    ... change ...
    .venv/bin/python bench/output_fingerprint.py > /tmp/after.txt && diff /tmp/before.txt /tmp/after.txt

Inputs (the simulated tree and the protocol request stream) are cached under --cache and reused, so a later run
feeds the very same bytes even if the simulator itself changed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real" / "invictus_dev.jsonl.gz"
SAMPLE = REPO / "samples" / "sample_account.jsonl.gz"
TIMING_KEYS = {"phases", "seconds", "events_per_second", "elapsed_s", "wall_s"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ctad(*args: str) -> None:
    cmd = [sys.executable, "-m", "ctad", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def file_sha(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return sha(data)


def detect_outputs(tmp: Path, cache: Path) -> dict:
    out = {}
    for workers in ("1", "2"):
        target = tmp / f"sample-w{workers}.jsonl"
        base = tmp / f"baseline-w{workers}.json"
        summary = tmp / f"summary-w{workers}.json"
        ctad("detect", str(SAMPLE), "-o", str(target), "--workers", workers, "--baseline", str(base),
             "--update-baseline", "--summary-json", str(summary), "-q")  # fmt: skip
        out[f"detect sample jsonl, {workers} worker(s)"] = file_sha(target)
        out[f"detect sample baseline, {workers} worker(s)"] = file_sha(base)
        stripped = without_timings(json.loads(summary.read_text()))
        out[f"detect sample summary, {workers} worker(s)"] = sha(
            json.dumps(stripped, sort_keys=True).encode()
        )
    csv = tmp / "sample.csv"
    ctad("detect", str(SAMPLE), "-o", str(csv), "--workers", "1", "-q")
    out["detect sample csv"] = file_sha(csv)
    sim = cache / "sim50k"
    if not sim.exists():
        ctad("simulate", "--out", str(sim), "--events", "50000", "--days", "7", "--seed", "11", "--quiet")
    target = tmp / "sim.jsonl"
    ctad("detect", str(sim), "-o", str(target), "--workers", "2", "-q")
    out["detect sim50k jsonl, 2 workers"] = file_sha(target)
    return out


def eval_outputs(tmp: Path) -> dict:
    out = {}
    for name, path in (("sample", SAMPLE), ("real", REAL)):
        if not path.exists():
            out[f"eval {name}"] = "absent"
            continue
        target = tmp / f"eval-{name}.json"
        ctad("eval", str(path), "--json", str(target), "--quiet")
        # The report names its input by path: only the file name, so checkouts in other folders compare equal.
        text = target.read_text().replace(json.dumps(str(path))[1:-1], path.name)
        out[f"eval {name}"] = sha(json.dumps(without_timings(json.loads(text)), sort_keys=True).encode())
    return out


def read_frame(stream) -> tuple:
    header = stream.readline()
    if not header:
        return None, None
    _, meta_len, body_len = header.decode().strip().split(",")
    meta = stream.read(int(meta_len))
    body = stream.read(int(body_len))
    return meta, body


def splunk_outputs(cache: Path) -> dict:
    sys.path.insert(0, str(REPO / "bench"))
    from bench_splunk_command import build_requests

    req = build_requests(20_000, True, cache)
    frames = []
    with open(req, "rb") as fh:
        while True:
            header = fh.readline()
            if not header:
                break
            _, meta_len, body_len = header.decode().strip().split(",")
            frames.append(header + fh.read(int(meta_len) + int(body_len)))
    env = dict(os.environ, SPLUNK_HOME=str(cache / "splunk"), BENCH_DISPATCH=str(cache / "dispatch"))
    env.pop("CTAD_HOME", None)
    (cache / "dispatch").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bin" / "cloudtraildetect.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    metas, bodies = hashlib.sha256(), hashlib.sha256()
    for f in frames:
        proc.stdin.write(f)
        proc.stdin.flush()
        meta, body = read_frame(proc.stdout)
        if meta is None:
            raise SystemExit("cloudtraildetect ended early")
        metas.update(meta)
        bodies.update(body)
    proc.stdin.close()
    proc.wait()
    return {"splunk cloudtraildetect 20k reply bodies": bodies.hexdigest(),
            "splunk cloudtraildetect 20k reply metadata": metas.hexdigest()}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="/tmp/ctad-fingerprint", help="where the cached inputs live")
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        results.update(detect_outputs(Path(tmp), cache))
        results.update(eval_outputs(Path(tmp)))
        results.update(splunk_outputs(cache))
    for name, digest in results.items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
