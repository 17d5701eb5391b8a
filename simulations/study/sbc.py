"""Simulation-based calibration machinery: rank-uniformity tests, histograms and ECDF bands.

Generic over models: a replication of an SBC task (e.g. :mod:`simulations.tasks.sbc`)
records, per parameter, the ``rank`` of the true value among ``n_ranked`` = L posterior
draws. If inference is calibrated, ranks are uniform on ``0..L`` (Talts et al. 2018).

Two views of the same ranks:

- the rank histogram with a per-bin binomial band and a chi-square test
  (:func:`sbc_histogram`, :func:`sbc_uniformity`);
- the ECDF of the ranks minus the uniform CDF, with a **simultaneous** band: the
  probability that the whole uniform ECDF stays inside it is ``prob`` (Säilynoja, Bürkner
  & Vehtari 2022), so it is also a test at level ``1 - prob`` with no choice of bins
  (:func:`rank_ecdf`, :func:`ecdf_uniformity`). The band is that of ArviZ's PIT-ECDF
  plots: the pointwise level gamma is calibrated by simulating uniform ECDFs, then turned
  into binomial quantiles (``arviz_stats.ecdf_utils.get_pointwise_confidence_band``).

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018). Validating Bayesian
inference algorithms with simulation-based calibration. arXiv:1804.06788.
Säilynoja, T., Bürkner, P.-C. & Vehtari, A. (2022). Graphical test for discrete uniformity
and its applications in goodness-of-fit evaluation and multiple sample comparison.
*Statistics and Computing* 32, 32. doi:10.1007/s11222-022-10090-6
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ecdf_uniformity", "rank_ecdf", "sbc_histogram", "sbc_uniformity"]


def _ranks_by_parameter(ranks: pd.DataFrame | Mapping[str, Any]) -> dict[str, np.ndarray]:
    if isinstance(ranks, pd.DataFrame):
        ok = ranks.dropna(subset=["rank"])
        return {str(k): g["rank"].to_numpy(int) for k, g in ok.groupby("estimand", sort=False)}
    return {str(k): np.asarray(v, dtype=int) for k, v in ranks.items()}


def _bins(L: int, bins: int | None) -> tuple[int, np.ndarray, np.ndarray]:  # noqa: N803
    """Return the number of bins, the bin of each rank ``0..L`` and each bin's share of ranks."""
    n_bins = min(int(bins) if bins else 20, L + 1)
    bin_of = np.arange(L + 1) * n_bins // (L + 1)
    return n_bins, bin_of, np.bincount(bin_of, minlength=n_bins) / (L + 1)


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

    n_bins, bin_of, share = _bins(L, bins)
    out = []
    for name, r in _ranks_by_parameter(ranks).items():
        _check_range(name, r, L)
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

    n_bins, bin_of, share = _bins(L, bins)
    values = np.arange(L + 1)
    frames = []
    for name, r in _ranks_by_parameter(ranks).items():
        _check_range(name, r, L)
        counts = np.bincount(bin_of[r], minlength=n_bins)
        a = (1.0 - band) / 2.0
        frames.append(pd.DataFrame({
            "parameter": name, "bin": np.arange(n_bins),
            "rank_low": [int(values[bin_of == b].min()) for b in range(n_bins)],
            "rank_high": [int(values[bin_of == b].max()) for b in range(n_bins)],
            "count": counts, "expected": share * len(r),
            "band_low": stats.binom.ppf(a, len(r), share),
            "band_high": stats.binom.ppf(1.0 - a, len(r), share)}))
    return pd.concat(frames, ignore_index=True)


def _gamma(counts: np.ndarray, n: int, z: np.ndarray) -> np.ndarray:
    """Compute Säilynoja's statistic for the rows of ``counts``.

    It is 1 - 2 min over points of the binomial tail probabilities of the ECDF counts; large when
    some point of the ECDF is far out.
    """
    from scipy import stats

    low = stats.binom.cdf(counts, n, z).min(axis=-1)
    high = stats.binom.sf(counts - 1, n, z).min(axis=-1)
    return 1.0 - 2.0 * np.minimum(low, high)


@functools.lru_cache(maxsize=64)
def _null_gamma(n: int, L: int, n_simulations: int, seed: int) -> np.ndarray:  # noqa: N803
    """Compute the statistic of ``n_simulations`` uniform samples of size ``n``.

    It is the same for every parameter of a study (same n and L), so it is computed once.
    """
    z = np.arange(1, L + 1) / (L + 1)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.uniform(size=(n_simulations, n)), axis=1)
    counts = np.stack([np.searchsorted(row, z, side="right") for row in sample])
    return _gamma(counts, n, z)


