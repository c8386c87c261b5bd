"""The package's layers: no import circle between its packages, using a model never loads training, and
checking a config or building the command line never loads torch."""

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
#: Libraries that take seconds to import together (torch alone: 2 s on a busy 2-core machine).
HEAVY_LIBRARIES = ("torch", "torchvision", "faiss", "sklearn", "scipy", "numpy")


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


def modules_loaded_by(code: str) -> tuple[list[str], str]:
    """The modules a fresh interpreter has loaded after running ``code``, and what it wrote on stderr."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY_LIBRARIES]


@pytest.mark.parametrize("package", ["robustreid.search", "robustreid.inference"])
def test_using_a_model_does_not_load_the_training_code(package):
    """Embedding a gallery must not pay for (or depend on) the trainer, the memory or torchrun's code."""
    loaded, _ = modules_loaded_by(f"import {package}")
    assert [m for m in loaded if m.startswith(TRAINING_PACKAGES)] == []


def test_a_mistake_in_a_config_is_reported_without_loading_torch(tmp_path):
    """``robustreid train`` names a bad choice at once: checking a config needs no torch (2 s to import)."""
    config = tmp_path / "bad.yaml"
    config.write_text("device: cuda\nmodel: {backbone: resnet50}\nmemory: {update: hpz}\n")
    code = f"from robustreid.cli.main import main\nassert main(['train', '--config', {str(config)!r}]) == 2"
    loaded, stderr = modules_loaded_by(code)
    allowed = "gated, hard, hps, hps_gated, mean"
    assert f"error: invalid config: memory.update='hpz' must be one of {allowed}" in stderr
    assert heavy(loaded) == []


def test_the_command_line_parser_does_not_load_torch():
    """``robustreid --help`` and every command's options are built from torch-free modules."""
    loaded, _ = modules_loaded_by("from robustreid.cli.main import build_parser\nbuild_parser()")
    assert heavy(loaded) == []
