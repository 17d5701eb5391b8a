"""`StudyDesign`: the grid of conditions, the number of replications and the root seed.

A simulation study crosses every level of every factor (SimDesign's ``createDesign``) and
runs the same number of replications in each condition. Conditions are numbered over the
*full* grid, before any filter, so that dropping or restoring a condition never changes
the number, and therefore the random numbers, of the others.

Seeds follow STYLE.md §5: ``SeedSequence(seed).spawn(n_conditions)`` and each child
``.spawn(replications)``. A child's ``spawn_key`` is just its index path, so replication
``r`` of condition ``c`` gets ``SeedSequence(seed, spawn_key=(c, r))``: it can be rebuilt
alone, in any process and in any order, which is what makes results independent of the
executor and of the number of workers, and lets a study grow more replications later
without changing the earlier ones.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulations.study.where import parse_where

__all__ = ["RESERVED_COLUMNS", "StudyDesign"]

#: Columns the runner adds to every result row; factors and task outputs may not use them.
RESERVED_COLUMNS: tuple[str, ...] = (
    "condition_id", "replication", "spawn_key", "error", "warnings",
)

Scalar = bool | int | float | str


def _plain(value: Any) -> Scalar:
    """Convert a factor level to a plain Python scalar (NumPy scalars fail in JSON, TOML)."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, bool | int | float | str):
        raise ValueError(
            f"factor levels must be numbers, strings or booleans, got {value!r} "
            f"({type(value).__name__}); describe richer settings by a name the task looks up"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"factor levels must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class StudyDesign:
    """A fully crossed grid of conditions, replications per condition and a root seed.

    Parameters
    ----------
    factors : Mapping[str, Sequence]
        Factor name to its levels (numbers, strings or booleans). Every combination is a
        condition. A factor with one level is a fixed setting passed to every replication.
    replications : int
        Replications per condition (at least 1).
    seed : int
        Root seed (non-negative): the entropy of the study's ``numpy.random.SeedSequence``.
    where : str or None
        Optional filter keeping only the conditions for which it is true, e.g.
        ``"not (policy == 'none' and threshold > 0)"``: factor names, numbers, quoted text,
        comparisons, ``and``/``or``/``not`` and ``in [...]``, parsed by the small grammar of
        :mod:`simulations.study.where` and never run as Python (a study file or a results folder
        from someone else cannot run code). Filtered conditions keep the ``condition_id``
        they have in the full grid.

    Raises
    ------
    ValueError
        If a factor has no levels or repeated levels, a name is reserved, replications or
        the seed are out of range, or ``where`` is invalid or keeps no condition.

    Examples
    --------
    >>> design = StudyDesign({"n": [20, 80], "dist": ["normal", "skewed"]},
    ...                      replications=100, seed=7)
    >>> design.conditions()
       condition_id   n    dist
    0             0  20  normal
    1             1  20  skewed
    2             2  80  normal
    3             3  80  skewed
    >>> StudyDesign({"n": [20, 80], "dist": ["normal", "skewed"]}, replications=100,
    ...             seed=7, where="n > 20").conditions()["condition_id"].tolist()
    [2, 3]
    """

    factors: Mapping[str, Sequence]
    replications: int
    seed: int
    where: str | None = None
    _grid: pd.DataFrame = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.factors, Mapping) or not self.factors:
            raise ValueError("factors must be a non-empty mapping of factor name to levels")
        factors: dict[str, tuple[Scalar, ...]] = {}
        for name, levels in self.factors.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"factor name {name!r} must be a valid Python identifier")
            if name in RESERVED_COLUMNS:
                raise ValueError(f"factor name {name!r} is reserved for the runner's columns "
                                 f"{RESERVED_COLUMNS}; rename the factor")
            if isinstance(levels, str | bytes) or not isinstance(levels, Sequence | np.ndarray):
                raise ValueError(f"factor {name!r}: levels must be a list, got {levels!r}")
            plain = tuple(_plain(v) for v in levels)
            if not plain:
                raise ValueError(f"factor {name!r} has no levels")
            if len(set(plain)) != len(plain):
                raise ValueError(f"factor {name!r} has repeated levels: {list(plain)}")
            factors[name] = plain
        object.__setattr__(self, "factors", factors)
        for attr, low in (("replications", 1), ("seed", 0)):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{attr} must be an integer >= {low}, got {value!r}")
            object.__setattr__(self, attr, int(value))
        object.__setattr__(self, "_grid", self._build_grid())

    def _build_grid(self) -> pd.DataFrame:
        rows = list(itertools.product(*self.factors.values()))
        # column by column, so that an int factor stays int beside a float one
        grid = pd.DataFrame({name: [row[i] for row in rows]
                             for i, name in enumerate(self.factors)})
        grid.insert(0, "condition_id", np.arange(len(grid), dtype=np.int64))
        if self.where is None:
            return grid
        try:
            keep = parse_where(self.where, list(self.factors)).mask(
                [dict(zip(self.factors, row, strict=True)) for row in rows])
        except ValueError as exc:
            raise ValueError(f"where={self.where!r} is not a valid filter over the factors "
                             f"{list(self.factors)}: {exc}") from exc
        kept = grid[np.asarray(keep, dtype=bool)]
        if kept.empty:
            raise ValueError(f"where={self.where!r} keeps no condition")
        return kept.reset_index(drop=True)

    @property
    def n_conditions(self) -> int:
        """Number of conditions kept (after ``where``)."""
        return len(self._grid)

    def conditions(self) -> pd.DataFrame:
        """Tabulate the conditions: ``condition_id`` then one column per factor."""
        return self._grid.copy()

    def condition(self, condition_id: int) -> dict[str, Scalar]:
        """Return the factor levels of one condition, as the dict a task receives.

        Raises
        ------
        KeyError
            If the design has no condition with this id (or the filter dropped it).
        """
        match = self._grid.index[self._grid["condition_id"] == condition_id]
        if len(match) == 0:
            raise KeyError(f"no condition {condition_id!r}; the design has condition ids "
                           f"{self._grid['condition_id'].tolist()}")
        i = match[0]  # column by column: a row Series would upcast ints beside floats
        return {name: _plain(self._grid[name].iloc[i]) for name in self.factors}

    def seed_sequence(self, condition_id: int, replication: int) -> np.random.SeedSequence:
        """Return the ``SeedSequence`` of one replication.

        Child ``replication`` of child ``condition_id``.

        Examples
        --------
        >>> d = StudyDesign({"n": [10, 20]}, replications=3, seed=1)
        >>> root = np.random.SeedSequence(1)
        >>> d.seed_sequence(1, 2).state == root.spawn(2)[1].spawn(3)[2].state
        True
        """
        if replication < 0:
            raise ValueError(f"replication must be >= 0, got {replication}")
        return np.random.SeedSequence(self.seed, spawn_key=(int(condition_id), int(replication)))

    def to_dict(self) -> dict[str, Any]:
        """Describe the design JSON-ready, inverse of :meth:`from_dict`."""
        return {"factors": {k: list(v) for k, v in self.factors.items()},
                "replications": self.replications, "seed": self.seed, "where": self.where}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyDesign:
        """Rebuild a design from :meth:`to_dict` output; unknown keys are an error."""
        unknown = set(data) - {"factors", "replications", "seed", "where"}
        if unknown:
            raise ValueError(f"unknown design keys {sorted(unknown)}; expected factors, "
                             "replications, seed and optionally where")
        missing = {"factors", "replications", "seed"} - set(data)
        if missing:
            raise ValueError(f"design is missing {sorted(missing)}")
        return cls(factors=data["factors"], replications=data["replications"],
                   seed=data["seed"], where=data.get("where"))

    def differences(self, other: StudyDesign) -> list[str]:
        """List what differs from ``other``, one readable phrase per difference (empty if equal)."""
        out = []
        mine, theirs = self.to_dict(), other.to_dict()
        for key in ("replications", "seed", "where"):
            if mine[key] != theirs[key]:
                out.append(f"{key}: {theirs[key]!r} -> {mine[key]!r}")
        for name in sorted(set(mine["factors"]) | set(theirs["factors"])):
            a, b = theirs["factors"].get(name), mine["factors"].get(name)
            if a != b:
                out.append(f"factor {name!r}: {a!r} -> {b!r}")
        if list(mine["factors"]) != list(theirs["factors"]) and not out:
            out.append(f"factor order: {list(theirs['factors'])} -> {list(mine['factors'])}")
        return out

