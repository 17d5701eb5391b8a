"""Sampling the joint growth–dropout model through machine code (normal residuals).

:func:`joint_problem` turns a growth design and a hazard design into the arrays of
:class:`~trajectories.engine.joint_problem.JointProblem` (the patient effects are sampled
relative to their exact Gaussian conditional, so the geometry is nearly isotropic and
nothing compiles per process); :func:`sample_joint` samples it with the engine's
:func:`~trajectories.engine.sampling.sample`, refreshes the patient effects from their exact
conditional, and names the draws as the PyMC joint model of :mod:`trajectories.joint`
would (same variables, coordinates and posterior). :func:`trajectories.fit.fit_growth`
calls it; Student-t residuals or ``GrowthSpec(method="latent")`` take the PyMC model instead.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import xarray as xr

from trajectories.data import TherapyData
from trajectories.design import Design, growth_posterior
from trajectories.dropout import DropoutSpec, HazardDesign, baseline_centre, hazard_design
from trajectories.engine.collapsed import gram_matrices
from trajectories.engine.joint_problem import JointProblem
from trajectories.engine.sampling import sample
from trajectories.engine.settings import SamplerSettings
from trajectories.joint import latent_arrays
from trajectories.spec import GrowthSpec

__all__ = ["joint_hazard_design", "joint_problem", "sample_joint"]


def joint_hazard_design(dropout_spec: DropoutSpec, data: TherapyData) -> HazardDesign:
    """Return the hazard design of the joint model: observed predictors reduced to alliance.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> h = joint_hazard_design(DropoutSpec(), load_beat_the_blues())
    >>> h.terms  # no alliance in these data: the latent terms carry the scores
    ()
    """
    return hazard_design(dropout_spec, data, predictors=tuple(
        p for p in dropout_spec.predictors if p == "alliance"))


def joint_problem(design: Design, hdesign: HazardDesign, data: TherapyData, *,
                  centred: bool = True) -> JointProblem:
    """Build the :class:`JointProblem` of a growth design and the joint model's hazard design.

    ``centred=False`` samples the baseline itself instead of the baseline centred against
    the association terms (same posterior; used to compare with the PyMC model).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.design import make_design
    >>> data = load_beat_the_blues()
    >>> design = make_design(GrowthSpec(time="log"), data)
    >>> prob = joint_problem(design, joint_hazard_design(DropoutSpec(), data), data)
    >>> prob.ndim  # 4 variance parameters, 2 fixed effects, 200 patient effects, 6 hazard
    212
    >>> value, grad = prob.log_density(prob.initial_point(1))
    >>> bool(np.isfinite(value)), grad.shape
    (True, (212,))
    """
    spec = hdesign.spec
    arrays = latent_arrays(design, data, hdesign.rows)
    order = np.argsort(arrays["pidx"], kind="stable")  # rows grouped by patient
    gram, _, _ = gram_matrices(design.x, design.y, design.patient_index, design.n_patients)
    ther = (np.full(design.n_patients, -1, dtype=np.int64) if design.therapist_index is None
            else design.therapist_index)
    row_w = (np.full(len(order), -1, dtype=np.int64) if hdesign.therapist_index is None
             else hdesign.therapist_index[order])
    return JointProblem(
        gram=gram, n_obs=np.bincount(design.patient_index, minlength=design.n_patients),
        therapist=ther, n_therapists=len(design.therapists) if design.q_t else 0,
        q=design.q, q_t=design.q_t, correlated=design.spec.correlated,
        prior_mean=design.prior_loc, prior_sd=design.prior_scale,
        scale_v=design.group_scale[: design.q], scale_u=design.therapist_scale[: design.q_t],
        residual_scale=design.residual_scale, eta=design.spec.priors.corr_eta,
        row_patient=arrays["pidx"][order],
        row_bin=hdesign.bin_of(hdesign.rows["session"].to_numpy())[order],
        row_event=hdesign.event[order], row_x=hdesign.x[order], row_therapist=row_w,
        latent=np.stack([arrays[k][order] for k in ("level", "slope", "change")]),
        terms=spec.association, link=spec.link, n_bins=len(hdesign.breaks),
        n_dropout_therapists=(0 if hdesign.therapist_index is None
                              else len(hdesign.therapists)),
        baseline_centre=baseline_centre(hdesign), baseline_sd=spec.baseline_sd,
        coef_sd=spec.coef_sd, therapist_dropout_scale=spec.therapist_sd, sign=hdesign.sign,
        score_sd=hdesign.scales["score_sd"], score_mean=hdesign.scales["score_mean"],
        centring=_centring(hdesign) if centred else None)


def _centring(hdesign: HazardDesign) -> np.ndarray:
    """Per baseline bin, the mean of each shared term's observed counterpart (bins x terms).

    The sampler uses the terms minus these constants, which decorrelates the baseline from
    the association coefficients (the reported baseline keeps its meaning; only the
    sampler's coordinates change). Observed scores stand in for the latent ones: the
    constants need only be close to the terms' means, not equal to them.
    """
    rows, sign = hdesign.rows, hdesign.sign
    s_y, centre = hdesign.scales["score_sd"], hdesign.scales["score_mean"]
    worse = sign * rows["change"].to_numpy(float) / s_y
    proxy = {"level": sign * (rows["score"].to_numpy(float) - centre) / s_y,
             "slope": np.zeros(len(rows)), "improvement": np.maximum(-worse, 0.0),
             "worsening": np.maximum(worse, 0.0)}
    bins = hdesign.bin_of(rows["session"].to_numpy())
    out = np.zeros((len(hdesign.breaks), len(hdesign.spec.association)))
    for j, term in enumerate(hdesign.spec.association):
        total = np.bincount(bins, weights=proxy[term], minlength=out.shape[0])
        count = np.bincount(bins, minlength=out.shape[0])
        out[:, j] = total / np.maximum(count, 1)
    return out


def sample_joint(spec: GrowthSpec, dropout_spec: DropoutSpec, data: TherapyData,
                 design: Design, settings: SamplerSettings) -> tuple:
    """Sample the joint model; returns ``(posterior, sample_stats, settings, seconds)``.

    ``spec`` is the growth part (normal residuals). The acceptance rate of the
    patient-effect refresh is the posterior's ``effect_refresh_acceptance`` attribute.
    ``settings`` must be resolved (have a seed).
    :func:`trajectories.fit.fit_growth` is the way to call it.

    Examples
    --------
    ``joint_fit`` (the doctest fixture) was made by
    ``fit_growth(GrowthSpec(time="log", dropout=DropoutSpec()), data, seed=1)``, which
    samples through this function:

    >>> joint_fit.diagnostics.method, joint_fit.settings.sampler
    ('joint', 'nutpie')
    >>> sorted(v for v in joint_fit.posterior.data_vars if v.startswith("dropout"))
    ['dropout_association', 'dropout_baseline']
    >>> 0.05 < joint_fit.posterior.attrs["effect_refresh_acceptance"] <= 1.0
    True
    """
    hdesign = joint_hazard_design(dropout_spec, data)
    problem = joint_problem(design, hdesign, data)
    sampled = sample(problem, settings)
    start = time.perf_counter()
    values = problem.unpack(sampled.theta)
    rng = np.random.default_rng(sampled.settings.seeds(2)[1])
    v, acceptance = problem.refresh_effects(values, rng)
    chains = sampled.posterior.sizes["chain"]
    post = growth_posterior(spec, design, values, values["beta"], values["u"], v,
                            chains=chains)
    post = xr.merge([post, _hazard_posterior(problem, hdesign, values, chains)])
    post.attrs["effect_refresh_acceptance"] = float(acceptance)
    seconds = dict(sampled.seconds) | {"effects": time.perf_counter() - start}
    return post, sampled.sample_stats, sampled.settings, seconds


def _hazard_posterior(problem: JointProblem, hdesign: HazardDesign, values: dict,
                      chains: int) -> xr.Dataset:
    """Name the hazard's variables (as :func:`trajectories.dropout.add_hazard` names them)."""
    n_draw = len(values["sigma"]) // chains

    def shaped(a: np.ndarray) -> np.ndarray:
        return a.reshape(chains, n_draw, *a.shape[1:])

    cd = ("chain", "draw")
    out = {"dropout_baseline": ((*cd, "dropout_bin"), shaped(values["baseline"]))}
    coords: dict = {"dropout_bin": hdesign.bin_labels}
    if hdesign.x.shape[1]:
        out["dropout_coef"] = ((*cd, "dropout_term"), shaped(values["gamma"]))
        coords["dropout_term"] = list(hdesign.terms)
    if problem.terms:
        out["dropout_association"] = ((*cd, "association"), shaped(values["association"]))
        coords["association"] = list(problem.terms)
    if problem.n_dropout_therapists:
        out["therapist_dropout_sd"] = (cd, shaped(values["therapist_dropout_sd"]))
        out["therapist_dropout_effect"] = ((*cd, "therapist"),
                                           shaped(values["therapist_dropout_effect"]))
        coords["therapist"] = pd.Index(hdesign.therapists).tolist()
    return xr.Dataset(out).assign_coords(coords)
