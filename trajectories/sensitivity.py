"""Delta-adjusted and tipping-point sensitivity analyses of change by a session.

When dropout may be informative, regulators ask how far the conclusion depends on the
assumption made about the patients who left (ICH E9(R1) addendum on estimands, 2019; the
"delta adjustment" of rbmi, Gower-Page et al. 2022). The analysis here:

1. From a fitted growth model (a naive fit, which assumes dropout is missing at random,
   or a joint fit) impute, per posterior draw, every score missing at session ``k``: the
   patient's latent score from the drawn patient (and therapist) effects plus a residual
   draw (*multiple imputation* of the observed-score scale, one imputation per draw).
2. Shift the imputed scores of the patients who *dropped out* by ``delta`` (in the
   direction of worse outcome: more symptoms on a scale where higher is worse). Missing
   scores of patients who completed, were referred or are ongoing stay as imputed
   (missing at random).
3. Compute the estimand on the completed data: the mean change from intake to session k
   of all patients (per arm), and a treatment contrast (difference in mean change between
   an arm and the reference arm).

Because the shift enters the estimand linearly and the imputations do not change with
delta, every posterior draw of the estimand moves by ``delta`` times the share of shifted
patients: the interval bounds are straight lines in delta, and the **tipping point**, the
delta at which the credible interval first touches zero (the conclusion changes), has a
closed form. :func:`delta_adjusted` gives the estimand on a grid of deltas and
:func:`tipping_point` the exact deltas; ``analyses.plots.dropout.plot_tipping_point`` draws
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from trajectories.engine.settings import SamplerSettings
from trajectories.engine.tree import growth_draws
from trajectories.predict import summarise_draws

__all__ = ["delta_adjusted", "tipping_point"]


def _imputed_change(fit: object, at_session: float, rng: np.random.Generator,
                    max_draws: int | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw (S, N) of each patient's score change from intake to the session.

    Observed where seen and imputed where missing; also a per-patient table (who is missing, why).
    """
    data, design = fit.data, fit.design
    d = growth_draws(fit).thin(max_draws)
    frame = data.frame
    patients = design.patients
    first = frame.sort_values(["patient", "session"]).groupby("patient", sort=True).head(1)
    first = first.set_index("patient").reindex(patients).reset_index()
    coef = np.repeat(d.beta[:, None, :], len(patients), axis=1)
    if d.patient_effect is not None:
        coef[:, :, : design.q] += d.patient_effect
    if d.therapist_effect is not None and design.therapist_index is not None:
        coef[:, :, : design.q_t] += d.therapist_effect[:, design.therapist_index, :]

    def score_at(session: float) -> tuple[np.ndarray, np.ndarray]:
        x = design.encode(first.assign(session=float(session)))
        latent = np.einsum("snp,np->sn", coef, x)
        scale = d.residual_sd[:, None]
        if d.nu is not None:  # Student-t residuals
            noise = rng.standard_t(d.nu[:, None], size=latent.shape) * scale
        else:
            noise = rng.standard_normal(latent.shape) * scale
        seen = frame[(frame["session"] == session) & frame["score"].notna()]
        observed = seen.set_index("patient")["score"].reindex(patients).to_numpy(float)
        has = ~np.isnan(observed)
        return np.where(has[None], observed[None], latent + noise), has

    end, seen_end = score_at(at_session)
    start, seen_start = score_at(0.0)
    status = data.end_status.reindex(patients).astype(str).to_numpy()
    table = pd.DataFrame({"patient": patients, "end_status": status,
                          "observed_at_session": seen_end, "observed_at_intake": seen_start})
    table["shifted"] = ~seen_end & (status == "dropout")
    return end - start, table


def _arms(fit: object, by: str | None, table: pd.DataFrame) -> pd.Series:
    if by is None:
        return pd.Series("all patients", index=table.index)
    per = fit.data.patient_table().set_index("patient")
    if by not in per:
        raise ValueError(f"by={by!r}: not a patient-level column of the data (columns: "
                         f"{sorted(c for c in per.columns)})")
    values = per[by].reindex(table["patient"]).astype(str).to_numpy()
    return pd.Series(values, index=table.index)


