"""`compare`: which growth model predicts left-out patients best (PSIS-LOO), in words.

Every Gaussian growth fit stores each patient's marginal log-likelihood (its random effects
integrated out) in ``log_likelihood``; :func:`compare` hands those to ``arviz.compare``, so
the unit left out is a whole patient (leave-one-patient-out cross-validation, Vehtari,
Gelman & Gabry 2017), and says which model is preferred and by how much: the difference in
expected log predictive density (elpd) and its standard error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trajectories.engine import tree

__all__ = ["ModelComparison", "compare"]


@dataclass(frozen=True)
class ModelComparison:
    """The table of ``arviz.compare`` (one row per model, best first) and its reading.

    Examples
    --------
    >>> result = compare({"log": small_fit, "linear": linear_fit})
    >>> isinstance(result, ModelComparison), sorted(result.table["model"])
    (True, ['linear', 'log'])
    >>> str(result) == result.message
    True
    """

    table: pd.DataFrame
    message: str

    def __str__(self) -> str:
        return self.message


def compare(fits: dict[str, object]) -> ModelComparison:
    """Compare growth fits of the same data by leave-one-patient-out cross-validation.

    Parameters
    ----------
    fits : dict of str to GrowthFit
        Two or more fits of the same patients (e.g. ``{"log": ..., "linear": ...}``) with
        normal residuals (their log-likelihoods integrate the patient effects out; a
        Student-t fit's are conditional on them and not comparable).

    Returns
    -------
    ModelComparison
        ``table``: ``model``, ``rank``, ``elpd`` (LOO expected log predictive density),
        ``se``, ``elpd_diff`` and ``dse`` (difference from the best and its SE), ``p``
        (effective number of parameters), ``weight`` (stacking), ``pareto_k_warning``;
        ``message``: the preferred model, by how much, and whether that is clear (a
        difference beyond 2 SE of it and of at least 4 elpd, following Sivula et al. 2022).

    Examples
    --------
    ``small_fit`` and ``linear_fit`` are the same model of the Beat the Blues data with log
    and linear time:

    >>> result = compare({"log": small_fit, "linear": linear_fit})
    >>> result.table["model"].tolist()
    ['log', 'linear']
    >>> print(result)  # doctest: +ELLIPSIS
    'log' predicts left-out patients best (elpd ...); 'linear' is worse by ...
    """
    import arviz as az

    if not isinstance(fits, dict) or len(fits) < 2:
        raise ValueError("compare needs a dict of at least two fits, e.g. "
                         "{'log': fit_log, 'linear': fit_linear}")
    first = next(iter(fits.values()))
    for name, fit in fits.items():
        if not tree.has_group(fit.idata, "log_likelihood"):
            raise ValueError(f"fit {name!r} has no per-patient log-likelihood (joint "
                             "growth-dropout fits have none); compare growth fits")
        if fit.spec.likelihood != "normal":
            raise ValueError(f"fit {name!r} has {fit.spec.likelihood!r} residuals: its "
                             "log-likelihood is conditional on the patient effects and not "
                             "comparable with marginal ones; compare fits with normal residuals")
        if not np.array_equal(fit.design.patients, first.design.patients) or \
                len(fit.design.y) != len(first.design.y):
            raise ValueError(f"fit {name!r} was fitted to other data than "
                             f"{next(iter(fits))!r}: compare fits of the same patients")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = az.compare({name: fit.idata for name, fit in fits.items()},
                           round_to="none")
    table = table.rename_axis("model").reset_index()
    high_k = any("Pareto" in str(w.message) for w in caught)
    table["pareto_k_warning"] = high_k
    keep = ["model", "rank", "elpd", "se", "elpd_diff", "dse", "p", "weight",
            "pareto_k_warning"]
    table = table[keep]
    return ModelComparison(table=table, message=_in_words(table, high_k))


def _in_words(table: pd.DataFrame, high_k: bool) -> str:
    best = table.iloc[0]
    parts = [f"{best['model']!r} predicts left-out patients best (elpd {best['elpd']:.1f}, "
             f"SE {best['se']:.1f})"]
    for row in table.iloc[1:].itertuples():
        diff, dse = -row.elpd_diff, row.dse
        clear = diff > 2 * dse and diff >= 4
        verdict = "a clear difference" if clear else "not a clear difference"
        parts.append(f"{row.model!r} is worse by {diff:.1f} elpd (SE {dse:.1f}, "
                     f"{diff / dse if dse > 0 else np.inf:.1f} SE: {verdict})")
    text = "; ".join(parts) + "."
    if high_k:
        text += (" Some patients have Pareto k > 0.7: their LOO estimate is unreliable "
                 "(influential patients); treat small differences with care.")
    return text
