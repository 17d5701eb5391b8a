"""Simulation-based calibration (SBC) of the growth model (Talts et al. 2018).

One replication draws parameters from a fixed, proper prior, simulates a data set from the
growth model itself, fits the model with exactly that prior, and records the rank of each
true value among ``L`` thinned posterior draws. If the sampler and the model code are
right, each parameter's ranks are uniform on ``0..L``; a U shape means overconfident
posteriors, a hump underconfident ones, a slope bias.

Why a fixed prior: :class:`trajectories.spec.Priors` scales every prior to the data (score
SD, time range), which is fine for analysis but not for SBC, where the prior that
generated the parameters must be the one the fit uses. :data:`SBC_PRIOR` is the same
family as the model's (normal coefficients, half-normal SDs, LKJ(2) correlation) in
absolute PHQ-9-like units, given to the production fit as absolute
:class:`~trajectories.spec.Priors` (``Priors(scale="absolute", ...)``, see :func:`sbc_spec`), so
the code under test (likelihood, sampler, effect draws) is the production code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from simulations.tasks.registry import register_task

__all__ = ["SBC_PARAMETERS", "SBC_PRIOR", "draw_prior", "sbc_histogram", "sbc_spec", "sbc_task",
           "sbc_uniformity", "simulate_growth"]

#: Prior of the SBC model (two-level, log time, correlated patient intercepts and slopes).
SBC_PRIOR: dict[str, tuple[float, float]] = {
    "intercept": (15.0, 3.0),          # Normal(mean, sd)
    "slope": (-2.5, 1.0),              # Normal(mean, sd), per unit of log(1 + session)
    "patient_intercept_sd": (0.0, 5.0),  # HalfNormal(sd)
    "patient_slope_sd": (0.0, 2.0),      # HalfNormal(sd)
    "patient_corr": (2.0, 2.0),          # 2 * Beta(2, 2) - 1, i.e. LKJ(2) for 2 x 2
    "residual_sd": (0.0, 3.0),           # HalfNormal(sd)
}
#: Parameters whose ranks are recorded.
SBC_PARAMETERS = tuple(SBC_PRIOR)


def draw_prior(rng: np.random.Generator) -> dict[str, float]:
    """One draw of the parameters from :data:`SBC_PRIOR`.

    Examples
    --------
    >>> theta = draw_prior(np.random.default_rng(0))
    >>> sorted(theta) == sorted(SBC_PARAMETERS), -1 < theta["patient_corr"] < 1
    (True, True)
    """
    p = SBC_PRIOR
    return {
        "intercept": float(rng.normal(*p["intercept"])),
        "slope": float(rng.normal(*p["slope"])),
        "patient_intercept_sd": float(abs(rng.normal(0.0, p["patient_intercept_sd"][1]))),
        "patient_slope_sd": float(abs(rng.normal(0.0, p["patient_slope_sd"][1]))),
        "patient_corr": float(2.0 * rng.beta(*p["patient_corr"]) - 1.0),
        "residual_sd": float(abs(rng.normal(0.0, p["residual_sd"][1]))),
    }


def simulate_growth(theta: Mapping[str, float], n_patients: int, n_sessions: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Scores from the growth model: ``y = b0 + v0 + (b1 + v1) log(1 + session) + e``.

    Every patient attends sessions ``0..n_sessions-1``. Returns a long frame with
    ``patient``, ``session``, ``score``.

    Examples
    --------
    >>> theta = draw_prior(np.random.default_rng(1))
    >>> simulate_growth(theta, 5, 4, np.random.default_rng(2)).shape
    (20, 3)
    """
    sd0, sd1, r = theta["patient_intercept_sd"], theta["patient_slope_sd"], theta["patient_corr"]
    cov = np.array([[sd0**2, r * sd0 * sd1], [r * sd0 * sd1, sd1**2]])
    v = rng.multivariate_normal(np.zeros(2), cov, size=n_patients, method="cholesky")
    session = np.arange(n_sessions, dtype=float)
    t = np.log1p(session)
    mu = (theta["intercept"] + v[:, :1]) + (theta["slope"] + v[:, 1:]) * t[None, :]
    y = mu + rng.normal(0.0, theta["residual_sd"], size=mu.shape)
    return pd.DataFrame({"patient": np.repeat(np.arange(n_patients), n_sessions),
                         "session": np.tile(np.arange(n_sessions), n_patients),
                         "score": y.ravel()})


