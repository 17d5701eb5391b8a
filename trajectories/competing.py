"""Competing endings of treatment: dropout, planned completion and referral.

The dropout hazard of :mod:`trajectories.dropout` treats completion and referral as
censoring. They are *competing* endings: a patient who completes can no longer drop out.
After each attended session s a patient continues, or treatment ends in one of K ways,
with a discrete-time multinomial logit (Allison 1982; Tutz & Schmid 2016)::

    P(ending k after s | in treatment at s) = exp(eta_k) / (1 + sum_j exp(eta_j))
    eta_k = baseline_k[bin(s)] + x_s' gamma_k + w_{t,k},   w_{t,k} ~ N(0, sd_k^2)

with a piecewise-constant baseline per ending over session bins, observed predictors and
covariates (standardised, as in the dropout model) and a therapist effect per ending. The
**cumulative incidence** of ending k by session s (Kalbfleisch & Prentice 2002) is

    F_k(s) = sum_{r <= s} S(r - 1) h_k(r),   S(s) = prod_{r <= s} (1 - sum_k h_k(r))

so that ``sum_k F_k(s) + S(s) = 1`` at every session, exactly, draw by draw.
The dropout-only model stays the default; this is for questions about how treatment ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from trajectories.data import END_STATUSES, DataValidationError, TherapyData
from trajectories.dropout import HazardDesign, hazard_design, risk_set
from trajectories.engine import tree
from trajectories.engine.convergence import Diagnostics, check_convergence, summary_table
from trajectories.engine.sampling import sample
from trajectories.engine.settings import SamplerSettings
from trajectories.engine.tree import flat
from trajectories.predict import summarise_draws
from trajectories.spec import PREDICTORS, check_hazard_fields

__all__ = ["CompetingFit", "CompetingSpec", "build_competing_model", "cumulative_incidence",
           "fit_competing"]

#: The label of the patients still in treatment in cumulative-incidence tables.
IN_TREATMENT = "in treatment"


@dataclass(frozen=True)
class CompetingSpec:
    """What competing-endings model to fit, frozen.

    Parameters
    ----------
    endings : tuple of str
        End statuses modelled as competing endings (of ``completed``, ``dropout``,
        ``referred``); patients with another status are censored at their last session.
        Endings that never occur in the data are left out of the fit.
    n_bins, breaks
        Baseline bins, as in :class:`~trajectories.spec.DropoutSpec`.
    predictors : tuple of str
        Observed predictors (``score``, ``improvement``, ``worsening``, ``alliance``), per SD.
    covariates : tuple of str
        Data columns; numeric ones standardised, text ones dummy coded.
    therapist : bool
        A therapist random effect per ending (ignored without therapists).
    coef_sd, baseline_sd, therapist_sd : float
        Prior scales, as in :class:`~trajectories.spec.DropoutSpec`.
    baseline_mean, score_scale : optional
        A data-free prior centre of the baselines and fixed score scaling, as in
        :class:`~trajectories.spec.DropoutSpec`.

    Examples
    --------
    >>> CompetingSpec(endings=("dropout", "completed")).endings
    ('dropout', 'completed')
    """

    endings: tuple[str, ...] = ("dropout", "completed", "referred")
    n_bins: int = 4
    breaks: tuple[int, ...] | None = None
    predictors: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    therapist: bool = True
    coef_sd: float = 1.0
    baseline_sd: float = 1.5
    therapist_sd: float = 0.5
    baseline_mean: float | None = None
    score_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_hazard_fields(self, "endings")
        allowed = tuple(s for s in END_STATUSES if s != "ongoing")
        if not self.endings or any(e not in allowed for e in self.endings) or len(
                set(self.endings)) != len(self.endings):
            raise ValueError(f"CompetingSpec.endings must be distinct values of {allowed}, "
                             f"got {self.endings}")


def _design(spec: CompetingSpec, data: TherapyData) -> tuple[HazardDesign, tuple, np.ndarray]:
    """Hazard design over the competing risk set, the endings fitted and each row's code."""
    # endings outside the spec are censored: their patients' last rows carry no ending
    status = data.end_status.astype(str)
    censor = ~status.isin(spec.endings) & (status != "ongoing")
    if censor.any():
        data = data.with_end_status(status.where(~censor, "ongoing"))
    design = hazard_design(spec, data, planned_endings=True)
    present = tuple(e for e in spec.endings if (design.rows["ending"] == e).any())
    if not present:
        raise DataValidationError(f"end_status: none of the endings {spec.endings} occurs in "
                                  "the data; there is nothing to model")
    code = np.zeros(len(design.rows), dtype=np.int64)
    for k, e in enumerate(present, start=1):
        code[(design.rows["ending"] == e).to_numpy()] = k
    return design, present, code


