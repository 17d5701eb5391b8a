"""Predictive checks: replicated scores from the posterior or the prior, as ArviZ groups.

:func:`posterior_predictive` draws, for posterior draws of a fit, new scores for every
observed (patient, session): the patient's fitted course plus a fresh residual (normal,
Student-t, or AR(1) over the patient's observed sessions, as fitted), censored at the
instrument's range like an observed score. :func:`prior_predictive` does the same with
parameters drawn from the prior (from the PyMC model of :mod:`trajectories.latent`, the one
definition of the prior). The replicates go into the ``posterior_predictive`` /
``prior_predictive`` groups with the dims of ``observed_data`` (``obs``), so ArviZ's
predictive-check plots work on them: ``az.plot_ppc_dist(fit.idata)`` (ArviZ 1.x's name for
``plot_ppc``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pymc as pm
import xarray as xr

from trajectories.data import TherapyData
from trajectories.design import Design, make_design
from trajectories.engine import tree
from trajectories.engine.tree import PosteriorDraws
from trajectories.fit import observed_scores
from trajectories.latent import build_latent_model
from trajectories.predict import score_bounds
from trajectories.spec import GrowthSpec

__all__ = ["posterior_predictive", "prior_predictive", "replicate_scores"]


def _seed(seed: int | None) -> int:
    """Return the given seed, or one drawn from fresh entropy (recorded by the caller)."""
    return int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else int(seed)


def replicate_scores(design: Design, draws: PosteriorDraws, data: TherapyData,
                     rng: np.random.Generator) -> np.ndarray:
    """Replicated scores (S, n_obs) of the design's observed rows for each draw.

    Every row's latent score is ``x'beta + z'(v_i + u_t)`` plus a residual of the fitted
    kind; the result is censored at the instrument's range (:func:`score_bounds`).

    Examples
    --------
    >>> from trajectories.fit import posterior_draws
    >>> reps = replicate_scores(small_fit.design, posterior_draws(small_fit), small_fit.data,
    ...                         np.random.default_rng(1))
    >>> reps.shape  # 200 draws x 380 observed scores
    (200, 380)
    >>> bool(reps.min() >= 0 and reps.max() <= 63)  # censored at the BDI-II range
    True
    """
    k = design.q
    n_s = len(draws.residual_sd)
    pidx = design.patient_index
    mu = draws.beta @ design.x.T  # (S, n_obs); no (S, n_obs, p) intermediate
    for j in range(k):
        mu += draws.patient_effect[:, pidx, j] * design.x[:, j]
    ther = draws.therapist_effect_of(design.therapist_row)  # each session's therapist
    if ther is not None:
        mu = mu + np.einsum("snq,nq->sn", ther, design.x[:, : design.q_t])
    sigma = draws.residual_sd[:, None]
    if draws.nu is not None:
        e = rng.standard_t(draws.nu[:, None], size=(n_s, len(pidx)))
    else:
        e = rng.standard_normal((n_s, len(pidx)))
    if draws.residual_ar is not None:
        # e_1 stationary, e_j = rho e_{j-1} + sqrt(1 - rho^2) innovation, per patient
        rho = draws.residual_ar[:, None]
        scale = np.sqrt(1.0 - rho**2)
        # rows are in session order within patients: the k-th rows of all patients at once
        first = np.r_[True, pidx[1:] != pidx[:-1]]
        position = np.arange(len(pidx)) - np.maximum.accumulate(
            np.where(first, np.arange(len(pidx)), 0))
        for step in range(1, int(position.max(initial=0)) + 1):
            j = np.flatnonzero(position == step)
            e[:, j] = rho * e[:, j - 1] + scale * e[:, j]
    lower, upper = score_bounds(data)
    return np.clip(mu + sigma * e, lower, upper)


def _thin(post: xr.Dataset, draws: int | None) -> xr.Dataset:
    """At most ``draws`` draws in total, evenly spaced within each chain."""
    if draws is None:
        return post
    per_chain = max(1, int(draws) // post.sizes["chain"])
    keep = np.unique(np.linspace(0, post.sizes["draw"] - 1, per_chain).round().astype(int))
    return post.isel(draw=keep)


def _group(reps: np.ndarray, chains: int, observed: xr.Dataset, seed: int) -> xr.Dataset:
    ds = xr.Dataset({"score": (("chain", "draw", "obs"),
                               reps.reshape(chains, -1, reps.shape[-1]))},
                    coords={k: v for k, v in observed.coords.items()})
    ds.attrs["seed"] = seed
    return ds


def posterior_predictive(fit: object, *, seed: int | None = None,
                         draws: int | None = 500) -> object:
    """Add a ``posterior_predictive`` group of replicated scores to the fit.

    Parameters
    ----------
    fit : GrowthFit
        Any growth fit (fast, latent or joint path).
    seed : int, optional
        Seeds the replicates; when not given one is drawn and recorded in the group's
        ``attrs["seed"]``.
    draws : int, optional
        Use at most this many posterior draws (evenly spaced per chain); None: all.

    Returns
    -------
    GrowthFit
        A copy of ``fit`` whose ``idata`` also holds ``posterior_predictive`` (variable
        ``score``, dims ``chain, draw, obs`` as ``observed_data``).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [5.0],
    ...          "patient_effect": [np.zeros((100, 2))]}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(), draws)
    >>> checked = posterior_predictive(fit, seed=1)
    >>> reps = tree.group(checked.idata, "posterior_predictive")["score"]
    >>> reps.dims, bool(reps.min() >= 0)  # BDI-II scores stay in 0-63
    (('chain', 'draw', 'obs'), True)
    """
    seed = _seed(seed)
    post = _thin(tree.group(fit.idata, "posterior"), draws)
    if "patient_effect" not in post:
        raise ValueError("posterior_predictive needs the patients' effects in the posterior")
    spec = fit.spec
    d = tree.posterior_draws(tree.make_tree(posterior=post), spec.coefficients,
                             spec.patient_coefficients,
                             spec.therapist_coefficients(bool(fit.design.q_t)))
    reps = replicate_scores(fit.design, d, fit.data, np.random.default_rng(seed))
    observed = tree.group(fit.idata, "observed_data")
    group = _group(reps, post.sizes["chain"], observed, seed)
    return replace(fit, idata=tree.with_groups(fit.idata, posterior_predictive=group))


def prior_predictive(spec: GrowthSpec, data: TherapyData, *, seed: int | None = None,
                     draws: int = 500) -> xr.DataTree:
    """Scores replicated from the prior: what the model expects before seeing the scores.

    Parameters are drawn from the priors of :func:`trajectories.latent.build_latent_model`
    (scaled to the data as in every fit), then scores as in :func:`posterior_predictive`.

    Returns
    -------
    xarray.DataTree
        Groups ``prior`` (the parameters), ``prior_predictive`` (``score``, dims ``chain,
        draw, obs``; ``attrs["seed"]``) and ``observed_data``:
        ``az.plot_ppc_dist(tree, group="prior_predictive")`` draws the check.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> prior = prior_predictive(GrowthSpec(time="log"), load_beat_the_blues(), seed=1,
    ...                          draws=50)
    >>> tree.group(prior, "prior_predictive")["score"].shape
    (1, 50, 380)
    """
    if spec.dropout is not None:
        spec = replace(spec, dropout=None)  # the scores' prior is the growth part's
    seed = _seed(seed)
    design = make_design(spec, data)
    model = build_latent_model(replace(spec, method="latent"), design)
    names = [v.name for v in (*model.free_RVs, *model.deterministics)
             if not v.name.endswith(tree.HIDDEN)]
    sampler_seed, score_seed = np.random.SeedSequence(seed).generate_state(2)
    with model:
        prior = pm.sample_prior_predictive(draws=int(draws), var_names=names,
                                           random_seed=int(sampler_seed))
    params = tree.visible(tree.group(prior, "prior"))
    d = tree.posterior_draws(tree.make_tree(posterior=params), spec.coefficients,
                             spec.patient_coefficients,
                             spec.therapist_coefficients(bool(design.q_t)))
    reps = replicate_scores(design, d, data, np.random.default_rng(int(score_seed)))
    observed = observed_scores(design)
    return tree.make_tree(prior=params, prior_predictive=_group(reps, 1, observed, seed),
                          observed_data=observed)
