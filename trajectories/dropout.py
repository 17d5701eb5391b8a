"""Discrete-time dropout hazard: the risk set and the standalone model.

Its estimands live in :mod:`trajectories.dropout_estimands`.

A patient is at risk of dropping out after each attended session. The **risk set** has
one row per patient and attended session at which dropout could happen, with
``event = 1`` on the last attended session of a patient whose end status is ``dropout``
(the event happens *after* that session, as in :mod:`trajectories.retention`). Patients
who ``completed`` or were ``referred`` ended by plan at their last session and
``ongoing`` patients have not yet had the chance to return, so their last session carries
no row: they are censored there. (The life table of :func:`trajectories.retention.
retention_curve` counts them at risk at that session; here they are left out because a
planned ending happens *instead of* a chance to drop out.)

The hazard of dropping out after session s is::

    g(h_is) = baseline[bin(s)] + x_is' gamma + w_t[i] (+ shared latent terms, see joint.py)

with ``g`` the logit or complementary log-log link, a piecewise-constant baseline over
session bins, covariates and observed predictors ``x`` (on standardised scales, so a
coefficient is "per SD") and a therapist random effect ``w_t ~ N(0, sd^2)`` (Zimmermann
et al. 2017; Saxon et al. 2017: therapists differ in dropout). The joint model in
:mod:`trajectories.joint` adds the patient's latent severity and change as shared
parameters (Wu & Carroll 1988; Rizopoulos 2010).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from trajectories.data import END_STATUSES, DataValidationError, TherapyData
from trajectories.engine import tree
from trajectories.engine.convergence import Diagnostics, check_convergence, summary_table
from trajectories.engine.sampling import sample
from trajectories.engine.settings import SamplerSettings
from trajectories.spec import DropoutSpec

__all__ = [
    "DropoutFit", "DropoutSpec", "HazardDesign", "add_hazard", "baseline_centre",
    "build_dropout_model",
    "fit_dropout", "hazard_design", "link_inverse", "risk_set",
]

# ---------------------------------------------------------------------------- risk set
def _py(value: object) -> object:
    """Convert a NumPy scalar to the plain Python value a user typed (for error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_status(data: TherapyData) -> pd.Series:
    status = data.end_status.reindex(pd.unique(data.frame["patient"]))
    missing = status.isna()
    if missing.any():
        raise DataValidationError(
            f"end_status: patient {_py(status.index[missing][0])!r} has no end status; dropout "
            "models need one for every patient")
    bad = ~status.astype(str).isin(END_STATUSES)
    if bad.any():
        raise DataValidationError(
            f"end_status: patient {_py(status.index[bad][0])!r} has {status[bad].iloc[0]!r}; it "
            f"must be one of {END_STATUSES}")
    return status.astype(str)


def risk_set(data: TherapyData, *, final_session: int | None = None,
             planned_endings: bool = False) -> pd.DataFrame:
    """One row per patient and attended session after which dropout could happen.

    Parameters
    ----------
    data : TherapyData
        Long data with end statuses.
    final_session : int, optional
        The last planned session. A patient marked ``dropout`` whose last session is at
        or after it cannot have dropped out (treatment was over) and is an error.
    planned_endings : bool
        Keep the last session of patients who ``completed`` or were ``referred`` too (the
        risk set of competing endings, :mod:`trajectories.competing`): treatment may end
        after any attended session in one of several ways.

    Returns
    -------
    pandas.DataFrame
        ``patient``, ``therapist`` (if any), ``session``, ``event`` (1 = dropped out after
        this session), ``ending`` (``"none"``, or how treatment ended after this session:
        ``"dropout"``, ``"completed"``, ``"referred"``), ``end_status``, ``score`` (last
        observed score, carried forward over missing ones), ``intake_score``, ``change``
        (score - intake), ``alliance`` (if any) and the data's covariates.

    Raises
    ------
    DataValidationError
        A missing or unknown end status, or a dropout at or after ``final_session``.

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 1, 2, 2], "week": [0, 1, 2, 0, 1],
    ...                    "phq": [20.0, 18, 17, 15, 9],
    ...                    "end": ["dropout"] * 3 + ["completed"] * 2})
    >>> data = TherapyData.from_frame(df, patient="id", session="week", score="phq",
    ...                               end_status="end")
    >>> risk_set(data)[["patient", "session", "event"]].to_numpy().tolist()
    [[1, 0, 0], [1, 1, 0], [1, 2, 1], [2, 0, 0]]
    """
    status = _check_status(data)
    frame = data.frame
    frame["end_status"] = frame["patient"].map(status).to_numpy()
    g = frame.groupby("patient", sort=False)
    last = g["session"].transform("max").to_numpy()
    is_last = frame["session"].to_numpy() == last
    dropout = (frame["end_status"] == "dropout").to_numpy()
    if final_session is not None:
        late = dropout & is_last & (last >= final_session)
        if late.any():
            i = np.flatnonzero(late)[0]
            raise DataValidationError(
                f"end_status: patient {_py(frame['patient'].iloc[i])!r} is marked 'dropout' but "
                f"attended session {_py(last[i])}, at or after the final planned session "
                f"{final_session}; mark it 'completed' or correct the sessions")
    intake = frame["patient"].map(
        frame.dropna(subset=["score"]).groupby("patient")["score"].first())
    if intake.isna().any():
        raise DataValidationError(
            f"column 'score': patient {_py(frame['patient'][intake.isna()].iloc[0])!r} has no "
            "observed score; dropout predictors need at least the intake score")
    # A missing score is carried forward from the last observed one (what a clinician knew).
    frame["score"] = g["score"].ffill().fillna(intake).to_numpy()
    frame["intake_score"] = intake.to_numpy()
    frame["change"] = frame["score"] - frame["intake_score"]
    frame["event"] = (is_last & dropout).astype(np.int64)
    ended = is_last & (frame["end_status"] != "ongoing").to_numpy()
    frame["ending"] = np.where(ended, frame["end_status"], "none")
    keep = ~is_last | dropout
    if planned_endings:
        keep = keep | ended
    cols = ["patient", *(["therapist"] if data.has_therapist else []), "session", "event",
            "ending", "end_status", "score", "intake_score", "change",
            *(["alliance"] if data.has_alliance else []), *data.covariates]
    return frame.loc[keep, cols].reset_index(drop=True)


# ---------------------------------------------------------------------------- design
@dataclass(frozen=True, eq=False)
class HazardDesign:
    """Numeric arrays of a dropout hazard: the risk set, its bins and standardised predictors.

    ``encode`` codes any rows (e.g. upcoming sessions) exactly like the fitted risk set.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> h = hazard_design(DropoutSpec(), load_beat_the_blues())
    >>> h.terms, h.bin_labels
    (('score', 'improvement', 'worsening'), ['0-1', '2', '3+'])
    >>> h.x.shape == (len(h.rows), 3), h.bin_of(np.array([0, 2, 5])).tolist()
    (True, [0, 1, 2])
    """

    spec: DropoutSpec
    rows: pd.DataFrame
    breaks: np.ndarray
    terms: tuple[str, ...]
    x: np.ndarray
    event: np.ndarray
    therapists: np.ndarray
    therapist_index: np.ndarray | None
    scales: dict
    sign: float

    @property
    def bin_labels(self) -> list[str]:
        """A label per baseline bin, e.g. ``"0"``, ``"1-2"``, ``"6+"``."""
        b = self.breaks.tolist()
        pairs = zip(b, b[1:], strict=False)
        out = [str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in pairs]
        return out + [f"{b[-1]}+"]

    def bin_of(self, session: np.ndarray) -> np.ndarray:
        """Baseline bin of each session (sessions before the first break use bin 0)."""
        idx = np.searchsorted(self.breaks, np.asarray(session), side="right") - 1
        return np.clip(idx, 0, len(self.breaks) - 1)

    def encode(self, rows: pd.DataFrame, predictors: tuple[str, ...]) -> np.ndarray:
        """Observed predictors and covariates of ``rows`` (risk-set columns), standardised."""
        return _encode(rows, predictors, self.spec.covariates, self.scales, self.sign)[0]


def _encode(rows: pd.DataFrame, predictors: tuple[str, ...], covariates: tuple[str, ...],
            scales: dict, sign: float) -> tuple[np.ndarray, list[str]]:
    cols, names = [], []
    s_y, centre = scales["score_sd"], scales["score_mean"]
    for p in predictors:
        if p == "score":
            cols.append(sign * (rows["score"].to_numpy(float) - centre) / s_y)
        elif p in ("improvement", "worsening"):
            worse = sign * rows["change"].to_numpy(float) / s_y
            cols.append(np.maximum(worse, 0.0) if p == "worsening" else np.maximum(-worse, 0.0))
        else:  # alliance: missing ratings are carried forward, then the mean
            a = rows["alliance"].to_numpy(float)
            a = np.where(np.isnan(a), scales["alliance_mean"], a)
            cols.append((a - scales["alliance_mean"]) / scales["alliance_sd"])
        names.append(p)
    for cov in covariates:
        rule = scales["covariates"][cov]
        if cov not in rows:
            raise DataValidationError(f"column {cov!r}: dropout covariate is not in the data")
        if rule["kind"] == "numeric":
            cols.append((rows[cov].to_numpy(float) - rule["mean"]) / rule["sd"])
            names.append(cov)
        else:
            raw = rows[cov].astype(str).to_numpy()
            for lev in rule["levels"][1:]:
                cols.append((raw == lev).astype(float))
                names.append(f"{cov}[{lev}]")
    x = np.column_stack(cols) if cols else np.zeros((len(rows), 0))
    if np.isnan(x).any():
        raise DataValidationError(f"dropout predictors {names}: values may not be missing")
    return x, names


def _sd(values: np.ndarray) -> float:
    sd = float(np.nanstd(values, ddof=1)) if np.sum(~np.isnan(values)) > 1 else 1.0
    return sd if math.isfinite(sd) and sd > 0 else 1.0


def hazard_design(spec: DropoutSpec, data: TherapyData, *,
                  predictors: tuple[str, ...] | None = None,
                  planned_endings: bool = False) -> HazardDesign:
    """Risk set, baseline bins and standardised predictors for a dropout spec.

    ``predictors`` overrides ``spec.predictors`` (the joint model keeps only alliance);
    ``planned_endings`` keeps the sessions after which treatment ended by plan (competing
    endings, :mod:`trajectories.competing`, whose spec has the same fields).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> d = hazard_design(DropoutSpec(), load_beat_the_blues())
    >>> d.bin_labels, d.terms, int(d.event.sum())
    (['0-1', '2', '3+'], ('score', 'improvement', 'worsening'), 48)
    """
    predictors = spec.predictors if predictors is None else tuple(predictors)
    if "alliance" in predictors and not data.has_alliance:
        raise DataValidationError("column 'alliance': the dropout spec uses alliance as a "
                                  "predictor but the data have no alliance ratings")
    rows = risk_set(data, planned_endings=planned_endings)
    if len(rows) == 0:
        raise DataValidationError("the risk set is empty: no patient attended a session "
                                  "after which dropout could happen")
    if spec.breaks is not None:
        breaks = np.asarray(spec.breaks)
    else:
        qs = np.quantile(rows["session"], np.linspace(0, 1, spec.n_bins + 1)[:-1])
        breaks = np.unique(np.concatenate([[rows["session"].min()],
                                           np.ceil(qs).astype(int)]))
        sess = np.unique(rows["session"])  # cut only where sessions exist
        breaks = np.unique(sess[np.searchsorted(sess, breaks).clip(0, len(sess) - 1)])
    frame = data.frame
    scales: dict = {"score_mean": float(np.nanmean(frame["score"])),
                    "score_sd": _sd(frame["score"].to_numpy(float)), "covariates": {}}
    if spec.score_scale is not None:  # fixed by the spec, e.g. for calibration studies
        scales["score_mean"], scales["score_sd"] = spec.score_scale
    if data.has_alliance:
        scales["alliance_mean"] = float(np.nanmean(frame["alliance"]))
        scales["alliance_sd"] = _sd(frame["alliance"].to_numpy(float))
        rows["alliance"] = rows.groupby("patient")["alliance"].ffill()
    for cov in spec.covariates:
        if cov not in rows:
            raise DataValidationError(f"column {cov!r}: dropout covariate is not in the data "
                                      f"(covariates: {list(data.covariates)})")
        raw = rows[cov]
        if pd.api.types.is_numeric_dtype(raw):
            scales["covariates"][cov] = {"kind": "numeric", "mean": float(raw.mean()),
                                         "sd": _sd(raw.to_numpy(float))}
        else:
            scales["covariates"][cov] = {"kind": "categorical",
                                         "levels": sorted(raw.astype(str).unique().tolist())}
    sign = 1.0 if data.higher_is_worse else -1.0
    x, names = _encode(rows, predictors, spec.covariates, scales, sign)
    if data.has_therapist and spec.therapist:
        therapists = np.asarray(data.coords()["therapist"], dtype=object)
        tidx = pd.Categorical(rows["therapist"], categories=therapists).codes.astype(np.int64)
    else:
        therapists, tidx = np.asarray([], dtype=object), None
    return HazardDesign(spec=spec, rows=rows, breaks=breaks, terms=tuple(names), x=x,
                        event=rows["event"].to_numpy(np.int64), therapists=therapists,
                        therapist_index=tidx, scales=scales, sign=sign)


# ---------------------------------------------------------------------------- model
def link_inverse(eta: np.ndarray, link: str) -> np.ndarray:
    """Hazard from the linear predictor: inverse logit or inverse complementary log-log.

    Examples
    --------
    >>> link_inverse(np.array([0.0, np.log(np.log(2))]), "cloglog").round(6).tolist()
    [0.632121, 0.5]
    """
    eta = np.asarray(eta, dtype=float)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-eta))
    return -np.expm1(-np.exp(eta))