def build_competing_model(spec: CompetingSpec, data: TherapyData) -> pm.Model:
    """Build the competing-endings model as a PyMC model (never samples).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> model = build_competing_model(CompetingSpec(), load_beat_the_blues())
    >>> model.coords["ending"]
    ('dropout', 'completed')
    """
    design, endings, code = _design(spec, data)
    return _model(spec, design, endings, code)


def _model(spec: CompetingSpec, design: HazardDesign, endings: tuple,
           code: np.ndarray) -> pm.Model:
    k = len(endings)
    rate = np.array([(code == j).mean() for j in range(1, k + 1)])
    none = max((code == 0).mean(), 1e-3)
    centre = np.log(np.clip(rate, 1e-3, None) / none)  # log odds vs continuing
    coords = {"ending": list(endings), "ending_bin": design.bin_labels}
    with pm.Model(coords=coords) as model:
        base = pm.Normal("ending_baseline", mu=pm.Data("ending_centre", centre)[:, None],
                         sigma=spec.baseline_sd, dims=("ending", "ending_bin"))
        bins = pm.Data("ending_bin_of_row", design.bin_of(design.rows["session"].to_numpy()))
        eta = base[:, bins].T  # (rows, endings)
        if design.x.shape[1]:
            model.add_coord("ending_term", list(design.terms))
            coef = pm.Normal("ending_coef", 0.0, spec.coef_sd, dims=("ending_term", "ending"))
            eta = eta + pt.dot(pm.Data("ending_x", design.x), coef)
        if design.therapist_index is not None:
            model.add_coord("therapist", design.therapists.tolist())
            sd = pm.HalfNormal("therapist_ending_sd", sigma=spec.therapist_sd, dims="ending")
            raw = pm.Normal("therapist_ending_raw", 0.0, 1.0, dims=("therapist", "ending"))
            w = pm.Deterministic("therapist_ending_effect", raw * sd[None, :],
                                 dims=("therapist", "ending"))
            eta = eta + w[pm.Data("ending_therapist_of_row", design.therapist_index)]
        logits = pt.concatenate([pt.zeros((eta.shape[0], 1)), eta], axis=1)
        pm.Categorical("ending_observed", logit_p=logits,
                       observed=pm.Data("ending_code", code))
    return model


@dataclass(frozen=True, eq=False)
class CompetingFit:
    """A fitted competing-endings model: spec, data, the endings fitted, posterior, checks.

    Examples
    --------
    >>> type(competing_fit).__name__, competing_fit.endings  # doctest: +ELLIPSIS
    ('CompetingFit', (...))
    >>> {"mean", "ci_low", "ci_high"} <= set(competing_fit.summary().columns)
    True
    """

    spec: CompetingSpec
    data: TherapyData
    endings: tuple[str, ...]
    idata: object
    diagnostics: Diagnostics
    settings: SamplerSettings = field(default_factory=SamplerSettings)

    def summary(self, *, ci_prob: float = 0.9) -> pd.DataFrame:
        """One row per parameter: ``mean``, ``sd``, ``ci_low``, ``ci_high``, ESS and R-hat."""
        return summary_table(tree.visible(tree.group(self.idata, "posterior")), ci_prob)


def fit_competing(spec: CompetingSpec, data: TherapyData, *,
                  settings: SamplerSettings | None = None,
                  **overrides: object) -> CompetingFit:
    """Fit the competing-endings hazard by MCMC (PyMC's NUTS unless ``sampler`` is given).

    Examples
    --------
    ``competing_fit`` is ``fit_competing(CompetingSpec(), load_beat_the_blues(), seed=1)``
    with short runs:

    >>> competing_fit.endings, competing_fit.settings.sampler
    (('dropout', 'completed'), 'pymc')
    """
    settings = replace(settings or SamplerSettings(sampler="pymc"), **overrides)
    design, endings, code = _design(spec, data)  # bad data fail here, before sampling
    sampled = sample(_model(spec, design, endings, code), settings)
    idata = tree.make_tree(posterior=sampled.posterior, sample_stats=sampled.sample_stats)
    diag = check_convergence(idata, method="competing", sampler=sampled.settings.sampler,
                             seconds=sampled.seconds, exact=(), what="competing-endings")
    return CompetingFit(spec=spec, data=data, endings=endings, idata=idata, diagnostics=diag,
                        settings=sampled.settings)


