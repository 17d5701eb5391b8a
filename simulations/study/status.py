"""Where a study stands: which replications finished or failed, and where a condition stopped.

Shared by the runner (:mod:`simulations.study.run`, to plan what is left) and the store
(:meth:`simulations.study.store.ParquetStore.status`), so both count the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from simulations.study.design import StudyDesign

__all__ = ["condition_status", "replication_outcomes", "stop_point"]


def replication_outcomes(frame: pd.DataFrame) -> dict[int, dict[int, bool]]:
    """Condition -> replication -> failed, in one pass over the rows.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"condition_id": [0, 0, 1], "replication": [0, 1, 0],
    ...                       "error": [None, "boom", None]})
    >>> replication_outcomes(frame)
    {0: {0: False, 1: True}, 1: {0: False}}
    """
    if frame.empty or "error" not in frame.columns:
        return {}
    failed = frame["error"].notna().groupby(
        [frame["condition_id"], frame["replication"]], sort=False).any()
    out: dict[int, dict[int, bool]] = {}
    for (cid, rep), fail in zip(failed.index.tolist(), failed.tolist(), strict=True):
        out.setdefault(int(cid), {})[int(rep)] = bool(fail)
    return out


def stop_point(outcomes: Mapping[int, bool], max_errors: int) -> int | None:
    """Find the first replication at which ``max_errors`` failures in a row are complete.

    Only runs of consecutive replication numbers count, so the answer can only move
    earlier as more replications finish, and is final once earlier gaps are filled.

    Examples
    --------
    >>> stop_point({0: False, 1: True, 2: True, 3: False}, max_errors=2)
    2
    >>> stop_point({0: True, 2: True}, max_errors=2) is None  # not consecutive
    True
    """
    run, previous = 0, None
    for rep in sorted(outcomes):
        run = run + 1 if outcomes[rep] and previous == rep - 1 else int(outcomes[rep])
        if run >= max_errors:
            return rep
        previous = rep
    return None


def condition_status(design: StudyDesign, frame: pd.DataFrame,
                     max_consecutive_errors: int = 20) -> pd.DataFrame:
    """Replications done, remaining and failed per condition, and whether it stopped early.

    Examples
    --------
    >>> from simulations.study.design import StudyDesign
    >>> from simulations.study.run import run_study
    >>> design = StudyDesign({"n": [5, 50]}, replications=30, seed=4)
    >>> res = run_study(design, "t_interval", executor="serial", progress=False)
    >>> condition_status(design, res.frame)[["condition_id", "done", "remaining", "stopped"]]
       condition_id  done  remaining  stopped
    0             0    30          0    False
    1             1    30          0    False
    """
    out = design.conditions()
    done, failed, stopped = [], [], []
    known = replication_outcomes(frame)
    for cid in out["condition_id"]:
        outcomes = known.get(cid, {})
        halt = stop_point(outcomes, max_consecutive_errors)
        outcomes = {r: f for r, f in outcomes.items() if halt is None or r <= halt}
        done.append(len(outcomes))
        failed.append(sum(outcomes.values()))
        stopped.append(halt is not None)
    out["done"] = done
    out["failed"] = failed
    out["stopped"] = stopped
    out["remaining"] = np.where(out["stopped"], 0, design.replications - out["done"])
    return out[[*design.conditions().columns, "done", "remaining", "failed", "stopped"]]
