"""The direction of knowledge between the package's layers, read from the source's import statements.

``core`` is the floor: it imports nothing from ``data``, ``models``, ``metrics``,
``ui`` or the command line (models and data reach the engine through the
registry, metrics through the jobs the caller passes; shared/DESIGN.md). Above
it, ``data``, ``models`` and ``metrics`` import no ``ui``. Every import
statement counts, wherever it is (inside a function, under TYPE_CHECKING), as
does ``importlib.import_module("genstudio...")`` with a literal name: the
check reads the files with ``ast`` instead of importing them, so an import a
test run never reaches is still seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "genstudio"

#: layer -> the layers it must never import (the bare ``genstudio`` package, for __version__, is open to all).
FORBIDDEN = {
    "core": {"data", "models", "metrics", "ui", "cli", "desktop", "__main__"},
    "data": {"models", "metrics", "ui", "cli", "desktop", "__main__"},
    "models": {"ui", "cli", "desktop", "__main__"},
    "metrics": {"ui", "cli", "desktop", "__main__"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import in ``source``, relative ones resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up from the module's package, one level per dot after the first
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            # ``from genstudio import models`` and ``from . import device`` name the modules among the names.
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (isinstance(func, ast.Name) and func.id in ("import_module", "__import__"))


def layer_of(module: str) -> str | None:
    """``genstudio.core.engine`` -> ``core``; None outside the package or for the bare package."""
    parts = module.split(".")
    if parts[0] != "genstudio" or len(parts) < 2:
        return None
    return parts[1]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports in ``source`` (of ``module``) that cross a layer boundary the wrong way."""
    own = layer_of(module)
    banned = FORBIDDEN.get(own or "", set())
    return [f"{module}:{line} imports {target}" for line, target in imported_modules(source, module, is_package)
            if layer_of(target) in banned]


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_layer_imports_only_downwards():
    bad = []
    for path in package_files():
        bad += violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert not bad, "imports against the layering (tests/test_layers.py docstring):\n" + "\n".join(bad)


def test_the_check_reads_every_layer():
    layers = {layer_of(module_name(p)) for p in package_files()}
    assert {"core", "data", "models", "metrics", "ui"} <= layers
    assert len([p for p in package_files() if layer_of(module_name(p)) == "core"]) > 10


@pytest.mark.parametrize(
    ("module", "source"),
    [
        # The circle this test was written against: the engine reaching up for the quality tracker, in a function.
        ("genstudio.core.engine", "def f():\n    from genstudio.metrics.quality import QualityTracker\n"),
        ("genstudio.core.engine", "def f():\n    from ..metrics import quality\n"),
        ("genstudio.core.spec", "import genstudio.data.dataset as d\n"),
        ("genstudio.core", "from genstudio import models\n"),
        ("genstudio.core.jobs", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from genstudio.ui.tasks import X\n"),
        ("genstudio.core.registry", "import importlib\nimportlib.import_module('genstudio.models.flows')\n"),
        ("genstudio.metrics.quality", "from genstudio.ui import compare_view\n"),
        ("genstudio.models.diffusion.ldm", "from ...ui.panels import diffusion\n"),
        ("genstudio.data.dataset", "from genstudio.ui.dataset_panel import DatasetPanel\n"),
    ],
)
def test_a_forbidden_import_is_caught(module, source):
    assert violations(source, module, is_package=module == "genstudio.core"), source


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("genstudio.core.engine", "import genstudio\nfrom . import device\nfrom .loading import prepare\n"),
        ("genstudio.metrics.quality_job", "from genstudio.core.jobs import Job\n"),
        ("genstudio.ui.main_window", "from genstudio.metrics.evaluate import evaluate_run\n"),
        ("genstudio.core.engine", "s = 'genstudio.metrics.quality_job'  # a name in a message is no import\n"),
    ],
)
def test_an_allowed_import_passes(module, source):
    assert not violations(source, module), source


# -- no circles ---------------------------------------------------------------------------------


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (a package's ``__init__``, its public face, left out)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps = set()
        for _, name in imported_modules(path.read_text(), mod, path.name == "__init__.py"):
            while name and name not in files:  # ``from .x import Name``: the module is the longest known prefix
                name = name.rpartition(".")[0]
            if name and name != mod and files[name].name != "__init__.py":
                deps.add(name)
        graph[mod] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others():
    # Type-only imports count too: a tab typed against the panel that imports it is still a circle.
    assert circles(import_graph()) == []


def test_the_circle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