def baseline_centre(design: HazardDesign) -> float:
    """Return the prior mean of every baseline bin.

    ``spec.baseline_mean`` when given (a data-free prior, e.g. for simulation-based calibration),
    else the link of the overall event rate of the risk set.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> round(baseline_centre(hazard_design(DropoutSpec(), load_beat_the_blues())), 4)
    -1.7636
    """
    if design.spec.baseline_mean is not None:
        return float(design.spec.baseline_mean)
    rate = float(np.clip(design.event.mean(), 0.005, 0.995))
    return (math.log(rate / (1 - rate)) if design.spec.link == "logit"
            else math.log(-math.log1p(-rate)))


def add_hazard(design: HazardDesign, extra=None) -> None:  # noqa: ANN001
    """Add the dropout hazard and its likelihood to the PyMC model in context.

    ``extra`` is an optional tensor added to the linear predictor of every risk-set row
    (the joint model's shared latent terms). Variables: ``dropout_baseline`` (dim
    ``dropout_bin``), ``dropout_coef`` (dim ``dropout_term``), ``therapist_dropout_sd``,
    ``therapist_dropout_effect`` (dim ``therapist``) and the observed ``dropout``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> h = hazard_design(DropoutSpec(therapist=False), load_beat_the_blues())
    >>> with pm.Model() as model:
    ...     add_hazard(h)
    >>> sorted(model.named_vars)[:3]
    ['dropout', 'dropout_baseline', 'dropout_baseline_centre']
    >>> model.coords["dropout_bin"]
    ('0-1', '2', '3+')
    """
    spec, model = design.spec, pm.modelcontext(None)
    model.add_coord("dropout_bin", design.bin_labels)
    centre = baseline_centre(design)
    # Arrays enter as pm.Data, not constants: the compiled graph is then the same for every
    # data set of this structure, so PyTensor's compilation cache is hit on a refit.
    base = pm.Normal("dropout_baseline", mu=pm.Data("dropout_baseline_centre", centre),
                     sigma=spec.baseline_sd, dims="dropout_bin")
    bins = pm.Data("dropout_bin_of_row", design.bin_of(design.rows["session"].to_numpy()))
    eta = base[bins]
    if design.x.shape[1]:
        model.add_coord("dropout_term", list(design.terms))
        coef = pm.Normal("dropout_coef", 0.0, spec.coef_sd, dims="dropout_term")
        eta = eta + pt.dot(pm.Data("dropout_x", design.x), coef)
    if design.therapist_index is not None:
        if "therapist" not in model.coords:
            model.add_coord("therapist", design.therapists.tolist())
        sd = pm.HalfNormal("therapist_dropout_sd", sigma=spec.therapist_sd)
        raw = pm.Normal("therapist_dropout_raw", 0.0, 1.0, dims="therapist")
        w = pm.Deterministic("therapist_dropout_effect", sd * raw, dims="therapist")
        # a row without a therapist (partially nested design, index -1) gets no effect
        w0 = pt.concatenate([w, pt.zeros(1)])
        tidx = np.where(design.therapist_index >= 0, design.therapist_index,
                        len(design.therapists))
        eta = eta + w0[pm.Data("dropout_therapist_of_row", tidx)]
    if extra is not None:
        eta = eta + extra
    event = pm.Data("dropout_event", design.event)
    if spec.link == "logit":
        pm.Bernoulli("dropout", logit_p=eta, observed=event)
    else:
        p = pt.clip(-pt.expm1(-pt.exp(eta)), 1e-12, 1 - 1e-12)
        pm.Bernoulli("dropout", p=p, observed=event)


