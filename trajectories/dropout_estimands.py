"""Estimands of the dropout models, for a standalone or a joint fit.

Risk per patient, hazard curve, therapist effects on dropout and the association parameters,
for a standalone :class:`DropoutFit` or a joint growth–dropout
:class:`~trajectories.fit.GrowthFit` (see :mod:`trajectories.dropout` and
:mod:`trajectories.joint`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trajectories.data import TherapyData
from trajectories.dropout import (
    DropoutFit,
    HazardDesign,
    dropout_spec_of,
    hazard_design,
    interval,
    link_inverse,
    posterior,
    risk_set,
)
from trajectories.engine.tree import flat
from trajectories.joint import latent_terms
from trajectories.spec import PREDICTORS

__all__ = ["dropout_association", "dropout_risk", "hazard_curve", "therapist_dropout_effects"]

_MAX_DRAWS = 1000  # estimands over many patients x sessions thin to this many draws


def _is_joint(fit: object) -> bool:
    return not isinstance(fit, DropoutFit)


def _design_of(fit: object) -> HazardDesign:
    spec = dropout_spec_of(fit)
    preds = tuple(p for p in spec.predictors if p == "alliance") if _is_joint(fit) else None
    return hazard_design(spec, fit.data, predictors=preds)


def draw_subset(fit: object, max_draws: int) -> np.ndarray:
    """Choose at most ``max_draws`` evenly spaced posterior draws of a fit (their indices)."""
    post = posterior(fit)
    n = post.sizes["chain"] * post.sizes["draw"]
    return np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))


def linear_predictor(fit: object, rows: pd.DataFrame, *, max_draws: int = _MAX_DRAWS,
                     shared: bool = True) -> np.ndarray:
    """Posterior draws (S, n) of the hazard's linear predictor for risk-set-like ``rows``.

    ``rows`` need the columns of :func:`risk_set` (``patient``, ``session``, ``score``,
    ``change``, ``therapist``/``alliance``/covariates as used). A therapist not in the fit
    gets the average therapist (effect 0). ``shared=False`` leaves out the joint model's
    shared latent terms (to add them for effects drawn elsewhere, e.g. new patients);
    the draws are those of :func:`draw_subset`.
    """
    design, post = _design_of(fit), posterior(fit)
    keep = draw_subset(fit, max_draws)
    eta = flat(post, "dropout_baseline")[keep][:, design.bin_of(rows["session"].to_numpy())]
    if "dropout_coef" in post:
        eta = eta + flat(post, "dropout_coef")[keep] @ design.encode(rows, _predictors(design)).T
    if "therapist_dropout_effect" in post and "therapist" in rows:
        idx = pd.Index(design.therapists).get_indexer(rows["therapist"])  # -1: unknown
        w = np.concatenate([flat(post, "therapist_dropout_effect")[keep],
                            np.zeros((len(keep), 1))], axis=1)
        eta = eta + w[:, idx]  # code -1 (unknown therapist) picks the zero column
    if _is_joint(fit) and shared:
        eta = eta + latent_terms(fit, rows, draws=keep)
    return eta


def _predictors(design: HazardDesign) -> tuple[str, ...]:
    return tuple(t for t in design.terms if t in PREDICTORS)


def _states(data: TherapyData) -> pd.DataFrame:
    """Every attended session as a risk-set row (scores carried forward, change, alliance)."""
    every = risk_set(data.with_end_status(pd.Series("dropout", index=data.patients)))
    if "alliance" in every:
        every["alliance"] = every.groupby("patient")["alliance"].ffill()
    return every


def last_states(data: TherapyData) -> pd.DataFrame:
    """Return each patient's last risk-set state (:func:`_states`), indexed by patient.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> int(last_states(load_beat_the_blues()).loc[1, "session"])  # seen at months 0, 2, 3
    3
    """
    return _states(data).groupby("patient", sort=True).tail(1).set_index("patient")


def upcoming_rows(grid: TherapyData, last: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Repeat each patient's last state over the ``horizon`` sessions from it.

    The sessions are those of ``grid``'s session grid from the patient's last session L on
    (L first), continuing in steps of one past the grid's end (or from L, if L lies beyond
    it). Rows come patient by patient, ``step`` 0 to ``horizon - 1``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> data = load_beat_the_blues()  # months 0, 2, 3, 5, 8
    >>> rows = upcoming_rows(data, last_states(data).loc[[1]], 3)
    >>> rows[["patient", "session", "step"]].values.tolist()
    [[1, 3, 0], [1, 5, 1], [1, 8, 2]]
    """
    g = np.sort(np.asarray(grid.coords()["session"]))
    lsess = last["session"].to_numpy()
    start = np.searchsorted(g, lsess, side="left")  # first grid session >= L
    pos = start[:, None] + np.arange(horizon)
    beyond = np.where((start < len(g))[:, None], g[-1] + (pos - len(g) + 1),
                      lsess[:, None] + np.arange(horizon))
    sessions = np.where(pos < len(g), g[np.minimum(pos, len(g) - 1)], beyond)
    rows = last.iloc[np.repeat(np.arange(len(last)), horizon)].reset_index()
    rows["session"] = sessions.ravel()
    rows["step"] = np.tile(np.arange(horizon), len(last))
    return rows


