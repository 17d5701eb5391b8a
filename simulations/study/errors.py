"""Errors and warnings of a study as data: what failed, where, how often, and how to replay it.

A replication that raises is stored as one row with ``error`` set (its type and message);
warnings go to ``warnings`` (see :mod:`simulations.study.run`). This module turns those
columns into tables a methodologist reads (as SimDesign's ``SimExtract(..., "errors")``
does): per condition, the distinct messages, how many replications each hit and the
replications to rerun with :func:`simulations.study.run.replay`, which reproduces the
error with its traceback because every replication's seed is derived from the design.

A condition is *flagged* when its failure rate exceeds a threshold (default
:data:`FLAG_FAILURE_RATE`), and has *failed entirely* when every replication it ran
failed: its performance measures do not exist, and ``setback study run`` exits non-zero.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from simulations.study.status import condition_status

if TYPE_CHECKING:
    from simulations.study.design import StudyDesign

__all__ = ["FLAG_FAILURE_RATE", "error_table", "failure_summary", "failure_table"]

#: Failure rate above which a condition is flagged: its surviving replications may be a
#: selected subset (e.g. the easy data sets), so its performance measures need a caveat.
FLAG_FAILURE_RATE = 0.05

_REPEATED = re.compile(r"^(?P<message>.*) \(x(?P<n>\d+)\)$")


def _messages(text: str, kind: str) -> list[tuple[str, int]]:
    """Count the messages of one ``error`` or ``warnings`` cell."""
    if kind == "error":
        return [(text, 1)]
    out = []
    for part in text.split("; "):
        match = _REPEATED.match(part)
        out.append((match["message"], int(match["n"])) if match else (part, 1))
    return out


def error_table(frame: pd.DataFrame, design: StudyDesign | None = None, *,
                kind: Literal["error", "warning"] = "error", max_replications: int = 5,
                ) -> pd.DataFrame:
    """Distinct error (or warning) messages per condition, with the replications to replay.

    Parameters
    ----------
    frame : pandas.DataFrame
        A study's rows (``StudyResults.frame``).
    design : StudyDesign, optional
        Adds the factor columns of each condition.
    kind : {"error", "warning"}
        Failed replications (column ``error``) or recorded warnings (column ``warnings``).
    max_replications : int
        How many replication numbers to list per message (the first ones).

    Returns
    -------
    pandas.DataFrame
        One row per condition and message: ``condition_id``, the factors, ``message``,
        ``n_replications`` (replications with it), ``replications`` (the first
        ``max_replications``, comma-separated: ``replay(design, task, condition_id, r)``
        reruns one) and, for warnings, ``n_occurrences``. Sorted by condition, then by
        descending count.

    Examples
    --------
    >>> rows = pd.DataFrame({"condition_id": [0, 0, 0, 1], "replication": [0, 1, 2, 0],
    ...                      "error": ["ValueError: bad n", None, "ValueError: bad n", None],
    ...                      "warnings": [None, "UserWarning: slow (x2)", None, None]})
    >>> error_table(rows)[["condition_id", "message", "n_replications", "replications"]]
       condition_id            message  n_replications replications
    0             0  ValueError: bad n               2         0, 2
    >>> error_table(rows, kind="warning")[["message", "n_occurrences"]]
                 message  n_occurrences
    0  UserWarning: slow              2
    """
    column = "error" if kind == "error" else "warnings"
    factors = list(design.factors) if design is not None else []
    columns = ["condition_id", *factors, "message", "n_replications", "replications"]
    columns += ["n_occurrences"] if kind == "warning" else []
    if column not in frame.columns or frame[column].isna().all():
        return pd.DataFrame(columns=columns)
    hit = frame.dropna(subset=[column]).drop_duplicates(["condition_id", "replication"])
    found: dict[tuple[int, str], list] = {}
    for cid, rep, text in zip(hit["condition_id"], hit["replication"], hit[column],
                              strict=True):
        for message, n in _messages(str(text), kind):
            entry = found.setdefault((int(cid), message), [[], 0])
            entry[0].append(int(rep))
            entry[1] += n
    rows = []
    for (cid, message), (reps, n) in found.items():
        reps = sorted(reps)
        rows.append({"condition_id": cid, "message": message, "n_replications": len(reps),
                     "replications": ", ".join(map(str, reps[:max_replications])),
                     "n_occurrences": n})
    table = pd.DataFrame(rows).sort_values(["condition_id", "n_replications", "message"],
                                           ascending=[True, False, True], kind="stable")
    if design is not None:
        table = design.conditions().merge(table, on="condition_id", how="inner")
    return table.reindex(columns=columns).reset_index(drop=True)


def failure_table(design: StudyDesign, frame: pd.DataFrame, *,
                  max_consecutive_errors: int = 20,
                  threshold: float = FLAG_FAILURE_RATE) -> pd.DataFrame:
    """Per condition: replications done and failed, the failure rate and the flags.

    Returns
    -------
    pandas.DataFrame
        :func:`~simulations.study.status.condition_status` with ``failure_rate``,
        ``flagged`` (rate above ``threshold``), ``failed_entirely`` (it ran replications
        and every one failed), ``n_messages`` (distinct error messages) and
        ``first_error`` (the most frequent message).

    Examples
    --------
    >>> from simulations.study.design import StudyDesign
    >>> from simulations.study.run import run_study
    >>> design = StudyDesign({"n": [1, 30]}, replications=5, seed=1)
    >>> res = run_study(design, "t_interval", executor="serial", progress=False)
    >>> failure_table(design, res.frame)[["n", "failed", "failed_entirely", "n_messages"]]
        n  failed  failed_entirely  n_messages
    0   1       5             True           1
    1  30       0            False           0
    """
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    table = condition_status(design, frame, max_consecutive_errors)
    rate = table["failed"] / table["done"].where(table["done"] > 0)
    table["failure_rate"] = rate.fillna(0.0)
    table["flagged"] = table["failure_rate"] > threshold
    table["failed_entirely"] = (table["done"] > 0) & (table["failed"] == table["done"])
    errors = error_table(frame)
    first = errors.drop_duplicates("condition_id").set_index("condition_id")["message"]
    table["n_messages"] = table["condition_id"].map(
        errors.groupby("condition_id").size()).fillna(0).astype(np.int64)
    table["first_error"] = table["condition_id"].map(first).astype(object).fillna("")
    return table


def failure_summary(table: pd.DataFrame, factors: list[str]) -> list[str]:
    """Plain sentences on the conditions that failed entirely or were flagged.

    ``table`` is :func:`failure_table` output. Empty when nothing failed.

    Examples
    --------
    >>> t = pd.DataFrame({"condition_id": [3], "n": [1], "done": [5], "failed": [5],
    ...                   "failure_rate": [1.0], "flagged": [True], "failed_entirely": [True],
    ...                   "first_error": ["ValueError: n must be >= 2, got 1"]})
    >>> failure_summary(t, ["n"])
    ['condition 3 (n=1): all 5 replications failed: ValueError: n must be >= 2, got 1']
    """
    out = []
    for row in table.itertuples(index=False):
        levels = ", ".join(f"{f}={getattr(row, f)!r}" for f in factors)
        where = f"condition {row.condition_id} ({levels})"
        if row.failed_entirely:
            out.append(f"{where}: all {row.done} replications failed: {row.first_error}")
        elif row.flagged:
            out.append(f"{where}: {row.failed} of {row.done} replications failed "
                       f"({100 * row.failure_rate:.0f}%), e.g. {row.first_error}")
    return out