def _draws(fit: object, *, at_session: float, by: str | None, shift: Sequence[str] | None,
           reference: str | None, seed: int | None, max_draws: int | None) -> dict:
    """Posterior draws at delta = 0 and each estimand's slope in delta (points)."""
    if not (isinstance(at_session, int | float) and at_session > 0):
        raise ValueError(f"at_session must be a positive session number, got {at_session!r}")
    seed = SamplerSettings(seed=seed).resolved().seed
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    change, table = _imputed_change(fit, float(at_session), rng, max_draws)
    arm = _arms(fit, by, table)
    levels = sorted(arm.unique())
    if by is not None and len(levels) < 2:
        raise ValueError(f"by={by!r} has one level only ({levels[0]!r}): no contrast to make")
    ref = levels[0] if reference is None else str(reference)
    if ref not in levels:
        raise ValueError(f"reference={reference!r} is not a level of {by!r} ({levels})")
    shifted_arms = ([lv for lv in levels if lv != ref] if by is not None and shift is None
                    else levels if shift is None else [str(s) for s in shift])
    unknown = set(shifted_arms) - set(levels)
    if unknown:
        raise ValueError(f"shift={list(shift)!r}: {sorted(unknown)} not among the levels "
                         f"{levels} of {by!r}")
    worse = 1.0 if fit.data.higher_is_worse else -1.0
    shifted = table["shifted"].to_numpy() & arm.isin(shifted_arms).to_numpy()
    out = {}
    for lv in levels:
        member = (arm == lv).to_numpy()
        out[("change", lv)] = (change[:, member].mean(1),
                               worse * shifted[member].mean())
    if by is not None:
        for lv in levels:
            if lv == ref:
                continue
            a, b = out[("change", lv)], out[("change", ref)]
            out[("contrast", f"{lv} - {ref}")] = (a[0] - b[0], a[1] - b[1])
    counts = {lv: (int((arm == lv).sum()), int(shifted[(arm == lv).to_numpy()].sum()))
              for lv in levels}
    sd0 = float(fit.data.patient_table()["intake_score"].std(ddof=1))
    return {"estimands": out, "counts": counts, "seed": seed, "intake_sd": sd0,
            "shifted_arms": shifted_arms, "worse": worse}


def _points(deltas: np.ndarray, scale: str, sd0: float) -> np.ndarray:
    if scale not in ("points", "sd"):
        raise ValueError(f"scale must be 'points' or 'sd', got {scale!r}")
    return deltas * (sd0 if scale == "sd" else 1.0)


def delta_adjusted(fit: object, *, at_session: float, deltas: Sequence[float],
                   scale: Literal["points", "sd"] = "points", by: str | None = None,
                   shift: Sequence[str] | None = None, reference: str | None = None,
                   prob: float = 0.95, seed: int | None = None,
                   max_draws: int | None = 2000) -> pd.DataFrame:
    """Change by a session, and a treatment contrast, as the dropouts' scores are shifted.

    Parameters
    ----------
    fit : GrowthFit
        A growth fit (normal or Student-t residuals; naive, i.e. missing at random, or
        joint). Its patient effects give the imputations.
    at_session : float
        The session of the estimand ("change by session k").
    deltas : sequence of float
        Shifts of the imputed scores of the patients who dropped out, toward a worse
        outcome (0 = the fit's own assumption).
    scale : {"points", "sd"}
        Deltas in score points, or in SDs of the intake scores.
    by : str, optional
        A patient-level column with the arms (e.g. ``"treatment"``): then the change per
        arm and each arm's contrast with the reference arm.
    shift : sequence of str, optional
        Arms whose dropouts are shifted. Default: every arm but the reference when ``by``
        is given (the usual tipping-point analysis: dropouts of the experimental arm did
        worse than assumed), otherwise all patients.
    reference : str, optional
        Reference arm of the contrast (default: the first level in sorted order).
    prob : float
        Probability of the credible intervals.
    seed : int, optional
        Seeds the residual draws of the imputations (drawn and recorded in the table's
        ``attrs["seed"]`` when not given).
    max_draws : int, optional
        Use this many evenly spaced posterior draws.

    Returns
    -------
    pandas.DataFrame
        One row per delta and estimand: ``estimand`` (``change`` or ``contrast``),
        ``arm`` (the arm, or ``"B - A"``), ``delta``, ``delta_points``, ``mean``, ``sd``,
        ``ci_low``, ``ci_high``, ``p_benefit`` (posterior probability of improvement:
        change, or difference, in the better direction) and ``conclusion``
        (``"improvement"``/``"worsening"`` for change, ``"favours <arm>"`` for a
        contrast, or ``"inconclusive"`` when the interval includes 0).

    See Also
    --------
    tipping_point : The deltas at which the conclusions change.
    analyses.plots.dropout.plot_tipping_point : Plot this table.

    Examples
    --------
    ``small_fit`` models the Beat the Blues scores with the treatment arm as covariate:

    >>> table = delta_adjusted(small_fit, at_session=8, deltas=[0, 2, 4], by="treatment",
    ...                        seed=1)
    >>> table[["estimand", "arm"]].drop_duplicates().values.tolist()
    [['change', 'BtheB'], ['change', 'TAU'], ['contrast', 'TAU - BtheB']]
    >>> tau = table.query("estimand == 'change' and arm == 'TAU'")["mean"]
    >>> bool(tau.is_monotonic_increasing)  # worse imputed scores, less improvement
    True
    """
    info = _draws(fit, at_session=at_session, by=by, shift=shift, reference=reference,
                  seed=seed, max_draws=max_draws)
    deltas = np.asarray(list(deltas), dtype=float)
    if deltas.ndim != 1 or len(deltas) == 0 or not np.isfinite(deltas).all():
        raise ValueError("deltas must be a non-empty sequence of finite numbers")
    points = _points(deltas, scale, info["intake_sd"])
    worse = info["worse"]
    rows = []
    for (kind, arm), (draws, slope) in info["estimands"].items():
        moved = draws[:, None] + slope * points[None, :]
        s = summarise_draws(moved, prob)
        p_benefit = (worse * moved < 0).mean(0)
        for j, delta in enumerate(deltas):
            rows.append({"estimand": kind, "arm": arm, "delta": delta,
                         "delta_points": points[j], "mean": s["mean"][j], "sd": s["sd"][j],
                         "ci_low": s["ci_low"][j], "ci_high": s["ci_high"][j],
                         "p_benefit": p_benefit[j],
                         "conclusion": _conclusion(kind, arm, s["ci_low"][j], s["ci_high"][j],
                                                   worse)})
    table = pd.DataFrame(rows)
    table.attrs.update({"seed": info["seed"], "at_session": at_session, "prob": prob,
                        "scale": scale, "shifted_arms": info["shifted_arms"],
                        "counts": info["counts"]})
    return table