def _ecdf_parts(r: np.ndarray, L: int, prob: float, n_simulations: int,  # noqa: N803
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    from arviz_stats.ecdf_utils import get_pointwise_confidence_band

    n = len(r)
    z = np.arange(1, L + 1) / (L + 1)  # P(rank <= i) under uniformity, i = 0..L-1
    counts = np.searchsorted(np.sort(r), np.arange(L), side="right")
    null = _null_gamma(n, L, n_simulations, seed)
    gamma = float(np.quantile(null, prob))
    low, high = get_pointwise_confidence_band(gamma, n, z)
    observed = float(_gamma(counts[None, :], n, z)[0])
    p_value = (1.0 + float(np.sum(null >= observed))) / (1.0 + n_simulations)
    return z, counts / n, low, high, p_value


def rank_ecdf(ranks: pd.DataFrame | Mapping[str, Any], L: int, *,  # noqa: N803
              prob: float = 0.95, n_simulations: int = 2000, seed: int = 0) -> pd.DataFrame:
    """ECDF of the ranks minus the uniform CDF, with the simultaneous ``prob`` band.

    Parameters
    ----------
    ranks : pandas.DataFrame or Mapping
        SBC rows (columns ``estimand`` and ``rank``) or ``{parameter: ranks}``.
    L : int
        Number of posterior draws the ranks were taken among (ranks lie in ``0..L``).
    prob : float
        Simultaneous coverage of the band under uniformity.
    n_simulations : int
        Uniform ECDFs simulated to calibrate the band (its own Monte Carlo error is small
        at 2000; the seed makes it deterministic).
    seed : int
        Seed of those simulations.

    Returns
    -------
    pandas.DataFrame
        Per parameter and rank value ``0..L-1``: ``parameter``, ``n``, ``rank``, ``z``
        (uniform CDF at the rank: ``(rank + 1) / (L + 1)``), ``ecdf``, ``difference``
        (``ecdf - z``), ``band_low``, ``band_high`` (as differences) and ``inside``.

    See Also
    --------
    ecdf_uniformity : The matching test.
    analyses.plots.study.plot_rank_ecdf : Plot this table.

    Examples
    --------
    >>> e = rank_ecdf({"a": np.arange(20) % 10}, 9, n_simulations=200)
    >>> bool(e["difference"].abs().max() < 1e-12), bool(e["inside"].all())
    (True, True)
    """
    frames = []
    for name, r in _ranks_by_parameter(ranks).items():
        _check_range(name, r, L)
        z, ecdf, low, high, _ = _ecdf_parts(r, L, prob, n_simulations, seed)
        frames.append(pd.DataFrame({
            "parameter": name, "n": len(r), "rank": np.arange(L), "z": z, "ecdf": ecdf,
            "difference": ecdf - z, "band_low": low - z, "band_high": high - z,
            "inside": (ecdf >= low - 1e-12) & (ecdf <= high + 1e-12)}))
    return pd.concat(frames, ignore_index=True)


def ecdf_uniformity(ranks: pd.DataFrame | Mapping[str, Any], L: int, *,  # noqa: N803
                    level: float = 0.05, n_simulations: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """Test uniform ranks per parameter: whether the ECDF leaves the simultaneous band.

    The test statistic is Säilynoja et al.'s: how extreme the most extreme point of the
    rank ECDF is, as a binomial tail probability; its null distribution is simulated.
    ``uniform`` is ``p_value >= level``, i.e. the ECDF stays inside the ``1 - level``
    simultaneous band of :func:`rank_ecdf`. With k parameters tested at ``level`` each,
    about ``k * level`` of them fail by chance in a calibrated model: use
    ``level = alpha / k`` for a familywise level ``alpha``.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``n``, ``max_difference`` (largest ``|ecdf - z|``), ``p_value``,
        ``level`` and ``uniform``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> out = ecdf_uniformity({"ok": rng.integers(0, 20, 300), "bad": np.full(300, 10)}, 19,
    ...                       n_simulations=500)
    >>> out.set_index("parameter")["uniform"].to_dict()
    {'ok': True, 'bad': False}
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    out = []
    for name, r in _ranks_by_parameter(ranks).items():
        _check_range(name, r, L)
        z, ecdf, _, _, p_value = _ecdf_parts(r, L, 1 - level, n_simulations, seed)
        out.append({"parameter": name, "n": len(r),
                    "max_difference": float(np.abs(ecdf - z).max()), "p_value": p_value,
                    "level": level, "uniform": p_value >= level})
    return pd.DataFrame(out)


def _check_range(name: str, r: np.ndarray, L: int) -> None:  # noqa: N803
    if len(r) and (r.min() < 0 or r.max() > L):
        raise ValueError(f"ranks of {name!r} must lie in 0..{L}")
