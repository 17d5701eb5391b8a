"""Read pipeline configuration from TOML into the library's dataclasses (STYLE.md §10).

Only this module reads TOML. Every table and key is checked: an unknown key is an error
that names it and lists the keys allowed, because a misspelt option silently ignored would
run a different study from the one the user wrote down.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulations.study.design import StudyDesign

__all__ = ["StudySettings", "load_study", "study_settings"]

_STUDY_KEYS = {"task", "max_consecutive_errors", "chunk_size"}
_DESIGN_KEYS = {"factors", "replications", "seed", "where"}


@dataclass(frozen=True)
class StudySettings:
    """A simulation study as a TOML file describes it.

    Parameters
    ----------
    design : StudyDesign
        The ``[design]`` table with its ``[design.factors]``.
    task : str
        ``[study] task``: a registered task name or ``"module:function"``.
    max_consecutive_errors : int
        ``[study] max_consecutive_errors`` (default 20).
    chunk_size : int or None
        ``[study] chunk_size``: replications per stored chunk (default: chosen by the store).

    Examples
    --------
    >>> from simulations.study.design import StudyDesign
    >>> s = StudySettings(design=StudyDesign({"n": [5, 50]}, replications=10, seed=1),
    ...                   task="t_interval")
    >>> s.max_consecutive_errors, s.chunk_size
    (20, None)
    >>> try:
    ...     StudySettings(design=s.design, task="t_interval", chunk_size=0)
    ... except ValueError as err:
    ...     print(err)
    [study] chunk_size must be a positive integer, got 0
    """

    design: StudyDesign
    task: str
    max_consecutive_errors: int = 20
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"[study] task must be a task name or 'module:function', "
                             f"got {self.task!r}")
        for key in ("max_consecutive_errors", "chunk_size"):
            value = getattr(self, key)
            if value is None and key == "chunk_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"[study] {key} must be a positive integer, got {value!r}")


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed keys are "
                         f"{sorted(allowed)}")


def study_settings(data: Mapping[str, Any], *, source: str = "study") -> StudySettings:
    """Build :class:`StudySettings` from parsed TOML (a dict with ``study`` and ``design``).

    Examples
    --------
    >>> s = study_settings({"study": {"task": "t_interval"},
    ...                     "design": {"replications": 10, "seed": 1,
    ...                                "factors": {"n": [5, 50]}}})
    >>> s.design.n_conditions, s.task
    (2, 't_interval')
    >>> study_settings({"study": {"task": "t_interval", "workers": 2}, "design": {}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: study [study]: unknown key(s) ['workers']; allowed keys are ...
    """
    _check_keys(data, {"study", "design"}, source)
    for table in ("study", "design"):
        if not isinstance(data.get(table), Mapping):
            raise ValueError(f"{source}: missing the [{table}] table")
    study, design = data["study"], data["design"]
    _check_keys(study, _STUDY_KEYS, f"{source} [study]")
    _check_keys(design, _DESIGN_KEYS, f"{source} [design]")
    if "task" not in study:
        raise ValueError(f"{source} [study]: 'task' is required (a task name or "
                         "'module:function')")
    missing = sorted({"factors", "replications", "seed"} - set(design))
    if missing:
        raise ValueError(f"{source} [design]: missing {missing}")
    if not isinstance(design["factors"], Mapping):
        raise ValueError(f"{source}: [design.factors] must be a table of factor = [levels]")
    try:
        built = StudyDesign.from_dict(design)
    except ValueError as exc:
        raise ValueError(f"{source} [design]: {exc}") from exc
    return StudySettings(design=built, task=study["task"],
                         max_consecutive_errors=study.get("max_consecutive_errors", 20),
                         chunk_size=study.get("chunk_size"))


def load_study(path: str | os.PathLike) -> StudySettings:
    """Read a study TOML file (see ``analyses/configs/study_*.toml``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not valid TOML, or has unknown, missing or invalid keys.

    Examples
    --------
    >>> configs = Path(__file__).parent / "configs"
    >>> load_study(configs / "study_t_interval.toml").design.n_conditions
    12
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a study file (TOML)")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a study file: TOML is UTF-8 text, but byte "
                         f"0x{exc.object[exc.start:exc.start + 1].hex()} at position "
                         f"{exc.start} is not UTF-8") from None
    return study_settings(data, source=str(path))
