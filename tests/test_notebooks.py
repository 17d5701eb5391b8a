"""Notebooks: committed without outputs, numbered, and run cleanly (no error, no warning).

`make test` executes every notebook here at the small sizes (``FAST_NOTEBOOKS=1``);
``--run-slow`` (`make test-slow`) at the full sizes. A student reads the outputs, so an
output that is a warning (a Python warning, anything written to stderr) fails the test as an
error does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Notebooks whose outputs still hold a warning, with the branch that fixes it. The mark is
#: strict: once the warning is gone the test fails as XPASS, so the entry must be removed.
KNOWN_WARNINGS: dict[str, str] = {}
# a warning class (CamelCase ...Warning, as Python prints them) or a "warning:" line; not a
# word such as az.compare's column pareto_k_warning
_WARNING = re.compile(r"\b[A-Z]\w*Warning\b|^\s*(?i:warn(ing)?):", re.M)


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ should hold the tutorials"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", path.name)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} was executed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_imports_only_public_api(path: Path) -> None:
    # issue 17: notebook 3 imported helpers from analyses.pipelines.demo; what a notebook
    # needs is public API of trajectories, simulations or analyses' plots and reports
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        code = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
        for module in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", code, flags=re.M):
            parts = module.split(".")
            assert not any(p.startswith("_") for p in parts), f"{path.name} cell {i}: {module}"
            assert parts[:2] not in (["analyses", "pipelines"], ["analyses", "commands"]), \
                f"{path.name} cell {i} imports pipeline internals: {module}"


def warnings_in_outputs(nb: dict) -> list[str]:
    """Every output of an executed notebook that is or contains a warning, as
    ``"cell N: text"`` (stderr streams always count: Python warnings go there)."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = "".join(out.get("text", ""))
                if out.get("name") == "stderr" or _WARNING.search(text):
                    found.append(f"cell {i}: {text.strip()[:300]}")
            elif out.get("output_type") in ("execute_result", "display_data"):
                text = "".join(out.get("data", {}).get("text/plain", ""))
                if _WARNING.search(text):
                    found.append(f"cell {i}: {text.strip()[:300]}")
    return found


def test_warning_detection() -> None:
    outputs = [{"output_type": "stream", "name": "stderr", "text": "progress 10%"},
               {"output_type": "stream", "name": "stdout", "text": "x: RuntimeWarning: y"},
               {"output_type": "stream", "name": "stdout", "text": "fine, no warn"},
               {"output_type": "execute_result",
                "data": {"text/plain": "model  pareto_k_warning\n0 log True"}},
               {"output_type": "execute_result", "data": {"text/plain": "FutureWarning"}},
               {"output_type": "display_data", "data": {"text/plain": "<Figure>"}}]
    found = warnings_in_outputs({"cells": [{"cell_type": "code", "outputs": outputs}]})
    assert [f.split(": ", 1)[1] for f in found] == ["progress 10%", "x: RuntimeWarning: y",
                                                    "FutureWarning"]


def _execute(path: Path, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> dict:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("FAST_NOTEBOOKS", "1" if fast else "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    return nb


def _cases(fast: bool) -> list:
    marks = [] if fast else [pytest.mark.slow]
    return [pytest.param(p, marks=marks + ([pytest.mark.xfail(
        reason=KNOWN_WARNINGS[p.name], strict=True)] if p.name in KNOWN_WARNINGS else []),
        id=p.name) for p in NOTEBOOKS]


@pytest.mark.parametrize("path", _cases(fast=True))
def test_runs_at_small_sizes_without_warnings(path: Path, monkeypatch) -> None:  # noqa: ANN001
    nb = _execute(path, monkeypatch, fast=True)
    assert warnings_in_outputs(nb) == []


@pytest.mark.parametrize("path", _cases(fast=False))
def test_runs_at_full_sizes_without_warnings(path: Path, monkeypatch) -> None:  # noqa: ANN001
    nb = _execute(path, monkeypatch, fast=False)
    assert warnings_in_outputs(nb) == []
