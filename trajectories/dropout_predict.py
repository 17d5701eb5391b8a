"""Dynamic dropout risk for new patients, from the sessions seen so far, without refitting.

:func:`predict_dropout` gives each patient of new data (still in treatment) the
probability of dropping out after one of the next ``horizon`` sessions, from a fitted
dropout model:

- a standalone :class:`~trajectories.dropout.DropoutFit` uses the patient's observed
  predictors at the last session seen (carried forward);
- a joint growth-dropout :class:`~trajectories.fit.GrowthFit` uses the patient's latent
  trajectory. For each posterior draw the patient's effects are drawn from their Gaussian
  conditional given the scores seen (:func:`trajectories.predict.effect_posterior`; a
  therapist the fit does not know is integrated out) and weighted by the probability of
  having stayed through the sessions seen (importance weights ``prod (1 - h)``), which
  gives draws from the effects' posterior given the scores *and* the fact that the
  patient is still in treatment (the dynamic prediction of Rizopoulos 2011).

:func:`landmark_outcomes` turns held-out data into the data as they stood at a landmark
session and what happened next, and :func:`risk_calibration` scores predicted risks
against observed outcomes (Brier score, calibration intercept and slope, and the area
under the ROC curve, which on landmark data is the cumulative/dynamic time-dependent AUC
of Heagerty & Zheng 2005 at that landmark and horizon).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import logit

from trajectories.data import DataValidationError, TherapyData
from trajectories.dropout import DropoutFit, dropout_spec_of, link_inverse, risk_set
from trajectories.dropout_estimands import (
    draw_subset,
    last_states,
    linear_predictor,
    upcoming_rows,
)
from trajectories.engine.collapsed import gram_matrices
from trajectories.engine.settings import SamplerSettings
from trajectories.engine.tree import growth_draws
from trajectories.joint import latent_terms
from trajectories.predict import effect_posterior, pad, roc_auc, summarise_draws

__all__ = ["landmark_outcomes", "predict_dropout", "risk_calibration"]


def _rows(fit: object, new_data: TherapyData, horizon: int) -> tuple[pd.DataFrame,
                                                                     pd.DataFrame]:
    """(past, upcoming): the risk-set rows a patient has survived, and the next ones."""
    ongoing = new_data.with_end_status(pd.Series("ongoing", index=new_data.patients))
    past = risk_set(ongoing)  # every attended session but the last: no dropout after them
    return past, upcoming_rows(fit.data, last_states(new_data), horizon)


def predict_dropout(fit: object, new_data: TherapyData, *, horizon: int = 3,
                    prob: float = 0.9, max_draws: int = 250, n_effects: int = 8,
                    seed: int | None = None) -> pd.DataFrame:
    """Each new patient's risk of dropping out within the next ``horizon`` sessions.

    Parameters
    ----------
    fit : DropoutFit or GrowthFit
        A standalone dropout fit, or a joint fit (``GrowthSpec(dropout=...)``) with normal
        residuals.
    new_data : TherapyData
        The sessions seen so far of patients still in treatment (their end status is
        ignored). Covariates and alliance as in the fitted data.
    horizon : int
        Number of sessions looked ahead, the last one seen first (the fit's session grid,
        continuing in steps of one past its end).
    prob : float
        Probability of the credible interval of the risk (over parameter uncertainty).
    max_draws : int
        Posterior draws used.
    n_effects : int
        Joint model: patient-effect draws per posterior draw (importance sampling).
    seed : int, optional
        Seeds those effect draws (drawn when not given; recorded in ``attrs["seed"]``).

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``patient``, ``therapist`` (if any), ``last_session_seen``,
        ``horizon_session`` (the last session of the horizon), ``p_dropout_next`` (after
        the last session seen), ``p_dropout`` (within the horizon) with ``p_dropout_low``
        and ``p_dropout_high``.

    Examples
    --------
    ``dropout_fit`` is ``fit_dropout(DropoutSpec(), load_beat_the_blues(), seed=1)`` with
    short runs:

    >>> risk = predict_dropout(dropout_fit, small_data.before_session(3), horizon=2)
    >>> int(risk["last_session_seen"].max()), list(risk.columns[-2:])
    (2, ['p_dropout_low', 'p_dropout_high'])
    >>> bool(risk["p_dropout"].between(0, 1).all())
    True
    """
    if not (isinstance(horizon, int) and horizon >= 1):
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    past, upcoming = _rows(fit, new_data, horizon)
    link = dropout_spec_of(fit).link
    if isinstance(fit, DropoutFit):
        h = link_inverse(linear_predictor(fit, upcoming, max_draws=max_draws), link)
        risk, nxt = _cumulate(h[:, None, :], upcoming, None)
        info_seed = None
    else:
        info_seed = SamplerSettings(seed=seed).resolved().seed
        rng = np.random.default_rng(np.random.SeedSequence(info_seed))
        risk, nxt = _joint_risk(fit, new_data, past, upcoming, link, max_draws, n_effects,
                                rng)
    s = summarise_draws(risk, prob)
    head = upcoming[upcoming["step"] == 0].set_index("patient")
    end = upcoming.groupby("patient", sort=True)["session"].max()
    out = pd.DataFrame({"patient": new_data.patients})
    if new_data.has_therapist:
        out["therapist"] = new_data.therapist_of_patient.reindex(new_data.patients).to_numpy()
    order = pd.Index(sorted(upcoming["patient"].unique()))  # the order of _cumulate
    pos = order.get_indexer(out["patient"])
    out["last_session_seen"] = head["session"].reindex(out["patient"]).to_numpy()
    out["horizon_session"] = end.reindex(out["patient"]).to_numpy()
    out["p_dropout_next"] = nxt.mean(0)[pos]
    out["p_dropout"] = s["mean"][pos]
    out["p_dropout_low"], out["p_dropout_high"] = s["ci_low"][pos], s["ci_high"][pos]
    out.attrs["seed"] = info_seed
    return out


def _cumulate(h: np.ndarray, upcoming: pd.DataFrame,
              weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, each patient's risk within the horizon and at the next session.

    ``h`` (S, M, rows) hazards for M effect draws; ``weights`` (S, M, patients) or None.
    """
    patients = sorted(upcoming["patient"].unique())
    code = pd.Categorical(upcoming["patient"], categories=patients).codes
    log_stay = np.zeros((*h.shape[:2], len(patients)))
    np.add.at(log_stay, (slice(None), slice(None), code), np.log1p(-np.clip(h, 0, 1 - 1e-15)))
    first = (upcoming["step"] == 0).to_numpy()
    nxt = np.zeros_like(log_stay)
    nxt[:, :, code[first]] = h[:, :, first]
    risk = 1.0 - np.exp(log_stay)
    if weights is None:
        return risk.mean(1), nxt.mean(1)
    w = weights / weights.sum(1, keepdims=True)
    return (w * risk).sum(1), (w * nxt).sum(1)