def sbc_spec() -> Any:
    """The growth spec of the SBC model with :data:`SBC_PRIOR` as absolute priors."""
    from trajectories.spec import GrowthSpec, Priors

    p = SBC_PRIOR
    priors = Priors(scale="absolute", intercept_mean=p["intercept"][0],
                    intercept=p["intercept"][1], time_mean=p["slope"][0], time=p["slope"][1],
                    group_sd=(p["patient_intercept_sd"][1], p["patient_slope_sd"][1]),
                    residual_sd=p["residual_sd"][1], corr_eta=p["patient_corr"][0])
    return GrowthSpec(time="log", patient="slopes", therapist="none", correlated=True,
                      priors=priors)


def _fit_with_prior(frame: pd.DataFrame, *, draws: int, tune: int, chains: int,
                    seed: int) -> tuple[Any, int]:
    """Posterior (xarray Dataset) under :data:`SBC_PRIOR` and the number of divergences.

    The production :func:`trajectories.fit.fit_growth` (fast path) with the fixed SBC
    prior given as absolute :class:`~trajectories.spec.Priors`.
    """
    import warnings

    from trajectories.data import TherapyData
    from trajectories.fit import ConvergenceWarning, fit_growth

    data = TherapyData.from_frame(frame, patient="patient", session="session", score="score")
    with warnings.catch_warnings():
        # Ranks are recorded whatever the diagnostics say; divergences are returned.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_growth(sbc_spec(), data, draws=draws, tune=tune, chains=chains, seed=seed)
    return fit.posterior, fit.diagnostics.n_divergent


