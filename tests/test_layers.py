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
