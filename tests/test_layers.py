"""The package keeps its layers: no import cycle, no import up a layer, stdlib only on the search-time path.

The rules and the checker are in scripts/check_layers.py (package.sh runs the same checker on the staged app);
the tests below hold app/ctad to them and show, on small made-up packages, that each rule does fail when broken.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", REPO / "scripts" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


check = _checker()


def test_ctad_keeps_its_layers():
    assert check.problems(REPO / "app" / "ctad") == []


def test_every_folder_has_a_layer():
    """A new folder under app/ctad must be placed in a layer, not fall to the top by default."""
    folders = {
        p.name for p in (REPO / "app" / "ctad").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert folders <= set(check.LAYERS), folders - set(check.LAYERS)


def _package(tmp_path: Path, files: Dict[str, str]) -> Path:
    root = tmp_path / "ctad"
    for folder in ("", "core", "forest", "engine", "splunk", "train"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def _problems(tmp_path: Path, files: Dict[str, str]):
    return check.problems(_package(tmp_path, files))


def test_a_clean_package_passes(tmp_path):
    files = {
        "core/a.py": "import json\nfrom ctad.core import b\n",
        "core/b.py": "try:\n    import orjson\nexcept ImportError:\n    orjson = None\n",
        "engine/c.py": "from ctad.core.a import json\nfrom . import d\n",
        "engine/d.py": "import os\n",
        "train/e.py": "import numpy\nfrom ctad.engine import c\n",
        "cli.py": "from ctad.train import e\n",
    }
    assert _problems(tmp_path, files) == []


def test_a_cycle_fails_even_through_a_lazy_import(tmp_path):
    files = {
        "engine/pipeline.py": "def f():\n    from ctad.engine.cli import dumps\n",
        "engine/cli.py": "from ctad.engine import pipeline\n",
    }
    found = _problems(tmp_path, files)
    assert found == ["import cycle: ctad.engine.cli -> ctad.engine.pipeline -> ctad.engine.cli"]


def test_a_type_checking_import_is_no_cycle(tmp_path):
    files = {
        "train/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ctad.train.b import B\n",
        "train/b.py": "from ctad.train import a\n",
    }
    assert _problems(tmp_path, files) == []


@pytest.mark.parametrize(
    "name, text",
    [
        ("core/a.py", "from ctad.engine import x\n"),
        ("forest/a.py", "import ctad.splunk.x\n"),
        ("engine/a.py", "from ctad.train.x import y\n"),
        ("train/a.py", "from ctad import cli\n"),
        ("core/a.py", "def f():\n    from ..forest import x\n"),
    ],
)
def test_an_import_up_a_layer_fails(tmp_path, name, text):
    files = {
        name: text,
        "engine/x.py": "",
        "forest/x.py": "",
        "splunk/x.py": "",
        "train/x.py": "",
        "cli.py": "",
    }
    found = _problems(tmp_path, files)
    assert len(found) == 1 and "a higher layer" in found[0], found


@pytest.mark.parametrize("folder", ["core", "forest", "engine", "splunk"])
@pytest.mark.parametrize(
    "text",
    [
        "import requests\n",
        "def f():\n    from rich.table import Table\n",
        "import numpy as np\n",  # an accelerator, but not guarded (and nothing imports this module guarded)
        "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n",  # guarded, but not an accelerator
    ],
)
def test_a_non_stdlib_import_on_the_search_time_path_fails(tmp_path, folder, text):
    found = _problems(tmp_path, {f"{folder}/a.py": text, f"{folder}/b.py": f"from ctad.{folder} import a\n"})
    assert len(found) == 1 and "stdlib only" in found[0], found


def test_adapters_may_import_what_they_need(tmp_path):
    assert _problems(tmp_path, {"train/a.py": "import requests\nimport numpy\n"}) == []


def test_an_optional_module_must_be_imported_guarded(tmp_path):
    accel = "import numpy as np\n"
    guarded = "try:\n    from ctad.forest import accel\nexcept ImportError:\n    accel = None\n"
    assert _problems(tmp_path, {"forest/accel.py": accel, "forest/runtime.py": guarded}) == []
    found = _problems(
        tmp_path, {"forest/accel.py": accel, "forest/runtime.py": "from ctad.forest import accel\n"}
    )
    assert len(found) == 1 and "optional" in found[0], found


def test_stdlib_names_without_sys_stdlib_module_names(monkeypatch):
    """The Python 3.9 fallback (no sys.stdlib_module_names) reads the stdlib directory."""
    monkeypatch.delattr(sys, "stdlib_module_names", raising=False)
    names = check.stdlib_names()
    assert {"json", "os", "mmap", "array", "asyncio", "__future__"} <= names
    assert not {"numpy", "orjson", "rich", "pytest"} & names
