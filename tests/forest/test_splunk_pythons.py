"""The runtime on Splunk's interpreters (Python 3.9 and 3.13) without numpy gives the venv's exact numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ctad.forest import runtime as mr

APP = Path(__file__).resolve().parents[2] / "app" / "ctad"
PYTHONS = {
    "3.9": Path("/root/.pyenv/versions/3.9.18/bin/python"),
    "3.13": Path("/root/.pyenv/versions/3.13.0/bin/python"),
}

SCRIPT = r"""
import json, math, sys
try:
    import numpy  # noqa: F401
except ImportError:
    pass
else:
    print(json.dumps({"error": "numpy is importable here"}))
    sys.exit(0)
from ctad.forest import runtime as mr
job = json.load(open(sys.argv[1]))
out = {"have_numpy": mr.HAVE_NUMPY, "version": list(sys.version_info[:2]), "models": {}}
for name, path in job["models"].items():
    model = mr.load_model(path)
    rows = job["rows"]
    auto = model.predict(rows)  # must fall back to the generated code
    try:
        model.predict(rows, engine="numpy")
        numpy_error = ""
    except RuntimeError as exc:
        numpy_error = str(exc)
    out["models"][name] = {
        "margin": model.predict_margin(rows, engine="python"),
        "prob": auto,
        "contrib": [model.contributions(r) for r in rows[:25]],
        "contrib_many": model.contributions_many(rows[:25]),
        "numpy_error": numpy_error,
    }
print(json.dumps(out))
"""


@pytest.mark.parametrize("version", sorted(PYTHONS))
def test_no_numpy_interpreter_matches(models, tmp_path, version):
    python = PYTHONS[version]
    if not python.exists():
        pytest.skip(f"{python} is not installed")
    pkg = tmp_path / "pkg" / "ctad"
    (pkg / "forest").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for src in (APP / "forest").glob("*.py"):
        shutil.copy(src, pkg / "forest" / src.name)
    # the runtime's one import from below it: its error classes derive from ctad.core.errors.CtadError
    (pkg / "core").mkdir()
    for name in ("__init__.py", "errors.py"):
        shutil.copy(APP / "core" / name, pkg / "core" / name)
    trained, rows = models
    sample = rows[::10].tolist()  # 1,000 rows, including the split-edge and special-value rows
    sample += [[None if v != v else v for v in r] for r in rows[:50].tolist()]
    job = {"models": {name: str(t.path) for name, t in trained.items()}, "rows": sample}
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    proc = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(pkg.parent)!r}); exec({SCRIPT!r})",
            str(job_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert "error" not in result, result.get("error")
    assert result["have_numpy"] is False and result["version"][:2] == [int(x) for x in version.split(".")]
    for name, t in trained.items():
        model = mr.load_model(t.path)
        theirs = result["models"][name]
        assert theirs["margin"] == model.predict_margin(sample, engine="numpy"), name
        assert theirs["prob"] == model.predict(sample, engine="python"), name
        assert theirs["contrib"] == [model.contributions(r) for r in sample[:25]], name
        assert theirs["contrib_many"] == theirs["contrib"] == model.contributions_many(sample[:25]), name
        assert "numpy is not importable" in theirs["numpy_error"]
    print(sys.version, "vs", result["version"])
