"""package.sh: the .tgz layout, permissions, no compiled files, self-contained search-time code, AppInspect."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest
import splunkapp_helpers as h

VERSION = h.conf("app")["id"]["version"]


def _env():
    env = dict(os.environ)
    env["PYTHON"] = sys.executable  # copy jinja2/... from the Python running the tests
    return env


@pytest.fixture(scope="module")
def tgz():
    out = subprocess.run(
        ["bash", str(h.REPO / "package.sh")],
        cwd=h.REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    path = h.REPO / "dist" / f"{h.APP}-{VERSION}.tgz"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def members(tgz):
    with tarfile.open(tgz) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_single_top_folder(members):
    assert {name.split("/")[0] for name in members} == {h.APP}


def test_layout(members):
    names = set(members)
    for required in (
        "app.manifest",
        "default/app.conf",
        "default/commands.conf",
        "default/searchbnf.conf",
        "default/macros.conf",
        "default/savedsearches.conf",
        "default/collections.conf",
        "default/transforms.conf",
        "default/props.conf",
        "default/data/ui/nav/default.xml",
        "default/data/ui/views/ctad_overview.xml",
        "default/data/ui/views/ctad_setup.xml",
        "metadata/default.meta",
        "static/appIcon.png",
        "static/appIcon_2x.png",
        "static/appIconAlt.png",
        "static/appIconAlt_2x.png",
        "appserver/static/ctad_setup.js",
        "README.md",
        "LICENSE",
        "bin/agenttriage.py",
        "bin/ctad/__init__.py",
        "bin/ctad/engine/detect.py",
        "bin/ctad/forest/runtime.py",
        "bin/ctad/core/features.py",
        "bin/ctad/triage/engine.py",
        "bin/jinja2/__init__.py",
        "bin/markupsafe/_native.py",
        "bin/fastjsonschema/__init__.py",
        "model/model.json",
        "model/feature_spec.json",
        "lookups/sensitive_apis.csv",
        "agents/analyst/role.json",
    ):
        assert f"{h.APP}/{required}" in names, required
    for name in h.defined_commands():
        if (h.REPO / "bin" / f"{name}.py").is_file():
            assert f"{h.APP}/bin/{name}.py" in names


def test_no_training_or_compiled_code(members):
    for name in members:
        rel = name.split("/", 1)[-1]
        assert "__pycache__" not in name and not name.endswith((".pyc", ".pyo", ".so", ".pyd", ".dll")), name
        assert not rel.startswith(
            ("bin/ctad/simulate", "bin/ctad/train", "bin/ctad/elastic", "bin/ctad/evaluation", "bin/numpy")
        ), name
        assert not rel.endswith("splunkd_sim.py"), "test-only simulator shipped"
        # nothing imports splunklib (ctad.knowledge.splunk_rest says why), so it and its deps are not shipped
        assert not rel.startswith(("bin/splunklib", "bin/deprecation", "bin/packaging")), name
        assert not rel.startswith(("local/", "default/local")), name
        assert "/.git" not in name and not rel.startswith(".")


def test_permissions(members):
    for name, m in members.items():
        mode = stat.S_IMODE(m.mode)
        rel = name.split("/", 1)[-1]
        if m.isdir() or rel.startswith("bin/") and rel.count("/") == 1 and rel.endswith(".py"):
            assert mode == 0o755, (name, oct(mode))
        else:
            assert m.isfile(), f"{name}: links and special files are not allowed"
            assert mode == 0o644, (name, oct(mode))
        assert m.uid == 0 and m.gid == 0


def test_icons_are_valid_pngs(tgz, tmp_path):
    with tarfile.open(tgz) as tar:
        for icon, size in (
            ("appIcon.png", 36),
            ("appIcon_2x.png", 72),
            ("appIconAlt.png", 36),
            ("appIconAlt_2x.png", 72),
        ):
            data = tar.extractfile(f"{h.APP}/static/{icon}").read()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert int.from_bytes(data[16:20], "big") == size and int.from_bytes(data[20:24], "big") == size


def test_search_time_code_is_self_contained(tgz, tmp_path):
    """The vendored engine and triage deps import with no site-packages at all (as in Splunk)."""
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp_path)
    bin_dir = tmp_path / h.APP / "bin"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import ctad, ctad.engine.detect, ctad.core.profile, ctad.core.catalog, ctad.triage.engine, ctad.knowledge.splunk_rest;"
        "import jinja2, fastjsonschema;"
        "from ctad.core.resources import find_dir;"
        "assert ctad.__file__.startswith(sys.argv[1]), ctad.__file__;"
        "print(find_dir('model'), find_dir('lookups'))"
    )
    python = shutil.which("python3") or sys.executable
    out = subprocess.run(
        [python, "-S", "-E", "-B", "-c", code, str(bin_dir)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    model_dir, lookups_dir = out.stdout.split()
    assert model_dir == str(tmp_path / h.APP / "model")
    assert lookups_dir == str(tmp_path / h.APP / "lookups")


def test_packaged_engine_scores_an_event(tgz, tmp_path):
    """The packaged model + engine run end to end from the app folder, without site-packages."""
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp_path)
    bin_dir = tmp_path / h.APP / "bin"
    code = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ctad.engine.detect import Detector
run = Detector().start()
run.add({"eventVersion": "1.08", "eventTime": "2026-01-05T10:00:00Z", "eventSource": "iam.amazonaws.com",
         "eventName": "CreateAccessKey", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
         "userAgent": "aws-cli/2.15.0", "eventID": "e1", "recipientAccountId": "123456789012",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                          "accountId": "123456789012", "userName": "alice"}})
(res,) = list(run.results())
assert res["ct_error"] == "", res
assert 0.0 <= float(res["ct_score"]) <= 1.0
print(res["ct_identity"], res["ct_model"])
"""
    python = shutil.which("python3") or sys.executable
    out = subprocess.run(
        [python, "-S", "-E", "-B", "-c", code, str(bin_dir)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "arn:aws:iam::123456789012:user/alice" in out.stdout


def test_packaged_triage_runs_offline(tgz, tmp_path):
    """Triage from the app folder alone: agents/ found, vendored jinja2/fastjsonschema work, no anthropic SDK."""
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp_path)
    bin_dir = tmp_path / h.APP / "bin"
    code = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ctad.triage.engine import Triage, TriageConfig
row = {"eventID": "e1", "eventTime": "2026-01-05T10:00:00Z", "_time": "1767607200", "eventSource": "iam.amazonaws.com",
       "eventName": "CreateAccessKey", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
       "userAgent": "aws-cli/2.15.0", "recipientAccountId": "123456789012",
       "userIdentity.type": "IAMUser", "userIdentity.arn": "arn:aws:iam::123456789012:user/alice",
       "ct_score": "0.93", "ct_anomaly": "1", "ct_severity": "high", "ct_reasons": ["first CreateAccessKey"],
       "ct_tactic": "TA0003", "ct_technique": "T1098.001", "ct_identity": "arn:aws:iam::123456789012:user/alice",
       "ct_model": "m", "ct_error": ""}
(out,) = Triage(TriageConfig(backend="offline")).run([row])
assert "anthropic" not in sys.modules
assert out["triage_verdict"] in ("true_positive", "false_positive", "needs_review"), out
assert out["triage_backend"] == "offline", out
print(out["triage_verdict"])
"""
    python = shutil.which("python3") or sys.executable
    out = subprocess.run(
        [python, "-S", "-E", "-B", "-c", code, str(bin_dir)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]


def test_readme_and_license(tgz):
    with tarfile.open(tgz) as tar:
        readme = tar.extractfile(f"{h.APP}/README.md").read().decode()
        lic = tar.extractfile(f"{h.APP}/LICENSE").read().decode()
    assert "Apache License" in lic and "Version 2.0" in lic
    assert "splunk-appinspect" in readme and "ctad_cloudtrail" in readme


@pytest.mark.slow
def test_appinspect_cloud_and_future_zero_failures(tgz):
    """package.sh --inspect: splunk-appinspect --mode precert, --included-tags cloud and future (about 30 s)."""
    appinspect = shutil.which("splunk-appinspect") or os.path.join(
        os.path.dirname(sys.executable), "splunk-appinspect"
    )
    if not os.path.exists(appinspect):
        pytest.skip("splunk-appinspect is not installed (pip install -e '.[dev]')")
    env = _env()
    env["APPINSPECT"] = appinspect
    out = subprocess.run(
        ["bash", str(h.REPO / "package.sh"), "--inspect"],
        cwd=h.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("appinspect --included-tags")]
    assert len(lines) == 2, out.stdout
    for line in lines:
        counts = dict(kv.split("=") for kv in line.split(": ", 1)[1].split(", "))
        assert counts["failure"] == "0" and counts["error"] == "0", line
        assert int(counts["success"]) > (50 if "cloud" in line else 5), f"too few checks ran: {line}"
