"""Simulation-based calibration (SBC) of the growth models (Talts et al. 2018).

One replication draws parameters from a fixed, proper prior, simulates a data set from the
model, fits the model with exactly that prior and records the rank of each true value
among ``L`` thinned posterior draws. If the sampler and the model code are right, each
parameter's ranks are uniform on ``0..L``; a U shape means overconfident posteriors, a hump
underconfident ones, a slope bias. The tests of uniformity and the plots are generic
(:mod:`simulations.study.sbc`).

Any :class:`~trajectories.spec.GrowthSpec` whose priors are absolute
(``Priors(scale="absolute", ...)``: the prior that generated the parameters is the one the
fit uses; a data-scaled prior would depend on the simulated data) can be calibrated; the
named models of :data:`SBC_MODELS` are the ones the example studies run:

- ``"two_level"``: log time, correlated patient intercepts and slopes (the fast path);
- ``"three_level"``: the same with correlated therapist intercepts and slopes;
- ``"student_t"``: two-level with Student-t residuals (the latent path, compiled once per
  worker);
- ``"joint"``: two-level growth with the shared-parameter dropout hazard
  (``GrowthSpec(dropout=DropoutSpec(...))``, latent path). Its dropout prior is made
  data-free too: fixed baseline bins (``breaks``), ``baseline_mean`` and ``score_scale``.

The data are simulated here with NumPy, independently of the model code under test (which
is the production :func:`trajectories.fit.fit_growth`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from simulations.study.sbc import sbc_histogram, sbc_uniformity
from simulations.tasks.registry import check_factors, register_task

__all__ = ["SBC_MODELS", "SBC_PARAMETERS", "SBC_PRIOR", "draw_parameters", "draw_prior",
           "sbc_histogram", "sbc_model", "sbc_spec", "sbc_task", "sbc_uniformity",
           "simulate_growth", "simulate_sbc_data"]

#: Prior of the SBC models (log time, correlated patient intercepts and slopes) in absolute
#: PHQ-9-like units: Normal(mean, sd) for coefficients, HalfNormal(sd) for SDs, LKJ(eta).
SBC_PRIOR: dict[str, tuple[float, float]] = {
    "intercept": (15.0, 3.0),
    "slope": (-2.5, 1.0),                # per unit of log(1 + session)
    "patient_intercept_sd": (0.0, 5.0),
    "patient_slope_sd": (0.0, 2.0),
    "patient_corr": (2.0, 2.0),          # LKJ(2): 2 * Beta(2, 2) - 1 for 2 x 2
    "residual_sd": (0.0, 3.0),
}
#: Therapist SDs of the three-level model (HalfNormal scales): about 5% of intake variance.
THERAPIST_SD = (1.5, 0.5)
#: Parameters of the two-level model whose ranks are recorded.
SBC_PARAMETERS = tuple(SBC_PRIOR)
#: Baseline bins, prior mean (logit of 10% per session) and score scale of the joint SBC model.
JOINT_DROPOUT = {"breaks": (0, 3), "baseline_mean": math.log(0.1 / 0.9), "baseline_sd": 0.5,
                 "coef_sd": 0.5, "score_scale": (12.0, 6.0)}


def sbc_spec(model: str = "two_level") -> Any:
    """Return the growth spec of a named SBC model, with :data:`SBC_PRIOR` as absolute priors.

    Examples
    --------
    >>> sbc_spec("three_level").therapist, sbc_spec("joint").dropout.breaks
    ('slopes', (0, 3))
    """
    from trajectories.spec import DropoutSpec, GrowthSpec, Priors

    if model not in SBC_MODELS:
        raise ValueError(f"unknown SBC model {model!r}; choose from {list(SBC_MODELS)}")
    p = SBC_PRIOR
    priors = Priors(scale="absolute", intercept_mean=p["intercept"][0],
                    intercept=p["intercept"][1], time_mean=p["slope"][0], time=p["slope"][1],
                    group_sd=(p["patient_intercept_sd"][1], p["patient_slope_sd"][1]),
                    therapist_sd=THERAPIST_SD, residual_sd=p["residual_sd"][1],
                    corr_eta=p["patient_corr"][0])
    dropout = (DropoutSpec(therapist=False, association=("level", "improvement", "worsening"),
                           **JOINT_DROPOUT) if model == "joint" else None)
    return GrowthSpec(time="log", patient="slopes",
                      therapist="slopes" if model == "three_level" else "none",
                      correlated=True, priors=priors, dropout=dropout,
                      likelihood="student_t" if model == "student_t" else "normal")


#: The named SBC models and the data each is simulated with (therapists 0: two-level).
SBC_MODELS: dict[str, dict[str, int]] = {
    "two_level": {"n_therapists": 0, "n_patients": 40, "n_sessions": 8},
    "three_level": {"n_therapists": 8, "n_patients": 48, "n_sessions": 8},
    "student_t": {"n_therapists": 0, "n_patients": 40, "n_sessions": 8},
    "joint": {"n_therapists": 0, "n_patients": 60, "n_sessions": 8},
}


def sbc_model(model: str) -> tuple[Any, dict[str, int]]:
    """Return the spec and default data sizes of a named SBC model.

    Examples
    --------
    >>> spec, sizes = sbc_model("two_level")
    >>> spec.therapist, sizes
    ('none', {'n_therapists': 0, 'n_patients': 40, 'n_sessions': 8})
    """
    return sbc_spec(model), dict(SBC_MODELS[model])


def _lkj(q: int, eta: float, rng: np.random.Generator) -> np.ndarray:
    """Draw a q x q LKJ(eta) correlation matrix (q <= 3) from the C-vine's partial correlations.

    The partial correlations are ``2 Beta(b, b) - 1``, ``b = eta + (q - 1 - k) / 2`` (Lewandowski,
    Kurowicka & Joe 2009).
    """
    if q == 1:
        return np.ones((1, 1))
    if q == 2:
        c = 2.0 * rng.beta(eta, eta) - 1.0
        return np.array([[1.0, c], [c, 1.0]])
    b1 = eta + 0.5
    c12, c13 = 2.0 * rng.beta(b1, b1, size=2) - 1.0
    p23 = 2.0 * rng.beta(eta, eta) - 1.0  # partial correlation of 2 and 3 given 1
    c23 = c12 * c13 + p23 * math.sqrt((1 - c12**2) * (1 - c13**2))
    return np.array([[1.0, c12, c13], [c12, 1.0, c23], [c13, c23, 1.0]])


def _level(theta: dict, level: str, names: tuple[str, ...], scales: tuple[float, ...],
           eta: float, correlated: bool, rng: np.random.Generator) -> np.ndarray:
    """SDs (and correlations) of one random-effect level into ``theta``; its covariance."""
    sd = np.abs(rng.normal(0.0, scales[: len(names)]))
    for name, value in zip(names, sd, strict=True):
        theta[f"{level}_{name}_sd"] = float(value)
    corr = _lkj(len(names), eta, rng) if correlated else np.eye(len(names))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            theta[f"{level}_corr[{names[i]},{names[j]}]"] = float(corr[i, j])
    return sd[:, None] * corr * sd[None, :]


def draw_parameters(spec: Any, rng: np.random.Generator, *,
                    has_therapist: bool = False) -> tuple[dict[str, float], dict]:
    """One draw of every parameter of ``spec`` from its absolute priors.

    Returns the named scalars (what ranks are recorded for) and the covariance matrices
    (``"patient"``, ``"therapist"``) the data are simulated with.

    Examples
    --------
    >>> theta, cov = draw_parameters(sbc_spec("three_level"), np.random.default_rng(0),
    ...                              has_therapist=True)
    >>> sorted(cov), "therapist_slope_sd" in theta, -1 < theta["patient_corr[intercept,slope]"] < 1
    (['patient', 'therapist'], True, True)
    """
    pri = spec.priors
    if pri.scale != "absolute":
        raise ValueError("SBC needs absolute priors (Priors(scale='absolute', ...)): "
                         "data-scaled priors depend on the simulated data")
    k = len(spec.time_terms)
    theta: dict[str, float] = {"intercept": float(rng.normal(pri.intercept_mean, pri.intercept))}
    means, sds = pri.per_term("time_mean", k), pri.per_term("time", k)
    for name, mean, sd in zip(spec.time_terms, means, sds, strict=True):
        theta[name] = float(rng.normal(mean, sd))
    n_coef = k + 1
    cov = {"patient": _level(theta, "patient", spec.patient_coefficients,
                             pri.per_term("group_sd", n_coef), pri.corr_eta, spec.correlated,
                             rng)}
    names = spec.therapist_coefficients(has_therapist)
    if names:
        cov["therapist"] = _level(theta, "therapist", names,
                                  pri.per_term("therapist_sd", n_coef), pri.corr_eta,
                                  spec.correlated, rng)
    theta["residual_sd"] = float(abs(rng.normal(0.0, pri.residual_sd)))
    if spec.likelihood == "student_t":
        theta["nu"] = float(rng.gamma(pri.nu_alpha, 1.0 / pri.nu_beta))
    d = spec.dropout
    if d is not None:
        if d.breaks is None or d.baseline_mean is None or d.score_scale is None:
            raise ValueError("SBC of the joint model needs a data-free dropout prior: "
                             "DropoutSpec(breaks=..., baseline_mean=..., score_scale=...)")
        for b in range(len(d.breaks)):
            theta[f"dropout_baseline[{b}]"] = float(rng.normal(d.baseline_mean, d.baseline_sd))
        for name in d.association:
            theta[f"dropout_association[{name}]"] = float(rng.normal(0.0, d.coef_sd))
    return theta, cov


def _dropout(spec: Any, theta: dict, latent: np.ndarray, t: np.ndarray,
             coef: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each patient's last attended session under the joint model's hazard (logit link).

    The hazard of dropping out after session s (for s before the last planned one) uses
    the latent severity and change since intake standardised by ``score_scale``.
    """
    d = spec.dropout
    centre, s_y = d.score_scale
    n_pat, n_sess = latent.shape
    bins = np.searchsorted(np.asarray(d.breaks), np.arange(n_sess), side="right") - 1
    eta = np.array([theta[f"dropout_baseline[{b}]"] for b in bins])[None, :].repeat(n_pat, 0)
    change = (latent - latent[:, :1]) / s_y
    terms = {"level": (latent - centre) / s_y, "worsening": np.maximum(change, 0.0),
             "improvement": np.maximum(-change, 0.0),
             "slope": coef[:, 1:2] / (1.0 + t[None, :]) / s_y}  # d/ds of b1 log(1 + s)
    for name in d.association:
        eta = eta + theta[f"dropout_association[{name}]"] * terms[name]
    leave = rng.uniform(size=eta.shape) < 1.0 / (1.0 + np.exp(-eta))
    leave[:, -1] = False  # after the last planned session treatment is over
    return np.where(leave.any(1), leave.argmax(1), n_sess - 1)


