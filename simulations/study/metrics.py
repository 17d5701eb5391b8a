"""Performance measures of a simulation study, each with its Monte Carlo standard error.

Formulas follow Morris, White & Crowther (2019), Table 6, with ``n`` the number of
replications with a usable estimate, ``d_i = estimate_i - truth_i`` (the truth may vary
between replications, e.g. when it is drawn from a prior) and ``se_i`` the model SE:

============== ================================== =============================================
metric         value                              Monte Carlo SE
============== ================================== =============================================
bias           mean(d)                            SD(d) / sqrt(n)
empse          SD(estimate)                       empse / sqrt(2 (n - 1))
mse            mean(d^2)                          SD(d^2) / sqrt(n)
rmse           sqrt(mse)                          MCSE(mse) / (2 rmse)  (delta method)
modse          sqrt(mean(se^2))                   sqrt(Var(se^2) / (4 n modse^2))
relerror_modse 100 (modse / empse - 1)            100 (modse / empse)
                                                  sqrt(Var(se^2) / (4 n modse^4) + 1 / (2 (n-1)))
coverage       mean(ci_low <= truth <= ci_high)   sqrt(cov (1 - cov) / n)
rejection      mean(p_value < alpha), or the CI   sqrt(p (1 - p) / n)
               excludes ``null_value``
mean           mean(estimate) (e.g. a rate)       SD(estimate) / sqrt(n)
============== ================================== =============================================

SD and Var use the ``n - 1`` denominator. ``rejection`` is power when the null is false and
the type I error rate when it is true.

References
----------
Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation studies to evaluate
statistical methods. *Statistics in Medicine*, 38(11), 2074-2102. doi:10.1002/sim.8086
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METRICS", "performance", "replications_needed", "summarise"]

Arrays = dict[str, np.ndarray]


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


def _bias(a: Arrays, **_: Any) -> tuple[float, float]:
    d = a["estimate"] - a["truth"]
    return float(d.mean()), _sd(d) / math.sqrt(len(d))


def _empse(a: Arrays, **_: Any) -> tuple[float, float]:
    n = len(a["estimate"])
    value = _sd(a["estimate"])
    return value, value / math.sqrt(2 * (n - 1)) if n > 1 else math.nan


def _mse(a: Arrays, **_: Any) -> tuple[float, float]:
    d2 = (a["estimate"] - a["truth"]) ** 2
    return float(d2.mean()), _sd(d2) / math.sqrt(len(d2))


def _rmse(a: Arrays, **_: Any) -> tuple[float, float]:
    mse, mcse = _mse(a)
    rmse = math.sqrt(mse)
    return rmse, mcse / (2 * rmse) if rmse > 0 else math.nan


def _modse(a: Arrays, **_: Any) -> tuple[float, float]:
    se2 = a["se"] ** 2
    n, value = len(se2), math.sqrt(se2.mean())
    var = _sd(se2) ** 2
    return value, math.sqrt(var / (4 * n * value**2)) if value > 0 else math.nan


def _relerror_modse(a: Arrays, **_: Any) -> tuple[float, float]:
    modse, _ = _modse(a)
    empse, _ = _empse(a)
    n, var = len(a["se"]), _sd(a["se"] ** 2) ** 2
    ratio = modse / empse
    mcse = 100 * ratio * math.sqrt(var / (4 * n * modse**4) + 1 / (2 * (n - 1)))
    return 100 * (ratio - 1), mcse


def _proportion(hits: np.ndarray) -> tuple[float, float]:
    p = float(hits.mean())
    return p, math.sqrt(p * (1 - p) / len(hits))


def _coverage(a: Arrays, **_: Any) -> tuple[float, float]:
    return _proportion((a["ci_low"] <= a["truth"]) & (a["truth"] <= a["ci_high"]))


def _rejection(a: Arrays, *, alpha: float, null_value: float) -> tuple[float, float]:
    if "p_value" in a:
        return _proportion(a["p_value"] < alpha)
    return _proportion((a["ci_low"] > null_value) | (a["ci_high"] < null_value))


def _mean(a: Arrays, **_: Any) -> tuple[float, float]:
    return float(a["estimate"].mean()), _sd(a["estimate"]) / math.sqrt(len(a["estimate"]))


#: Metric name -> (columns it needs, function of those columns' arrays -> (value, mcse)).
METRICS: dict[str, tuple[tuple[str, ...], Callable[..., tuple[float, float]]]] = {
    "bias": (("estimate", "truth"), _bias),
    "empse": (("estimate",), _empse),
    "mse": (("estimate", "truth"), _mse),
    "rmse": (("estimate", "truth"), _rmse),
    "modse": (("se",), _modse),
    "relerror_modse": (("estimate", "se"), _relerror_modse),
    "coverage": (("truth", "ci_low", "ci_high"), _coverage),
    "rejection": (("ci_low", "ci_high"), _rejection),
    "mean": (("estimate",), _mean),
}


def performance(frame: pd.DataFrame, metric: str, *, alpha: float = 0.05,
                null_value: float = 0.0) -> tuple[float, float, int]:
    """One metric of one set of replications: ``(value, mcse, n_used)``.

    Rows missing any column the metric needs are left out.

    Examples
    --------
    >>> rows = pd.DataFrame({"estimate": [1.0, 2.0, 4.0], "truth": 2.0})
    >>> value, mcse, n = performance(rows, "bias")   # mean(-1, 0, 2) and SD / sqrt(3)
    >>> round(value, 6), round(mcse, 6), n
    (0.333333, 0.881917, 3)
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
    needed = list(METRICS[metric][0])
    if metric == "rejection" and "p_value" in frame.columns:
        needed = ["p_value"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"metric {metric!r} needs columns {missing}, which the results "
                         "do not have")
    used = frame[needed].apply(pd.to_numeric, errors="coerce").dropna()
    arrays = {c: used[c].to_numpy(dtype=float) for c in needed}
    if used.empty:
        return math.nan, math.nan, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        value, mcse = METRICS[metric][1](arrays, alpha=alpha, null_value=null_value)
    return value, mcse, len(used)


