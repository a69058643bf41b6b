"""The built app ships the modules its commands import and no others.

Every `import` statement counts, the ones inside functions included: a module loaded lazily (the numpy forest
engine when numpy is there, the Anthropic backend when triage is set to it, STIX when a feed is STIX) is needed even
when a small test run never reaches it. So the check reads the shipped source (ast) from bin/*.py outward rather
than tracing one run; tests/splunkapp/test_package_pythons.py runs the commands themselves on 3.9 and 3.13.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Set

import splunkapp_helpers as h

# What package.sh leaves out because only the `ctad` CLI imports it (`ctad detect`'s file pipeline and output
# writers, `ctad cti`, `ctad triage` and its evaluation set).
CLI_ONLY = (
    "engine/cli.py",
    "engine/output.py",
    "engine/pipeline.py",
    "engine/readers.py",
    "cti/cli.py",
    "cti/config.py",
    "triage/cli.py",
    "triage/evalset.py",
)


def modules(pkg_root: Path) -> Dict[str, Path]:
    """Dotted name (ctad.x.y) -> file, for every module of the package at pkg_root."""
    out = {}
    for path in pkg_root.rglob("*.py"):
        parts = list(path.relative_to(pkg_root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(path: Path, package: str) -> Set[str]:
    """Every dotted name an import statement anywhere in the file may load (a `from x import y` may load x.y)."""
    names: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    with_parents = set()
    for name in names:
        parts = name.split(".")
        with_parents.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return with_parents


def test_cli_only_modules_are_not_shipped(built_app):
    for rel in CLI_ONLY:
        assert (h.REPO / "app" / "ctad" / rel).is_file(), (
            f"{rel} is gone from the source: drop it from the list"
        )
        assert not (built_app / "bin" / "ctad" / rel).exists(), f"{rel} ships but no command imports it"


def test_every_shipped_module_is_imported_by_a_command_and_every_import_ships(built_app):
    bin_dir = built_app / "bin"
    shipped = modules(bin_dir / "ctad")
    todo = set()
    for command in bin_dir.glob("*.py"):
        todo |= {n for n in imported(command, "") if n.split(".")[0] == "ctad"}
    assert todo, "no bin/*.py imports ctad"
    reached: Set[str] = set()
    while todo:
        name = todo.pop()
        if name in reached or name not in shipped:
            continue
        reached.add(name)
        path = shipped[name]
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo |= {n for n in imported(path, package) if n.split(".")[0] == "ctad"}
    assert sorted(set(shipped) - reached) == [], "shipped, but no command imports it"
    source = modules(h.REPO / "app" / "ctad")
    missing = set()
    for name in reached:
        path = shipped[name]
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        missing |= {
            f"{name} imports {n}" for n in imported(path, package) if n in source and n not in shipped
        }
    assert sorted(missing) == [], "imported by a shipped module, but not shipped"
