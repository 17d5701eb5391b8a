"""The collapsed engine against brute-force multivariate-normal algebra on small data.

Everything is checked against an independent implementation: the full covariance matrix
of all scores (patients, therapists and the fixed-effect prior integrated out) built
entry by entry, and Gaussian conditioning with dense matrices.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from trajectories.engine import kernels
from trajectories.engine.collapsed import CollapsedProblem, gram_matrices
from trajectories.predict import effect_posterior


def _data(rng: np.random.Generator, p: int = 4, n_ther: int = 4, per: int = 3):
    """Unbalanced rows (1-6 per patient), one patient in five without a therapist."""
    xs, ys, pid, tid = [], [], [], []
    for t in range(n_ther):
        for j in range(per):
            i = t * per + j
            k = int(rng.integers(1, 7))
            s = np.arange(k, dtype=float)
            cols = [np.ones(k), np.log1p(s), s**2 / 10, np.full(k, rng.normal())][:p]
            xs.append(np.column_stack(cols))
            ys.append(rng.normal(10, 3, size=k))
            pid += [i] * k
            tid += [t if i % 5 else -1] * k
    return np.vstack(xs), np.concatenate(ys), np.array(pid), np.array(tid)


def _spd(rng: np.random.Generator, k: int) -> np.ndarray:
    a = rng.normal(size=(k, k))
    return a @ a.T + 0.5 * k * np.eye(k)


def _full_cov(x, pid, tid, sigma2, sv, su, rho, q, q_t, prior_sd=None):  # noqa: ANN001, ANN202
    n_obs, n_pat, n_ther = len(pid), pid.max() + 1, max(tid.max() + 1, 1)
    zv = np.zeros((n_obs, n_pat * q))
    zu = np.zeros((n_obs, n_ther * q_t))
    r = np.zeros((n_obs, n_obs))
    for o in range(n_obs):
        zv[o, pid[o] * q:(pid[o] + 1) * q] = x[o, :q]
        if tid[o] >= 0 and q_t:
            zu[o, tid[o] * q_t:(tid[o] + 1) * q_t] = x[o, :q_t]
    for i in range(n_pat):
        rows = np.flatnonzero(pid == i)
        lag = np.abs(np.subtract.outer(np.arange(len(rows)), np.arange(len(rows))))
        r[np.ix_(rows, rows)] = rho**lag
    v = sigma2 * r + zv @ np.kron(np.eye(n_pat), sv) @ zv.T
    if q_t:
        v += zu @ np.kron(np.eye(n_ther), su) @ zu.T
    if prior_sd is not None:
        v += x @ np.diag(prior_sd**2) @ x.T
    return v, zv, zu


def _problem(x, y, pid, tid, q, q_t, ar, prior_mean, prior_sd) -> CollapsedProblem:  # noqa: ANN001
    n_pat = pid.max() + 1
    g0, gd, gl = gram_matrices(x, y, pid, n_pat, ar=ar)
    tix = np.array([tid[pid == i][0] for i in range(n_pat)])
    return CollapsedProblem(
        gram=g0, gram_d=gd, gram_l=gl, n_obs=np.bincount(pid), therapist=tix,
        n_therapists=int(tid.max() + 1) if q_t else 0, q=q, q_t=q_t, correlated=True, ar=ar,
        prior_mean=prior_mean, prior_sd=prior_sd, scale_v=np.full(q, 2.0),
        scale_u=np.full(q_t, 1.0), residual_scale=2.0, eta=2.0, ar_eta=1.5)


@pytest.mark.parametrize(("q", "q_t", "ar"), [(1, 0, False), (2, 1, False), (2, 2, True),
                                              (3, 2, False), (3, 3, True), (1, 3, False)])
def test_marginal_likelihood_and_gradient_equal_brute_force(q: int, q_t: int, ar: bool,
                                                            rng: np.random.Generator) -> None:
    x, y, pid, tid = _data(rng)
    mu, sd = rng.normal(size=4), rng.uniform(0.5, 3.0, size=4)
    sigma2, sv, su, rho = 2.3, _spd(rng, q), _spd(rng, q_t), 0.4 if ar else 0.0
    v, _, _ = _full_cov(x, pid, tid, sigma2, sv, su, rho, q, q_t, sd)
    brute = multivariate_normal(x @ mu, v).logpdf(y)
    prob = _problem(x, y, pid, tid, q, q_t, ar, mu, sd)
    g_v, g_u = np.zeros((q, q)), np.zeros((max(q_t, 1), max(q_t, 1)))
    args = (prob.gram, prob.gram_d, prob.gram_l, prob.n_obs, prob.therapist,
            prob.n_therapists, q, q_t, mu, 1 / sd**2)
    ll, d_s2, d_rho = kernels.loglik_and_adjoints(sigma2, sv, su if q_t else np.eye(1), rho,
                                                  ar, *args[:6], *args[6:8], *args[8:],
                                                  g_v, g_u)
    np.testing.assert_allclose(ll, brute, rtol=1e-10)

    def f(s2: float, a: np.ndarray, b: np.ndarray, r: float) -> float:
        return multivariate_normal(x @ mu, _full_cov(x, pid, tid, s2, a, b, r, q, q_t,
                                                     sd)[0]).logpdf(y)

    # central differences of a dense log-density: truncation O(h^2) plus rounding
    # ~ eps * |logpdf| / h ~ 1e-8; 1e-6 absolute leaves room for cancellation in slogdet
    h = 1e-6
    np.testing.assert_allclose(d_s2, (f(sigma2 + h, sv, su, rho) - f(sigma2 - h, sv, su, rho))
                               / (2 * h), rtol=1e-5)
    if ar:
        np.testing.assert_allclose(d_rho, (f(sigma2, sv, su, rho + h)
                                           - f(sigma2, sv, su, rho - h)) / (2 * h), rtol=1e-5)
    for mat, grad, k in ((sv, g_v, q), (su, g_u, q_t)):
        for a in range(k):
            for b in range(a, k):
                e = np.zeros((k, k))
                e[a, b] = e[b, a] = h
                args_p = (mat + e, su) if mat is sv else (sv, mat + e)
                args_m = (mat - e, su) if mat is sv else (sv, mat - e)
                fd = (f(sigma2, *args_p, rho) - f(sigma2, *args_m, rho)) / (2 * h)
                np.testing.assert_allclose(grad[a, b] * (1 if a == b else 2), fd, rtol=1e-5,
                                           atol=1e-6)


@pytest.mark.parametrize(("q", "q_t", "ar"), [(2, 2, False), (3, 1, True), (1, 0, False)])
def test_log_density_gradient_on_the_sampler_coordinates(q: int, q_t: int, ar: bool,
                                                         rng: np.random.Generator) -> None:
    x, y, pid, tid = _data(rng)
    prob = _problem(x, y, pid, tid, q, q_t, ar, np.zeros(4), np.full(4, 5.0))
    theta = rng.normal(scale=0.4, size=prob.ndim)
    _, grad = prob.log_density(theta)
    h = 1e-6
    fd = [(prob.log_density(theta + e)[0] - prob.log_density(theta - e)[0]) / (2 * h)
          for e in np.eye(prob.ndim) * h]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_conditional_draws_have_the_exact_moments(rng: np.random.Generator) -> None:
    """With z = 0 a draw is the conditional mean; with z = unit vectors it spans the
    conditional covariance: both compared with dense Gaussian conditioning."""
    q, q_t = 2, 2
    x, y, pid, tid = _data(rng, p=3)
    n_pat, n_ther, p = pid.max() + 1, tid.max() + 1, 3
    mu, sd = rng.normal(size=p), rng.uniform(1.0, 3.0, size=p)
    sigma, sv, su = 1.3, _spd(rng, q), _spd(rng, q_t)
    prob = _problem(x, y, pid, tid, q, q_t, False, mu, sd)

    def draws(zb, zt, zp, with_loglik=False):  # noqa: ANN001, ANN202
        beta, u, v = np.empty((1, p)), np.empty((1, n_ther, q_t)), np.empty((1, n_pat, q))
        ll = np.empty((1, n_pat))
        kernels.draw_effects(np.array([sigma]), sv[None], su[None], np.zeros(1), False,
                             prob.gram, prob.gram_d, prob.gram_l, prob.n_obs, prob.therapist,
                             n_ther, q, q_t, mu, 1 / sd**2, zb, zt, zp, beta, u, v, ll)
        return (beta, u, ll) if with_loglik else (beta[0], u[0], v[0])

    zeros = (np.zeros((1, p)), np.zeros((1, n_ther, q_t)), np.zeros((1, n_pat, q)))
    beta0, u0, v0 = draws(*zeros)
    v_all, zv, zu = _full_cov(x, pid, tid, sigma**2, sv, su, 0.0, q, q_t)
    # beta | y: prior N(mu, diag(sd^2)), y | beta ~ N(X beta, V)
    prec = np.diag(1 / sd**2) + x.T @ np.linalg.solve(v_all, x)
    mean_b = np.linalg.solve(prec, np.diag(1 / sd**2) @ mu + x.T @ np.linalg.solve(v_all, y))
    np.testing.assert_allclose(beta0, mean_b, rtol=1e-9)
    cols = [draws(np.eye(p)[[k]], *zeros[1:])[0] - beta0 for k in range(p)]
    np.testing.assert_allclose(np.array(cols).T @ np.array(cols), np.linalg.inv(prec),
                               rtol=1e-8)
    # u | beta, y: u ~ N(0, I x Su), y - X beta = Zu u + (Zv v + e)
    v_pat = sigma**2 * np.eye(len(y)) + zv @ np.kron(np.eye(n_pat), sv) @ zv.T
    su_all = np.kron(np.eye(n_ther), su)
    gain = su_all @ zu.T @ np.linalg.inv(zu @ su_all @ zu.T + v_pat)
    np.testing.assert_allclose(u0.ravel(), gain @ (y - x @ beta0), rtol=1e-8, atol=1e-10)
    # v | u, beta, y
    resid = y - x @ beta0 - zu @ u0.ravel()
    sv_all = np.kron(np.eye(n_pat), sv)
    gain_v = sv_all @ zv.T @ np.linalg.inv(zv @ sv_all @ zv.T + sigma**2 * np.eye(len(y)))
    np.testing.assert_allclose(v0.ravel(), gain_v @ resid, rtol=1e-8, atol=1e-10)
    # the log-likelihood computed alongside the draws is the per-patient marginal density
    beta, u, ll = draws(*zeros, with_loglik=True)
    np.testing.assert_allclose(ll, prob.patient_loglik(beta, u, np.array([sigma]), sv[None]),
                               rtol=1e-12)


def test_patient_loglik_is_the_marginal_density_of_each_patient(
        rng: np.random.Generator) -> None:
    q, q_t = 2, 1
    x, y, pid, tid = _data(rng)
    n_pat, n_ther = pid.max() + 1, tid.max() + 1
    prob = _problem(x, y, pid, tid, q, q_t, True, np.zeros(4), np.ones(4))
    beta, u = rng.normal(size=(1, 4)), rng.normal(size=(1, n_ther, q_t))
    sigma, sv, rho = np.array([1.7]), _spd(rng, q)[None], np.array([0.3])
    out = prob.patient_loglik(beta, u, sigma, sv, rho)
    for i in range(n_pat):
        rows = pid == i
        xi, yi = x[rows], y[rows]
        b = beta[0].copy()
        t = tid[rows][0]
        if t >= 0:
            b[:q_t] += u[0, t]
        lag = np.abs(np.subtract.outer(np.arange(len(yi)), np.arange(len(yi))))
        v = xi[:, :q] @ sv[0] @ xi[:, :q].T + sigma[0] ** 2 * 0.3**lag
        np.testing.assert_allclose(out[0, i], multivariate_normal(xi @ b, v).logpdf(yi),
                                   rtol=1e-10)


def test_effect_posterior_equals_gaussian_conditioning(rng: np.random.Generator) -> None:
    q = 2
    x, y, pid, _ = _data(rng)
    n_pat = pid.max() + 1
    b = rng.normal(size=(n_pat, 4))
    cov = _spd(rng, q)
    sigma = 2.3
    g, _, _ = gram_matrices(x, y, pid, n_pat)
    ztr = g[None, :, :q, 4] - np.einsum("nij,nj->ni", g[:, :q, :4], b)[None]
    mean, c = effect_posterior(np.array([sigma]), cov[None], g[:, :q, :q], ztr)
    for i in range(n_pat):
        xi, yi = x[pid == i], y[pid == i]
        zi = xi[:, :q]
        v = zi @ cov @ zi.T + sigma**2 * np.eye(len(yi))
        gain = cov @ zi.T @ np.linalg.inv(v)
        np.testing.assert_allclose(mean[0, i], gain @ (yi - xi @ b[i]), rtol=1e-9)
        np.testing.assert_allclose(c[0, i], cov - gain @ zi @ cov, rtol=1e-9, atol=1e-12)


def test_a_covariance_that_is_not_positive_definite_gives_minus_infinity() -> None:
    rng = np.random.default_rng(3)
    x, y, pid, tid = _data(rng)
    prob = _problem(x, y, pid, tid, 2, 0, False, np.zeros(4), np.ones(4))
    g = np.zeros((2, 2))
    ll, _, _ = kernels.loglik_and_adjoints(
        1.0, np.array([[1.0, 2.0], [2.0, 1.0]]), np.eye(1), 0.0, False, prob.gram,
        prob.gram_d, prob.gram_l, prob.n_obs, prob.therapist, 0, 2, 0, np.zeros(4),
        np.ones(4), g, np.zeros((1, 1)))
    assert ll == -np.inf


@pytest.mark.parametrize(("q", "q_t", "ar"), [(2, 2, True), (1, 0, False)])
def test_machine_callback_equals_the_python_interface(q: int, q_t: int, ar: bool,
                                                      rng: np.random.Generator) -> None:
    """The C callback nutpie calls reads the same data through its header of addresses."""
    import ctypes

    from trajectories.engine.collapsed import _logp_callback
    from trajectories.engine.machine import callback

    x, y, pid, tid = _data(rng)
    prob = _problem(x, y, pid, tid, q, q_t, ar, np.zeros(4), np.full(4, 5.0))
    model = prob.machine_model()
    call = callback(_logp_callback).ctypes
    for theta in (rng.normal(scale=0.4, size=prob.ndim), np.r_[-800.0, np.zeros(prob.ndim - 1)]):
        grad, logp = np.empty(prob.ndim), np.empty(1)
        dbl = ctypes.POINTER(ctypes.c_double)
        code = call(prob.ndim, theta.ctypes.data_as(dbl), grad.ctypes.data_as(dbl),
                    logp.ctypes.data_as(dbl), ctypes.c_void_p(model.header.ctypes.data))
        value, expected = prob.log_density(theta)
        if np.isfinite(value):
            assert code == 0
            np.testing.assert_allclose(logp[0], value, rtol=1e-12)
            np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)
        else:  # a residual variance underflowing to 0: a failed step, not an exception
            assert code != 0 and not np.isfinite(logp[0])
