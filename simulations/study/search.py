"""Sample-size search: the smallest design value whose simulated power reaches a target.

A bracketing search on a fitted power curve (in the spirit of SimDesign's ``SimSolve``,
Chalmers 2024, which does the same with a stochastic root-finder). Power is estimated by
simulation at a few values of one design factor (e.g. therapists per arm); a probit
regression of the replications' rejections on ``log(value)`` gives a smooth monotone
curve through all of them; the next replications go to the candidate where the fitted
curve crosses the target and to the value just below it. The search stops when that
answer is the same in two rounds in a row and the fitted power there is known to within
``tolerance`` (its standard error), and returns the whole path, so the answer can be
checked.

Each value's replications come from its own seed (``SeedSequence([seed, value])``) and are
kept in a resumable study store per value, so a search that is stopped and restarted, or
asked for more precision, reuses every replication it ran.

References
----------
Chalmers, R. P. (2024). Solving variables with Monte Carlo simulation experiments: a
stochastic root-solving approach. *Psychological Methods*. doi:10.1037/met0000689
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SearchResult", "search_sample_size", "study_power"]

#: evaluate(value, replications) -> (rejections, replications used): power by simulation.
Evaluate = Callable[[int, int], tuple[int, int]]


@dataclass(frozen=True)
class SearchResult:
    """The answer of :func:`search_sample_size` and how it was found.

    ``value`` is the smallest candidate whose fitted power reaches the target (``None`` if
    none does), ``power`` and ``power_se`` the fitted power there and its standard error,
    ``evaluations`` one row per candidate simulated (``value``, ``rejections``,
    ``replications``, ``power``, ``mcse``), ``curve`` the fitted power at every candidate
    and ``converged`` whether the stopping rule was met within ``max_rounds``.

    Examples
    --------
    >>> from scipy import stats
    >>> rng = np.random.default_rng(1)
    >>> def evaluate(n, reps):  # the one-sample z test of a mean of 0.5 SD, simulated
    ...     return int(rng.binomial(reps, stats.norm.sf(1.96 - 0.5 * np.sqrt(n)))), reps
    >>> found = search_sample_size(evaluate, range(5, 61), 0.8)
    >>> isinstance(found, SearchResult), found.target, found.converged
    (True, 0.8, True)
    """

    value: int | None
    power: float
    power_se: float
    target: float
    evaluations: pd.DataFrame
    curve: pd.DataFrame
    converged: bool
    rounds: int


def _fit(evals: pd.DataFrame, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probit curve of power on log(value): fitted power and its SE at each candidate."""
    import statsmodels.api as sm
    from scipy import stats

    x = sm.add_constant(np.log(evals["value"].to_numpy(float)))
    y = np.column_stack([evals["rejections"], evals["replications"] - evals["rejections"]])
    fam = sm.families.Binomial(link=sm.families.links.Probit())
    res = sm.GLM(y, x, family=fam).fit()
    xc = sm.add_constant(np.log(candidates.astype(float)), has_constant="add")
    eta = xc @ res.params
    se_eta = np.sqrt(np.einsum("ij,jk,ik->i", xc, res.cov_params(), xc))
    return stats.norm.cdf(eta), stats.norm.pdf(eta) * se_eta


