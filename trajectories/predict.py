"""The prediction core: patients' latent scores given the sessions seen so far.

For each posterior draw, a patient's random effects given its observed scores have an exact
Gaussian conditional::

    v | y ~ N(M^-1 Z'r, sigma^2 M^-1),   M = sigma^2 Sigma^-1 + Z'Z,   r = y - X b

with ``b`` the fixed effects plus, for a therapist the fit knows, that therapist's drawn
effects; for an unknown or no therapist the therapist effect is integrated out too (prior
covariance ``Sigma_u + Sigma_v``). :func:`effect_posterior` is that step and
:func:`latent_moments` the resulting mean and variance of latent scores at target rows;
:func:`predict` (new or partially observed patients), the fitted not-on-track monitor of
the simulator and the estimands all use them. Averaging the normal predictions over draws
gives the posterior predictive distribution in closed form, so nothing here is random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr, stdtrit

from trajectories.clinical import reliable_change
from trajectories.data import TherapyData
from trajectories.design import Design
from trajectories.engine.collapsed import gram_matrices
from trajectories.engine.tree import PosteriorDraws, growth_draws
from trajectories.instruments import Instrument

__all__ = ["censored_mean", "effect_posterior", "expected_bounded", "intake_sd",
           "latent_moments", "mixture_quantile", "not_on_track_check", "predict",
           "reliable_change_probability", "require_independent_normal", "resolve_rci", "roc_auc",
           "score_bounds", "summarise_draws", "total_covariance"]

#: Quantile midpoints of the Student-t residual used to average over it (deterministic).
_T_NODES = (np.arange(32) + 0.5) / 32


def score_bounds(data: TherapyData) -> tuple[float, float]:
    """Return the instrument's score range (``-inf, inf`` for data without an instrument).

    Observed scores are the model's latent scores censored at these bounds: every expected
    score, interval and band setback reports for a score lies inside them (docs/workflow.md).

    Examples
    --------
    >>> score_bounds(small_data)  # BDI-II
    (0.0, 63.0)
    """
    inst = data.instrument
    return (-np.inf, np.inf) if inst is None else (float(inst.min_score),
                                                   float(inst.max_score))


def censored_mean(mean: np.ndarray, sd: np.ndarray, lower: float,
                  upper: float) -> np.ndarray:
    """``E[min(max(Y, lower), upper)]`` for ``Y ~ N(mean, sd^2)`` (elementwise, broadcast).

    Examples
    --------
    >>> round(float(censored_mean(np.array(0.0), np.array(1.0), 0.0, np.inf)), 6)  # phi(0)
    0.398942
    >>> float(censored_mean(np.array(5.0), np.array(2.0), -np.inf, np.inf))
    5.0
    """
    mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
    sd = np.maximum(sd, 1e-300)
    out = mean.copy()
    if np.isfinite(lower):
        a = (lower - mean) / sd
        out = out + (lower - mean) * ndtr(a) + sd * _phi(a)
    if np.isfinite(upper):
        b = (upper - mean) / sd
        out = out - (mean - upper) * ndtr(-b) - sd * _phi(b)
    return np.clip(out, lower, upper)  # exact; the clip only guards rounding


def _phi(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.minimum(z * z, 1e4)) / np.sqrt(2.0 * np.pi)


def expected_bounded(mean: np.ndarray, normal_sd: np.ndarray, data: TherapyData, *,
                     nu: np.ndarray | None = None, t_scale: np.ndarray | None = None
                     ) -> np.ndarray:
    """Compute the expected observed score on the instrument's range, per draw.

    The score is ``mean + N(0, normal_sd^2) [+ t_scale * T_nu]`` censored at the
    instrument's bounds (:func:`score_bounds`). Without Student-t residuals this is
    :func:`censored_mean`; with them (``nu``, ``t_scale`` of shape (S,)) the t part is
    averaged over 32 quantile midpoints. Arrays broadcast with draws first.

    Examples
    --------
    >>> e = expected_bounded(np.array([1.0, 30.0]), np.array([5.0, 5.0]), small_data)
    >>> bool(e[0] > 1.0), bool(abs(e[1] - 30.0) < 1e-6)  # the floor at 0 lifts a low mean
    (True, True)
    """
    lower, upper = score_bounds(data)
    if nu is None:
        return censored_mean(mean, normal_sd, lower, upper)
    mean = np.asarray(mean, float)
    extra = (1,) * (mean.ndim - 1)
    q = stdtrit(np.asarray(nu, float)[None, :], _T_NODES[:, None])  # (K, S)
    shifted = mean[None] + (np.asarray(t_scale, float)[None, :] * q).reshape(*q.shape, *extra)
    sd = np.broadcast_to(np.asarray(normal_sd, float), mean.shape)[None]
    return censored_mean(shifted, sd, lower, upper).mean(0)


def require_independent_normal(fit: object, what: str, *, allow_t: bool = False) -> None:
    """Refuse, in words, a fit whose residuals an estimand cannot yet handle.

    Examples
    --------
    >>> from dataclasses import replace
    >>> require_independent_normal(small_fit, "predict")  # normal, independent: accepted
    >>> try:
    ...     require_independent_normal(replace(small_fit, spec=replace(small_fit.spec,
    ...                                likelihood="student_t")), "predict")
    ... except ValueError as err:
    ...     print(str(err)[:40])
    predict needs a fit with normal residual
    """
    if fit.spec.residual == "ar1":
        raise ValueError(f"{what} is not available for AR(1) residuals "
                         "(GrowthSpec(residual='ar1')): the predictive distribution of a "
                         "future session depends on how many observations lie between; fit "
                         "with residual='independent' for it")
    if not allow_t and fit.spec.likelihood != "normal":
        raise ValueError(f"{what} needs a fit with normal residuals (the closed-form "
                         "conditional of the patient effects and of future scores); this fit "
                         f"has {fit.spec.likelihood!r} residuals")


def summarise_draws(samples: np.ndarray, ci_prob: float = 0.95) -> dict[str, np.ndarray]:
    """Mean, SD and equal-tailed credible interval over the first axis (the draws).

    Examples
    --------
    >>> s = summarise_draws(np.arange(101.0)[:, None], ci_prob=0.9)
    >>> [round(float(s[k][0]), 6) for k in ("mean", "ci_low", "ci_high")]
    [50.0, 5.0, 95.0]
    """
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


def total_covariance(d: PosteriorDraws, k: int) -> np.ndarray:
    """``Sigma_u + Sigma_v`` padded to the k growth coefficients, per draw (S, k, k).

    Examples
    --------
    >>> from trajectories.fit import posterior_draws
    >>> d = posterior_draws(small_fit)
    >>> cov = total_covariance(d, 2)  # no therapists: the patient covariance
    >>> cov.shape, bool(np.allclose(cov, d.sigma_v))
    ((200, 2, 2), True)
    """
    cov = pad(d.sigma_v, k)
    return cov + pad(d.sigma_u, k) if d.sigma_u is not None else cov


def intake_sd(d: PosteriorDraws, design: Design) -> np.ndarray:
    """Compute the model-implied SD of intake scores per draw.

    It is ``sqrt(z0'(Sigma_u + Sigma_v)z0 + sigma^2)``: the unit of every standardised change and
    contrast.

    Examples
    --------
    >>> from trajectories.fit import posterior_draws
    >>> sd = intake_sd(posterior_draws(small_fit), small_fit.design)
    >>> sd.shape, bool(5 < sd.mean() < 20)
    ((200,), True)
    """
    z0 = design.basis(0.0)[0]
    cov = total_covariance(d, len(z0))
    return np.sqrt(np.einsum("i,sij,j->s", z0, cov, z0) + d.residual_sd**2)


def resolve_rci(fit: object, instrument: str | Instrument | float | None) -> float:
    """Resolve the RCI of an estimand's ``instrument=`` argument.

    A number (the RCI itself), an instrument, or (None) the fitted data's instrument, by
    :func:`~trajectories.clinical.reliable_change` (the one rule).

    Examples
    --------
    >>> round(resolve_rci(small_fit, None), 2)  # BDI-II: from the sample's intake SD
    8.5
    >>> resolve_rci(small_fit, 9.0)
    9.0
    """
    if isinstance(instrument, int | float) and not isinstance(instrument, bool):
        return reliable_change(fit.data, rci=float(instrument)).rci
    return reliable_change(fit.data, instrument=instrument).rci


def effect_posterior(sigma: np.ndarray, prior_cov: np.ndarray, ztz: np.ndarray,
                     ztr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of random effects given a patient's data, per draw.

    Parameters
    ----------
    sigma : array (S,)
        Residual SD per draw.
    prior_cov : array (S, k, k)
        Prior covariance of the effects.
    ztz : array (N, k, k) or (1, k, k)
        ``Z'Z`` of each patient's observed rows (one shared matrix when all patients were
        seen at the same sessions: the inverse is then computed once per draw).
    ztr : array (S, N, k)
        ``Z'(y - X b)`` per draw and patient.

    Returns
    -------
    mean : array (S, N, k)
    cov : array (S, N or 1, k, k)

    Examples
    --------
    >>> mean, cov = effect_posterior(np.array([1.0]), np.array([[[1.0]]]),
    ...                              np.array([[[2.0]]]), np.array([[[10.0]]]))
    >>> round(float(mean[0, 0, 0]), 12), round(float(cov[0, 0, 0, 0]), 12)  # 10/3, 1/3
    (3.333333333333, 0.333333333333)
    """
    s2 = (np.asarray(sigma, dtype=float) ** 2)[:, None, None, None]
    m = s2 * np.linalg.inv(prior_cov)[:, None] + np.asarray(ztz, dtype=float)[None]
    m_inv = np.linalg.inv(m)
    mean = np.einsum("snij,snj->sni", np.broadcast_to(
        m_inv, (m_inv.shape[0], ztr.shape[1], *m_inv.shape[2:])), ztr)
    return mean, s2 * m_inv


def latent_moments(d: PosteriorDraws, design: Design, gram: np.ndarray,
                   therapist: np.ndarray, targets: list[np.ndarray]) -> dict:
    """Latent score moments at target rows for patients given their observed scores.

    Parameters
    ----------
    d : PosteriorDraws
        Posterior draws of the fit.
    design : Design
        The fit's design (its q and q_t).
    gram : array (N, p + 1, p + 1)
        Gram matrices ``[X y]'[X y]`` of each patient's observed rows (coded by ``design``).
    therapist : int array (N,)
        Index of the patient's therapist in the fit, -1 (unknown: integrated out) or -2
        (no therapist: a partially nested design).
    targets : list of arrays (N, p)
        Design rows at which to evaluate each patient's latent score.

    Returns
    -------
    dict
        ``mean`` and ``var``: lists (one per target) of (S, N) arrays; ``cov``: (S, N)
        covariance between the first two targets (when there are two).

    Examples
    --------
    >>> from trajectories.engine.collapsed import gram_matrices
    >>> from trajectories.fit import posterior_draws
    >>> design = small_fit.design
    >>> gram = gram_matrices(design.x, design.y, design.patient_index, design.n_patients)[0]
    >>> target = design.encode(small_fit.data.frame.groupby("patient").head(1).assign(session=8.0))
    >>> m = latent_moments(posterior_draws(small_fit), design, gram,
    ...                    np.full(design.n_patients, -2), [target])
    >>> m["mean"][0].shape, bool((m["var"][0] > 0).all())
    ((200, 100), True)
    """
    p = d.beta.shape[1]
    q, q_t = design.q, design.q_t
    n = gram.shape[0]
    known = therapist >= 0
    unknown = therapist == -1
    mean = [np.empty((len(d.residual_sd), n)) for _ in targets]
    var = [np.empty_like(m) for m in mean]
    cov = np.zeros((len(d.residual_sd), n))
    for group, k in ((known, q), (unknown, max(q, q_t)), (therapist < -1, q)):
        if not group.any():
            continue
        b = np.repeat(d.beta[:, None, :], group.sum(), axis=1)
        prior = pad(d.sigma_v, k)
        if q_t and group is known:
            b[:, :, :q_t] += d.therapist_effect[:, therapist[group], :]
        elif q_t and group is unknown:
            prior = prior + pad(d.sigma_u, k)
        g = gram[group]
        ztr = g[None, :, :k, p] - np.einsum("nij,snj->sni", g[:, :k, :p], b)
        m, c = effect_posterior(d.residual_sd, prior, g[:, :k, :k], ztr)
        for j, x in enumerate(targets):
            xg = x[group]
            mean[j][:, group] = (b * xg[None]).sum(-1) + (m * xg[None, :, :k]).sum(-1)
            var[j][:, group] = np.einsum("ni,snij,nj->sn", xg[:, :k], c, xg[:, :k])
        if len(targets) > 1:
            cov[:, group] = np.einsum("ni,snij,nj->sn", targets[0][group][:, :k], c,
                                      targets[1][group][:, :k])
    return {"mean": mean, "var": var, "cov": cov}


def reliable_change_probability(direction: float, diff_mean: np.ndarray,
                                diff_sd: np.ndarray, intake: np.ndarray, has0: np.ndarray,
                                rci: float, lower: float, upper: float) -> np.ndarray:
    """P(change from intake of at least ``rci`` in ``direction``), averaged over draws.

    ``diff_mean``, ``diff_sd`` (S, N) are the normal predictive moments of the change. With
    an observed intake (``has0``) the later score is censored at the bounds, so a change
    that would need a score beyond the range has probability 0 (a PHQ-9 intake of 4 cannot
    improve reliably by 6 points). Used by :func:`predict` and the simulator's fitted
    monitor. A missing intake (NaN) gives NaN.

    Examples
    --------
    >>> p = reliable_change_probability(+1.0, np.full((4, 2), 10.0), np.full((4, 2), 5.0),
    ...                                 np.array([20.0, 60.0]), np.array([True, True]), 9.0,
    ...                                 0.0, 63.0)
    >>> p.round(3).tolist()  # 60 + 9 is beyond the BDI-II maximum of 63
    [0.579, 0.0]
    """
    p = ndtr((direction * diff_mean - rci) / diff_sd).mean(0)
    target = intake + direction * rci
    reachable = ~has0 | ((target >= lower) & (target <= upper)) | np.isnan(target)
    return np.where(reachable, p, 0.0)


def _patient_rows(design: Design, frame: pd.DataFrame, session: float) -> np.ndarray:
    """X rows of each patient (first row's covariates) placed at ``session``."""
    first = frame.sort_values(["patient", "session"]).groupby("patient", sort=True).head(1)
    return design.encode(first.assign(session=session))


def predict(
    fit: object,
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
        A fitted growth model with normal residuals.
    new_data : TherapyData
        Patients to predict (new, or the fitted ones truncated to their first sessions).
        A therapist the fit knows contributes its estimated effect; otherwise the
        therapist effect is integrated out. Covariates are coded as in the fitted data.
    at_session : float
        Session to predict (e.g. the planned last session).
    instrument : str, Instrument or float, optional
        Gives the reliable change index (or pass the RCI itself); default: the fitted
        data's instrument (:func:`~trajectories.clinical.reliable_change`).
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
    require_independent_normal(fit, "predict")
    design = fit.design
    d = growth_draws(fit).thin(max_draws)
    rci = resolve_rci(fit, instrument)
    worse = 1.0 if (fit.data.higher_is_worse if new_data.instrument is None
                    else new_data.higher_is_worse) else -1.0
    frame = new_data.frame
    seen = frame[frame["score"].notna()].reset_index(drop=True)
    idx = pd.Categorical(seen["patient"], categories=new_data.patients).codes
    gram, _, _ = gram_matrices(design.encode(seen), seen["score"].to_numpy(float), idx,
                               new_data.n_patients)
    therapist = np.full(new_data.n_patients, -1, dtype=np.int64)
    if design.q_t and new_data.has_therapist:
        n_th = frame.groupby("patient", sort=True)["therapist"].nunique()
        if (n_th > 1).any():
            raise ValueError(f"predict: patients {n_th.index[n_th > 1][:5].tolist()} were seen "
                             "by more than one therapist; predictions condition on one "
                             "therapist per patient (give the current one on every row)")
        lookup = {t: i for i, t in enumerate(design.therapists.tolist())}
        ther = new_data.therapist_of_patient.reindex(new_data.patients)
        # -2: no therapist (partially nested design); -1: a therapist the fit does not know
        therapist = np.array([-2 if pd.isna(t) else lookup.get(t, -1) for t in ther],
                             dtype=np.int64)
    x_at = _patient_rows(design, frame, float(at_session))
    x0 = _patient_rows(design, frame, 0.0)
    c = latent_moments(d, design, gram, therapist, [x_at, x0])
    (mean, mean0), (var, var0) = c["mean"], c["var"]
    s2 = (d.residual_sd**2)[:, None]
    table = new_data.patient_table()
    obs0 = frame.query("session == 0").set_index("patient")["score"]
    intake = obs0.reindex(new_data.patients).to_numpy(dtype=float)
    has0 = ~np.isnan(intake)
    # change = y_at - y_0: with an observed intake only y_at is uncertain
    diff_mean = np.where(has0[None], mean - intake[None], mean - mean0)
    diff_var = np.where(has0[None], var + s2, var + var0 - 2.0 * c["cov"] + 2.0 * s2)
    diff_sd = np.sqrt(diff_var)
    lower, upper = score_bounds(fit.data)
    moments = (diff_mean, diff_sd, intake, has0, rci, lower, upper)
    p_worse = reliable_change_probability(worse, *moments)
    p_better = reliable_change_probability(-worse, *moments)
    a = (1.0 - ci_prob) / 2.0
    sd_lat = np.sqrt(np.maximum(var, 1e-300))
    sd_pred = np.sqrt(var + s2)

    def bounded(q: np.ndarray) -> np.ndarray:
        return np.clip(q, lower, upper)

    return pd.DataFrame({
        "patient": new_data.patients,
        **({"therapist": table["therapist"].to_numpy()} if new_data.has_therapist else {}),
        "n_sessions_seen": table["n_sessions"].to_numpy(),
        "last_session_seen": table["last_session"].to_numpy(),
        "at_session": at_session,
        "intake_score": np.where(has0, intake, censored_mean(mean0, np.sqrt(var0), lower,
                                                             upper).mean(0)),
        "expected_score": censored_mean(mean, sd_lat, lower, upper).mean(0),
        "ci_low": bounded(mixture_quantile(mean, sd_lat, a)),
        "ci_high": bounded(mixture_quantile(mean, sd_lat, 1.0 - a)),
        "pred_low": bounded(mixture_quantile(mean, sd_pred, a)),
        "pred_high": bounded(mixture_quantile(mean, sd_pred, 1.0 - a)),
        "p_improved": p_better,
        "p_deteriorated": p_worse,
        "p_failure": 1.0 - p_better,
    })


def not_on_track_check(fit: object, held_out: TherapyData, failed: pd.Series, *, seen: int,
                       at_session: float, max_draws: int | None = 400) -> tuple[pd.DataFrame,
                                                                                 float]:
    """How well the not-on-track signal separates failures, on patients the fit never saw.

    Each held-out patient who attended session ``seen - 1`` is shown to :func:`predict`
    with only the sessions before ``seen``; the predicted ``p_failure`` at ``at_session`` is
    compared with the outcome that happened (``failed``). The area under the ROC curve is
    the probability that a random failure got a higher predicted risk than a random
    non-failure (the Mann-Whitney form; 0.5 is chance, 1 perfect separation).

    Parameters
    ----------
    fit : GrowthFit
        The fitted model (normal residuals).
    held_out : TherapyData
        Patients not used in the fit, with all their sessions.
    failed : pandas.Series
        Observed failure (bool) indexed by patient, e.g. ``sim.patients.set_index("patient")
        ["failure"]`` of a simulated clinic.
    seen : int
        Number of sessions shown to the model (sessions ``0 .. seen - 1``).
    at_session : float
        Session at which failure is predicted (e.g. the planned last one).
    max_draws : int, optional
        Posterior draws used by :func:`predict`.

    Returns
    -------
    (pandas.DataFrame, float)
        The predictions with a ``failed`` column, and the area under the ROC curve.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> data = load_beat_the_blues()
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [5.0]}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), data, draws)
    >>> last = data.patient_table().set_index("patient")["last_score"]
    >>> pred, auc = not_on_track_check(fit, data, last > 15, seen=3, at_session=8)
    >>> len(pred), round(auc, 2)
    (97, 0.57)
    """
    frame = held_out.frame
    ids = frame.loc[frame["session"] == seen - 1, "patient"].unique()
    if len(ids) == 0:
        raise ValueError(f"no held-out patient attended session {seen - 1} (seen={seen})")
    early = held_out.subset(ids).before_session(seen)
    pred = predict(fit, early, at_session=at_session, max_draws=max_draws)
    missing = set(pred["patient"]) - set(failed.index)
    if missing:
        raise ValueError(f"failed has no outcome for patients {sorted(missing, key=str)[:5]}")
    pred["failed"] = pred["patient"].map(failed).astype(bool)
    if pred["failed"].all() or not pred["failed"].any():
        raise ValueError("the ROC area needs both failures and non-failures among the "
                         f"{len(pred)} held-out patients")
    return pred, roc_auc(pred["p_failure"], pred["failed"])


def roc_auc(risk: np.ndarray | pd.Series, outcome: np.ndarray | pd.Series) -> float:
    """Return the area under the ROC curve of predicted risks against 0/1 outcomes.

    The Mann-Whitney form: the probability that a random event got a higher risk than a
    random non-event (ties count half; 0.5 is chance). NaN without both outcomes.

    Examples
    --------
    >>> roc_auc([0.1, 0.8, 0.3, 0.6], [0, 1, 1, 0])  # 3 of the 4 (event, non-event) pairs
    0.75
    """
    r = np.asarray(risk, dtype=float)
    y = np.asarray(outcome).astype(bool)
    pos, neg = r[y], r[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(stats.mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