def sbc_task(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """One SBC replication of the growth model: ranks of the true parameters.

    Parameters
    ----------
    condition : Mapping
        Optional factors: ``n_patients`` (40), ``n_sessions`` (8), ``draws`` per chain
        (400), ``tune`` (400), ``chains`` (2) and ``L`` (99: thinned draws the ranks are
        taken among; ``chains * draws`` must be at least ``L``).
    rng : numpy.random.Generator
        The replication's generator (prior draw, data and sampler seed).

    Returns
    -------
    list of dict
        One row per parameter: ``method="sbc"``, ``estimand`` (parameter), ``truth``,
        ``estimate`` (posterior mean), ``se`` (posterior SD), ``ci_low``/``ci_high`` (95%
        equal-tailed), ``rank`` (0..L), ``n_ranked`` (L) and ``n_divergent``.

    Examples
    --------
    >>> rows = sbc_task({"n_patients": 30}, np.random.default_rng(1))  # doctest: +SKIP
    >>> 0 <= rows[0]["rank"] <= rows[0]["n_ranked"]  # doctest: +SKIP
    True
    """
    known = {"n_patients", "n_sessions", "draws", "tune", "chains", "L"}
    unknown = sorted(set(condition) - known)
    if unknown:
        raise ValueError(f"sbc: unknown factor(s) {unknown}; it understands {sorted(known)}")
    n_pat, n_sess = int(condition.get("n_patients", 40)), int(condition.get("n_sessions", 8))
    draws, tune = int(condition.get("draws", 400)), int(condition.get("tune", 400))
    chains, n_rank = int(condition.get("chains", 2)), int(condition.get("L", 99))
    if n_rank < 1 or chains * draws < n_rank:
        raise ValueError(f"L must be in [1, chains * draws = {chains * draws}], got {n_rank}")
    theta = draw_prior(rng)
    frame = simulate_growth(theta, n_pat, n_sess, rng)
    post, div = _fit_with_prior(frame, draws=draws, tune=tune, chains=chains,
                                seed=int(rng.integers(2**31)))
    total = chains * draws
    keep = np.linspace(0, total - 1, n_rank).round().astype(int)  # thin against autocorrelation
    rows = []
    for name in SBC_PARAMETERS:
        values = np.ravel(post[name].values)  # chain-major: (chain, draw[, 1])
        lo, hi = np.quantile(values, [0.025, 0.975])
        rows.append({"method": "sbc", "estimand": name, "truth": theta[name],
                     "estimate": float(values.mean()), "se": float(values.std(ddof=1)),
                     "ci_low": float(lo), "ci_high": float(hi),
                     "rank": int((values[keep] < theta[name]).sum()), "n_ranked": n_rank,
                     "n_divergent": div})
    return rows


def _ranks_by_parameter(ranks: pd.DataFrame | Mapping[str, Any]) -> dict[str, np.ndarray]:
    if isinstance(ranks, pd.DataFrame):
        ok = ranks.dropna(subset=["rank"])
        return {str(k): g["rank"].to_numpy(int) for k, g in ok.groupby("estimand", sort=False)}
    return {str(k): np.asarray(v, dtype=int) for k, v in ranks.items()}


def _bins(L: int, bins: int | None) -> tuple[int, np.ndarray]:  # noqa: N803
    n_bins = min(int(bins) if bins else 20, L + 1)
    edges_of = np.arange(L + 1) * n_bins // (L + 1)  # bin of each possible rank
    return n_bins, edges_of


def sbc_uniformity(ranks: pd.DataFrame | Mapping[str, Any], L: int, *,  # noqa: N803
                   bins: int | None = None) -> pd.DataFrame:
    """Chi-square test of uniform ranks on ``0..L``, per parameter.

    Ranks are grouped into ``bins`` (default 20, at most ``L + 1``) of consecutive values;
    the expected count of a bin is proportional to the number of rank values it holds, so
    the test is exact in its null whatever ``L``. Aim for at least 5 expected per bin.

    Parameters
    ----------
    ranks : pandas.DataFrame or Mapping
        Rows of :func:`sbc_task` (columns ``estimand`` and ``rank``), e.g. a study's
        results, or ``{parameter: ranks}``.
    L : int
        Number of posterior draws the ranks were taken among (ranks lie in ``0..L``).
    bins : int, optional
        Number of bins.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``n``, ``bins``, ``chi2``, ``df``, ``p_value``.

    Raises
    ------
    ValueError
        If a rank lies outside ``0..L``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> out = sbc_uniformity({"ok": rng.integers(0, 20, 500)}, 19, bins=10)
    >>> bool(out["p_value"].iloc[0] > 0.01)
    True
    """
    from scipy import stats

    n_bins, bin_of = _bins(L, bins)
    share = np.bincount(bin_of, minlength=n_bins) / (L + 1)
    out = []
    for name, r in _ranks_by_parameter(ranks).items():
        if len(r) and (r.min() < 0 or r.max() > L):
            raise ValueError(f"ranks of {name!r} must lie in 0..{L}")
        counts = np.bincount(bin_of[r], minlength=n_bins)
        expected = share * len(r)
        chi2 = float(((counts - expected) ** 2 / expected).sum()) if len(r) else float("nan")
        out.append({"parameter": name, "n": len(r), "bins": n_bins, "chi2": chi2,
                    "df": n_bins - 1, "p_value": float(stats.chi2.sf(chi2, n_bins - 1))})
    return pd.DataFrame(out)


def sbc_histogram(ranks: pd.DataFrame | Mapping[str, Any], L: int, *,  # noqa: N803
                  bins: int | None = None, band: float = 0.99) -> pd.DataFrame:
    """Rank-histogram table for plotting, with the binomial band of a uniform histogram.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``bin``, ``rank_low``, ``rank_high`` (ranks in the bin), ``count``,
        ``expected``, ``band_low``, ``band_high`` (central ``band`` interval of each bin's
        count under uniformity; about one bin in a hundred falls outside a 99% band by
        chance).

    Examples
    --------
    >>> h = sbc_histogram({"a": [0, 5, 9, 9]}, 9, bins=5)
    >>> h["count"].tolist(), h["rank_low"].tolist()
    ([1, 0, 1, 0, 2], [0, 2, 4, 6, 8])
    """
    from scipy import stats

    n_bins, bin_of = _bins(L, bins)
    share = np.bincount(bin_of, minlength=n_bins) / (L + 1)
    values = np.arange(L + 1)
    frames = []
    for name, r in _ranks_by_parameter(ranks).items():
        counts = np.bincount(bin_of[np.asarray(r, int)], minlength=n_bins)
        a = (1.0 - band) / 2.0
        frames.append(pd.DataFrame({
            "parameter": name, "bin": np.arange(n_bins),
            "rank_low": [int(values[bin_of == b].min()) for b in range(n_bins)],
            "rank_high": [int(values[bin_of == b].max()) for b in range(n_bins)],
            "count": counts, "expected": share * len(r),
            "band_low": stats.binom.ppf(a, len(r), share),
            "band_high": stats.binom.ppf(1.0 - a, len(r), share)}))
    return pd.concat(frames, ignore_index=True)


register_task("sbc", sbc_task)
