"""The collapsed likelihood and the conditional patient effects against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from trajectories.marginal import (
    conditional_effects,
    marginal_loglik,
    small_det_inv,
    sufficient_statistics,
)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_small_det_inv_matches_numpy(q: int, rng: np.random.Generator) -> None:
    a = rng.normal(size=(q, q))
    a = a @ a.T + q * np.eye(q)
    det, inv = small_det_inv(a.tolist())
    np.testing.assert_allclose(det, np.linalg.det(a), rtol=1e-10)
    np.testing.assert_allclose(np.array(inv, dtype=float), np.linalg.inv(a), rtol=1e-10)


def _problem(rng: np.random.Generator, q: int):  # noqa: ANN202
    n_pat, p = 7, 4
    sizes = rng.integers(1, 6, size=n_pat)  # includes patients with fewer rows than q
    idx = np.repeat(np.arange(n_pat), sizes)
    s = np.concatenate([np.arange(k) for k in sizes]).astype(float)
    x = np.column_stack([np.ones_like(s), np.log1p(s), s**2 / 10, rng.normal(size=s.size)])
    y = rng.normal(20, 5, size=s.size)
    b = rng.normal(size=(n_pat, p))
    a = rng.normal(size=(q, q))
    cov = a @ a.T + np.eye(q)
    return x, y, idx, n_pat, b, cov


@pytest.mark.parametrize("q", [1, 2, 3])
def test_marginal_loglik_equals_multivariate_normal(q: int, rng: np.random.Generator) -> None:
    x, y, idx, n_pat, b, cov = _problem(rng, q)
    sigma = 1.7
    stats = sufficient_statistics(x, y, idx, n_pat)
    fast = marginal_loglik(b, sigma, cov.tolist(),
                           {k: getattr(stats, k) for k in ("n", "xtx", "xty", "yty")}, q)
    brute = 0.0
    for i in range(n_pat):
        xi, yi = x[idx == i], y[idx == i]
        zi = xi[:, :q]
        v = zi @ cov @ zi.T + sigma**2 * np.eye(len(yi))
        brute += multivariate_normal(xi @ b[i], v).logpdf(yi)
    np.testing.assert_allclose(fast, brute, rtol=1e-10)


def test_conditional_effects_equal_gaussian_conditioning(rng: np.random.Generator) -> None:
    q = 2
    x, y, idx, n_pat, b, cov = _problem(rng, q)
    sigma = 2.3
    stats = sufficient_statistics(x, y, idx, n_pat)
    mean, c = conditional_effects(b[None], np.array([sigma]), cov[None], stats, q)
    for i in range(n_pat):
        xi, yi = x[idx == i], y[idx == i]
        zi = xi[:, :q]
        v = zi @ cov @ zi.T + sigma**2 * np.eye(len(yi))
        gain = cov @ zi.T @ np.linalg.inv(v)
        np.testing.assert_allclose(mean[0, i], gain @ (yi - xi @ b[i]), rtol=1e-9)
        np.testing.assert_allclose(c[0, i], cov - gain @ zi @ cov, rtol=1e-9, atol=1e-12)
