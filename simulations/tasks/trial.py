"""Trial power: a cluster-randomised feedback trial with therapist effects and dropout.

Design. Therapists (not patients) are randomised, half to routine outcome feedback and
half to treatment as usual (TAU), as feedback trials usually are to avoid contamination:
a therapist who sees alerts for some patients changes how they treat all of them. The
simulator runs the whole clinic under TAU and under feedback with the same seed (common
random numbers); patients of feedback therapists take their course from the feedback run.
Patients only interact through their therapist, so this is exactly a cluster-randomised
trial. Dropout is informative (the simulator's dropout depends on the course and the
alliance), and feedback itself lowers dropout.

Estimand (treatment-policy): the population difference, feedback minus TAU, in the mean
end-of-treatment score (the last observed score, whether the patient completed or dropped
out). Its true value is computed once per configuration from a large common-random-numbers
run of the generating model (:func:`true_effect`); with ``p_act = 0`` nobody acts on an
alert, the two runs are identical and the truth is exactly 0.

Analyses: ``"mixedlm"`` is ANCOVA of the end score on intake and arm with a random
therapist intercept (statsmodels ``MixedLM``, REML, Powell's method: the
gradient optimisers fail on many small trials), tested with t on ``therapists - 2``
degrees of freedom (clusters, not patients, carry the arm contrast); ``"ols"`` is the same
ANCOVA ignoring therapists, whose type I error is inflated by therapist effects
(Magnusson, Andersson & Carlbring 2018).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from simulations.tasks.registry import check_factors, register_task

__all__ = ["TRIAL_FACTORS", "analyse_trial", "trial_power", "true_effect"]

#: Factors of the trial-power study, with their defaults.
TRIAL_FACTORS: dict[str, Any] = {
    "n_therapists": 20, "patients_per_therapist": 10, "p_act": 0.75, "setting": "trial",
    "max_sessions": 20, "level": 0.95,
}


def _config(n_patients: int, n_therapists: int, setting: str, max_sessions: int) -> Any:
    from simulations.clinic.config import ClinicConfig

    if setting not in ("trial", "routine"):
        raise ValueError(f"setting must be 'trial' or 'routine', got {setting!r}")
    make = ClinicConfig.routine if setting == "routine" else ClinicConfig
    return make(n_patients=n_patients, n_therapists=n_therapists, max_sessions=max_sessions)


def _paired_runs(config: Any, p_act: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from simulations.clinic.policies import Feedback
    from simulations.clinic.simulate import simulate

    tau = simulate(config, "tau", seed=seed, keep_sessions=False).patients
    fb = simulate(config, Feedback(p_act=p_act), seed=seed, keep_sessions=False).patients
    return tau, fb


@functools.lru_cache(maxsize=64)
def true_effect(p_act: float, setting: str = "trial", max_sessions: int = 20, *,
                n_patients: int = 40_000, seed: int = 7) -> float:
    """Compute the population difference in mean end score, feedback minus TAU (large CRN run).

    The Monte Carlo SE of the paired difference is about 0.01 score points with the
    default 40,000 patients. Cached per process.

    Examples
    --------
    >>> true_effect(0.0, n_patients=2_000)
    0.0
    """
    config = _config(n_patients, max(1, n_patients // 100), setting, max_sessions)
    tau, fb = _paired_runs(config, p_act, seed)
    return float(fb["final"].mean() - tau["final"].mean())


def analyse_trial(frame: pd.DataFrame, *, level: float = 0.95) -> list[dict]:
    """ANCOVA of the end score with a random therapist intercept, and naive OLS.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient: ``final`` (end score), ``intake``, ``arm`` (0/1),
        ``therapist``.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    list of dict
        One row per method (``"mixedlm"``, ``"ols"``): ``estimate`` (arm effect), ``se``,
        ``ci_low``, ``ci_high``, ``p_value``, ``df``, ``converged``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> th = np.repeat(np.arange(10), 20)
    >>> f = pd.DataFrame({"therapist": th, "arm": (th % 2).astype(float),
    ...                   "intake": rng.normal(15, 5, 200)})
    >>> f["final"] = 5 + 0.5 * f["intake"] - 2 * f["arm"] + rng.normal(0, 3, 200)
    >>> rows = analyse_trial(f)
    >>> [r["method"] for r in rows], rows[0]["ci_low"] < -2 < rows[0]["ci_high"]
    (['mixedlm', 'ols'], True)
    """
    import statsmodels.formula.api as smf
    from scipy import stats

    n_clusters = frame["therapist"].nunique()
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixed = smf.mixedlm("final ~ intake + arm", frame, groups=frame["therapist"]).fit(
            reml=True, method="powell")
    # a therapist variance on the boundary (0) is a valid REML fit, not a failure
    converged = bool(mixed.converged) and not any(
        "failed" in str(w.message).lower() for w in caught)
    ols = smf.ols("final ~ intake + arm", frame).fit()
    for method, res, df in (("mixedlm", mixed, max(1, n_clusters - 2)),
                            ("ols", ols, int(ols.df_resid))):
        est, se = float(res.params["arm"]), float(res.bse["arm"])
        q = float(stats.t.ppf(0.5 + level / 2, df))
        rows.append({"method": method, "estimate": est, "se": se, "ci_low": est - q * se,
                     "ci_high": est + q * se, "p_value": float(2 * stats.t.sf(abs(est / se), df)),
                     "df": df, "converged": converged if method == "mixedlm" else True})
    return rows


def trial_power(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """One simulated cluster-randomised feedback trial and its analyses.

    Parameters
    ----------
    condition : Mapping
        Factors (all optional, see :data:`TRIAL_FACTORS`): ``n_therapists`` (randomised,
        half to each arm; >= 4), ``patients_per_therapist``, ``p_act`` (probability that a
        therapist acts on an alert: the size of the feedback effect; 0 is the null),
        ``setting`` (``"trial"`` or ``"routine"`` dropout), ``max_sessions``, ``level``.
    rng : numpy.random.Generator
        The replication's generator (seeds the clinic and the randomisation).

    Returns
    -------
    list of dict
        Per method: ``estimand="end_score_diff"``, ``estimate``, ``truth``
        (:func:`true_effect`), ``se``, ``ci_low``, ``ci_high``, ``p_value``, ``df``,
        ``converged``, and the trial's ``dropout_feedback`` and ``dropout_tau`` rates.
        ``setback study summarize`` turns these into bias, coverage and power.

    Examples
    --------
    >>> rows = trial_power({"n_therapists": 8, "patients_per_therapist": 10},
    ...                    np.random.default_rng(2))
    >>> [r["method"] for r in rows], rows[0]["estimand"]
    (['mixedlm', 'ols'], 'end_score_diff')
    """
    check_factors("trial power", condition, TRIAL_FACTORS)
    f = {**TRIAL_FACTORS, **condition}
    n_ther = int(f["n_therapists"])
    if n_ther < 4:
        raise ValueError(f"n_therapists must be >= 4 (two per arm), got {n_ther}")
    n_pat = n_ther * int(f["patients_per_therapist"])
    config = _config(n_pat, n_ther, str(f["setting"]), int(f["max_sessions"]))
    seed = int(rng.integers(2**31))
    arm_of = np.zeros(n_ther)
    arm_of[rng.permutation(n_ther)[: n_ther // 2]] = 1.0
    tau, fb = _paired_runs(config, float(f["p_act"]), seed)
    arm = arm_of[tau["therapist"].to_numpy()]
    chosen = np.where(arm[:, None] == 1.0, fb[["final", "intake"]].to_numpy(),
                      tau[["final", "intake"]].to_numpy())
    dropout = np.where(arm == 1.0, fb["end_status"] == "dropout", tau["end_status"] == "dropout")
    frame = pd.DataFrame({"final": chosen[:, 0], "intake": chosen[:, 1], "arm": arm,
                          "therapist": tau["therapist"].to_numpy()})
    truth = true_effect(float(f["p_act"]), str(f["setting"]), int(f["max_sessions"]))
    out = []
    for row in analyse_trial(frame, level=float(f["level"])):
        out.append({"method": row.pop("method"), "estimand": "end_score_diff", **row,
                    "truth": truth, "dropout_feedback": float(dropout[arm == 1].mean()),
                    "dropout_tau": float(dropout[arm == 0].mean())})
    return out


register_task("trial_power", trial_power,
              metrics=("bias", "empse", "modse", "coverage", "rejection"))