def search_sample_size(evaluate: Evaluate, values: Sequence[int], target: float = 0.8, *,
                       replications: int = 200, tolerance: float = 0.02,
                       max_rounds: int = 10) -> SearchResult:
    """Find the smallest of ``values`` whose power reaches ``target``, by a fitted-curve search.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(value, n)`` runs (or reuses) the first ``n`` replications at ``value``
        and returns ``(rejections, n)``. :func:`study_power` builds one from a study task.
    values : sequence of int
        Candidate design values, increasing (e.g. ``range(4, 41, 2)``); power is assumed
        to increase with them.
    target : float
        Power to reach.
    replications : int
        Replications added at a value each time it is evaluated.
    tolerance : float
        Largest standard error of the fitted power at the answer (and the value below it).
    max_rounds : int
        Rounds of refinement at most.

    Examples
    --------
    >>> from scipy import stats
    >>> rng = np.random.default_rng(1)
    >>> def evaluate(n, reps):  # the one-sample z test of a mean of 0.5 SD, simulated
    ...     p = stats.norm.sf(1.96 - 0.5 * np.sqrt(n))
    ...     return int(rng.binomial(reps, p)), reps
    >>> found = search_sample_size(evaluate, range(5, 61), 0.8)
    >>> found.value in (31, 32, 33)   # exactly: 32 (power 0.807; 31: 0.795)
    True
    """
    candidates = np.asarray(list(values), dtype=int)
    if len(candidates) < 2 or np.any(np.diff(candidates) <= 0):
        raise ValueError("values must be at least two increasing integers")
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    done: dict[int, tuple[int, int]] = {}

    def run(value: int) -> None:
        have = done.get(value, (0, 0))[1]
        done[value] = evaluate(int(value), have + replications)

    for value in dict.fromkeys([candidates[0], candidates[len(candidates) // 2],
                                candidates[-1]]):
        run(value)
    previous, converged, rounds = None, False, 0
    for rounds in range(1, max_rounds + 1):
        fitted, se = _fit(_table(done), candidates)
        reach = np.flatnonzero(fitted >= target)
        if not len(reach):  # not even the largest candidate: more there, then stop
            if rounds > 1:
                break
            run(candidates[-1])
            continue
        k = int(reach[0])
        around = [k, k - 1] if k > 0 else [k]  # the answer and the value just below it
        if candidates[k] == previous and all(se[i] <= tolerance for i in around):
            converged = True
            break
        previous = candidates[k]
        for i in around:
            run(candidates[i])
    evals = _table(done)
    fitted, se = _fit(evals, candidates)
    reach = np.flatnonzero(fitted >= target)
    answer = int(candidates[reach[0]]) if len(reach) else None
    at = int(reach[0]) if len(reach) else len(candidates) - 1
    curve = pd.DataFrame({"value": candidates, "power": fitted, "se": se})
    return SearchResult(answer, float(fitted[at]), float(se[at]), target, evals, curve,
                        converged, rounds)


def _table(done: Mapping[int, tuple[int, int]]) -> pd.DataFrame:
    rows = [{"value": v, "rejections": k, "replications": n, "power": k / n,
             "mcse": math.sqrt(k / n * (1 - k / n) / n)} for v, (k, n) in sorted(done.items())]
    return pd.DataFrame(rows)


def study_power(task: Any, factors: Mapping[str, Any], vary: str, *, method: str | None = None,
                seed: int = 1, alpha: float = 0.05, folder: str | Path | None = None,
                executor: Any = "serial", progress: bool = False) -> Evaluate:
    """Make an ``evaluate`` for :func:`search_sample_size` that runs a study task.

    Parameters
    ----------
    task : callable or str
        A study task whose rows have ``p_value`` (or a CI) per ``method``.
    factors : Mapping
        The fixed factor levels (one value each) of every design point.
    vary : str
        The factor the search varies.
    method : str, optional
        Whose rejections count (default: the only method the task returns).
    seed : int
        Root seed; the replications at ``value`` use ``SeedSequence([seed, value])``.
    alpha : float
        Test level.
    folder : str or Path, optional
        Where the per-value study stores go (``<folder>/<vary>=<value>``); default a
        temporary directory kept for the life of the evaluator.
    executor, progress
        As in :func:`simulations.study.run.run_study`.

    Examples
    --------
    >>> evaluate = study_power("growth_power", {"cohend": 0.8, "patients_per_therapist": 5,
    ...                        "methods": "summary"}, "n_therapists", seed=1)
    >>> rejections, replications = evaluate(6, 20)  # 20 simulated trials with 6 therapists
    >>> replications, 0 <= rejections <= 20
    (20, True)
    """
    from simulations.study.design import StudyDesign
    from simulations.study.metrics import performance
    from simulations.study.run import run_study
    from simulations.study.store import ParquetStore

    if vary in factors:
        raise ValueError(f"{vary!r} is the factor searched over; do not fix it in factors")
    root = Path(tempfile.mkdtemp(prefix="setback-search-") if folder is None else folder)

    def evaluate(value: int, replications: int) -> tuple[int, int]:
        entropy = int(np.random.SeedSequence([seed, value]).generate_state(1, np.uint64)[0])
        design = StudyDesign({**{k: [v] for k, v in factors.items()}, vary: [value]},
                             replications=replications, seed=entropy % (2**63))
        store = ParquetStore(root / f"{vary}={value}")
        frame = run_study(design, task, store=store, executor=executor,
                          progress=progress).frame
        ok = frame[frame["error"].isna()] if "error" in frame else frame
        methods = sorted(ok["method"].dropna().unique())
        name = method or (methods[0] if len(methods) == 1 else None)
        if name is None:
            raise ValueError(f"the task returns several methods {methods}: choose one")
        rows = ok[ok["method"] == name]
        if rows.empty:
            raise ValueError(f"no successful replication of method {name!r} at {vary}={value}"
                             f"; see the errors in {store.path}")
        power, _, n = performance(rows, "rejection", alpha=alpha)
        return int(round(power * n)), int(n)

    if folder is None:  # the temporary stores live as long as the evaluator, then go
        weakref.finalize(evaluate, shutil.rmtree, root, True)
    return evaluate
