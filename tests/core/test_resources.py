"""One resolver for the data folders: every module that looks for lookups, agents, the model or the CTI CSV
agrees with `ctad.core.resources.find_dir`, in a checkout, in the packaged Splunk layout and under CTAD_HOME."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ctad.core import resources
from ctad.core.catalog import CatalogError, find_lookups_dir

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app" / "ctad"
FOLDERS = ("lookups", "model", "agents", "samples")
VARS = ("CTAD_HOME", "CTAD_LOOKUPS", "CTAD_AGENTS_DIR")


def _every_resolver() -> dict:
    """What each module that needs a data folder resolves today, as paths."""
    from ctad.cti.feeds import default_lookup_csv
    from ctad.splunk.lookups import lookups_dir
    from ctad.triage.agents import default_agents_dir

    cti = default_lookup_csv()
    return {
        "find_dir(lookups)": resources.find_dir("lookups"),
        "catalog.find_lookups_dir": find_lookups_dir(),
        "cti.default_lookup_csv": cti.parent if cti else None,
        "splunk.lookups_dir": lookups_dir(),
        "triage.default_agents_dir": default_agents_dir(),
        "find_dir(model)": resources.find_dir("model"),
    }


@pytest.fixture
def clean_env(monkeypatch):
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _home(tmp_path: Path, *folders: str) -> Path:
    home = tmp_path / "home"
    for name in folders:
        shutil.copytree(REPO / name, home / name)
    return home


def test_repo_checkout_finds_the_repo_folders(clean_env):
    assert resources.ROOT == REPO
    for name in FOLDERS:
        assert resources.find_dir(name) == REPO / name
    found = _every_resolver()
    assert found["catalog.find_lookups_dir"] == found["cti.default_lookup_csv"] == REPO / "lookups"
    assert found["splunk.lookups_dir"] == REPO / "lookups"
    assert found["triage.default_agents_dir"] == REPO / "agents"


def test_ctad_home_is_used_by_every_resolver(tmp_path: Path, clean_env):
    home = _home(tmp_path, "lookups", "agents")
    clean_env.setenv("CTAD_HOME", str(home))
    found = _every_resolver()
    lookups = {k: v for k, v in found.items() if k not in ("triage.default_agents_dir", "find_dir(model)")}
    assert set(lookups.values()) == {home / "lookups"}, found
    assert found["triage.default_agents_dir"] == home / "agents"
    # a home without a model folder: the bundled one
    assert found["find_dir(model)"] == REPO / "model"


def test_a_folders_own_variable_wins_over_ctad_home(tmp_path: Path, clean_env):
    home = _home(tmp_path, "lookups", "agents")
    own = tmp_path / "mine"
    shutil.copytree(REPO / "lookups", own / "lookups")
    shutil.copytree(REPO / "agents", own / "agents")
    clean_env.setenv("CTAD_HOME", str(home))
    clean_env.setenv("CTAD_LOOKUPS", str(own / "lookups"))
    clean_env.setenv("CTAD_AGENTS_DIR", str(own / "agents"))
    found = _every_resolver()
    assert found["catalog.find_lookups_dir"] == found["cti.default_lookup_csv"] == own / "lookups"
    assert found["find_dir(lookups)"] == found["splunk.lookups_dir"] == own / "lookups"
    assert found["triage.default_agents_dir"] == own / "agents"


def test_a_mistyped_folder_variable_fails_with_its_name_instead_of_falling_back(tmp_path: Path, clean_env):
    wrong = tmp_path / "no-such-lookups"
    clean_env.setenv("CTAD_LOOKUPS", str(wrong))
    assert resources.find_dir("lookups") == wrong
    with pytest.raises(CatalogError, match=re.escape(str(wrong))):
        find_lookups_dir()


def test_precedence_without_touching_the_process_environment(tmp_path: Path):
    root = tmp_path / "app"
    for name in ("lookups", "model"):
        (root / name).mkdir(parents=True)
    (root / "bin" / "agents").mkdir(parents=True)
    home = tmp_path / "home"
    (home / "model").mkdir(parents=True)
    env = {"CTAD_HOME": str(home)}
    assert resources.find_dir("model", root, env) == home / "model"
    assert resources.find_dir("lookups", root, env) == root / "lookups"
    assert resources.find_dir("agents", root, env) == root / "bin" / "agents"
    assert resources.find_dir("samples", root, env) == home / "samples"  # none exists: the first candidate
    assert resources.find_dir("samples", root, {}) == root / "samples"
    assert resources.find_dir("lookups", root, {"CTAD_LOOKUPS": "/x", "CTAD_HOME": str(home)}) == Path("/x")


def test_packaged_layout_resolves_from_the_app_root(tmp_path: Path):
    """The Splunk app: `<app>/bin/ctad/...` with `<app>/lookups`, `<app>/model`, `<app>/agents`. Run from a copy
    so `__file__` is really inside the app, with no variable set."""
    app = tmp_path / "TA-ctad"
    shutil.copytree(APP, app / "bin" / "ctad", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("lookups", "agents", "model"):
        shutil.copytree(REPO / name, app / name)
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from ctad.core import resources;"
        "from ctad.core.catalog import find_lookups_dir;"
        "from ctad.cti.feeds import default_lookup_csv;"
        "from ctad.triage.agents import default_agents_dir;"
        "print(json.dumps([str(resources.ROOT), str(find_lookups_dir()), str(default_lookup_csv()),"
        " str(default_agents_dir()), str(resources.find_dir('model'))]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in VARS and k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", "-c", code, str(app / "bin")], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    root, lookups, cti, agents, model = json.loads(out.stdout)
    assert Path(root) == app
    assert Path(lookups) == app / "lookups" and Path(cti) == app / "lookups" / "cti_indicators.csv"
    assert Path(agents) == app / "agents" and Path(model) == app / "model"


def test_no_module_but_resources_reads_the_folder_variables():
    read = re.compile(r"""(?:environ(?:\.get\(|\[)|getenv\()\s*["'](?:%s)["']""" % "|".join(VARS))
    readers = sorted(
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if path.name != "resources.py" and read.search(path.read_text(encoding="utf-8"))
    )
    assert readers == [], (
        f"{readers} read a data-folder variable themselves; use ctad.core.resources.find_dir"
    )