def _joint_risk(fit: object, data: TherapyData, past: pd.DataFrame, upcoming: pd.DataFrame,
                link: str, max_draws: int, n_effects: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Risk draws (S, N) of the joint model for new patients (effects drawn, weighted)."""
    if fit.spec.likelihood != "normal":
        raise ValueError("dropout risk for new patients needs a joint fit with normal "
                         "residuals (Gaussian conditional of the patient effects)")
    design = fit.design
    keep = draw_subset(fit, max_draws)
    d = growth_draws(fit)
    beta, sigma = d.beta[keep], d.residual_sd[keep]
    patients = sorted(upcoming["patient"].unique())
    frame = data.frame
    seen = frame[frame["score"].notna() & frame["patient"].isin(patients)]
    idx = pd.Categorical(seen["patient"], categories=patients).codes
    gram, _, _ = gram_matrices(design.encode(seen), seen["score"].to_numpy(float), idx,
                               len(patients))
    lookup = {t: i for i, t in enumerate(design.therapists.tolist())}
    ther = np.full(len(patients), -1)
    if design.q_t and data.has_therapist:
        of = data.therapist_of_patient.reindex(patients).tolist()
        ther = np.array([lookup.get(t, -1) for t in of])
    q, q_t, p = design.q, design.q_t, beta.shape[1]
    k = max(q, q_t)
    coef = np.repeat(beta[:, None, :], len(patients), axis=1)  # (S, N, p)
    prior = np.repeat(pad(d.sigma_v[keep], k)[:, None], len(patients), axis=1)
    known = ther >= 0
    if q_t:  # a known therapist's drawn effect; otherwise integrated out (prior adds)
        u = d.therapist_effect[keep]
        coef[:, known, :q_t] += u[:, ther[known], :]
        prior[:, ~known] += pad(d.sigma_u[keep], k)[:, None]
    else:
        known[:] = True
    ztr = gram[None, :, :k, p] - np.einsum("nij,snj->sni", gram[:, :k, :p], coef)
    mean = np.empty((len(keep), len(patients), k))
    cov = np.empty((len(keep), len(patients), k, k))
    for group in (known, ~known):  # the two priors: therapist known, or integrated out
        if group.any():
            first = np.flatnonzero(group)[0]
            m, c = effect_posterior(sigma, prior[:, first], gram[group][:, :k, :k],
                                    ztr[:, group])
            mean[:, group], cov[:, group] = m, c
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(k))
    z = rng.standard_normal((len(keep), n_effects, len(patients), k))
    eff = mean[:, None] + np.einsum("snij,smnj->smni", chol, z)  # (S, M, N, k)
    total = np.repeat(coef[:, None], n_effects, axis=1)
    total[..., :k] += eff

    def hazards(rows: pd.DataFrame) -> np.ndarray:
        eta = linear_predictor(fit, rows, max_draws=max_draws, shared=False)[:, None, :]
        pos = pd.Categorical(rows["patient"], categories=patients).codes
        shared = latent_terms(fit, rows, draws=keep, coef=total[:, :, pos, :], data=data)
        return link_inverse(eta + shared, link)

    h_up = hazards(upcoming)
    weights = np.ones((len(keep), n_effects, len(patients)))
    if len(past):
        h_past = hazards(past)
        code = pd.Categorical(past["patient"], categories=patients).codes
        log_w = np.zeros_like(weights)
        np.add.at(log_w, (slice(None), slice(None), code),
                  np.log1p(-np.clip(h_past, 0, 1 - 1e-15)))
        weights = np.exp(log_w - log_w.max(1, keepdims=True))
    return _cumulate(h_up, upcoming, weights)


def landmark_outcomes(data: TherapyData, *, landmark: int, horizon: int,
                      sessions: list | None = None) -> tuple[TherapyData, pd.Series]:
    """Held-out data as they stood at a landmark session, and what happened next.

    Patients who attended session ``landmark`` are kept, truncated to their sessions up to
    it (all ``ongoing``). The outcome is 1 if the patient dropped out after one of the
    ``horizon`` sessions from the landmark on (the grid ``sessions``, default the data's,
    continuing in steps of one), 0 if the patient attended a later session or treatment
    ended by plan (completed, referred) by then, and the patient is left out if still
    ``ongoing`` with no session after the horizon (the outcome is not known yet).

    Returns
    -------
    (TherapyData, pandas.Series)
        The truncated data and the outcomes (indexed by patient, 0/1).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> early, outcome = landmark_outcomes(load_beat_the_blues(), landmark=2, horizon=2)
    >>> early.n_patients, int(outcome.sum()), sorted(early.frame["session"].unique().tolist())
    (97, 39, [0, 2])
    """
    frame = data.frame
    attended = frame.loc[frame["session"] == landmark, "patient"].unique()
    if len(attended) == 0:
        raise DataValidationError(f"landmark {landmark}: no patient attended that session")
    grid = sorted(frame["session"].unique()) if sessions is None else sorted(sessions)
    ahead = [s for s in grid if s >= landmark]
    while len(ahead) < horizon:
        ahead.append(ahead[-1] + 1)
    end = ahead[horizon - 1]
    last = frame.groupby("patient")["session"].max().reindex(attended)
    status = data.end_status.reindex(attended).astype(str)
    dropped = (status == "dropout") & (last <= end)
    known = (last > end) | (status.isin(["dropout", "completed", "referred"]))
    outcome = dropped[known].astype(int)
    early = data.subset(outcome.index).before_session(landmark + 1)
    early = early.with_end_status(pd.Series("ongoing", index=early.patients))
    return early, outcome.rename("dropped_out")


def risk_calibration(predicted: np.ndarray | pd.Series, observed: np.ndarray | pd.Series,
                     ) -> dict[str, float]:
    """Brier score, calibration intercept and slope, and AUC of predicted risks.

    Parameters
    ----------
    predicted : array
        Predicted probabilities in (0, 1).
    observed : array
        Observed outcomes, 0 or 1.

    Returns
    -------
    dict
        ``n``, ``n_events``, ``observed_rate``, ``mean_predicted``, ``brier`` (mean
        squared difference), ``brier_reference`` (the Brier score of predicting the
        observed rate for everyone, ``rate (1 - rate)``), ``calibration_intercept`` and
        ``calibration_slope`` (logistic regression of the outcome on the logit of the
        prediction: 0 and 1 for perfect calibration; Cox 1958), ``auc`` (area under the
        ROC curve, Mann-Whitney form; NaN without both outcomes).

    Examples
    --------
    >>> out = risk_calibration([0.1, 0.8, 0.3, 0.6], [0, 1, 1, 0])
    >>> round(out["brier"], 4), out["auc"]  # (0.01 + 0.04 + 0.49 + 0.36) / 4; 3 of 4 pairs
    (0.225, 0.75)
    """
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(observed, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError("predicted and observed must be 1-D and of the same length")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("observed outcomes must be 0 or 1")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("predicted risks must be probabilities in [0, 1]")
    rate = float(y.mean()) if len(y) else float("nan")
    out = {"n": int(len(y)), "n_events": int(y.sum()), "observed_rate": rate,
           "mean_predicted": float(p.mean()) if len(p) else float("nan"),
           "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
           "brier_reference": rate * (1.0 - rate), "calibration_intercept": float("nan"),
           "calibration_slope": float("nan"), "auc": float("nan")}
    if 0 < y.sum() < len(y):
        out["auc"] = roc_auc(p, y)
        lp = logit(np.clip(p, 1e-6, 1 - 1e-6))
        try:
            res = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
            out["calibration_intercept"], out["calibration_slope"] = map(float, res.params)
        except (np.linalg.LinAlgError, ValueError):  # e.g. perfect separation
            pass
    return out