def dropout_risk(fit: object, *, horizon: int = 3, patients: list | None = None,
                 prob: float = 0.9) -> pd.DataFrame:
    """Each patient's risk of dropping out after the current and upcoming sessions.

    For each patient, starting at the last attended session L: the hazard of dropping out
    after each of the next ``horizon`` sessions on the data's session grid (L first; past
    the grid's end, sessions continue in steps of one), given attendance, and the
    cumulative probability of having dropped out by then. The standalone model carries the
    last observed predictors forward; the joint model evaluates the patient's latent
    severity and change at each upcoming session from the posterior of the patient's
    effects.

    Parameters
    ----------
    fit : DropoutFit or GrowthFit
        From :func:`fit_dropout`, or the joint model:
        ``fit_growth(GrowthSpec(dropout=DropoutSpec()), data)``.
    horizon : int
        Number of sessions to look ahead (including the current one).
    patients : list, optional
        Patients to report (default: all; usually one wants the ``ongoing`` ones).
    prob : float
        Probability of the equal-tailed credible intervals.

    Returns
    -------
    pandas.DataFrame
        One row per patient and session: ``patient``, ``end_status``, ``session``,
        ``step`` (0 = the current session), ``hazard`` / ``hazard_low`` /
        ``hazard_high`` and ``cumulative`` / ``cumulative_low`` / ``cumulative_high``
        (posterior means and intervals).

    Examples
    --------
    >>> risk = dropout_risk(dropout_fit, horizon=2)  # two rows per patient
    >>> len(risk), list(risk.columns[:2])
    (200, ['patient', 'end_status'])
    >>> bool((risk["cumulative_low"] <= risk["cumulative_high"]).all())
    True
    """
    if not (isinstance(horizon, int) and horizon >= 1):
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    data = fit.data
    last = last_states(data)
    if patients is not None:
        unknown = set(patients) - set(last.index)
        if unknown:
            raise ValueError(f"patients not in the data: {sorted(unknown, key=str)[:5]}")
        last = last.loc[list(patients)]
    rows = upcoming_rows(data, last, horizon)
    rows["end_status"] = rows["patient"].map(data.end_status).to_numpy()
    h = link_inverse(linear_predictor(fit, rows), dropout_spec_of(fit).link)
    # rows come patient by patient, horizon each: cumulate within each patient's block
    blocks = h.reshape(h.shape[0], len(last), horizon)
    cum = (1.0 - np.cumprod(1.0 - blocks, axis=2)).reshape(h.shape)
    out = rows[["patient", "end_status", "session", "step"]].copy()
    for name, draws in (("hazard", h), ("cumulative", cum)):
        s = interval(draws, prob)
        out[name], out[f"{name}_low"], out[f"{name}_high"] = s["mean"], s["ci_low"], s["ci_high"]
    return out.reset_index(drop=True)


