"""The growth model as a PyMC model with latent effects (the general path). Never samples.

Patient and therapist effects are latent, non-centred (``effect = z @ (diag(sd) L)'``,
``z ~ N(0, 1)``), with the same priors as the collapsed fast path, so both paths have the
same posterior. This path serves what the collapsed algebra cannot: Student-t residuals and
the joint growth-dropout model (:mod:`trajectories.joint`). AR(1) residuals
(``GrowthSpec(residual="ar1")``) are written as each observation given the patient's
previous observed one, ``e_j | e_{j-1} ~ N(rho e_{j-1}, sigma^2 (1 - rho^2))`` (Student-t
innovations for a Student-t likelihood), the same model as the collapsed kernel's.

With ``effects="conditional"`` (normal residuals) each patient's effects are instead
written relative to their exact conditional given the coefficients and variance parameters
(:mod:`trajectories.engine.conditional`) and the scores enter through each patient's
marginal likelihood (``pm.Potential("score_marginal")``): the same posterior in coordinates
where the growth part of every patient is standard normal. It is the PyMC form of the joint
model that :func:`trajectories.fit.fit_growth` samples through machine code.

Data and data-scaled prior scales are ``pm.Data`` with fixed names, so a compiled model is
reused for new data of the same structure (:func:`trajectories.engine.sampling.sample`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from trajectories.design import Design, posterior_coords
from trajectories.engine.collapsed import gram_matrices
from trajectories.engine.conditional import conditional_patient_effects
from trajectories.spec import GrowthSpec

__all__ = ["build_latent_model", "latent_structure_key"]


def build_latent_model(spec: GrowthSpec, design: Design, *,
                       effects: Literal["latent", "conditional"] = "latent") -> pm.Model:
    """Build the latent-effects PyMC growth model of a spec on a design (never samples).

    ``effects="conditional"`` (normal residuals only) samples the patient effects relative
    to their exact conditional (see the module docstring); the posterior is the same.

    Returns
    -------
    pymc.Model
        Dims ``patient``, ``therapist``, ``session``, ``coefficient``; variables
        ``intercept``, the time terms (``slope`` ...), ``covariate_effect`` (dim ``term``),
        ``patient_<coef>_sd``, ``patient_corr``, ``therapist_<coef>_sd``,
        ``therapist_corr``, ``therapist_effect``, ``patient_effect``, ``residual_sd`` (and
        ``nu`` for Student-t, ``residual_ar`` for AR(1)); the observed variable is ``score``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.design import make_design
    >>> spec = GrowthSpec(time="log")
    >>> model = build_latent_model(spec, make_design(spec, load_beat_the_blues()))
    >>> sorted(v.name for v in model.free_RVs)  # doctest: +NORMALIZE_WHITESPACE
    ['intercept', 'patient_corr_raw', 'patient_effect_raw', 'patient_intercept_sd',
     'patient_slope_sd', 'residual_sd', 'slope']
    """
    k = len(spec.coefficients)
    p = design.x.shape[1]
    q_t = design.q_t
    coords = {k: v for k, v in posterior_coords(spec, design).items() if v}
    with pm.Model(coords=coords) as model:
        loc = pm.Data("prior_loc", design.prior_loc)
        scale = pm.Data("prior_scale", design.prior_scale)
        gscale = pm.Data("group_scale", design.group_scale)
        tscale = pm.Data("therapist_scale", design.therapist_scale)
        rscale = pm.Data("residual_scale", np.asarray(design.residual_scale))
        coefs = [pm.Normal(name, mu=loc[j], sigma=scale[j])
                 for j, name in enumerate(spec.coefficients)]
        beta = pt.stack(coefs)
        if p > k:
            cov_eff = pm.Normal("covariate_effect", mu=loc[k:], sigma=scale[k:], dims="term")
            beta = pt.concatenate([beta, cov_eff])
        factor_v = _covariance("patient", spec.patient_coefficients, gscale, spec)
        u = None
        if q_t:
            factor_u = _covariance("therapist", spec.therapist_coefficients(True), tscale,
                                   spec)
            raw_u = pm.Normal("therapist_effect_raw", 0.0, 1.0,
                              dims=("therapist", "therapist_coefficient"))
            u = pm.Deterministic("therapist_effect", raw_u @ factor_u.T,
                                 dims=("therapist", "therapist_coefficient"))
        sigma = pm.HalfNormal("residual_sd", sigma=rscale)
        if effects == "conditional":
            _conditional_likelihood(spec, design, beta, u, sigma, factor_v)
        else:
            _latent_likelihood(spec, design, beta, u, sigma, factor_v)
    return model


def _conditional_likelihood(spec: GrowthSpec, design: Design, beta, u, sigma,  # noqa: ANN001
                            factor_v) -> None:
    if spec.likelihood != "normal":
        raise ValueError("effects='conditional' needs normal residuals (the conditional of "
                         "the patient effects is Gaussian only then); use effects='latent'")
    gram, _, _ = gram_matrices(design.x, design.y, design.patient_index, design.n_patients)
    coef = pt.repeat(beta[None, :], design.n_patients, axis=0)
    if u is not None:
        tidx = pm.Data("therapist_of_patient", np.maximum(design.therapist_index, 0))
        has = pm.Data("has_therapist", (design.therapist_index >= 0).astype(float))
        coef = pt.inc_subtensor(coef[:, : design.q_t], u[tidx] * has[:, None])
    raw_v = pm.Normal("patient_effect_raw", 0.0, 1.0, dims=("patient", "coefficient"))
    v, loglik = conditional_patient_effects(
        pm.Data("gram", gram), pm.Data("n_obs", np.bincount(design.patient_index,
                                                            minlength=design.n_patients)),
        sigma, factor_v, coef, raw_v, q=design.q)
    pm.Deterministic("patient_effect", v, dims=("patient", "coefficient"))
    pm.Potential("score_marginal", loglik)


def latent_structure_key(spec: GrowthSpec, design: Design) -> tuple:
    """Key what fixes the compiled code of :func:`build_latent_model`: spec, terms and shapes.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.design import make_design
    >>> spec = GrowthSpec(time="log")
    >>> latent_structure_key(spec, make_design(spec, load_beat_the_blues()))[2:]
    (('intercept', 'slope'), 2, 0, 0, 100, 380)
    """
    return ("latent", spec.to_json(), design.terms, design.q, design.q_t,
            len(design.therapists), design.n_patients, len(design.y))


def _lkj_cholesky(name: str, q: int, eta: float):  # noqa: ANN202
    """Cholesky factor of an LKJ(eta) correlation matrix (q = 2 or 3) from partial correlations.

    The vine construction of Lewandowski, Kurowicka & Joe (2009): partial correlations
    ``2 * Beta(b_k, b_k) - 1`` with ``b_k = eta + (q - 1 - k) / 2`` give an LKJ(eta) matrix.
    Written out for small q because it compiles much faster than ``pm.LKJCorr``.
    """
    if q == 2:
        c = 2.0 * pm.Beta(name, eta, eta) - 1.0
        return pt.stack([pt.stack([1.0, 0.0]), pt.stack([c, pt.sqrt(1.0 - c**2)])])
    b1 = eta + 0.5
    raw = pm.Beta(name, alpha=np.array([b1, b1, eta]), beta=np.array([b1, b1, eta]))
    c = 2.0 * raw - 1.0
    c12, c13, c23 = c[0], c[1], c[2]
    s13 = pt.sqrt(1.0 - c13**2)
    zero = pt.zeros(())
    return pt.stack([
        pt.stack([pt.ones(()), zero, zero]),
        pt.stack([c12, pt.sqrt(1.0 - c12**2), zero]),
        pt.stack([c13, c23 * s13, s13 * pt.sqrt(1.0 - c23**2)]),
    ])


def _covariance(level: str, names: tuple[str, ...], scale, spec: GrowthSpec):  # noqa: ANN001, ANN202
    """SDs and correlation of one random-effect level: the factor ``diag(sd) L``."""
    q = len(names)
    sds = [pm.HalfNormal(f"{level}_{c}_sd", sigma=scale[j]) for j, c in enumerate(names)]
    if spec.correlated and q > 1:
        chol = _lkj_cholesky(f"{level}_corr_raw", q, spec.priors.corr_eta)
        corr = chol @ chol.T
        pairs = [(i, j) for i in range(q) for j in range(i + 1, q)]
        pm.Deterministic(f"{level}_corr", pt.stack([corr[i, j] for i, j in pairs]),
                         dims=f"{level}_corr_pair")
    else:
        chol = pt.eye(q)
    return pt.stack(sds)[:, None] * chol  # diag(sd) L: effect = z @ factor.T


def _latent_likelihood(spec: GrowthSpec, design: Design, beta, u, sigma, factor_v) -> None:  # noqa: ANN001
    x = pm.Data("x", design.x)
    y = pm.Data("y", design.y)
    prow = pm.Data("patient_row", design.patient_index)
    raw_v = pm.Normal("patient_effect_raw", 0.0, 1.0, dims=("patient", "coefficient"))
    v = pm.Deterministic("patient_effect", raw_v @ factor_v.T, dims=("patient", "coefficient"))
    mu = (x * beta[None, :]).sum(-1) + (x[:, : design.q] * v[prow]).sum(-1)
    if u is not None:
        # each session's therapist (patients may change therapist); sessions without a
        # therapist (index -1, partially nested designs) point at an appended row of zeros
        tidx = design.therapist_row
        trow = pm.Data("therapist_row", np.where(tidx >= 0, tidx, len(design.therapists)))
        u0 = pt.concatenate([u, pt.zeros((1, design.q_t))], axis=0)
        mu = mu + (x[:, : design.q_t] * u0[trow]).sum(-1)
    if spec.residual == "ar1":
        mu, sigma = _ar1_conditional(design, y, mu, sigma, spec.priors.ar_eta)
    if spec.likelihood == "student_t":
        nu = pm.Gamma("nu", alpha=spec.priors.nu_alpha, beta=spec.priors.nu_beta)
        pm.StudentT("score", nu=nu, mu=mu, sigma=sigma, observed=y, shape=y.shape[0])
    else:
        pm.Normal("score", mu=mu, sigma=sigma, observed=y, shape=y.shape[0])


def _ar1_conditional(design: Design, y, mu, sigma, eta: float):  # noqa: ANN001, ANN202
    """Mean and SD of each score given the patient's previous observed score (AR(1)).

    ``(rho + 1) / 2 ~ Beta(eta, eta)`` as in the collapsed kernel. A patient's first row
    has the stationary SD ``sigma``; later rows ``mu_j + rho (y_{j-1} - mu_{j-1})`` and
    ``sigma sqrt(1 - rho^2)``.
    """
    pidx = design.patient_index
    has_prev = np.zeros(len(pidx))
    has_prev[1:] = pidx[1:] == pidx[:-1]
    prev = pm.Data("previous_row", np.maximum(np.arange(len(pidx)) - 1, 0))
    follows = pm.Data("has_previous", has_prev)
    rho = pm.Deterministic("residual_ar", 2.0 * pm.Beta("residual_ar_raw", eta, eta) - 1.0)
    mean = mu + follows * rho * (y[prev] - mu[prev])
    sd = sigma * pt.sqrt(1.0 - follows * rho**2)
    return mean, sd
