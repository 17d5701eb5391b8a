"""Imports run one way: analyses -> simulations -> trajectories (DESIGN.md, STYLE.md §1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "trajectories": {"simulations", "analyses"},
    "simulations": {"analyses"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_direction(package: str) -> None:
    bad = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package])
        for p in (ROOT / package).rglob("*.py")
        if _imports(p) & FORBIDDEN[package]
    }
    assert not bad, f"{package} must not import {FORBIDDEN[package]}: {bad}"


def _modules_imported(path: Path) -> set[str]:
    """Full dotted names of the modules a file imports (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_study_runner_knows_nothing_of_clinics() -> None:
    """simulations/study is generic: no clinic import, and of tasks/ only the registry."""
    bad = {}
    for p in (ROOT / "simulations" / "study").rglob("*.py"):
        hits = sorted(m for m in _modules_imported(p)
                      if m.startswith(("simulations.clinic", "simulations.tasks"))
                      and not m.startswith("simulations.tasks.registry"))
        if hits:
            bad[str(p.relative_to(ROOT))] = hits
    assert not bad, f"simulations/study must not import the clinic or the tasks: {bad}"


def _module_graph() -> dict[str, set[str]]:
    """Edges module -> project module it imports (also inside functions), by dotted name.

    An import of a name resolves to the longest project module that prefixes it, so
    ``from simulations.clinic import simulate`` is an edge to the package
    ``simulations.clinic`` (its ``__init__``). A package's own submodules and a module's own
    package are not edges (re-exports and parents are not cycles of concepts).
    """
    modules: dict[str, Path] = {}
    for package in ("trajectories", "simulations", "analyses"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        targets = set()
        for name in _modules_imported(path):
            hit = resolve(name)
            if hit and hit != mod and not mod.startswith(hit + ".") \
                    and not hit.startswith(mod + "."):
                targets.add(hit)
        graph[mod] = targets
    return graph


def test_no_import_cycles() -> None:
    """A cycle means a concept sits in the wrong module (DESIGN.md): none, even through
    imports inside functions. Strongly connected components by Tarjan's algorithm."""
    graph = _module_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert len(graph) > 50  # the walk found the project
    assert not cycles, f"import cycles: {cycles}"