def build_dropout_model(spec: DropoutSpec, data: TherapyData) -> pm.Model:
    """Build the standalone dropout model (observed predictors only) as a PyMC model.

    Building it never samples.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> model = build_dropout_model(DropoutSpec(), load_beat_the_blues())
    >>> sorted(v.name for v in model.free_RVs)
    ['dropout_baseline', 'dropout_coef']
    """
    design = hazard_design(spec, data)
    with pm.Model() as model:
        add_hazard(design)
    return model


# ---------------------------------------------------------------------------- fitting
@dataclass(frozen=True, eq=False)
class DropoutFit:
    """A fitted standalone dropout model: spec, data, posterior (``idata``), diagnostics.

    Build it with :func:`fit_dropout`. The joint model returns a
    :class:`~trajectories.fit.GrowthFit` instead; the dropout estimands accept both.

    Examples
    --------
    >>> type(dropout_fit).__name__, dropout_fit.spec.link
    ('DropoutFit', 'logit')
    >>> table = dropout_fit.summary(ci_prob=0.9)
    >>> bool((table["ci_low"] <= table["ci_high"]).all())
    True
    """

    spec: DropoutSpec
    data: TherapyData
    idata: object
    diagnostics: Diagnostics
    settings: SamplerSettings = SamplerSettings()

    def summary(self, *, ci_prob: float = 0.9) -> pd.DataFrame:
        """One row per parameter: ``mean``, ``sd``, ``ci_low``, ``ci_high``, ESS and R-hat."""
        return summary_table(tree.visible(posterior(self)), ci_prob)


