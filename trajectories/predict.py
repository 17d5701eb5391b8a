"""Dynamic prediction for new or partially observed patients, without refitting.

For each posterior draw, a patient's random effects given the sessions seen so far have
an exact Gaussian conditional (:func:`trajectories.marginal.conditional_effects`). With a
therapist the fit knows, the prior is the patient-effect covariance and the therapist's
drawn effect shifts the mean; with an unknown or no therapist, the therapist effect is
integrated out too (prior covariance Sigma_u + Sigma_v). Averaging the resulting normal
predictions over draws gives the posterior predictive distribution in closed form, so
nothing here is random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from trajectories.data import TherapyData
from trajectories.fit import GrowthFit, PosteriorDraws, posterior_draws
from trajectories.instruments import Instrument, get_instrument
from trajectories.marginal import conditional_effects, sufficient_statistics
from trajectories.model import Design, make_design

__all__ = ["mixture_quantile", "predict", "summarise_draws"]


def summarise_draws(samples: np.ndarray, ci_prob: float = 0.95) -> dict[str, np.ndarray]:
    """Mean, SD and equal-tailed credible interval over the first axis (the draws)."""
    a = (1.0 - ci_prob) / 2.0
    low, high = np.quantile(samples, [a, 1.0 - a], axis=0)
    return {"mean": samples.mean(0), "sd": samples.std(0, ddof=1) if len(samples) > 1
            else np.zeros(samples.shape[1:]), "ci_low": low, "ci_high": high}


def mixture_quantile(means: np.ndarray, sds: np.ndarray, prob: float) -> np.ndarray:
    """Quantile of an equal-weight mixture of normals, mixed over the first axis.

    Solved by bisection to 1e-10 of the mixture's spread; vectorised over the other axes.

    Examples
    --------
    >>> round(float(mixture_quantile(np.array([0.0, 0.0]), np.array([1.0, 1.0]), 0.975)), 6)
    1.959964
    """
    lo = (means - 9.0 * sds).min(0)
    hi = (means + 9.0 * sds).max(0)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        below = ndtr((mid - means) / sds).mean(0) < prob
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def pad(a: np.ndarray, k: int, axes: int = 2) -> np.ndarray:
    """Zero-pad the last ``axes`` axes of ``a`` (effects or covariances) to length ``k``."""
    width = [(0, 0)] * (a.ndim - axes) + [(0, k - a.shape[-1])] * axes
    return np.pad(a, width)


def rci_of(fit: GrowthFit, instrument: str | Instrument | float | None) -> float:
    """The reliable change index to use: a number, an instrument, or the data's instrument."""
    if isinstance(instrument, int | float):
        return float(instrument)
    inst = get_instrument(instrument) if instrument is not None else fit.data.instrument
    if inst is None:
        raise ValueError("no instrument: pass instrument= (a name, an Instrument or an RCI)")
    return inst.rci


def _patient_rows(design: Design, frame: pd.DataFrame, session: float) -> np.ndarray:
    """X rows of each patient (first row's covariates) placed at ``session``."""
    first = frame.sort_values(["patient", "session"]).groupby("patient", sort=True).head(1)
    first = first.assign(session=session)
    return design.encode(first)


def _conditional(fit: GrowthFit, d: PosteriorDraws, design: Design, new: TherapyData,
                 x_at: np.ndarray) -> dict[str, np.ndarray]:
    """Per draw and patient: latent mean and variance at the target rows ``x_at`` (N, p),
    and the same at intake (session 0)."""
    frame = new.frame
    frame = frame[frame["score"].notna()].reset_index(drop=True)
    x = design.encode(frame)
    idx = pd.Categorical(frame["patient"], categories=new.patients).codes
    stats = sufficient_statistics(x, frame["score"].to_numpy(float), idx, new.n_patients)
    x0 = _patient_rows(design, new.frame, 0.0)
    n_s, p = d.beta.shape
    q, q_t = design.q, design.q_t
    known = np.zeros(new.n_patients, dtype=bool)
    t_idx = np.zeros(new.n_patients, dtype=np.int64)
    if q_t and new.has_therapist:
        lookup = {t: i for i, t in enumerate(design.therapists.tolist())}
        ther = new.therapist_of_patient.reindex(new.patients).tolist()
        known = np.array([t in lookup for t in ther])
        t_idx = np.array([lookup.get(t, 0) for t in ther])
    mean = np.empty((n_s, new.n_patients))
    var = np.empty_like(mean)
    mean0, var0, cov0 = np.empty_like(mean), np.empty_like(mean), np.empty_like(mean)
    for group, k in ((known, q), (~known, max(q, q_t))):
        if not group.any():
            continue
        sub = type(stats)(stats.n[group], stats.xtx[group], stats.xty[group], stats.yty[group])
        b = np.repeat(d.beta[:, None, :], group.sum(), axis=1)
        prior = pad(d.sigma_v, k)
        if q_t and group is known:
            b[:, :, :q_t] += d.therapist_effect[:, t_idx[group], :]
        elif q_t:
            prior = prior + pad(d.sigma_u, k)
        m, c = conditional_effects(b, d.residual_sd, prior, sub, k)
        for xr_, mu_out, var_out in ((x_at[group], mean, var), (x0[group], mean0, var0)):
            z = xr_[:, :k]
            mu_out[:, group] = (b * xr_[None]).sum(-1) + (m * z[None]).sum(-1)
            var_out[:, group] = np.einsum("ni,snij,nj->sn", z, c, z)
        cov0[:, group] = np.einsum("ni,snij,nj->sn", x_at[group][:, :k], c, x0[group][:, :k])
    return {"mean": mean, "var": var, "mean0": mean0, "var0": var0, "cov0": cov0,
            "known": known}


