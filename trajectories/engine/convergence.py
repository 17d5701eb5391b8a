"""Convergence checks of every fit: R-hat, bulk and tail ESS, divergences, in words.

Thresholds follow Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021): rank-normalised
R-hat below 1.01 and at least 100 effective draws per chain (bulk and tail), and no
divergent transitions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from trajectories.engine.tree import group, has_group, visible

__all__ = ["ConvergenceWarning", "Diagnostics", "check_convergence", "summary_table"]

RHAT_MAX = 1.01
RHAT_UNUSABLE = 1.1  # beyond this the chains are in different places: nothing is usable
ESS_PER_CHAIN = 100


class ConvergenceWarning(UserWarning):
    """The sampler's output fails a convergence check (R-hat, ESS or divergences).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = check_convergence(small_fit.idata)  # 200 draws: below the ESS floor of 400
    >>> caught[0].category is ConvergenceWarning
    True
    """


@dataclass(frozen=True)
class Diagnostics:
    """Convergence checks of one fit and where its time went (seconds).

    Examples
    --------
    >>> d = Diagnostics(max_rhat=1.002, min_ess_bulk=850.0, min_ess_tail=790.0, n_divergent=0,
    ...                 failing=(), message="")
    >>> d.ok, d.usable, d.to_dict()["n_divergent"]
    (True, True, 0)
    >>> small_fit.diagnostics.method
    'marginal'
    """

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    n_divergent: int
    failing: tuple[str, ...]
    message: str
    method: str = ""
    sampler: str = ""
    seconds: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failing and self.n_divergent == 0

    @property
    def usable(self) -> bool:
        """False when the chains disagree so much (R-hat > 1.1) that no estimate is usable."""
        return not (np.isfinite(self.max_rhat) and self.max_rhat > RHAT_UNUSABLE)

    def to_dict(self) -> dict:
        """JSON-ready summary (for meta.json and saved fits)."""
        return {"max_rhat": self.max_rhat, "min_ess_bulk": self.min_ess_bulk,
                "min_ess_tail": self.min_ess_tail, "n_divergent": self.n_divergent,
                "failing": list(self.failing), "message": self.message, "method": self.method,
                "sampler": self.sampler, "seconds": dict(self.seconds)}


def summary_table(post: xr.Dataset, ci_prob: float = 0.95) -> pd.DataFrame:
    """ArviZ's summary as a tidy frame: ``parameter, mean, sd, ci_low, ci_high, ess_*, r_hat``.

    Intervals are equal-tailed with probability ``ci_prob``.

    Examples
    --------
    >>> table = summary_table(small_fit.posterior[["intercept", "slope"]], ci_prob=0.9)
    >>> table["parameter"].tolist()
    ['intercept', 'slope']
    >>> bool((table["ci_low"] < table["mean"]).all() and (table["mean"] < table["ci_high"]).all())
    True
    """
    import arviz as az

    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob!r}")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        table = az.summary(post, ci_prob=ci_prob, ci_kind="eti", round_to="none")
    low, high = [c for c in table.columns if c.startswith("eti")]
    table = table.rename(columns={low: "ci_low", high: "ci_high"})
    table = table.rename_axis("parameter").reset_index()
    return table[["parameter", "mean", "sd", "ci_low", "ci_high", "ess_bulk", "ess_tail",
                  "r_hat", "mcse_mean"]]


def check_convergence(idata: xr.DataTree, *, method: str = "", sampler: str = "",
                      seconds: dict | None = None, warn: bool = True,
                      exact: tuple[str, ...] = ("patient_effect",),
                      what: str = "growth-model") -> Diagnostics:
    """R-hat, bulk and tail ESS and divergences; one plain-language warning if any fail.

    ``exact`` names variables drawn exactly after sampling (the fast path's patient
    effects): they are not checked.

    Examples
    --------
    >>> d = check_convergence(small_fit.idata, warn=False)
    >>> d.ok  # 2 chains x 100 draws cannot reach ESS >= 400
    False
    >>> "residual_sd" in d.failing or d.min_ess_bulk < 400
    True
    """
    import arviz as az

    post = visible(group(idata, "posterior"))
    post = post.drop_vars([v for v in exact if v in post])
    n_chains = post.sizes["chain"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # constant draws (fixed values, tiny runs) give NaN diagnostics: reported, not raised
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(post)
        bulk = az.ess(post, method="bulk")
        tail = az.ess(post, method="tail")
    floor = ESS_PER_CHAIN * n_chains
    bad_rhat = [v for v in post.data_vars if n_chains > 1 and
                _extreme(rhat[v].values, np.nanmax) > RHAT_MAX]
    bad_ess = [v for v in post.data_vars if min(_extreme(bulk[v].values, np.nanmin),
                                               _extreme(tail[v].values, np.nanmin)) < floor]
    stats = group(idata, "sample_stats") if has_group(idata, "sample_stats") else xr.Dataset()
    div = int(stats["diverging"].values.sum()) if "diverging" in stats else 0

    def _ext(ds: xr.Dataset, fn) -> float:  # noqa: ANN001
        return _extreme(np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars]
                                       or [np.array([np.nan])]), fn)

    max_rhat = _ext(rhat, np.nanmax)
    parts = []
    if bad_rhat and max_rhat > RHAT_UNUSABLE:
        parts.append(f"the chains disagree (R-hat up to {max_rhat:.3g}) for "
                     f"{', '.join(bad_rhat)}: the chains ended in different places, so these "
                     "estimates are not usable")
    elif bad_rhat:
        parts.append(f"the chains disagree (R-hat above {RHAT_MAX}) for {', '.join(bad_rhat)}")
    if bad_ess:
        parts.append(f"fewer than {floor} effective draws for {', '.join(bad_ess)}")
    if div:
        parts.append(f"{div} divergent transitions (the sampler could not follow the "
                     "posterior's geometry, so some regions may be missed)")
    message = ""
    if parts:
        message = (f"The {what} fit may be unreliable: " + "; ".join(parts) + ". Run "
                   "longer (more tune= and draws=), simplify the random-effect structure, or "
                   "check the data before using these estimates.")
        if warn:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return Diagnostics(
        max_rhat=max_rhat, min_ess_bulk=_ext(bulk, np.nanmin),
        min_ess_tail=_ext(tail, np.nanmin), n_divergent=div,
        failing=tuple(dict.fromkeys(bad_rhat + bad_ess)), message=message, method=method,
        sampler=sampler, seconds=dict(seconds or {}),
    )


def _extreme(values: np.ndarray, fn) -> float:  # noqa: ANN001
    """``fn`` (nanmin/nanmax) of the values, NaN when all are NaN (constant draws)."""
    values = np.ravel(values)
    return float(fn(values)) if np.isfinite(values).any() else float("nan")
