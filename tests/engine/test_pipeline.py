"""The parallel `ctad detect` must write exactly what the single-process run writes, byte for byte."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from cloudtrail_event import CloudTrailEvent, timeline
from ctad.cli import main
from ctad.core.profile import Profile
from ctad.engine import pipeline


@pytest.fixture()
def small_tasks(monkeypatch):
    """Many read tasks and scoring batches, so ordering across tasks and batches is exercised."""
    monkeypatch.setattr(pipeline, "TASK_BYTES", 3000)
    monkeypatch.setattr(pipeline, "UNIT_ROWS", 30)  # tasks of several files are written in several units
    monkeypatch.setattr(pipeline, "SCORE_BATCH", 64)
    monkeypatch.setattr(pipeline, "MAX_PENDING", 2)
    monkeypatch.setattr(pipeline, "FAN_IN", 3)  # runs are merged in groups first, twice over
    monkeypatch.setattr(pipeline, "RUN_BLOCK", 7)


def _corpus(root):
    """S3 files whose time ranges interleave, duplicate deliveries across files, and bad input of every kind."""
    rows = timeline(900, identities=7)
    for i, row in enumerate(rows):
        if i % 5 == 0:
            row["eventName"] = "StopLogging"
            row["eventSource"] = "cloudtrail.amazonaws.com"
        if i % 11 == 0:
            row["sourceIPAddress"] = f"203.0.113.{i % 250}"
    random.Random(5).shuffle(rows)
    rows += [dict(rows[i]) for i in range(0, 60, 3)]  # CloudTrail delivers some events twice
    for n, start in enumerate(range(0, len(rows), 37)):
        path = root / "AWSLogs" / "111122223333" / "CloudTrail" / f"r{n % 3}" / f"f{start:05d}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as fh:
            json.dump({"Records": rows[start : start + 37]}, fh)
    (root / "lines.jsonl").write_bytes(
        json.dumps(CloudTrailEvent(event_id="line-1").as_record()).encode()
        + b"\n{not json\n"
        + b'{"eventName": 5, "eventTime": [], "userIdentity": "x", "eventSource": null}\n'
        + b'"just a string"\n'
        + b"{ "
        + json.dumps(CloudTrailEvent(event_id="spaced").as_record())[1:-1].encode()
        + b" }\n"  # whitespace inside the braces
        + b'{"already": 1, "ct_score": 0.5, '
        + json.dumps(CloudTrailEvent(event_id="has-ct").as_record())[1:].encode()
        + b"\n"
        + json.dumps(
            {
                "detail-type": "AWS API Call via CloudTrail",
                "detail": CloudTrailEvent(event_id="eb-1").as_record(),
            }
        ).encode()
        + b"\n"
    )
    (root / "empty.json").write_bytes(b"")
    (root / "cut.json.gz").write_bytes(gzip.compress(b'{"Records": [')[:-6])
    (root / "mixed.json").write_text(
        json.dumps({"Records": [CloudTrailEvent(event_id="m-1").as_record(), 7, None]})
    )


def _detect(src, out, model, workers, *extra):
    summary = out.parent / (out.name + ".summary.json")
    args = ["detect", str(src), "-o", str(out), "--model", str(model), "-q", "--workers", str(workers),
            "--summary-json", str(summary), "--threshold", "0.3", *extra]  # fmt: skip
    assert main(args) == 0
    data = json.loads(summary.read_text())
    for key in ("seconds", "events_per_second", "phases"):
        data.pop(key, None)
    return data


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_parallel_output_equals_single_process(tiny_model_dir, tmp_path, small_tasks, suffix):
    _corpus(tmp_path / "in")
    one = _detect(tmp_path / "in", tmp_path / f"one{suffix}", tiny_model_dir, 1)
    two = _detect(tmp_path / "in", tmp_path / f"two{suffix}", tiny_model_dir, 2)
    assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()
    assert one == two
    assert one["rows"] == 900 + 20 + 7 + 1 + 1 + 3 and one["duplicates"] == 20 and one["errors"] == 7
    assert one["anomalies"] > 0 and one["top_reasons"], "the test must cover anomalies and their reasons"


def test_tasks_are_written_during_the_ordered_pass(tiny_model_dir, tmp_path, small_tasks, monkeypatch):
    """S3's layout: each region's files in time order, one region after the other. Tasks are rendered while the
    ordered pass is still going, though they become final in time order rather than input order; duplicates
    crossing files and batches still answer alike, and the bytes equal the single-process run."""
    rows = timeline(1500, identities=5)
    for i, row in enumerate(rows):
        if i % 9 == 0:
            row["eventName"], row["eventSource"] = "StopLogging", "cloudtrail.amazonaws.com"
    for n, start in enumerate(range(0, len(rows), 40)):
        part = rows[start : start + 40] + [
            dict(r) for r in rows[start + 40 : start + 43]
        ]  # next file's first 3
        path = tmp_path / "in" / f"region-{n % 2}" / f"f{n:04d}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as fh:
            json.dump({"Records": part}, fh)
    handed = []
    submit = pipeline._Writes.submit

    def spy(self, upto, limit):
        before = len(self.waiting)
        submit(self, upto, limit)
        handed.append((upto is not None, before - len(self.waiting)))
        tasks = {name.split("-")[0] for name, *_ in self.units}
        assert len(self.units) > len(tasks), "some tasks are written in several units"

    monkeypatch.setattr(pipeline._Writes, "submit", spy)
    for suffix in (".jsonl", ".csv"):
        one = _detect(tmp_path / "in", tmp_path / f"one{suffix}", tiny_model_dir, 1)
        two = _detect(tmp_path / "in", tmp_path / f"two{suffix}", tiny_model_dir, 2)
        assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()
        assert one == two and one["duplicates"] == 3 * (len(rows) // 40) and one["anomalies"] > 0
    during = sum(n for ordered, n in handed if ordered)
    assert during >= 2, (
        "tasks were not written during the ordered pass"
    )  # how many depends on the writers' pace


def test_parallel_gzip_output_and_baseline(tiny_model_dir, tmp_path, small_tasks):
    _corpus(tmp_path / "in")
    _detect(
        tmp_path / "in", tmp_path / "one.jsonl", tiny_model_dir, 1, "--baseline", str(tmp_path / "b1.json")
    )
    _detect(
        tmp_path / "in", tmp_path / "two.jsonl.gz", tiny_model_dir, 2, "--baseline", str(tmp_path / "b2.json")
    )
    assert gzip.decompress((tmp_path / "two.jsonl.gz").read_bytes()) == (tmp_path / "one.jsonl").read_bytes()
    assert Profile.load(tmp_path / "b1.json").data == Profile.load(tmp_path / "b2.json").data


def test_parallel_run_from_a_baseline(tiny_model_dir, tmp_path, small_tasks):
    """A scheduled run: history first, then the next window scored against the saved profile."""
    rows = timeline(600, identities=4)
    history, window = rows[:450], rows[450:]
    for name, part in (("hist", history), ("win", window)):
        path = tmp_path / name / "f.json.gz"
        path.parent.mkdir()
        with gzip.open(path, "wt") as fh:
            json.dump({"Records": part}, fh)
    base = tmp_path / "base.json"
    _detect(tmp_path / "hist", tmp_path / "h.jsonl", tiny_model_dir, 1, "--baseline", str(base))
    _detect(tmp_path / "win", tmp_path / "one.jsonl", tiny_model_dir, 1, "--baseline", str(base))
    _detect(tmp_path / "win", tmp_path / "two.jsonl", tiny_model_dir, 2, "--baseline", str(base))
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_plan_tasks_keeps_input_order(tmp_path):
    for i in range(7):
        (tmp_path / f"f{i}.json").write_bytes(b"x" * 1000)
    tasks = pipeline.plan_tasks([str(tmp_path)], task_bytes=2500)
    assert [len(files) for _, files in tasks] == [3, 3, 1]
    assert [f for _, files in tasks for f in files] == [str(tmp_path / f"f{i}.json") for i in range(7)]


def test_parallel_to_standard_output(tiny_model_dir, tmp_path, small_tasks, capsysbinary):
    _corpus(tmp_path / "in")
    _detect(tmp_path / "in", tmp_path / "one.jsonl", tiny_model_dir, 1)
    capsysbinary.readouterr()
    assert main(["detect", str(tmp_path / "in"), "-o", "-", "--model", str(tiny_model_dir), "-q", "--workers", "2",
                 "--threshold", "0.3"]) == 0  # fmt: skip
    assert capsysbinary.readouterr().out == (tmp_path / "one.jsonl").read_bytes()


def test_parallel_output_to_a_pipe(tiny_model_dir, tmp_path, small_tasks):
    """`-o /dev/stdout` or a named pipe: no offsets to write at, so the parts are streamed in order."""
    import os
    import threading

    _corpus(tmp_path / "in")
    _detect(tmp_path / "in", tmp_path / "one.jsonl", tiny_model_dir, 1)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    got, codes = [], []
    args = ["detect", str(tmp_path / "in"), "-o", str(fifo), "--model", str(tiny_model_dir), "-q", "--workers", "2",
            "--threshold", "0.3"]  # fmt: skip
    # Daemon threads with time limits: a pipe opened at the wrong moment blocks, and must fail the test, not hang it.
    writer = threading.Thread(target=lambda: codes.append(main(args)), daemon=True)
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    writer.start()
    writer.join(60)
    reader.join(10)
    assert codes == [0] and got == [(tmp_path / "one.jsonl").read_bytes()]


def test_parallel_run_without_numpy(tiny_model_dir, tmp_path):
    """Where numpy cannot be imported (Splunk's own Python, a bare install), the run still uses every core and
    writes the same bytes: the per-row results live in mmap'd files, not numpy arrays."""
    import subprocess
    import sys

    _corpus(tmp_path / "in")
    _detect(tmp_path / "in", tmp_path / "one.jsonl", tiny_model_dir, 1)
    script = (
        "import sys; sys.modules['numpy'] = None\n"  # `import numpy` now raises ImportError
        "from ctad.engine import pipeline\n"
        "pipeline.TASK_BYTES, pipeline.UNIT_ROWS, pipeline.SCORE_BATCH = 3000, 30, 64\n"
        "from ctad.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "assert 'numpy' not in {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n"
        "sys.exit(code)\n"
    )
    args = ["detect", str(tmp_path / "in"), "-o", str(tmp_path / "two.jsonl"), "--model", str(tiny_model_dir),
            "-q", "--workers", "2", "--threshold", "0.3", "--summary-json", str(tmp_path / "s.json")]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "s.json").read_text())["phases"], "the parallel pipeline ran"
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_parallel_missing_and_empty_inputs(tiny_model_dir, tmp_path, small_tasks):
    _corpus(tmp_path / "in")
    (tmp_path / "void").mkdir()
    paths = [tmp_path / "in", tmp_path / "nope.json.gz", tmp_path / "void"]
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"o{workers}.jsonl"
        assert main(["detect", *map(str, paths), "-o", str(out), "--model", str(tiny_model_dir), "-q",
                     "--workers", str(workers)]) == 0  # fmt: skip
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and b"no such file or directory" in outs[0]
    empty = tmp_path / "empty.jsonl"
    assert (
        main(["detect", str(tmp_path / "void"), "-o", str(empty), "--model", str(tiny_model_dir), "-q"]) == 0
    )
    assert empty.read_bytes() == b""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unwritable_output_is_a_message_not_a_traceback(tiny_model_dir, tmp_path, capsys, workers):
    _corpus(tmp_path / "in")
    out = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    assert main(["detect", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_model_dir), "-q",
                 "--workers", workers]) == 2  # fmt: skip
    assert "ctad detect:" in capsys.readouterr().err