def hazard_curve(fit: object, *, sessions: list[int] | None = None,
                 prob: float = 0.9) -> pd.DataFrame:
    """Average dropout hazard and retention over sessions, as if everyone had stayed.

    At each session the hazard is averaged over all patients of the data with their own
    predictors at that session (observed ones carried forward in the standalone model,
    latent ones from the patient's posterior trajectory in the joint model);
    ``retained`` is the product of one minus the hazards up to that session.

    Returns
    -------
    pandas.DataFrame
        ``session``, ``bin``, ``hazard``, ``hazard_low``, ``hazard_high``, ``retained``,
        ``retained_low``, ``retained_high``.

    See Also
    --------
    analyses.plots.plot_dropout_hazard : Plot a hazard table.

    Examples
    --------
    >>> curve = hazard_curve(dropout_fit, sessions=[0, 2, 4])
    >>> curve["session"].tolist()
    [0, 2, 4]
    >>> bool(curve["retained"].is_monotonic_decreasing and (curve["hazard"] < 1).all())
    True
    """
    data = fit.data
    design = _design_of(fit)
    if sessions is None:
        sessions = [s for s in data.coords()["session"] if s <= design.rows["session"].max()]
    states = _states(data)
    base = states.groupby("patient", sort=True).head(1).reset_index(drop=True)
    means = []
    for s in sessions:
        rows = base.assign(session=int(s))
        if not _is_joint(fit):  # carry each patient's observed state at s forward
            seen = states[states["session"] <= s].groupby("patient").tail(1)
            seen = seen.set_index("patient").reindex(rows["patient"])
            for col in ("score", "change", "alliance"):
                if col in rows:
                    rows[col] = seen[col].fillna(rows[col]).to_numpy()
        means.append(link_inverse(linear_predictor(fit, rows),
                                  dropout_spec_of(fit).link).mean(axis=1))
    h = np.stack(means, axis=1)
    out = pd.DataFrame({"session": list(sessions),
                        "bin": [design.bin_labels[b] for b in design.bin_of(np.asarray(
                            sessions))]})
    for name, draws in (("hazard", h), ("retained", np.cumprod(1.0 - h, axis=1))):
        s = interval(draws, prob)
        out[name], out[f"{name}_low"], out[f"{name}_high"] = s["mean"], s["ci_low"], s["ci_high"]
    return out


def _link_variance(link: str) -> float:
    # Latent-scale residual variance of the link: logistic pi^2/3, Gumbel pi^2/6
    # (Snijders & Bosker 2012, ch. 17), for the share of dropout variance due to therapists.
    return math.pi**2 / 3 if link == "logit" else math.pi**2 / 6


def therapist_dropout_effects(fit: object, *, prob: float = 0.9) -> pd.DataFrame:
    """Therapist effects on dropout: their SD, variance and share, and each therapist's effect.

    Returns
    -------
    pandas.DataFrame
        Rows ``quantity`` = ``sd``, ``variance``, ``icc`` (share of latent dropout variance
        due to therapists: variance / (variance + pi^2/3) for the logit link) and one
        ``effect`` row per ``therapist`` (shrunken effect on the link scale; positive means
        more dropout), with ``mean``, ``sd``, ``ci_low``, ``ci_high``, ``ratio`` (odds or
        hazard ratio against the average therapist, exp of the effect's posterior mean) and
        ``p_above_average`` (posterior probability of more dropout than average).

    Examples
    --------
    Beat the Blues has no therapists, so ``dropout_fit`` has no therapist effect:

    >>> try:
    ...     therapist_dropout_effects(dropout_fit)
    ... except ValueError as err:
    ...     print(err)
    this fit has no therapist effect on dropout (two-level data or DropoutSpec(therapist=False))
    """
    post, spec = posterior(fit), dropout_spec_of(fit)
    if "therapist_dropout_sd" not in post:
        raise ValueError("this fit has no therapist effect on dropout (two-level data or "
                         "DropoutSpec(therapist=False))")
    sd = flat(post, "therapist_dropout_sd")
    eff = flat(post, "therapist_dropout_effect")
    icc = sd**2 / (sd**2 + _link_variance(spec.link))
    parts = [("sd", sd), ("variance", sd**2), ("icc", icc)]
    head = pd.DataFrame([{"quantity": q, "therapist": None,
                          **{k: float(v[0]) for k, v in interval(d[:, None], prob).items()}}
                         for q, d in parts])
    s = interval(eff, prob)
    body = pd.DataFrame({"quantity": "effect", "therapist": post["therapist"].values, **s})
    body["ratio"] = np.exp(s["mean"])
    body["p_above_average"] = (eff > 0).mean(axis=0)
    return pd.concat([head, body], ignore_index=True)


