"""Check the layer rules of the ctad package from its source alone (ast; nothing is imported).

    python scripts/check_layers.py [PACKAGE_DIR]     (default: app/ctad next to this script)

Rules (docs/DESIGN.md, issue 13):
1. no import cycle between modules (lazy imports inside functions count: they are a cycle in the design);
2. no import from a lower layer up to a higher one: core < forest < engine < adapters < top-level (cli, demo,
   __main__); the adapters (splunk, elastic, triage, ...) are one layer and may import each other;
3. core/, forest/, engine/ and splunk/ run inside Splunk's own Python at search time: they import only the standard
   library, except the optional accelerators numpy and orjson inside ``try: ... except ImportError``.

package.sh runs it on the staged app as well, so the shipped tree is held to the same rules. Standard library
only, Python 3.9+. Exit 1 and one line per problem when a rule is broken.
"""

from __future__ import annotations

import ast
import os
import sys
import sysconfig
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

LAYERS: Dict[str, int] = {"core": 0, "forest": 1, "engine": 2}
ADAPTERS = ("splunk", "elastic", "triage", "cti", "knowledge", "report", "simulate", "train", "evaluation")
LAYERS.update({name: 3 for name in ADAPTERS})
TOP = 4  # ctad/cli.py, demo.py, __main__.py
LAYER_NAMES = {0: "core", 1: "forest", 2: "engine", 3: "adapters", 4: "top-level"}
STDLIB_ONLY = ("core", "forest", "engine", "splunk")
OPTIONAL = frozenset({"numpy", "orjson"})  # accelerators: imported only under try/except ImportError
# The terminal UI of `ctad detect` (progress bar, summary table): imported inside its functions only, so importing
# ctad.engine.cli (as the app's package check does) needs neither; never on the search-time path.
LAZY_ALLOWED: Dict[str, Set[str]] = {"ctad.engine.cli": {"tqdm", "rich"}}


def stdlib_names() -> Set[str]:
    """Top-level module names of the standard library (sys.stdlib_module_names on 3.10+)."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return set(names)
    found = set(sys.builtin_module_names)  # Python 3.9: what sits in the stdlib directory, not site-packages
    lib = Path(sysconfig.get_paths()["stdlib"])
    for folder in (lib, lib / "lib-dynload"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name == "site-packages":
                continue
            if (
                entry.suffix == ".py"
                or (entry.is_dir() and (entry / "__init__.py").exists())
                or entry.suffix in (".so", ".pyd")
            ):
                found.add(entry.name.split(".")[0])
    return found | {"__future__"}


def module_names(root: Path) -> Dict[str, Path]:
    """{dotted module name: file} of every module under the package directory `root`."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> Tuple[int, str]:
    """(layer number, folder) of a ctad module."""
    parts = module.split(".")
    if len(parts) == 1:
        return 0, ""  # the package itself (ctad/__init__.py): imports nothing
    folder = parts[1]
    if folder in LAYERS:
        return LAYERS[folder], folder
    return TOP, folder


class Import:
    def __init__(self, target: str, line: int, guarded: bool, in_function: bool) -> None:
        self.target = target
        self.line = line
        self.guarded = guarded
        self.in_function = in_function


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names: List[ast.expr] = []
    if handler.type is None:
        return False
    names = list(handler.type.elts) if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, module: str, known: Set[str]) -> Iterator[Import]:
    """Every import in the module, as absolute dotted targets (ctad modules resolved to the module imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, guarded: bool, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            child_guarded = guarded
            if isinstance(child, ast.Try):
                guard = any(_catches_import_error(h) for h in child.handlers)
                for stmt in child.body:
                    yield from visit_one(stmt, guarded or guard, in_function)
                for part in (child.handlers, child.orelse, child.finalbody):
                    for stmt in part:
                        yield from visit_one(stmt, guarded, in_function)
                continue
            yield from visit_one(child, child_guarded, in_function)

    def visit_one(node: ast.AST, guarded: bool, in_function: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(_resolve(alias.name, known), node.lineno, guarded, in_function)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in known else _resolve(base, known)
                yield Import(target, node.lineno, guarded, in_function)
        elif isinstance(node, ast.If) and _type_checking(node.test):
            for stmt in node.orelse:  # the `if TYPE_CHECKING:` body is never imported at run time
                yield from visit_one(stmt, guarded, in_function)
        else:
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from visit(node, guarded, inner)

    yield from visit(tree, False, False)


def _resolve(name: str, known: Set[str]) -> str:
    """The longest known ctad module that `name` names or lies in (or `name` itself when not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return name


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (or a module importing itself): Tarjan."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    out: List[List[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def problems(root: Path, stdlib: Optional[Set[str]] = None) -> List[str]:
    """Every broken rule in the package at `root` (a directory named after the package), one line each."""
    stdlib = stdlib_names() if stdlib is None else stdlib
    modules = module_names(root)
    known = set(modules)
    package = root.name
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    found: List[str] = []
    imports = {module: list(imports_of(path, module, known)) for module, path in modules.items()}
    # A module that imports an accelerator unguarded at its top (ctad.forest.numpy_engine) is itself optional:
    # allowed when every import of it is guarded.
    optional_modules = {
        module
        for module, found_imports in imports.items()
        if any(
            i.target.split(".")[0] in OPTIONAL and not i.guarded and not i.in_function for i in found_imports
        )
    }
    for module, path in modules.items():
        rel = os.path.relpath(path, root.parent)
        level, folder = layer_of(module)
        for imp in imports[module]:
            top = imp.target.split(".")[0]
            if top == package:
                if imp.target == module:
                    continue
                graph[module].add(imp.target)
                to_level, _ = layer_of(imp.target)
                if to_level > level:
                    found.append(
                        f"{rel}:{imp.line}: {module} ({LAYER_NAMES[level]}) imports {imp.target} "
                        f"({LAYER_NAMES[to_level]}), a higher layer"
                    )
                if imp.target in optional_modules and folder in STDLIB_ONLY and not imp.guarded:
                    found.append(
                        f"{rel}:{imp.line}: {module} imports the optional {imp.target} outside try/except ImportError "
                        f"in {folder}/, stdlib only"
                    )
                continue
            if folder not in STDLIB_ONLY or top in stdlib:
                continue
            if top in OPTIONAL and (imp.guarded or module in optional_modules):
                continue
            if imp.in_function and top in LAZY_ALLOWED.get(module, ()):
                continue
            why = (
                "an optional accelerator outside try/except ImportError" if top in OPTIONAL else "not stdlib"
            )
            found.append(f"{rel}:{imp.line}: {module} imports {imp.target} ({why}) in {folder}/, stdlib only")
    for component in _cycles(graph):
        found.append("import cycle: " + " -> ".join(component + component[:1]))
    return found


def main(argv: List[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "app" / "ctad"
    found = problems(root)
    for line in found:
        print(line)
    print(f"check_layers: {len(found)} problem(s) in {root}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
