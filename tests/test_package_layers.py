"""The package's layers: no import circle between its packages, and using a model never loads training."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "robustreid"
TRAINING_PACKAGES = ("robustreid.engine", "robustreid.memory", "robustreid.distributed")


def _package(module: str) -> str | None:
    """``robustreid.x.y`` -> ``x`` (a package or a top-level module of robustreid); None outside it."""
    parts = module.split(".")
    return parts[1] if parts[0] == "robustreid" and len(parts) > 1 else None


def _load_time_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported: its top-level imports, not those in functions or TYPE_CHECKING."""
    imported = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    return imported


def package_graph() -> dict[str, set[str]]:
    """Each package of robustreid -> the other packages its modules import when loaded."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        own = path.relative_to(SRC).parts[0].removesuffix(".py")
        targets = {_package(module) for module in _load_time_imports(path)}
        graph.setdefault(own, set()).update(t for t in targets if t and t != own and (SRC / t).exists())
    return graph


def reachable(graph: dict[str, set[str]], package: str) -> set[str]:
    """The packages that loading ``package`` loads, directly or through others."""
    seen, todo = set(), [package]
    while todo:
        for target in graph.get(todo.pop(), set()) - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_import_circle_between_packages():
    graph = package_graph()
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as err:
        pytest.fail(f"import circle between packages: {' -> '.join(err.args[1])}")
    assert "engine" not in reachable(graph, "inference") and "cli" not in reachable(graph, "engine")


@pytest.mark.parametrize("package", ["robustreid.search", "robustreid.inference"])
def test_using_a_model_does_not_load_the_training_code(package):
    """Embedding a gallery must not pay for (or depend on) the trainer, the memory or torchrun's code."""
    code = f"import json, sys, {package}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert [m for m in loaded if m.startswith(TRAINING_PACKAGES)] == []