def _hazards(fit: CompetingFit, design: HazardDesign, rows: pd.DataFrame,
             keep: np.ndarray) -> np.ndarray:
    """Draws (S, n, K) of each ending's hazard for risk-set-like ``rows``."""
    post = tree.group(fit.idata, "posterior")
    base = flat(post, "ending_baseline")[keep]  # (S, K, bins)
    eta = np.transpose(base[:, :, design.bin_of(rows["session"].to_numpy())], (0, 2, 1))
    if "ending_coef" in post:
        x = design.encode(rows, tuple(t for t in design.terms if t in PREDICTORS))
        eta = eta + np.einsum("nj,sjk->snk", x, flat(post, "ending_coef")[keep])
    if "therapist_ending_effect" in post and "therapist" in rows:
        idx = pd.Index(design.therapists).get_indexer(rows["therapist"])  # -1: unknown
        w = flat(post, "therapist_ending_effect")[keep]  # (S, T, K)
        w = np.concatenate([w, np.zeros((len(keep), 1, w.shape[2]))], axis=1)
        eta = eta + w[:, idx, :]  # an unknown therapist (code -1): the zero row
    top = np.maximum(eta.max(axis=2, keepdims=True), 0.0)  # softmax with "continue" = 0
    expo = np.exp(eta - top)
    return expo / (np.exp(-top) + expo.sum(axis=2, keepdims=True))


def cumulative_incidence(fit: CompetingFit, *, sessions: list[int] | None = None,
                         prob: float = 0.9, max_draws: int = 1000) -> pd.DataFrame:
    """Cumulative incidence of each ending, and the share still in treatment, by session.

    At each session the hazards are averaged over the patients of the data, each with its
    own therapist and predictors (observed ones carried forward from the last session seen
    by then); ``in treatment`` is the product of one minus the summed hazards. Per
    posterior draw the incidences and the share in treatment sum to one at every session.

    Returns
    -------
    pandas.DataFrame
        One row per session and ending (plus ``"in treatment"``): ``session``, ``ending``,
        ``mean``, ``sd``, ``ci_low``, ``ci_high`` (after the session's ending, i.e. the
        probability of having ended that way by then).

    See Also
    --------
    analyses.plots.dropout.plot_cumulative_incidence : Plot this table.

    Examples
    --------
    >>> table = cumulative_incidence(competing_fit)
    >>> total = table.pivot(index="session", columns="ending", values="mean").sum(axis=1)
    >>> total.round(6).tolist()  # every patient ends one way or the other by each session
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    data = fit.data
    design, _, _ = _design(fit.spec, data)
    if sessions is None:
        sessions = [s for s in data.coords()["session"] if s <= design.rows["session"].max()]
    post = tree.group(fit.idata, "posterior")
    n = post.sizes["chain"] * post.sizes["draw"]
    keep = np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))
    states = risk_set(data.with_end_status(pd.Series("dropout", index=data.patients)))
    if "alliance" in states:
        states["alliance"] = states.groupby("patient")["alliance"].ffill()
    base = states.groupby("patient", sort=True).head(1).reset_index(drop=True)
    hazard = []
    for s in sessions:
        rows = base.assign(session=int(s))
        seen = states[states["session"] <= s].groupby("patient").tail(1)
        seen = seen.set_index("patient").reindex(rows["patient"])
        for col in ("score", "change", "alliance"):
            if col in rows:
                rows[col] = seen[col].fillna(rows[col]).to_numpy()
        hazard.append(_hazards(fit, design, rows, keep).mean(axis=1))  # (S, K)
    h = np.stack(hazard, axis=1)  # (S, sessions, K)
    alive = np.cumprod(1.0 - h.sum(axis=2), axis=1)
    before = np.concatenate([np.ones((len(keep), 1)), alive[:, :-1]], axis=1)
    incidence = np.cumsum(before[:, :, None] * h, axis=1)
    out = []
    for label, draws in [*((e, incidence[:, :, k]) for k, e in enumerate(fit.endings)),
                         (IN_TREATMENT, alive)]:
        s = summarise_draws(draws, prob)
        out.append(pd.DataFrame({"session": list(sessions), "ending": label, **s}))
    return pd.concat(out, ignore_index=True)
