"""The built app's three commands, run through the protocol on Splunk's Pythons (3.9, 3.13) with nothing else.

package.sh's own import check once ran on the build machine's Python only, so a vendored library using 3.10-only
syntax (fastjsonschema 2.22: `str | None`) shipped and `| agenttriage` could not start on Splunk's 3.9. Here the
.tgz is unpacked and every command is driven by the splunkd simulator with `-E -s -S -B` (no site-packages, no
user site, no PYTHON* variables: no numpy/orjson can leak in; `-I` would also drop the script's folder from
sys.path, which Splunk keeps).
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
import splunkapp_helpers as h
from ctad.splunk.splunkd_sim import run_search, splunk_row

VERSION = h.conf("app")["id"]["version"]
ISOLATED = ["-E", "-s", "-S", "-B"]


@pytest.fixture(scope="module")
def app_dir(built_app) -> Path:
    assert built_app.name == h.APP
    return built_app


@pytest.fixture(scope="module")
def records():
    with gzip.open(h.REPO / "samples" / "sample_account.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(300), fh)]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The packaged app must find its own model/lookups: no CTAD_HOME; a model cache under a fake SPLUNK_HOME."""
    monkeypatch.delenv("CTAD_HOME", raising=False)
    monkeypatch.setenv("SPLUNK_HOME", str(tmp_path / "splunk"))


def command(py: str, app: Path, name: str):
    return [py, *ISOLATED, str(app / "bin" / f"{name}.py")]


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_every_command_runs_on_splunk_python(version, app_dir, records, tmp_path, env, pyenv_python):
    py = pyenv_python(version)
    if py is None:
        pytest.skip(f"no python{version} under ~/.pyenv on this machine")
    probe = subprocess.run(
        command(py, app_dir, "cloudtraildetect")[:-1]
        + ["-c", "import sys; print(any('site-packages' in p for p in sys.path))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.stdout.strip() == "False", probe

    rows = [splunk_row(r) for r in reversed(records)]
    _, (final,), out, err = run_search(command(py, app_dir, "cloudtraildetect"), [], rows, [7, 120],
                                       str(tmp_path), command="cloudtraildetect")  # fmt: skip
    assert "error" not in final, final
    assert len(out) == len(rows)
    assert [r["eventID"] for r in out] == [r["eventID"] for r in rows]
    scored = [r for r in out if r["ct_score"]]
    assert len(scored) == len(rows), [r["ct_error"] for r in out if r["ct_error"]][:3]
    assert b"Traceback" not in err

    stats = [{"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "userIdentity.type": "IAMUser",
              "userIdentity.arn": "arn:aws:iam::1:user/a", "count": "3", "first": "1714557600",
              "last": "1714561200", "ctad_hour": "10", "weekend_count": "0"}]  # fmt: skip
    _, (final,), prof, err = run_search(command(py, app_dir, "ctadbaseline"), [], stats, [1], str(tmp_path),
                                        command="ctadbaseline")  # fmt: skip
    assert "error" not in final, final
    assert any(r["kind"] == "api" and r["value"] == "s3.amazonaws.com:ListBuckets" for r in prof)

    triage_in = sorted(out, key=lambda r: -float(r["ct_score"]))[:20]  # the anomalies first
    assert any(r["ct_anomaly"] == "1" for r in triage_in)
    _, (final,), tri, err = run_search(command(py, app_dir, "agenttriage"), ["backend=offline"], triage_in,
                                       [8], str(tmp_path), buffered=False, command="agenttriage")  # fmt: skip
    assert "error" not in final, final
    assert len(tri) == len(triage_in)
    assert all("triage_verdict" in r for r in tri)
    assert [r["eventID"] for r in tri] == [r["eventID"] for r in triage_in]
    triaged = [r for r in tri if r["triage_verdict"]]
    assert len(triaged) == sum(1 for r in triage_in if r["ct_anomaly"] == "1")


def _splunk_helpers():
    """tests/splunk/splunk_helpers.py (the transcript and its reader), loaded by file: another test folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "splunk_helpers", h.REPO / "tests" / "splunk" / "splunk_helpers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_real_splunkd_recording_through_the_built_app(version, app_dir, tmp_path, env, pyenv_python):
    """What a real splunkd (8.0.3) sent (the committed, redacted transcript), replayed into the packaged
    cloudtraildetect on Splunk's Pythons."""
    import csv
    import io

    from ctad.splunk.splunkd_sim import frame, parse_reply_body

    sh = _splunk_helpers()
    py = pyenv_python(version)
    if py is None:
        pytest.skip(f"no python{version} under ~/.pyenv on this machine")
    requests = sh.transcript_requests()
    info = requests[0][0]
    info["searchinfo"].update(dispatch_dir=str(tmp_path), splunkd_uri="https://127.0.0.1:1")
    data = frame(info) + b"".join(frame(m, b) for m, b in requests[1:])
    proc = subprocess.run(
        command(py, app_dir, "cloudtraildetect"), input=data, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    replies = sh.read_replies(proc.stdout)
    assert len(replies) == len(requests)
    _, out = parse_reply_body(replies[-1][1])
    expected = [r for _, b in requests[1:] for r in csv.DictReader(io.StringIO(b.decode(), newline=""))]
    assert [r["_time"] for r in out] == [r["_time"] for r in expected]
    assert all(r["ct_error"] for r in out)  # makeresults rows: not CloudTrail, each one says so
    assert [p for p in tmp_path.rglob("*") if p.is_file() and "model-cache" not in str(p)] == []
