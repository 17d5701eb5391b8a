"""`contrast`: differences in expected score between levels of a covariate, by session.

The first question of a trial analyst ("what is the difference between the arms at month 8,
with its credible interval?") as one call. For each posterior draw and each profile of
covariates (by default every fitted patient's own covariates), the expected latent score
is computed twice, with the covariate set to the level and to the reference; the contrast
is the average over profiles of the difference. This is the counterfactual average of
marginaleffects' ``avg_comparisons`` and bambi's ``comparisons`` (emmeans with
``weights = "proportional"`` gives the same in these linear models). Interactions with time
are included, so the contrast changes with the session. Random effects average to zero over
the population and cancel in the difference.

The scale is the model's linear (latent) scale, as lme4 and emmeans report it; for a
bounded instrument this is the difference in the uncensored score
(:mod:`trajectories.estimands` reports expected *scores* on the instrument's range).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trajectories.data import TherapyData
from trajectories.design import _intake
from trajectories.engine.tree import growth_draws
from trajectories.predict import intake_sd

__all__ = ["contrast", "covariate_profiles"]


def contrast(
    fit: object,
    by: str = "treatment",
    *,
    at_session: float | Sequence[float],
    reference: object | None = None,
    newdata: pd.DataFrame | TherapyData | None = None,
    change: float | Sequence[float] = 1.0,
    ci_prob: float = 0.95,
) -> pd.DataFrame:
    """Posterior contrast of expected scores between levels of ``by``, at given sessions.

    Parameters
    ----------
    fit : GrowthFit
        A fitted growth model whose spec lists ``by`` in ``covariates``.
    by : str
        The covariate to contrast (e.g. the arm). A text covariate gives one row per level
        against the reference level; a numeric one (including ``"intake"``) the effect of
        raising it by ``change`` from each profile's value.
    at_session : float or sequence of float
        Session(s) at which the contrast is evaluated (interactions with time make it
        change with the session).
    reference : optional
        Reference level of a text covariate (default: the first level in sorted order, the
        one the model's dummy coding uses).
    newdata : DataFrame or TherapyData, optional
        Covariate profiles to average over (one row per profile; a TherapyData gives each
        patient's first row). Default: the fitted patients, i.e. the other covariates
        averaged as observed. A one-row frame gives the conditional contrast at that profile.
    change : float or sequence of float
        For a numeric ``by``: the change(s) of the covariate, in its units.
    ci_prob : float
        Probability of the equal-tailed credible interval.

    Returns
    -------
    pandas.DataFrame
        One row per level x session x scale: ``by``, ``level``, ``reference``, ``session``,
        ``scale`` (``"raw"`` score units, or ``"standardised"``: divided by the
        model-implied SD of intake scores, as in :func:`~trajectories.estimands.
        expected_change`), ``estimate`` (posterior mean), ``sd``, ``ci_low``, ``ci_high``
        and ``p_direction`` (posterior probability that the difference is below 0).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> spec = GrowthSpec(time="log", covariates=("treatment",),
    ...                   time_interactions=("treatment",))
    >>> draws = {"intercept": [22.0], "slope": [-4.0], "covariate_effect": [[1.0, 2.0]],
    ...          "patient_intercept_sd": [8.0], "patient_slope_sd": [2.0],
    ...          "patient_corr": [[0.0]], "residual_sd": [5.0]}
    >>> fit = fit_from_draws(spec, load_beat_the_blues(), draws)
    >>> table = contrast(fit, by="treatment", at_session=[0, 8])
    >>> raw = table.query("scale == 'raw'")
    >>> raw["level"].tolist(), raw["estimate"].round(3).tolist()  # 1 + 2 log(9) at month 8
    (['TAU', 'TAU'], [1.0, 5.394])
    """
    if by not in fit.spec.covariates:
        raise ValueError(f"contrast: {by!r} is not a covariate of this model (its covariates: "
                         f"{list(fit.spec.covariates)})")
    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob!r}")
    design = fit.design
    sessions = [float(s) for s in np.atleast_1d(np.asarray(at_session, dtype=float))]
    profiles = covariate_profiles(fit, newdata)
    rule = design.encoding[by]
    if rule["kind"] == "categorical":
        levels = rule["levels"]
        ref = levels[0] if reference is None else str(reference)
        if ref not in levels:
            raise ValueError(f"contrast: reference {reference!r} is not a level of {by!r} "
                             f"(levels: {levels})")
        pairs = [(lev, ref, profiles.assign(**{by: lev}), profiles.assign(**{by: ref}))
                 for lev in levels if lev != ref]
    else:
        if reference is not None:
            raise ValueError(f"contrast: {by!r} is numeric; give the change with change=, "
                             "not a reference level")
        base = (profiles[by] if by in profiles else _intake(profiles)).to_numpy(float)
        pairs = [(f"+{c:g}", "as observed", profiles.assign(**{by: base + c}),
                  profiles.assign(**{by: base})) for c in np.atleast_1d(change)]
    d = growth_draws(fit)
    sd0 = intake_sd(d, design)
    a = (1.0 - ci_prob) / 2.0
    rows = []
    for level, ref, frame_l, frame_r in pairs:
        for s in sessions:
            dx = (design.encode(frame_l.assign(session=s))
                  - design.encode(frame_r.assign(session=s))).mean(0)
            diff = d.beta @ dx
            for scale, draws in (("raw", diff), ("standardised", diff / sd0)):
                low, high = np.quantile(draws, [a, 1.0 - a])
                rows.append({"by": by, "level": level, "reference": ref, "session": s,
                             "scale": scale, "estimate": draws.mean(),
                             "sd": draws.std(ddof=1) if len(draws) > 1 else 0.0,
                             "ci_low": low, "ci_high": high,
                             "p_direction": float((draws < 0).mean())})
    return pd.DataFrame(rows)


def covariate_profiles(fit: object, newdata: pd.DataFrame | TherapyData | None
                       ) -> pd.DataFrame:
    """Return the covariate profiles to average over.

    Each patient's first row (of the fitted data or of a TherapyData), or the rows of a frame of
    covariate values (checked).

    Examples
    --------
    >>> profiles = covariate_profiles(small_fit, None)  # each patient's first row
    >>> len(profiles), sorted(profiles["treatment"].unique())
    (100, ['BtheB', 'TAU'])
    >>> import pandas as pd
    >>> arms = pd.DataFrame({"treatment": ["TAU", "BtheB"]})
    >>> covariate_profiles(small_fit, arms)["session"].tolist()
    [0.0, 0.0]
    """
    if newdata is None or isinstance(newdata, TherapyData):
        data = fit.data if newdata is None else newdata
        frame = data.frame
        if "intake" in fit.spec.covariates and "intake" not in frame:
            frame = frame.assign(intake=_intake(frame).to_numpy())
        return (frame.sort_values(["patient", "session"]).groupby("patient", sort=True)
                .head(1).reset_index(drop=True))
    if not isinstance(newdata, pd.DataFrame) or newdata.empty:
        raise ValueError("contrast: newdata must be a non-empty DataFrame or TherapyData")
    missing = [c for c in fit.spec.covariates if c not in newdata]
    if missing:
        raise ValueError(f"contrast: newdata lacks covariate columns {missing} (for "
                         "'intake' give each profile's raw intake score)")
    return newdata.reset_index(drop=True).assign(session=0.0)