def _conclusion(kind: str, arm: str, low: float, high: float, worse: float) -> str:
    if low <= 0.0 <= high:
        return "inconclusive"
    better = (high < 0) if worse > 0 else (low > 0)
    if kind == "change":
        return "improvement" if better else "worsening"
    first, second = arm.split(" - ")
    return f"favours {first if better else second}"


def tipping_point(fit: object, *, at_session: float,
                  scale: Literal["points", "sd"] = "points", by: str | None = None,
                  shift: Sequence[str] | None = None, reference: str | None = None,
                  prob: float = 0.95, seed: int | None = None,
                  max_draws: int | None = 2000) -> pd.DataFrame:
    """Find the shift of the dropouts' scores at which each conclusion at delta = 0 changes.

    Same arguments as :func:`delta_adjusted`. Every draw of an estimand moves by
    ``slope * delta`` (``slope`` = the share of shifted patients, signed), so the interval
    bound nearer to zero reaches it at ``delta = -bound / slope``: that is the tipping
    point (exact, no grid).

    Returns
    -------
    pandas.DataFrame
        One row per estimand: ``estimand``, ``arm``, ``conclusion`` (at delta = 0),
        ``tipping_delta`` (in the units of ``scale``: the smallest positive shift at which
        an interval bound reaches zero, so that an improvement or a difference becomes
        inconclusive, or an inconclusive result becomes a worsening; NaN when no shift
        toward a worse outcome changes the conclusion: nobody is shifted, or shifting
        only strengthens it), ``tipping_delta_points``, ``n_patients`` and
        ``n_shifted``.

    Examples
    --------
    >>> table = tipping_point(small_fit, at_session=8, by="treatment", seed=1)
    >>> table["arm"].tolist(), table["n_patients"].tolist()
    (['BtheB', 'TAU', 'TAU - BtheB'], [52, 48, 100])
    """
    info = _draws(fit, at_session=at_session, by=by, shift=shift, reference=reference,
                  seed=seed, max_draws=max_draws)
    a = (1.0 - prob) / 2.0
    factor = float(_points(np.ones(1), scale, info["intake_sd"])[0])  # points per unit
    rows = []
    for (kind, arm), (draws, slope) in info["estimands"].items():
        low, high = np.quantile(draws, [a, 1.0 - a])
        conclusion = _conclusion(kind, arm, low, high, info["worse"])
        tip = np.nan
        if slope != 0.0:  # the first bound to reach zero as the shift grows
            ahead = [-b / slope for b in (low, high) if -b / slope > 0]
            tip = min(ahead) if ahead else np.nan
        if kind == "change":
            n, n_shift = info["counts"][arm]
        else:
            first, second = arm.split(" - ")
            n = info["counts"][first][0] + info["counts"][second][0]
            n_shift = info["counts"][first][1] + info["counts"][second][1]
        rows.append({"estimand": kind, "arm": arm, "conclusion": conclusion,
                     "tipping_delta": tip / factor, "tipping_delta_points": tip,
                     "n_patients": n, "n_shifted": n_shift})
    table = pd.DataFrame(rows)
    table.attrs.update({"seed": info["seed"], "at_session": at_session, "prob": prob,
                        "scale": scale, "shifted_arms": info["shifted_arms"]})
    return table
