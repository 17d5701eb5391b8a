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
rbias          mean(d / truth)  (relative bias)   SD(d / truth) / sqrt(n)
becover        mean(ci_low <= mean(estimate)      sqrt(becover (1 - becover) / n)
               <= ci_high)  (bias-eliminated)
relprec        100 ((empse_ref / empse)^2 - 1)    200 (empse_ref / empse)^2 sqrt((1 - r^2) / (n-1))
mean_rank      mean(rank / L)  (SBC; 0.5)         SD(rank / L) / sqrt(n)
uniformity     p-value of the SBC rank-ECDF test  (none: a test, not an estimate)
============== ================================== =============================================

SD and Var use the ``n - 1`` denominator. ``rejection`` is power when the null is false and
the type I error rate when it is true. ``rbias`` needs a non-zero truth. ``relprec`` is
the precision of a method relative to a ``reference`` method on the same replications
(``r`` the correlation of their estimates; rsimsum's ``relprec``, White 2010); the
reference itself gets 0. ``mean_rank`` and ``uniformity`` are the measures of a
simulation-based calibration study (columns ``rank`` and ``n_ranked``): ranks of the truth
among L posterior draws are uniform when inference is calibrated, so bias and coverage of
the posterior mean are not what an SBC study asks (:mod:`simulations.study.sbc`).

References
----------
Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation studies to evaluate
statistical methods. *Statistics in Medicine*, 38(11), 2074-2102. doi:10.1002/sim.8086
Gasparini, A. (2018). rsimsum: summarise results from Monte Carlo simulation studies.
*Journal of Open Source Software*, 3(26), 739. doi:10.21105/joss.00739
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulations.study.targets import PERCENT_METRICS, parse_targets, replications_needed
from simulations.study.targets import targets as targets_of

__all__ = ["METRICS", "PERCENT_METRICS", "default_metrics", "parse_targets", "performance",
           "relative_precision", "replications_needed", "summarise"]

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
    return _mean_of(a["estimate"])


def _mean_of(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), _sd(x) / math.sqrt(len(x))


def _rbias(a: Arrays, **_: Any) -> tuple[float, float]:
    if (a["truth"] == 0).any():
        return math.nan, math.nan  # relative to a truth of 0 is undefined
    return _mean_of((a["estimate"] - a["truth"]) / a["truth"])


def _becover(a: Arrays, **_: Any) -> tuple[float, float]:
    centre = a["estimate"].mean()
    return _proportion((a["ci_low"] <= centre) & (centre <= a["ci_high"]))


def _mean_rank(a: Arrays, **_: Any) -> tuple[float, float]:
    return _mean_of(a["rank"] / a["n_ranked"])


def _uniformity(a: Arrays, **_: Any) -> tuple[float, float]:
    from simulations.study.sbc import ecdf_uniformity

    L = int(a["n_ranked"].max())  # noqa: N806
    test = ecdf_uniformity({"rank": a["rank"].astype(int)}, L)
    return float(test["p_value"].iloc[0]), math.nan


def relative_precision(estimate: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Percent gain in precision over a reference method, on the same replications.

    ``100 ((EmpSE_ref / EmpSE)^2 - 1)`` with MCSE ``200 (EmpSE_ref / EmpSE)^2
    sqrt((1 - r^2) / (n - 1))`` (Morris, White & Crowther 2019, Table 6).

    Examples
    --------
    >>> x = np.array([0.0, 1.0, 2.0, 3.0])
    >>> relative_precision(x, 2 * x)   # half the SD: four times the precision; r = 1
    (300.0, 0.0)
    """
    n = len(estimate)
    ratio = (_sd(reference) / _sd(estimate)) ** 2
    r = float(np.corrcoef(estimate, reference)[0, 1]) if n > 2 else math.nan
    mcse = 200 * ratio * math.sqrt(max(1 - r**2, 0.0) / (n - 1)) if n > 1 else math.nan
    return 100 * (ratio - 1), mcse


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
    "rbias": (("estimate", "truth"), _rbias),
    "becover": (("estimate", "ci_low", "ci_high"), _becover),
    "relprec": (("estimate",), None),  # needs the reference method: see summarise()
    "mean_rank": (("rank", "n_ranked"), _mean_rank),
    "uniformity": (("rank", "n_ranked"), _uniformity),
}


def performance(frame: pd.DataFrame, metric: str, *, alpha: float = 0.05,
                null_value: float = 0.0,
                reference: pd.DataFrame | None = None) -> tuple[float, float, int]:
    """One metric of one set of replications: ``(value, mcse, n_used)``.

    Rows missing any column the metric needs are left out. ``relprec`` needs
    ``reference``: the reference method's rows of the same condition and estimand, paired
    with ``frame`` by ``replication``.

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
    if metric == "relprec":
        if reference is None:
            raise ValueError("metric 'relprec' needs a reference method (reference=...)")
        paired = frame[["replication", "estimate"]].merge(
            reference[["replication", "estimate"]], on="replication", suffixes=("", "_ref"))
        paired = paired.apply(pd.to_numeric, errors="coerce").dropna()
        if len(paired) < 3:
            return math.nan, math.nan, len(paired)
        value, mcse = relative_precision(paired["estimate"].to_numpy(float),
                                         paired["estimate_ref"].to_numpy(float))
        return value, mcse, len(paired)
    used = frame[needed].apply(pd.to_numeric, errors="coerce").dropna()
    arrays = {c: used[c].to_numpy(dtype=float) for c in needed}
    if used.empty:
        return math.nan, math.nan, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        value, mcse = METRICS[metric][1](arrays, alpha=alpha, null_value=null_value)
    return value, mcse, len(used)


def default_metrics(frame: pd.DataFrame, task: Any = None) -> list[str]:
    """Choose the metrics a study's rows call for: the task's own set, else what columns allow.

    A task registered with ``metrics=`` (:func:`simulations.tasks.registry.register_task`)
    names its set; SBC tasks use ``coverage``, ``mean_rank`` and ``uniformity``. Otherwise:
    with ``rank``, the SBC set; with ``truth``: bias, empse, rmse, then modse and
    relerror_modse with ``se``, coverage with a CI, rejection with ``p_value``; without:
    mean and empse.

    Examples
    --------
    >>> default_metrics(pd.DataFrame(columns=["estimate", "truth", "ci_low", "ci_high"]))
    ['bias', 'empse', 'rmse', 'coverage']
    >>> default_metrics(pd.DataFrame(columns=["estimate"]), task="t_interval")
    ['bias', 'empse', 'rmse', 'modse', 'coverage', 'rejection']
    """
    if task is not None:
        from simulations.tasks.registry import get_task, task_metrics

        try:
            chosen = task_metrics(get_task(task))
        except ValueError:  # a task that no longer imports: fall back on the columns
            chosen = None
        if chosen is not None:
            return list(chosen)
    cols = set(frame.columns)
    if "rank" in cols:
        return ["coverage", "mean_rank", "uniformity"]
    if "truth" not in cols:
        return ["mean", "empse"]
    chosen = ["bias", "empse", "rmse"]
    chosen += ["modse", "relerror_modse"] if "se" in cols else []
    chosen += ["coverage"] if {"ci_low", "ci_high"} <= cols else []
    chosen += ["rejection"] if "p_value" in cols else []
    return chosen


def summarise(results: Any, metrics: Sequence[str] | None = None, *, alpha: float = 0.05,
              null_value: float = 0.0,
              target_mcse: float | Mapping[str, float] | None = None,
              reference: str | None = None) -> pd.DataFrame:
    """Compute performance measures per condition, method and estimand, each with its MCSE.

    Parameters
    ----------
    results : StudyResults or pandas.DataFrame
        Output of :func:`simulations.study.run.run_study` (or its ``frame``: the columns between
        ``condition_id`` and ``replication`` are taken as the factors).
    metrics : sequence of str or None
        Names from :data:`METRICS`. ``None`` picks the task's set or those the columns
        allow (:func:`default_metrics`, plus ``relprec`` with a ``reference``), and leaves
        out a metric for a method whose rows lack its columns.
    alpha : float
        Level of the test when rejection uses ``p_value``.
    null_value : float
        Value of the null hypothesis when rejection uses the CI (no ``p_value`` column).
    target_mcse : float, mapping or None
        MCSE targets: ``{"bias": 0.01, "coverage": 0.005}`` (``"*"`` for every other
        metric; a number alone applies to all). Adds ``n_needed``, the replications for the
        target, ``n_ok (mcse / target)^2``, on the rows of the metrics with a target. A
        percent-scale metric (:data:`PERCENT_METRICS`) takes its target in points.
    reference : str or None
        Method that ``relprec`` compares the others with.

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
    >>> summarise(frame, ("bias", "coverage"), target_mcse={"coverage": 0.1})[
    ...     ["metric", "value", "mcse", "n_ok", "n_needed"]]
         metric  value      mcse  n_ok  n_needed
    0      bias  -0.05  0.104083     4      <NA>
    1  coverage   0.75  0.216506     4        19
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
    targets = targets_of(target_mcse, METRICS)
    if reference is not None and reference not in set(frame["method"].dropna()):
        raise ValueError(f"reference method {reference!r} is not in the results; methods: "
                         f"{sorted(frame['method'].dropna().unique())}")
    failed_reps = (frame[frame["error"].notna()].groupby("condition_id")["replication"]
                   .nunique() if "error" in frame.columns else pd.Series(dtype=int))
    task = getattr(results, "meta", {}).get("task")
    chosen = list(metrics) if metrics is not None else default_metrics(frame, task)
    if metrics is None and reference is not None and "relprec" not in chosen:
        chosen.append("relprec")
    if "relprec" in chosen and reference is None:
        raise ValueError("metric 'relprec' needs reference=<method> (the method the others "
                         "are compared with)")
    ok = frame[frame["method"].notna()] if "error" not in frame.columns \
        else frame[frame["error"].isna()]
    refs = ({g: r for g, r in ok[ok["method"] == reference].groupby(
        [*keys, "estimand"], sort=False, dropna=False)} if reference is not None else {})
    out = []
    for group, rows in ok.groupby([*keys, "method", "estimand"], sort=True, dropna=False):
        failed = int(failed_reps.get(group[0], 0))
        ref_rows = refs.get((*group[:-2], group[-1]))
        for metric in chosen:
            if metric == "relprec" and ref_rows is None:
                continue
            try:
                value, mcse, n_ok = performance(rows, metric, alpha=alpha,
                                                null_value=null_value, reference=ref_rows)
            except ValueError:
                if metrics is not None:
                    raise
                continue  # a default metric this method's rows cannot give
            if n_ok == 0 and metrics is None:
                continue
            out.append((*group, metric, value, mcse, n_ok, failed + len(rows) - n_ok))
    table = pd.DataFrame(out, columns=[*keys, "method", "estimand", "metric", "value",
                                       "mcse", "n_ok", "n_failed"])
    if targets:
        target = table["metric"].map(lambda m: targets.get(m, targets.get("*", math.nan)))
        needed = table["n_ok"] * (table["mcse"] / target) ** 2
        table["n_needed"] = pd.array(np.ceil(needed.round(9)), dtype="Float64").astype("Int64")
    return table