def fit_dropout(spec: DropoutSpec, data: TherapyData, *,
                settings: SamplerSettings | None = None, **overrides: object) -> DropoutFit:
    """Fit the standalone dropout hazard (observed predictors only) by MCMC.

    A quick analysis of who drops out. Because its predictors are observed scores, it
    says nothing about the scores dropouts would have had; fit the joint model
    (``fit_growth(GrowthSpec(dropout=DropoutSpec()), data)``) for that.

    Parameters
    ----------
    spec : DropoutSpec
        Link, baseline bins, predictors, covariates, therapist effect.
    data : TherapyData
        Data with end statuses.
    settings : SamplerSettings, optional
        Draws, tuning, chains, seed...; ``sampler="pymc"`` (PyMC's NUTS compiles these
        small models in seconds) unless given.
    **overrides
        Fields of :class:`~trajectories.engine.settings.SamplerSettings` to change.

    Returns
    -------
    DropoutFit
        A :class:`~trajectories.engine.convergence.ConvergenceWarning` names parameters
        that fail checks.

    Examples
    --------
    ``dropout_fit`` was made by ``fit_dropout(DropoutSpec(), load_beat_the_blues(), seed=1,
    draws=100, tune=200, chains=2)``:

    >>> dropout_fit.settings.sampler, dropout_fit.diagnostics.method
    ('pymc', 'dropout')
    >>> sorted(dropout_fit.summary()["parameter"])[0]
    'dropout_baseline[0-1]'
    """
    settings = replace(settings or SamplerSettings(sampler="pymc"), **overrides)
    model = build_dropout_model(spec, data)
    sampled = sample(model, settings)
    idata = tree.make_tree(posterior=sampled.posterior, sample_stats=sampled.sample_stats)
    diag = check_convergence(idata, method="dropout", sampler=sampled.settings.sampler,
                             seconds=sampled.seconds, exact=(), what="dropout-model")
    return DropoutFit(spec=spec, data=data, idata=idata, diagnostics=diag,
                      settings=sampled.settings)


def posterior(fit: object) -> object:
    """Return the posterior of a dropout or joint fit as an ``xarray.Dataset``."""
    return tree.group(fit.idata, "posterior")


def dropout_spec_of(fit: object) -> DropoutSpec:
    """Return the :class:`DropoutSpec` of a standalone fit or a joint :class:`GrowthFit`."""
    if isinstance(fit, DropoutFit):
        return fit.spec
    if fit.spec.dropout is not None:
        return fit.spec.dropout
    attrs = posterior(fit).attrs  # fits made before GrowthSpec.dropout existed
    if "setback_dropout_spec" not in attrs:
        raise ValueError("this fit has no dropout part: fit it with fit_dropout, or with "
                         "fit_growth(GrowthSpec(dropout=DropoutSpec()), ...)")
    return DropoutSpec.from_dict(json.loads(attrs["setback_dropout_spec"]))


def interval(draws: np.ndarray, prob: float) -> dict[str, np.ndarray]:
    """Posterior mean, SD and equal-tailed interval over the first axis."""
    lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {"mean": draws.mean(0), "sd": draws.std(0, ddof=1) if len(draws) > 1
            else np.zeros(draws.shape[1:]), "ci_low": lo, "ci_high": hi}
