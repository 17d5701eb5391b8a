"""Clinical estimands from a fitted growth model, each a tidy table with credible intervals.

All functions take a :class:`~trajectories.fit.GrowthFit` and compute from its posterior
draws; "better" and "worse" follow the instrument's direction (``higher_is_worse``).
Intervals are equal-tailed with probability ``ci_prob``. Intake is session 0.

Scores are reported on the instrument's range: an observed score is the model's latent
score censored at the floor and ceiling (:func:`~trajectories.predict.score_bounds`), so
expected scores are means of censored scores and intervals and bands are clipped quantiles;
they never leave the range. Model parameters and :func:`contrast` are on the latent (linear)
scale, as lme4 and emmeans report them (docs/workflow.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr, stdtr, stdtrit

from trajectories.contrasts import contrast, covariate_profiles
from trajectories.data import TherapyData
from trajectories.fit import GrowthFit, posterior_draws
from trajectories.instruments import Instrument
from trajectories.predict import (
    _T_NODES,
    expected_bounded,
    intake_sd,
    mixture_quantile,
    pad,
    predict,
    require_independent_normal,
    resolve_rci,
    score_bounds,
    summarise_draws,
    total_covariance,
)

__all__ = ["contrast", "deterioration_risk", "expected_change", "predict",
           "raw_therapist_effects", "recovery_curves", "therapist_effects"]


def _with_units(table: pd.DataFrame, fit: GrowthFit, **levels: float) -> pd.DataFrame:
    """Record the data's scale and the interval levels in the table's ``attrs``.

    The scale goes in ``attrs["units"]``, the levels (``ci_prob``, ``band``) beside it: what figures
    label axes and captions with.
    """
    table.attrs.update(units=fit.data.units(), **levels)
    return table


def _rows(design, data, session: float) -> np.ndarray:  # noqa: ANN001
    first = data.frame.sort_values(["patient", "session"]).groupby("patient", sort=True).head(1)
    return design.encode(first.assign(session=float(session)))


def _tidy(ids: dict, quantity: str, samples: np.ndarray, ci_prob: float) -> pd.DataFrame:
    s = summarise_draws(samples, ci_prob)
    n = np.atleast_1d(s["mean"]).shape[0]
    return pd.DataFrame({**{k: np.broadcast_to(v, n) for k, v in ids.items()},
                         "quantity": quantity, **{k: np.atleast_1d(v) for k, v in s.items()}})


def expected_change(fit: GrowthFit, *, at_session: float,
                    level: str = "population", ci_prob: float = 0.95,
                    newdata: pd.DataFrame | object | None = None) -> pd.DataFrame:
    """Compute the expected score at a session and change from intake, raw and standardised.

    ``expected_score`` is the mean score patients would have (on the instrument's range:
    the latent score censored at the floor and ceiling, so it never leaves the range; with
    Student-t residuals their tails are included); ``change`` is its difference from the
    expected score at intake. ``standardised_change`` divides the change by the
    model-implied SD of intake scores, ``sqrt(z0' (Sigma_u + Sigma_v) z0 + sigma^2)``, per
    draw. The population level
    averages the covariates over the fitted patients; the therapist level over the
    therapist's patients and adds its effect; the patient level uses each patient's
    effects.

    Parameters
    ----------
    fit : GrowthFit
    at_session : float
        Session at which the score is evaluated.
    level : {"population", "therapist", "patient"}
    ci_prob : float
    newdata : DataFrame or TherapyData, optional
        Population level only: covariate profiles to average over instead of the fitted
        patients (see :func:`contrast`), e.g. every patient with the arm set to one level
        gives that arm's expected course.

    Returns
    -------
    pandas.DataFrame
        Id columns of the level (none, ``therapist``, or ``patient``), ``session``,
        ``quantity`` (``expected_score``, ``change``, ``standardised_change``),
        ``mean``, ``sd``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [6.0]}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(), draws)
    >>> expected_change(fit, at_session=8)["mean"].round(3).tolist()  # latent mean 15.408
    [15.8, -6.249, -0.625]
    """
    if level not in ("population", "therapist", "patient"):
        raise ValueError(f"level must be population, therapist or patient, got {level!r}")
    design = fit.design
    d = posterior_draws(fit)
    k = len(fit.spec.coefficients)
    if newdata is not None and level != "population":
        raise ValueError("newdata applies to level='population' only")
    if newdata is None:
        xk, x0 = _rows(design, fit.data, at_session), _rows(design, fit.data, 0.0)
    else:
        profiles = covariate_profiles(fit, newdata)
        xk = design.encode(profiles.assign(session=float(at_session)))
        x0 = design.encode(profiles.assign(session=0.0))
    zk, z0 = xk[0, :k], x0[0, :k]
    sd0 = intake_sd(d, design)
    t = {} if d.nu is None else {"nu": d.nu, "t_scale": d.residual_sd}
    s2 = 0.0 if t else d.residual_sd**2

    def observed(mean: np.ndarray, cov: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        """Mean censored score per draw and patient, effects of ``cov`` integrated out."""
        re = 0.0 if cov is None else np.einsum("i,sij,j->s", z, cov, z)
        sd = np.sqrt(re + s2)
        return expected_bounded(mean, sd[:, None] if np.ndim(sd) else sd, fit.data, **t)

    def population_mean(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        # patients with the same design row have the same censored mean: evaluate each
        # distinct row once and weight it by its patients (exact; without covariates one row)
        rows, counts = np.unique(x, axis=0, return_counts=True)
        return observed(d.beta @ rows.T, cov, z) @ (counts / counts.sum())

    if level == "population":
        cov = total_covariance(d, k)
        score = population_mean(xk, zk)
        change = score - population_mean(x0, z0)
        ids: dict = {}
    elif level == "therapist":
        if d.therapist_effect is None:
            raise ValueError("this fit has no therapist effects (two-level data or "
                             "GrowthSpec(therapist='none'))")
        tidx = design.therapist_index
        n_t = len(design.therapists)
        counts = np.bincount(tidx[tidx >= 0], minlength=n_t)
        u = pad(d.therapist_effect, k, axes=1)  # (S, T, k)
        cov = pad(d.sigma_v, k)
        with_t = tidx >= 0  # patients without a therapist do not describe one

        def mean_by_therapist(x: np.ndarray, z: np.ndarray) -> np.ndarray:
            # one evaluation per distinct (therapist, design row), weighted by its patients
            keys, inverse = np.unique(np.column_stack([tidx[with_t], x[with_t]]), axis=0,
                                      return_inverse=True)
            ther_of = keys[:, 0].astype(np.int64)
            per = observed(d.beta @ keys[:, 1:].T + (u @ z)[:, ther_of], cov, z)
            members = np.zeros((len(keys), n_t))  # patients of each (therapist, row)
            members[np.arange(len(keys)), ther_of] = np.bincount(inverse.ravel(),
                                                                 minlength=len(keys))
            return per @ members / counts

        score = mean_by_therapist(xk, zk)
        change = score - mean_by_therapist(x0, z0)
        ids = {"therapist": design.therapists}
    else:
        if d.patient_effect is None:
            raise ValueError("this fit has no patient effects in its posterior")
        eff = pad(d.patient_effect, k, axes=1)
        ther = d.therapist_effect_of(design.therapist_index)
        if ther is not None:
            eff = eff + pad(ther, k, axes=1)
        score = observed(d.beta @ xk.T + eff @ zk, None, zk)
        change = score - observed(d.beta @ x0.T + eff @ z0, None, z0)
        ids = {"patient": design.patients}
    std = change / (sd0[:, None] if change.ndim == 2 else sd0)
    ids = ids | {"session": at_session}
    return _with_units(pd.concat([_tidy(ids, "expected_score", score, ci_prob),
                                  _tidy(ids, "change", change, ci_prob),
                                  _tidy(ids, "standardised_change", std, ci_prob)],
                                 ignore_index=True), fit, ci_prob=ci_prob)


def recovery_curves(fit: GrowthFit, *, intake, sessions=None,  # noqa: ANN001
                    band: float = 0.8, ci_prob: float = 0.95) -> pd.DataFrame:
    """Compute expected recovery curves conditional on intake severity, with predictive bands.

    For a new patient of an average therapist with intake score ``y0`` (session 0), the
    scores at later sessions are jointly normal given the parameters; conditioning on
    ``y0`` gives each session's expected score and predictive distribution (Finch,
    Lambert & Schaalje, 2001, used tolerance bands around such curves). The band edge in
    the worse direction is the failure boundary of the OQ signal-alarm method: a patient
    above it (for ``higher_is_worse``) is not on track.

    Parameters
    ----------
    fit : GrowthFit
    intake : sequence of float
        Intake scores to condition on.
    sessions : sequence of float, optional
        Sessions of the curve (default: the sessions in the fitted data).
    band : float
        Central probability of the predictive band (0.8: 10th to 90th percentile).
    ci_prob : float
        Probability of the credible interval of the expected score.

    Returns
    -------
    pandas.DataFrame
        ``intake``, ``session``, ``expected_score``, ``ci_low``, ``ci_high``,
        ``band_low``, ``band_high``, ``failure_boundary``; all on the instrument's range
        (the expected score is the mean of the score censored at the bounds, bands are
        clipped quantiles). Fits with Student-t or AR(1) residuals are refused (the
        conditional predictive distribution has no closed form there).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [6.0]}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(), draws)
    >>> curves = recovery_curves(fit, intake=[30], sessions=[0, 8])
    >>> curves["expected_score"].round(2).tolist(), curves["failure_boundary"].round(2).tolist()
    ([30.0, 20.56], [30.0, 31.87])
    """
    require_independent_normal(fit, "recovery_curves")
    design = fit.design
    d = posterior_draws(fit)
    k = len(fit.spec.coefficients)
    intake = np.atleast_1d(np.asarray(intake, dtype=float))
    sessions = np.asarray(fit.data.coords()["session"] if sessions is None else sessions,
                          dtype=float)
    cov = total_covariance(d, k)
    s2 = d.residual_sd**2
    lower, upper = score_bounds(fit.data)
    x0 = _rows(design, fit.data, 0.0).mean(0)
    mu0 = d.beta @ x0
    c00 = np.einsum("i,sij,j->s", x0[:k], cov, x0[:k]) + s2
    a_ci, a_band = (1.0 - ci_prob) / 2.0, (1.0 - band) / 2.0
    frames = []
    for s in sessions:
        xs = _rows(design, fit.data, s).mean(0)
        mus = d.beta @ xs
        cs0 = np.einsum("i,sij,j->s", xs[:k], cov, x0[:k]) + (s2 if s == 0 else 0.0)
        css = np.einsum("i,sij,j->s", xs[:k], cov, xs[:k]) + s2
        gain = cs0 / c00
        mean = mus[:, None] + gain[:, None] * (intake[None, :] - mu0[:, None])
        sd = np.sqrt(np.maximum(css - gain * cs0, 1e-300))[:, None] * np.ones_like(mean)
        low = np.clip(mixture_quantile(mean, sd, a_band), lower, upper)
        high = np.clip(mixture_quantile(mean, sd, 1.0 - a_band), lower, upper)
        expected = expected_bounded(mean, sd, fit.data)  # (S, intakes), inside the range
        frames.append(pd.DataFrame({
            "intake": intake, "session": s, "expected_score": expected.mean(0),
            "ci_low": np.quantile(expected, a_ci, axis=0),
            "ci_high": np.quantile(expected, 1.0 - a_ci, axis=0),
            "band_low": low, "band_high": high,
            "failure_boundary": high if fit.data.higher_is_worse else low,
        }))
    return _with_units(pd.concat(frames, ignore_index=True).sort_values(
        ["intake", "session"], ignore_index=True), fit, ci_prob=ci_prob, band=band)


def _p_exceeds(margin: np.ndarray, scale: np.ndarray, has0: np.ndarray,
               nu: np.ndarray | None) -> np.ndarray:
    """Compute P(residual part > -margin), averaged over draws.

    One residual (observed intake) or the difference of two (model intake); normal or Student-t
    residuals.
    """
    if nu is None:
        sd = np.where(has0[None], scale, np.sqrt(2.0) * scale)
        return ndtr(margin / sd).mean(0)
    nu = nu[:, None]
    one = stdtr(nu, margin / scale)
    # difference of two t residuals: average over the intake residual's quantile midpoints
    two = np.mean([stdtr(nu, margin / scale + stdtrit(nu, node)) for node in _T_NODES],
                  axis=0)
    return np.where(has0[None], one, two).mean(0)


def therapist_effects(fit: GrowthFit, *, at_session: float,
                      ci_prob: float = 0.95) -> pd.DataFrame:
    """Therapist variance, therapist share of outcome variance (ICC) and each therapist's effect.

    Each therapist's ``effect`` is its (shrunken, partially pooled) deviation of the
    expected score at ``at_session`` from the average therapist; ``p_better_than_average``
    is the posterior probability that the deviation is in the better direction, and
    ``rank`` its rank per draw (1 = best). ``icc`` is the therapist share of the variance
    of scores at the session: ``z' Sigma_u z / (z' (Sigma_u + Sigma_v) z + sigma^2)``.

    Returns
    -------
    pandas.DataFrame
        ``therapist`` (None for the variance rows), ``quantity`` (``<coefficient>_variance``,
        ``icc``, ``effect``, ``p_better_than_average``, ``rank``), ``session``, ``mean``,
        ``sd``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> import pandas as pd
    >>> from trajectories.data import TherapyData
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> df = pd.DataFrame({"patient": [1, 1, 2, 2], "therapist": ["A", "A", "B", "B"],
    ...                    "session": [0, 1, 0, 1], "score": [20.0, 15, 22, 21]})
    >>> data = TherapyData.from_frame(df, patient="patient", therapist="therapist",
    ...                               session="session", score="score")
    >>> spec = GrowthSpec(time="linear", patient="intercept", therapist="intercept")
    >>> draws = {"intercept": [21.0, 21.0], "slope": [-2.0, -2.0],
    ...          "patient_intercept_sd": [3.0, 3.0], "therapist_intercept_sd": [1.0, 1.0],
    ...          "therapist_effect": [[[-1.0], [1.0]], [[-0.5], [0.5]]],
    ...          "residual_sd": [2.0, 2.0]}
    >>> te = therapist_effects(fit_from_draws(spec, data, draws), at_session=1)
    >>> te.query("quantity == 'p_better_than_average'")["mean"].tolist()
    [1.0, 0.0]
    """
    design = fit.design
    d = posterior_draws(fit)
    if d.therapist_effect is None:
        raise ValueError("this fit has no therapist effects (two-level data or "
                         "GrowthSpec(therapist='none'))")
    k = len(fit.spec.coefficients)
    names = fit.spec.therapist_coefficients(True)
    z = design.basis(at_session)[0]
    ids = {"therapist": None, "session": at_session}
    frames = [_tidy(ids, f"{c}_variance", d.sigma_u[:, j, j], ci_prob)
              for j, c in enumerate(names)]
    between = np.einsum("i,sij,j->s", z, pad(d.sigma_u, k), z)
    total = np.einsum("i,sij,j->s", z, total_covariance(d, k), z) + d.residual_sd**2
    frames.append(_tidy(ids, "icc", between / total, ci_prob))
    effect = pad(d.therapist_effect, k, axes=1) @ z  # (S, T)
    better = -effect if fit.data.higher_is_worse else effect
    rank = (-better).argsort(1).argsort(1) + 1.0
    ids = {"therapist": design.therapists, "session": at_session}
    frames.append(_tidy(ids, "effect", effect, ci_prob))
    prob = _tidy(ids, "p_better_than_average", (better > 0).astype(float), ci_prob)
    frames.append(prob.assign(sd=np.nan, ci_low=np.nan, ci_high=np.nan))
    frames.append(_tidy(ids, "rank", rank, ci_prob))
    return _with_units(pd.concat(frames, ignore_index=True), fit, ci_prob=ci_prob)


def raw_therapist_effects(data: TherapyData, *, at_session: int) -> pd.DataFrame:
    """Compute unpooled therapist deviations (no shrinkage, no model).

    Each therapist's mean observed score at a session minus the mean of all patients seen at
    that session.

    Set beside :func:`therapist_effects` they show partial pooling: therapists with few
    patients scatter widely here and are pulled towards zero by the model.

    Returns
    -------
    pandas.DataFrame
        ``therapist``, ``raw_effect`` and ``n_patients`` (seen at the session).

    Examples
    --------
    >>> df = pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3], "therapist": ["A", "A", "B", "B",
    ...                    "B", "B"], "session": [0, 1] * 3, "score": [20.0, 10, 20, 16, 22, 16]})
    >>> data = TherapyData.from_frame(df, patient="patient", therapist="therapist",
    ...                               session="session", score="score")
    >>> raw_therapist_effects(data, at_session=1)
      therapist  raw_effect  n_patients
    0         A        -4.0           1
    1         B         2.0           2
    """
    if not data.has_therapist:
        raise ValueError("the data have no therapist column")
    frame = data.frame
    at = frame[(frame["session"] == at_session) & frame["score"].notna()]
    if at.empty:
        raise ValueError(f"no scores at {data.time_unit} {at_session}")
    g = at.groupby("therapist")["score"]
    return pd.DataFrame({"raw_effect": g.mean() - at["score"].mean(),
                         "n_patients": g.size()}).reset_index()


def deterioration_risk(fit: GrowthFit, *, by_session: float,
                       instrument: str | Instrument | float | None = None) -> pd.DataFrame:
    """Each patient's posterior probability of reliable deterioration at a session.

    Deterioration is a change from intake (session 0) of at least the instrument's RCI
    (Jacobson & Truax, 1991) in the worse direction, for the score the patient would
    have at ``by_session`` (measurement error included), given its posterior effects.
    With an observed intake score the change is from that score; otherwise from the
    model's intake score (so both ends carry measurement error). Measurement error is the
    fit's residual distribution: normal, or Student-t for ``likelihood="student_t"``. The
    later score is censored at the instrument's range, so a deterioration that would need
    a score beyond the ceiling (floor, where higher is better) has probability 0.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``patient``, ``therapist`` (if any), ``by_session``,
        ``observed_at_session``, ``intake_score``, ``expected_change``, ``ci_low``,
        ``ci_high`` (of the true change) and ``p_deteriorated``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> data = load_beat_the_blues()
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [6.0],
    ...          "patient_effect": [np.zeros((100, 2))]}
    >>> risk = deterioration_risk(fit_from_draws(GrowthSpec(time="log"), data, draws),
    ...                           by_session=8, instrument=8.46)
    >>> risk.loc[0, ["intake_score", "p_deteriorated"]].round(4).tolist()
    [29.0, 0.0001]
    """
    require_independent_normal(fit, "deterioration_risk", allow_t=True)
    design = fit.design
    d = posterior_draws(fit)
    if d.patient_effect is None:
        raise ValueError("this fit has no patient effects in its posterior")
    rci = resolve_rci(fit, instrument)
    k = len(fit.spec.coefficients)
    worse = 1.0 if fit.data.higher_is_worse else -1.0
    xk, x0 = _rows(design, fit.data, by_session), _rows(design, fit.data, 0.0)
    zk, z0 = xk[0, :k], x0[0, :k]
    eff = pad(d.patient_effect, k, axes=1)
    ther = d.therapist_effect_of(design.therapist_index)
    if ther is not None:
        eff = eff + pad(ther, k, axes=1)
    mu_k = d.beta @ xk.T + eff @ zk
    mu_0 = d.beta @ x0.T + eff @ z0
    frame = fit.data.frame
    obs = frame.query("session == 0").set_index("patient")["score"]
    intake = obs.reindex(design.patients).to_numpy(dtype=float)
    has0 = ~np.isnan(intake)
    s = d.residual_sd[:, None]
    diff = np.where(has0[None], mu_k - intake[None], mu_k - mu_0)
    p = _p_exceeds(worse * diff - rci, s, has0, d.nu)
    # with an observed intake, a worsening that needs a score beyond the range cannot happen
    lower, upper = score_bounds(fit.data)
    target = intake + worse * rci
    p = np.where(~has0 | ((target >= lower) & (target <= upper)), p, 0.0)
    change = summarise_draws(mu_k - mu_0)
    seen = frame.loc[frame["session"] == by_session, "patient"]
    out = pd.DataFrame({"patient": design.patients})
    if fit.data.has_therapist:
        if design.therapist_index is None:  # therapist="none": the data's therapist
            out["therapist"] = fit.data.therapist_of_patient.reindex(design.patients).to_numpy()
        else:  # the current therapist (of the last session); index -1 picks None
            out["therapist"] = np.append(design.therapists, None)[design.therapist_index]
    return out.assign(by_session=by_session, observed_at_session=out["patient"].isin(seen),
                      intake_score=np.where(has0, intake, mu_0.mean(0)),
                      expected_change=change["mean"], ci_low=change["ci_low"],
                      ci_high=change["ci_high"], p_deteriorated=p)
