"""Analytic power of the time x treatment effect in three-level designs (as powerlmm).

The variance of the GLS estimate of ``b3`` is exact for the expected design: each arm's
fixed intercept and slope have information ``sum over therapists of (A^-1 + G_v)^-1``,
where ``A = n2 sum_j pi_j Z_j' V_j^-1 Z_j`` is the information of a therapist's patients
(``pi_j`` the share whose last measurement is j under the dropout curve, ``V_j`` their
marginal covariance) and ``G_v`` the therapist covariance; without therapists (the control
arm of a partially nested design) it is ``N_c sum_j pi_j Z_j' V_j^-1 Z_j``. Without
dropout this is the classic formula of Galbraith, Marschner & Stevens (2002), extended to
therapist slopes by Magnusson (powerlmm)::

    Var(b3) = sum over arms of (se^2 / SS_t + su1^2 + n2 sv1^2) / (n2 n3)

with ``SS_t`` the sum of squared deviations of the measurement times. Power is that of a
two-sided t test with noncentrality ``b3 / SE``: on the between-therapist degrees of
freedom ``2 n3 - 2`` (powerlmm's default, ``df = "between"``) when fully nested, and on
Welch-Satterthwaite degrees of freedom of the two arm variances (therapists in one, patients
in the other) when partially nested.

Assurance (O'Hagan, Stevens & Campbell 2005) is the power averaged over a normal design
prior on the effect, by Gauss-Hermite quadrature.

References
----------
Galbraith, S., Marschner, I. C. & Stevens, J. A. (2002). Some power calculations for
longitudinal data. *Controlled Clinical Trials* 23(4), 356-363.
doi:10.1016/S0197-2456(02)00205-2
Magnusson, K. (2018). powerlmm: power analysis for longitudinal multilevel models. R package
version 0.4.0.
O'Hagan, A., Stevens, J. W. & Campbell, M. J. (2005). Assurance in clinical trial design.
*Pharmaceutical Statistics* 4(3), 187-201. doi:10.1002/pst.175
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulations.power.design import TrialDesign

__all__ = ["analytic_assurance", "analytic_power", "analytic_sample_size", "power_curve",
           "slope_variance"]


def _patient_information(design: TrialDesign) -> np.ndarray:
    """Compute one patient's expected information on (intercept, slope).

    The sum is ``sum_j pi_j Z_j' V_j^-1 Z_j``.
    """
    t = design.times
    g = design.patient_cov()
    s2 = design.sigma_error**2
    info = np.zeros((2, 2))
    for j, pi in enumerate(design.last_session_probabilities()):
        if pi <= 0:
            continue
        z = np.column_stack([np.ones(j + 1), t[: j + 1]])
        v = z @ g @ z.T + s2 * np.eye(j + 1)
        info += pi * z.T @ np.linalg.solve(v, z)
    return info


def slope_variance(design: TrialDesign) -> dict[str, float]:
    """Variance of the slope estimate in each arm, the SE of ``b3`` and the df of its test.

    Examples
    --------
    >>> d = TrialDesign(n_therapists=4, patients_per_therapist=10, n_sessions=11,
    ...                 cohend=-0.8, icc_pre_cluster=0.0)
    >>> v = d.variances
    >>> ss_t = ((d.times - d.times.mean()) ** 2).sum()
    >>> classic = 2 * (v["se"] ** 2 / ss_t + v["su1"] ** 2 + 10 * v["sv1"] ** 2) / 40
    >>> out = slope_variance(d)
    >>> bool(np.isclose(out["se"] ** 2, classic)), out["df"]
    (True, 6.0)
    """
    m = _patient_information(design)
    if np.linalg.matrix_rank(m) < 2:
        raise ValueError("no patient is measured twice: the slopes are not identified "
                         "(lower the dropout or add sessions)")
    n2, n3 = design.patients_per_therapist, design.n_therapists
    cluster = np.linalg.inv(n2 * m) + design.therapist_cov()  # var of a therapist's mean
    var_t = float(cluster[1, 1]) / n3
    if design.nesting == "full":
        var_c, df = var_t, 2.0 * n3 - 2.0
    else:
        n_c = design.control_patients
        var_c = float(np.linalg.inv(n_c * m)[1, 1])
        df = (var_t + var_c) ** 2 / (var_t**2 / (n3 - 1) + var_c**2 / (n_c - 1))
    return {"var_treatment": var_t, "var_control": var_c, "se": float(np.sqrt(var_t + var_c)),
            "df": float(df)}


def _power(effect: np.ndarray | float, se: float, df: float, alpha: float) -> np.ndarray:
    from scipy import stats

    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = np.asarray(effect, dtype=float) / se
    # P(T > c; ncp) = P(T < -c; -ncp). scipy's noncentral t gives nan for a tail far from
    # the noncentrality (e.g. P(T < -2.2) at ncp 12 on 10 df), where it is 0 to double
    # precision
    upper = np.nan_to_num(stats.nct.cdf(-crit, df, -ncp), nan=0.0)
    lower = np.nan_to_num(stats.nct.cdf(-crit, df, ncp), nan=0.0)
    return upper + lower


def analytic_power(design: TrialDesign) -> float:
    """Power of the two-sided test of ``b3`` (see the module docstring).

    Examples
    --------
    >>> d = TrialDesign(n_therapists=10, patients_per_therapist=10, cohend=0.0)
    >>> round(analytic_power(d), 3)   # no effect: the test's level
    0.05
    >>> analytic_power(d.with_values(cohend=-0.5)) > analytic_power(d.with_values(cohend=-0.3))
    True
    """
    v = slope_variance(design)
    return float(_power(design.slope_diff_value, v["se"], v["df"], design.alpha))


def analytic_assurance(design: TrialDesign, *, effect_sd: float, n_nodes: int = 30) -> float:
    """Power averaged over ``cohend ~ Normal(design's cohend, effect_sd)``.

    Examples
    --------
    >>> d = TrialDesign(n_therapists=10, patients_per_therapist=10, cohend=-0.5)
    >>> round(analytic_assurance(d, effect_sd=1e-9), 6) == round(analytic_power(d), 6)
    True
    """
    if not effect_sd > 0:
        raise ValueError(f"effect_sd must be positive, got {effect_sd}")
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    v = slope_variance(design)
    d = design.cohend_value + effect_sd * nodes
    return float(np.sum(weights * _power(design.slope_of(d), v["se"], v["df"], design.alpha))
                 / np.sqrt(2 * np.pi))


def power_curve(design: TrialDesign, **grid: Sequence[Any]) -> pd.DataFrame:
    """Compute analytic power over a grid of design settings.

    The grid is given as keyword arguments, e.g. ``n_therapists=range(4, 31, 2),
    patients_per_therapist=[5, 10, 20]``.

    Returns
    -------
    pandas.DataFrame
        One row per combination: the settings, ``n_patients``, ``cohend``, ``slope_diff``,
        ``se``, ``df`` and ``power``.

    Examples
    --------
    >>> d = TrialDesign(cohend=-0.5)
    >>> power_curve(d, n_therapists=[4, 8])[["n_therapists", "n_patients"]].to_numpy().tolist()
    [[4, 80], [8, 160]]
    """
    import itertools

    names = list(grid)
    rows = []
    for values in itertools.product(*(list(grid[n]) for n in names)):
        d = design.with_values(**dict(zip(names, values, strict=True)))
        v = slope_variance(d)
        rows.append({**dict(zip(names, values, strict=True)), "n_patients": d.n_patients,
                     "cohend": d.cohend_value, "slope_diff": d.slope_diff_value,
                     "se": v["se"], "df": v["df"],
                     "power": float(_power(d.slope_diff_value, v["se"], v["df"], d.alpha))})
    return pd.DataFrame(rows)


def analytic_sample_size(design: TrialDesign, vary: str, values: Sequence[int],
                         target: float = 0.8) -> int | None:
    """Find the smallest of ``values`` for ``vary`` whose analytic power reaches ``target``.

    ``values`` are increasing; the search is by bisection (power increases with therapists and
    patients). Returns ``None`` if even the largest does not reach ``target``.

    Examples
    --------
    >>> d = TrialDesign(patients_per_therapist=10, cohend=-0.5)
    >>> n = analytic_sample_size(d, "n_therapists", range(2, 60), 0.8)
    >>> analytic_power(d.with_values(n_therapists=n)) >= 0.8 > analytic_power(
    ...     d.with_values(n_therapists=n - 1))
    True
    """
    values = list(values)
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")

    def reaches(i: int) -> bool:
        return analytic_power(design.with_values(**{vary: values[i]})) >= target

    if not values or not reaches(len(values) - 1):
        return None
    low, high = 0, len(values) - 1  # reaches(high) holds
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if reaches(mid) else (mid + 1, high)
    return values[low]