def _default_metrics(frame: pd.DataFrame) -> list[str]:
    cols = set(frame.columns)
    if "truth" not in cols:
        return ["mean", "empse"]
    chosen = ["bias", "empse", "rmse"]
    chosen += ["modse", "relerror_modse"] if "se" in cols else []
    chosen += ["coverage"] if {"ci_low", "ci_high"} <= cols else []
    chosen += ["rejection"] if "p_value" in cols else []
    return chosen


def summarise(results: Any, metrics: Sequence[str] | None = None, *, alpha: float = 0.05,
              null_value: float = 0.0, target_mcse: float | None = None) -> pd.DataFrame:
    """Performance measures per condition, method and estimand, each with its MCSE.

    Parameters
    ----------
    results : StudyResults or pandas.DataFrame
        Output of :func:`simulations.study.run.run_study` (or its ``frame``: the columns between
        ``condition_id`` and ``replication`` are taken as the factors).
    metrics : sequence of str or None
        Names from :data:`METRICS`. ``None`` picks those the columns allow (with ``truth``:
        bias, empse, rmse, then modse and relerror_modse with ``se``, coverage with a CI,
        rejection with ``p_value``; without: mean and empse), and leaves out a metric for a
        method whose rows lack its columns.
    alpha : float
        Level of the test when rejection uses ``p_value``.
    null_value : float
        Value of the null hypothesis when rejection uses the CI (no ``p_value`` column).
    target_mcse : float or None
        If given, add ``n_needed``: replications for this MCSE, ``n_ok (mcse/target)^2``.

    Returns
    -------
    pandas.DataFrame
        One row per condition x method x estimand x metric: ``condition_id``, the factors,
        ``method``, ``estimand``, ``metric``, ``value``, ``mcse``, ``n_ok`` (replications
        used) and ``n_failed`` (failed replications of the condition plus rows of this
        method and estimand without the metric's values).

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "condition_id": 0, "n": 10, "replication": [0, 1, 2, 3],
    ...     "method": "t", "estimand": "mean", "estimate": [0.9, 1.2, 1.0, 0.7],
    ...     "truth": 1.0, "ci_low": [0.5, 1.05, 0.6, 0.2], "ci_high": [1.3, 1.6, 1.4, 1.1],
    ...     "error": None})
    >>> summarise(frame, ("bias", "coverage"))[["metric", "value", "mcse", "n_ok"]]
         metric  value      mcse  n_ok
    0      bias  -0.05  0.104083     4
    1  coverage   0.75  0.216506     4
    """
    frame = getattr(results, "frame", results)
    design = getattr(results, "design", None)
    if design is not None:
        factors = list(design.factors)
    else:
        cols = list(frame.columns)
        factors = cols[cols.index("condition_id") + 1:cols.index("replication")]
    keys = ["condition_id", *factors]
    for col in ("method", "estimand", "estimate"):
        if col not in frame.columns:
            raise ValueError(f"results have no {col!r} column; tasks must return "
                             "'method', 'estimand' and 'estimate'")
    failed_reps = (frame[frame["error"].notna()].groupby("condition_id")["replication"]
                   .nunique() if "error" in frame.columns else pd.Series(dtype=int))
    chosen = list(metrics) if metrics is not None else _default_metrics(frame)
    ok = frame[frame["method"].notna()] if "error" not in frame.columns \
        else frame[frame["error"].isna()]
    out = []
    for group, rows in ok.groupby([*keys, "method", "estimand"], sort=True, dropna=False):
        failed = int(failed_reps.get(group[0], 0))
        for metric in chosen:
            value, mcse, n_ok = performance(rows, metric, alpha=alpha, null_value=null_value)
            if n_ok == 0 and metrics is None:
                continue
            out.append((*group, metric, value, mcse, n_ok, failed + len(rows) - n_ok))
    table = pd.DataFrame(out, columns=[*keys, "method", "estimand", "metric", "value",
                                       "mcse", "n_ok", "n_failed"])
    if target_mcse is not None:
        if not target_mcse > 0:
            raise ValueError(f"target_mcse must be positive, got {target_mcse}")
        needed = table["n_ok"] * (table["mcse"] / target_mcse) ** 2
        table["n_needed"] = np.ceil(needed.round(9)).astype("Int64")
    return table


def replications_needed(target_mcse: float, *, p: float | None = None,
                        sd: float | None = None) -> int:
    """Replications for a target Monte Carlo SE of a proportion or a mean.

    For a proportion ``p`` (coverage, rejection) the answer is ``p (1 - p) / target^2``;
    for a mean or bias of estimates with standard deviation ``sd`` it is
    ``sd^2 / target^2``, rounded up (Morris, White & Crowther, 2019).

    Examples
    --------
    >>> replications_needed(0.005, p=0.95)  # 95% coverage to +-0.5% MCSE
    1900
    >>> replications_needed(0.01, sd=0.2)
    400
    """
    if not target_mcse > 0:
        raise ValueError(f"target_mcse must be positive, got {target_mcse}")
    if (p is None) == (sd is None):
        raise ValueError("give exactly one of p (a proportion) or sd (an estimate's SD)")
    if p is not None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        variance = p * (1 - p)
    else:
        if not sd >= 0:
            raise ValueError(f"sd must be non-negative, got {sd}")
        variance = sd**2
    # round first: 0.95 * 0.05 / 0.005**2 is 1900.0000000000002 in floating point
    return max(1, math.ceil(round(variance / target_mcse**2, 9)))
