"""The code stays ruff- and mypy-clean (configured in pyproject.toml), without import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from .conftest import REPO


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "src", "tests"],
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_clean(command: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def imports_of_each_module() -> dict[str, set[str]]:
    """deckbuilder's modules and the ones of them each imports, at any depth of its code."""
    package = REPO / "src" / "deckbuilder"
    modules = {path.stem for path in package.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        graph[path.stem] = found & modules
    return graph


def test_no_import_cycles() -> None:
    """Data flows one way (files -> model -> HTML -> package): no module reaches back to itself."""
    graph = imports_of_each_module()
    assert graph["model"] == set() and "build" in graph["cli"]
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        for imported in sorted(graph[module]):
            assert imported not in path, " -> ".join((*path, imported))
            if imported not in done:
                visit(imported, (*path, imported))
        done.add(module)

    for module in sorted(graph):
        visit(module, (module,))