def simulate_sbc_data(spec: Any, theta: dict, cov: dict, *, n_patients: int, n_sessions: int,
                      n_therapists: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long data from the growth model of ``spec`` at the parameters ``theta``.

    Patients are spread evenly over ``n_therapists`` (0: no therapist level) and attend
    sessions ``0..n_sessions-1``; with a dropout part they leave by its hazard and the
    frame has ``end_status``.

    Examples
    --------
    >>> spec, _ = sbc_model("two_level")
    >>> theta, cov = draw_parameters(spec, np.random.default_rng(0), has_therapist=False)
    >>> frame = simulate_sbc_data(spec, theta, cov, n_patients=6, n_sessions=4, n_therapists=0,
    ...                           rng=np.random.default_rng(1))
    >>> frame.shape, frame.columns.tolist()  # 6 patients x 4 sessions
    ((24, 3), ['patient', 'session', 'score'])
    """
    q = len(spec.patient_coefficients)
    v = rng.multivariate_normal(np.zeros(q), cov["patient"], size=n_patients, method="cholesky")
    coef = np.zeros((n_patients, 1 + len(spec.time_terms)))
    coef[:] = [theta[c] for c in spec.coefficients]
    coef[:, :q] += v
    therapist = np.arange(n_patients) % n_therapists if n_therapists else None
    if "therapist" in cov:
        q_t = cov["therapist"].shape[0]
        u = rng.multivariate_normal(np.zeros(q_t), cov["therapist"], size=n_therapists,
                                    method="cholesky")
        coef[:, :q_t] += u[therapist]
    t = np.arange(n_sessions, dtype=float)
    basis = np.column_stack([np.ones(n_sessions), spec.time_basis(t)])
    latent = coef @ basis.T
    noise = rng.standard_t(theta["nu"], size=latent.shape) if "nu" in theta \
        else rng.normal(size=latent.shape)
    y = latent + theta["residual_sd"] * noise
    last = (_dropout(spec, theta, latent, t, coef, rng) if spec.dropout is not None
            else np.full(n_patients, n_sessions - 1))
    keep = np.arange(n_sessions)[None, :] <= last[:, None]
    patient = np.repeat(np.arange(n_patients), n_sessions).reshape(keep.shape)
    frame = pd.DataFrame({"patient": patient[keep],
                          "session": np.tile(np.arange(n_sessions), (n_patients, 1))[keep],
                          "score": y[keep]})
    if therapist is not None:
        frame.insert(1, "therapist", therapist[frame["patient"].to_numpy()])
    if spec.dropout is not None:
        status = np.where(last < n_sessions - 1, "dropout", "completed")
        frame["end_status"] = status[frame["patient"].to_numpy()]
    return frame


def draw_prior(rng: np.random.Generator) -> dict[str, float]:
    """One draw of the two-level model's parameters from :data:`SBC_PRIOR`.

    Examples
    --------
    >>> theta = draw_prior(np.random.default_rng(0))
    >>> sorted(theta) == sorted(SBC_PARAMETERS), -1 < theta["patient_corr"] < 1
    (True, True)
    """
    theta, _ = draw_parameters(sbc_spec("two_level"), rng)
    theta["patient_corr"] = theta.pop("patient_corr[intercept,slope]")
    return theta


def simulate_growth(theta: Mapping[str, float], n_patients: int, n_sessions: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Scores from the two-level model: ``y = b0 + v0 + (b1 + v1) log(1 + session) + e``.

    Examples
    --------
    >>> theta = draw_prior(np.random.default_rng(1))
    >>> simulate_growth(theta, 5, 4, np.random.default_rng(2)).shape
    (20, 3)
    """
    sd0, sd1, r = theta["patient_intercept_sd"], theta["patient_slope_sd"], theta["patient_corr"]
    cov = {"patient": np.array([[sd0**2, r * sd0 * sd1], [r * sd0 * sd1, sd1**2]])}
    return simulate_sbc_data(sbc_spec("two_level"), dict(theta), cov, n_patients=n_patients,
                             n_sessions=n_sessions, n_therapists=0, rng=rng)


def _posterior_values(post: Any, name: str) -> np.ndarray:
    """Return the draws (chain-major, flattened) of the posterior scalar ``name``.

    ``name`` is as :func:`draw_parameters` names it, e.g. ``patient_corr[intercept,slope]`` or
    ``dropout_baseline[1]``.
    """
    base, _, index = name.partition("[")
    values = post[base].values
    if not index:
        return np.ravel(values)
    index = index[:-1]
    dim = post[base].dims[-1]
    labels = [str(c) for c in post[base].coords[dim].values]
    position = labels.index(index) if index in labels else int(index)
    return np.ravel(values[..., position])


_FACTORS = {"model", "n_patients", "n_sessions", "n_therapists", "draws", "tune", "chains",
            "L", "target_accept"}


def sbc_task(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """One SBC replication of a growth model: ranks of the true parameters.

    Parameters
    ----------
    condition : Mapping
        Optional factors: ``model`` (a name in :data:`SBC_MODELS`, default
        ``"two_level"``), ``n_patients``, ``n_sessions``, ``n_therapists`` (defaults: the
        model's), ``draws`` per chain (400), ``tune`` (400), ``chains`` (2),
        ``target_accept`` (0.8) and ``L`` (99: thinned draws the ranks are taken among;
        ``chains * draws`` must be at least ``L``).
    rng : numpy.random.Generator
        The replication's generator (prior draw, data and sampler seed).

    Returns
    -------
    list of dict
        One row per parameter: ``method="sbc"``, ``estimand`` (parameter), ``truth``,
        ``estimate`` (posterior mean), ``se`` (posterior SD), ``ci_low``/``ci_high`` (95%
        equal-tailed), ``rank`` (0..L), ``n_ranked`` (L), ``n_divergent`` and
        ``dropout_share`` (patients who dropped out; 0 without a dropout part).

    Examples
    --------
    A replication samples a model, so it runs in studies, not here; a condition is checked
    before any work:

    >>> try:
    ...     sbc_task({"L": 999, "draws": 100, "chains": 2}, np.random.default_rng(1))
    ... except ValueError as err:
    ...     print(err)
    L must be in [1, chains * draws = 200], got 999
    """
    check_factors("sbc", condition, _FACTORS)
    spec, sizes = sbc_model(str(condition.get("model", "two_level")))
    sizes = {k: int(condition.get(k, v)) for k, v in sizes.items()}
    draws, tune = int(condition.get("draws", 400)), int(condition.get("tune", 400))
    chains, n_rank = int(condition.get("chains", 2)), int(condition.get("L", 99))
    if n_rank < 1 or chains * draws < n_rank:
        raise ValueError(f"L must be in [1, chains * draws = {chains * draws}], got {n_rank}")
    theta, cov = draw_parameters(spec, rng, has_therapist=sizes["n_therapists"] > 0)
    frame = simulate_sbc_data(spec, theta, cov, rng=rng, **sizes)
    post, div = _fit_with_prior(spec, frame, draws=draws, tune=tune, chains=chains,
                                target_accept=float(condition.get("target_accept", 0.8)),
                                seed=int(rng.integers(2**31)))
    keep = np.linspace(0, chains * draws - 1, n_rank).round().astype(int)  # thin
    share = (float((frame.groupby("patient")["end_status"].first() == "dropout").mean())
             if "end_status" in frame else 0.0)
    rows = []
    for name, truth in theta.items():
        values = _posterior_values(post, name)
        lo, hi = np.quantile(values, [0.025, 0.975])
        rows.append({"method": "sbc", "estimand": name, "truth": truth,
                     "estimate": float(values.mean()), "se": float(values.std(ddof=1)),
                     "ci_low": float(lo), "ci_high": float(hi),
                     "rank": int((values[keep] < truth).sum()), "n_ranked": n_rank,
                     "n_divergent": div, "dropout_share": share})
    return rows


def _fit_with_prior(spec: Any, frame: pd.DataFrame, *, draws: int, tune: int, chains: int,
                    target_accept: float, seed: int) -> tuple[Any, int]:
    """Posterior (xarray Dataset) of the production fit and its number of divergences."""
    import warnings

    from trajectories.data import TherapyData
    from trajectories.fit import ConvergenceWarning, fit_growth

    columns = {c: c for c in ("patient", "therapist", "session", "score", "end_status")
               if c in frame}
    data = TherapyData.from_frame(frame, **columns)
    with warnings.catch_warnings():
        # Ranks are recorded whatever the diagnostics say; divergences are returned.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_growth(spec, data, draws=draws, tune=tune, chains=chains, seed=seed,
                         target_accept=target_accept, progress=False)
    return fit.posterior, fit.diagnostics.n_divergent


register_task("sbc", sbc_task, metrics=("coverage", "mean_rank", "uniformity"))