_MEANING = {
    "score": "a 1 SD more severe observed score at that session",
    "improvement": "each SD of {k}improvement since intake",
    "worsening": "each SD of {k}worsening since intake",
    "alliance": "a 1 SD stronger alliance rating",
    "level": "a 1 SD more severe latent (true) score at that session",
    "slope": "latent worsening faster by 1 SD per session",
}


def dropout_association(fit: object, *, prob: float = 0.9) -> pd.DataFrame:
    """Coefficients of the dropout hazard with a plain-language reading of each.

    Shared latent terms (joint model) say whether dropout depends on how a patient is
    really doing: if their interval excludes 0, dropout is informative (missing not at
    random) and a growth model that ignores it is biased.

    Returns
    -------
    pandas.DataFrame
        One row per term: ``term``, ``kind`` (``latent``, ``observed`` or ``covariate``),
        ``mean``, ``sd``, ``ci_low``, ``ci_high`` (link scale), ``ratio``, ``ratio_low``,
        ``ratio_high`` (odds ratios for the logit link, hazard ratios for cloglog),
        ``p_positive`` and ``interpretation``.

    Examples
    --------
    >>> dropout_association(joint_fit)["term"].tolist()  # latent terms of the joint model
    ['level', 'improvement', 'worsening']
    >>> dropout_association(dropout_fit)["term"].tolist()  # observed predictors
    ['score', 'improvement', 'worsening']
    """
    post, spec = posterior(fit), dropout_spec_of(fit)
    ratio = "odds" if spec.link == "logit" else "hazard"
    blocks = []
    if "dropout_association" in post:
        blocks.append(("latent", post["dropout_association"]["association"].values.tolist(),
                       flat(post, "dropout_association")))
    if "dropout_coef" in post:
        terms = post["dropout_coef"]["dropout_term"].values.tolist()
        blocks.append(("coef", terms, flat(post, "dropout_coef")))
    rows = []
    for kind, terms, draws in blocks:
        s = interval(draws, prob)
        for j, term in enumerate(terms):
            k = kind if kind == "latent" else ("observed" if term in PREDICTORS else "covariate")
            what = _MEANING.get(term, f"a 1 SD higher {term}" if "[" not in term
                                else f"{term} rather than the reference level")
            what = what.format(k="latent " if k == "latent" else "observed ")
            r, lo, hi = np.exp([s["mean"][j], s["ci_low"][j], s["ci_high"][j]])
            effect = (f"raises the {ratio}" if lo > 1 else f"lowers the {ratio}" if hi < 1
                      else f"is not clearly associated with the {ratio} (the interval includes "
                           "1)")
            rows.append({
                "term": term, "kind": k, "mean": s["mean"][j], "sd": s["sd"][j],
                "ci_low": s["ci_low"][j], "ci_high": s["ci_high"][j], "ratio": r,
                "ratio_low": lo, "ratio_high": hi, "p_positive": float((draws[:, j] > 0).mean()),
                "interpretation": (
                    f"{what[0].upper()}{what[1:]} {effect} of dropping out after a "
                    f"session: {ratio} ratio {r:.2f} ({prob:.0%} interval {lo:.2f} to "
                    f"{hi:.2f}); P(more dropout) = {(draws[:, j] > 0).mean():.2f}"),
            })
    return pd.DataFrame(rows)
