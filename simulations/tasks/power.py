"""Simulated power of a therapist-clustered trial, analysed by the models a trial would use.

One replication simulates a trial from :class:`~simulations.power.design.TrialDesign`
(:func:`~simulations.power.simulate.simulate_trial`: three-level growth, optional
partially nested design and informative dropout) and estimates the time x treatment
effect ``b3`` with each requested method:

- ``"mixedlm"``: the three-level linear mixed model fitted by REML (statsmodels
  ``MixedLM``: therapist intercepts and slopes, correlated, and patient intercepts and
  slopes as variance components; fitted with Powell's and with L-BFGS, each of which
  fails on some data sets, keeping the converged fit of higher REML likelihood), Wald t
  test on the design's degrees of freedom (:func:`~simulations.power.
  analytic.slope_variance`). About 0.5-3 s per replication. Fully nested designs only:
  statsmodels cannot give therapist effects to one arm (the fit is singular).
- ``"bayes"``: the Bayesian growth model (:func:`trajectories.fit.fit_growth`, fast
  path, default weakly informative priors; fully nested designs only): ``p_value`` is
  twice the smaller posterior tail probability of 0, so "rejection" is the 95% credible
  interval excluding 0, the success criterion of Bayesian assurance.
- ``"summary"``: the cluster-level summary analysis: each patient's OLS slope, averaged
  per therapist, compared between arms by a t test (Welch's when partially nested).
  With complete data it is the exact test behind the analytic formula; it is fast, and
  the analysis of partially nested designs here.
- ``"ols"``: naive OLS of the scores on time x arm, ignoring patients and therapists:
  its type I error is inflated (Magnusson, Andersson & Carlbring 2018).

With ``effect_sd > 0`` the true effect of each replication is drawn from the design prior
``cohend ~ Normal(cohend, effect_sd)``, so the rejection rate is the (Bayesian) assurance.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from simulations.tasks.registry import check_factors, register_task

__all__ = ["METHODS", "POWER_FACTORS", "analyse", "growth_power"]

#: Analysis methods of :func:`growth_power`.
METHODS = ("mixedlm", "bayes", "summary", "ols")
#: Factors beyond the TrialDesign fields, with their defaults.
POWER_FACTORS: dict[str, Any] = {"methods": "mixedlm,ols", "effect_sd": 0.0,
                                 "draws": 500, "tune": 500}


def _t_row(method: str, est: float, se: float, df: float, truth: float) -> dict:
    from scipy import stats

    q = float(stats.t.ppf(0.975, df))
    return {"method": method, "estimate": est, "se": se, "ci_low": est - q * se,
            "ci_high": est + q * se, "df": df, "truth": truth,
            "p_value": float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else float("nan")}


def _summary(frame: pd.DataFrame, design: Any, truth: float) -> dict:
    """Per-patient OLS slopes, therapist means, t test between arms."""
    from scipy import stats

    pid = pd.factorize(frame["patient"])[0]
    t, y = frame["time"].to_numpy(float), frame["score"].to_numpy(float)
    n = np.bincount(pid)
    t_mean, y_mean = np.bincount(pid, t) / n, np.bincount(pid, y) / n
    dt = t - t_mean[pid]
    sxx = np.bincount(pid, dt * dt)
    sxy = np.bincount(pid, dt * (y - y_mean[pid]))
    ok = (n >= 2) & (sxx > 0)  # a patient seen once has no slope
    first = frame.groupby(pid, sort=True)[["therapist", "arm"]].first()[ok]
    slope = pd.Series(sxy[ok] / sxx[ok], index=first.index)
    cluster = slope.groupby(first["therapist"].to_numpy()).mean()
    arm = first.groupby("therapist")["arm"].first().reindex(cluster.index)
    a, b = cluster[arm == 1].to_numpy(), cluster[arm == 0].to_numpy()
    test = stats.ttest_ind(a, b, equal_var=design.nesting == "full")
    est = float(a.mean() - b.mean())
    se = float(abs(est / test.statistic)) if test.statistic else float("nan")
    return _t_row("summary", est, se, float(test.df), truth)


def _mixedlm(frame: pd.DataFrame, design: Any, truth: float, df: float) -> dict:
    import statsmodels.formula.api as smf

    if design.nesting != "full":
        raise ValueError("method 'mixedlm' needs a fully nested design: statsmodels' MixedLM "
                         "cannot give therapist effects to one arm only (its fit is singular); "
                         "use 'summary' (Welch's test, exact with complete data) or 'ols'")
    model = smf.mixedlm("score ~ time * arm", frame, groups="therapist", re_formula="~time",
                        vc_formula={"patient": "0 + C(patient)",
                                    "patient_slope": "0 + C(patient):time"})
    fits = []
    for method in ("powell", "lbfgs"):  # each fails on some data sets: keep the better
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
        failed = any("failed" in str(w.message).lower() for w in caught)
        if np.isfinite(fit.llf) and np.isfinite(fit.bse["time:arm"]):
            fits.append((bool(fit.converged) and not failed, fit.llf, fit))
    if not fits:
        raise RuntimeError("MixedLM failed with Powell's and L-BFGS optimisers")
    converged, _, fit = max(fits, key=lambda f: (f[0], f[1]))  # converged, then REML llf
    row = _t_row("mixedlm", float(fit.params["time:arm"]), float(fit.bse["time:arm"]), df,
                 truth)
    row["converged"] = converged  # a variance on the boundary (0) is a valid REML fit
    return row


def _bayes(frame: pd.DataFrame, design: Any, truth: float, draws: int, tune: int,
           seed: int) -> dict:
    from trajectories.data import TherapyData
    from trajectories.fit import ConvergenceWarning, fit_growth
    from trajectories.spec import GrowthSpec

    if design.nesting != "full":
        raise ValueError("method 'bayes' needs every patient nested in a therapist (the "
                         "data layer has no patients without one); use 'mixedlm' for "
                         "partially nested designs")
    data = TherapyData.from_frame(frame, patient="patient", therapist="therapist",
                                  session="session", score="score", covariates=("arm",))
    spec = GrowthSpec(time="linear", covariates=("arm",), time_interactions=("arm",),
                      patient="slopes", therapist="slopes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as n_divergent
        fit = fit_growth(spec, data, draws=draws, tune=tune, seed=seed, progress=False)
    per_session = float(design.times[1] - design.times[0])  # sessions are 0, 1, 2, ...
    values = np.ravel(fit.posterior["covariate_effect"].sel(term="arm:slope").values)
    values = values / per_session
    lo, hi = np.quantile(values, [0.025, 0.975])
    tail = min(float((values > 0).mean()), float((values < 0).mean()))
    return {"method": "bayes", "estimate": float(values.mean()),
            "se": float(values.std(ddof=1)), "ci_low": float(lo), "ci_high": float(hi),
            "p_value": 2 * tail, "truth": truth, "converged": fit.diagnostics.ok,
            "n_divergent": fit.diagnostics.n_divergent}


def _ols(frame: pd.DataFrame, truth: float) -> dict:
    import statsmodels.formula.api as smf

    fit = smf.ols("score ~ time * arm", frame).fit()
    return _t_row("ols", float(fit.params["time:arm"]), float(fit.bse["time:arm"]),
                  float(fit.df_resid), truth)


def analyse(frame: pd.DataFrame, design: Any, methods: tuple[str, ...], *,
            truth: float, draws: int = 500, tune: int = 500, seed: int = 0) -> list[dict]:
    """Estimate ``b3`` with each method (see the module docstring); one row per method.

    Examples
    --------
    >>> from simulations.power.design import TrialDesign
    >>> from simulations.power.simulate import simulate_trial
    >>> design = TrialDesign(n_therapists=4, patients_per_therapist=5, cohend=0.5)
    >>> frame = simulate_trial(design, np.random.default_rng(1))
    >>> rows = analyse(frame, design, ("summary", "ols"), truth=0.0)
    >>> [r["method"] for r in rows], all(0 <= r["p_value"] <= 1 for r in rows)
    (['summary', 'ols'], True)
    """
    from simulations.power.analytic import slope_variance

    rows = []
    for method in methods:
        if method == "summary":
            rows.append(_summary(frame, design, truth))
        elif method == "mixedlm":
            rows.append(_mixedlm(frame, design, truth, slope_variance(design)["df"]))
        elif method == "bayes":
            rows.append(_bayes(frame, design, truth, draws, tune, seed))
        else:
            rows.append(_ols(frame, truth))
    return rows


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in str(text).split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a comma-separated list of {METHODS}, got {text!r}")
    return methods


def growth_power(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """One simulated trial and its analyses (see the module docstring).

    Parameters
    ----------
    condition : Mapping
        Any :class:`~simulations.power.design.TrialDesign` field (``n_therapists``,
        ``patients_per_therapist``, ``n_sessions``, ``cohend`` or ``slope_diff``,
        ``icc_pre_cluster``, ``nesting``, ``dropout``, ``informative`` ...), and
        ``methods`` (comma-separated, from :data:`METHODS`; default ``"mixedlm,ols"``),
        ``effect_sd`` (SD of the design prior on Cohen's d; 0: a fixed effect), ``draws``
        and ``tune`` (of the Bayesian fit).
    rng : numpy.random.Generator
        The replication's generator.

    Returns
    -------
    list of dict
        Per method: ``estimand="slope_diff"``, ``estimate``, ``truth``, ``se``, ``ci_low``,
        ``ci_high``, ``p_value``, ``df``, and the trial's ``dropout_share`` and ``true_cohend``
        (the true effect of this replication, as Cohen's d). ``rejection`` over
        replications is the power (or the assurance with ``effect_sd > 0``).

    Examples
    --------
    >>> rows = growth_power({"n_therapists": 4, "patients_per_therapist": 5, "cohend": -0.5,
    ...                      "methods": "summary,ols"}, np.random.default_rng(1))
    >>> [r["method"] for r in rows], rows[0]["estimand"]
    (['summary', 'ols'], 'slope_diff')
    """
    from simulations.power.design import TrialDesign
    from simulations.power.simulate import simulate_trial

    check_factors("growth power", condition,
                  {f.name for f in fields(TrialDesign)} | set(POWER_FACTORS))
    extra = {k: condition.get(k, v) for k, v in POWER_FACTORS.items()}
    design = TrialDesign.from_mapping({k: v for k, v in condition.items()
                                       if k not in POWER_FACTORS})
    methods = _methods(extra["methods"])
    truth = design.slope_diff_value
    if float(extra["effect_sd"]) > 0:
        d = rng.normal(design.cohend_value, float(extra["effect_sd"]))
        truth = design.slope_of(d)
    frame = simulate_trial(design, rng, effect=truth)
    dropout = float((frame.groupby("patient")["end_status"].first() == "dropout").mean())
    rows = analyse(frame, design, methods, truth=truth, draws=int(extra["draws"]),
                   tune=int(extra["tune"]), seed=int(rng.integers(2**31)))
    cohend = design.cohend_of(truth)
    return [{**row, "estimand": "slope_diff", "dropout_share": dropout, "true_cohend": cohend}
            for row in rows]


register_task("growth_power", growth_power,
              metrics=("rejection", "bias", "empse", "modse", "coverage"))