def predict(
    fit: GrowthFit,
    new_data: TherapyData,
    *,
    at_session: float,
    instrument: str | Instrument | float | None = None,
    ci_prob: float = 0.95,
    max_draws: int | None = None,
) -> pd.DataFrame:
    """Predict each patient's score at a session from the sessions seen so far.

    For a partially observed patient (the first m sessions), this is the not-on-track
    signal: ``p_failure`` is the posterior predictive probability that the patient will
    not show reliable improvement at ``at_session`` (the planned end), given only what
    has been observed. Works for many patients at once and never refits.

    Parameters
    ----------
    fit : GrowthFit
        A fitted growth model.
    new_data : TherapyData
        Patients to predict (new, or the fitted ones truncated to their first sessions).
        A therapist the fit knows contributes its estimated effect; otherwise the
        therapist effect is integrated out. Covariates are coded as in the fitted data.
    at_session : float
        Session to predict (e.g. the planned last session).
    instrument : str, Instrument or float, optional
        Gives the reliable change index (or pass the RCI itself); default: the fitted
        data's instrument.
    ci_prob : float
        Probability of the credible and predictive intervals.
    max_draws : int, optional
        Use this many evenly spaced posterior draws (faster monitoring of large caseloads).

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``patient``, ``therapist`` (if any), ``n_sessions_seen``,
        ``last_session_seen``, ``at_session``, ``intake_score``, ``expected_score`` with
        ``ci_low``/``ci_high`` (credible interval of the true score), ``pred_low``/
        ``pred_high`` (predictive interval of an observed score), ``p_improved``,
        ``p_deteriorated`` (reliable change from intake) and ``p_failure`` (no reliable
        improvement).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> data = load_beat_the_blues()
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [5.0]}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), data, draws)
    >>> out = predict(fit, data.subset(data.patients[:3]), at_session=8, instrument=8.46)
    >>> out["n_sessions_seen"].tolist(), out["p_failure"].round(2).tolist()
    ([3, 5, 2], [0.0, 0.17, 0.53])
    """
    design = make_design(fit.spec, fit.data)
    d = posterior_draws(fit)
    if max_draws is not None and max_draws < len(d.residual_sd):
        keep = np.linspace(0, len(d.residual_sd) - 1, max_draws).round().astype(int)
        d = PosteriorDraws(*[None if a is None else a[keep] for a in
                             (d.beta, d.residual_sd, d.sigma_v, d.patient_effect, d.sigma_u,
                              d.therapist_effect, d.nu)])
    rci = rci_of(fit, instrument)
    worse = 1.0 if (fit.data.higher_is_worse if new_data.instrument is None
                    else new_data.higher_is_worse) else -1.0
    x_at = _patient_rows(design, new_data.frame, float(at_session))
    c = _conditional(fit, d, design, new_data, x_at)
    s2 = (d.residual_sd**2)[:, None]
    table = new_data.patient_table()
    obs0 = new_data.frame.query("session == 0").set_index("patient")["score"]
    intake = obs0.reindex(new_data.patients).to_numpy(dtype=float)
    has0 = ~np.isnan(intake)
    # change = y_at - y_0: with an observed intake only y_at is uncertain
    diff_mean = np.where(has0[None], c["mean"] - intake[None], c["mean"] - c["mean0"])
    diff_var = np.where(has0[None], c["var"] + s2,
                        c["var"] + c["var0"] - 2.0 * c["cov0"] + 2.0 * s2)
    diff_sd = np.sqrt(diff_var)
    p_worse = ndtr((worse * diff_mean - rci) / diff_sd).mean(0)
    p_better = ndtr((-worse * diff_mean - rci) / diff_sd).mean(0)
    a = (1.0 - ci_prob) / 2.0
    sd_lat = np.sqrt(np.maximum(c["var"], 1e-300))
    sd_pred = np.sqrt(c["var"] + s2)
    out = pd.DataFrame({
        "patient": new_data.patients,
        **({"therapist": table["therapist"].to_numpy()} if new_data.has_therapist else {}),
        "n_sessions_seen": table["n_sessions"].to_numpy(),
        "last_session_seen": table["last_session"].to_numpy(),
        "at_session": at_session,
        "intake_score": np.where(has0, intake, c["mean0"].mean(0)),
        "expected_score": c["mean"].mean(0),
        "ci_low": mixture_quantile(c["mean"], sd_lat, a),
        "ci_high": mixture_quantile(c["mean"], sd_lat, 1.0 - a),
        "pred_low": mixture_quantile(c["mean"], sd_pred, a),
        "pred_high": mixture_quantile(c["mean"], sd_pred, 1.0 - a),
        "p_improved": p_better,
        "p_deteriorated": p_worse,
        "p_failure": 1.0 - p_better,
    })
    return out
