"""The collapsed (marginal) Gaussian likelihood: patient effects integrated out analytically.

For patient i with design X_i (n_i x p), random-effect design Z_i = the first q columns of
X_i, scores y_i and effective coefficients b_i = beta + (u_t, 0) (fixed effects plus the
therapist's effects on the first q_t coefficients)::

    y_i | b_i ~ N(X_i b_i, V_i),       V_i = Z_i Sigma Z_i' + sigma^2 I
    M_i       = sigma^2 Sigma^-1 + Z_i'Z_i                          (q x q)
    r'V^-1 r  = (r'r - (Z'r)' M_i^-1 (Z'r)) / sigma^2                (Woodbury)
    log|V_i|  = (n_i - q) log sigma^2 + log|Sigma| + log|M_i|        (determinant lemma)
    r'r       = y'y - 2 b'X'y + b'X'X b,     Z'r = Z'y - Z'X b

so each patient needs only n_i, X_i'X_i, X_i'y_i and y_i'y_i, computed once. The q x q
inverses and determinants (q <= 3) are written out in closed form, entry by entry, so the
same code runs on NumPy arrays and PyTensor tensors, vectorised over patients.

Given the parameters, the patient effects have the exact conditional
``v_i | y ~ N(M_i^-1 Z_i'r_i, sigma^2 M_i^-1)``, used after sampling and by ``predict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SufficientStatistics",
    "conditional_effects",
    "draw_conditional_effects",
    "marginal_loglik",
    "small_det_inv",
    "sufficient_statistics",
]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class SufficientStatistics:
    """Per-patient sums: ``n`` (N,), ``xtx`` (N, p, p), ``xty`` (N, p), ``yty`` (N,)."""

    n: np.ndarray
    xtx: np.ndarray
    xty: np.ndarray
    yty: np.ndarray


def sufficient_statistics(
    x: np.ndarray, y: np.ndarray, patient_index: np.ndarray, n_patients: int
) -> SufficientStatistics:
    """Per-patient n, X'X, X'y and y'y from long arrays (one row per observed session).

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    >>> s = sufficient_statistics(x, np.array([3.0, 5.0, 2.0]), np.array([0, 0, 1]), 2)
    >>> s.n.tolist(), s.xty[0].tolist(), s.yty.tolist()
    ([2.0, 1.0], [8.0, 5.0], [34.0, 4.0])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    idx = np.asarray(patient_index, dtype=np.int64)
    p = x.shape[1]
    n = np.bincount(idx, minlength=n_patients).astype(float)
    yty = np.bincount(idx, weights=y * y, minlength=n_patients)
    xty = np.column_stack(
        [np.bincount(idx, weights=x[:, a] * y, minlength=n_patients) for a in range(p)]
    ).reshape(n_patients, p)
    xtx = np.empty((n_patients, p, p))
    for a in range(p):
        for b in range(a, p):
            col = np.bincount(idx, weights=x[:, a] * x[:, b], minlength=n_patients)
            xtx[:, a, b] = col
            xtx[:, b, a] = col
    return SufficientStatistics(n=n, xtx=xtx, xty=xty, yty=yty)


def small_det_inv(a: list[list]) -> tuple[object, list[list]]:
    """Determinant and inverse of a symmetric 1x1, 2x2 or 3x3 matrix given by its entries.

    ``a[i][j]`` may be floats, NumPy arrays or PyTensor tensors of any (common) batch
    shape; only ``+ - * /`` are used, so the result is vectorised over the batch.

    Examples
    --------
    >>> det, inv = small_det_inv([[2.0, 1.0], [1.0, 3.0]])
    >>> det, inv[0][0], inv[0][1]
    (5.0, 0.6, -0.2)
    """
    q = len(a)
    if q == 1:
        return a[0][0], [[1.0 / a[0][0]]]
    if q == 2:
        det = a[0][0] * a[1][1] - a[0][1] * a[0][1]
        off = -a[0][1] / det
        return det, [[a[1][1] / det, off], [off, a[0][0] / det]]
    if q == 3:
        c00 = a[1][1] * a[2][2] - a[1][2] * a[1][2]
        c01 = a[0][2] * a[1][2] - a[0][1] * a[2][2]
        c02 = a[0][1] * a[1][2] - a[1][1] * a[0][2]
        c11 = a[0][0] * a[2][2] - a[0][2] * a[0][2]
        c12 = a[0][1] * a[0][2] - a[0][0] * a[1][2]
        c22 = a[0][0] * a[1][1] - a[0][1] * a[0][1]
        det = a[0][0] * c00 + a[0][1] * c01 + a[0][2] * c02
        inv = [[c00 / det, c01 / det, c02 / det],
               [c01 / det, c11 / det, c12 / det],
               [c02 / det, c12 / det, c22 / det]]
        return det, inv
    raise ValueError(f"closed-form inverse is written for 1x1 to 3x3 matrices, not {q}x{q}")


def _residual_moments(b, xtx, xty, yty, q: int):  # noqa: ANN001, ANN202
    """r'r (N,) and Z'r entries (list of q arrays) for coefficients b (..., N, p)."""
    xtx_b = (xtx * b[..., None, :]).sum(-1)  # (..., N, p)
    rtr = yty - 2.0 * (b * xty).sum(-1) + (b * xtx_b).sum(-1)
    ztr = [xty[..., k] - xtx_b[..., k] for k in range(q)]
    return rtr, ztr


def marginal_loglik(b, sigma, sigma_v: list[list], stats: dict, q: int):  # noqa: ANN001, ANN201
    """Total log-likelihood of all patients with their random effects integrated out.

    Parameters
    ----------
    b : tensor (N, p)
        Each patient's coefficients: fixed effects plus its therapist's effects.
    sigma : scalar tensor
        Residual SD.
    sigma_v : list of lists
        Entries of the q x q patient-effect covariance (scalars).
    stats : dict
        ``n``, ``xtx``, ``xty``, ``yty`` as tensors (see :func:`sufficient_statistics`).
    q : int
        Number of patient random effects (the first q columns of X).

    Returns
    -------
    scalar tensor
        Works with PyTensor (for sampling) and NumPy (for tests) alike.
    """
    n, xtx, xty, yty = stats["n"], stats["xtx"], stats["xty"], stats["yty"]
    s2 = sigma * sigma
    det_s, inv_s = small_det_inv(sigma_v)
    m = [[s2 * inv_s[i][j] + xtx[..., i, j] for j in range(q)] for i in range(q)]
    det_m, inv_m = small_det_inv(m)
    rtr, ztr = _residual_moments(b, xtx, xty, yty, q)
    quad = 0.0
    for i in range(q):
        quad = quad + inv_m[i][i] * ztr[i] * ztr[i]
        for j in range(i + 1, q):
            quad = quad + 2.0 * inv_m[i][j] * ztr[i] * ztr[j]
    log = np.log if isinstance(s2, float | np.ndarray | np.floating) else _pt_log
    logdet_v = (n - q) * log(s2) + log(det_s) + log(det_m)
    per_patient = n * _LOG_2PI + logdet_v + (rtr - quad) / s2
    return -0.5 * per_patient.sum()


def _pt_log(x):  # noqa: ANN001, ANN202
    import pytensor.tensor as pt

    return pt.log(x)


def conditional_effects(
    b: np.ndarray, sigma: np.ndarray, sigma_v: np.ndarray, stats: SufficientStatistics, q: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of each patient's effects given the data and the parameters.

    Parameters
    ----------
    b : array (S, N, p)
        Coefficients per draw and patient (fixed effects plus therapist effects).
    sigma : array (S,)
        Residual SD per draw.
    sigma_v : array (S, q, q)
        Prior covariance of the patient effects per draw (for a patient of an unknown
        therapist, pass the sum of the patient and therapist covariances).
    stats : SufficientStatistics
        The patients' sufficient statistics.
    q : int
        Number of random effects.

    Returns
    -------
    mean : array (S, N, q)
    cov : array (S, N, q, q)

    Examples
    --------
    >>> x = np.ones((2, 1)); s = sufficient_statistics(x, np.array([4.0, 6.0]), np.zeros(2, int), 1)
    >>> mean, cov = conditional_effects(np.zeros((1, 1, 1)), np.array([1.0]),
    ...                                 np.array([[[1.0]]]), s, 1)
    >>> round(float(mean[0, 0, 0]), 12), round(float(cov[0, 0, 0, 0]), 12)  # 10/3, 1/3
    (3.333333333333, 0.333333333333)
    """
    s2 = (np.asarray(sigma, dtype=float) ** 2)[:, None, None, None]
    inv_s = np.linalg.inv(sigma_v)[:, None, :, :]  # (S, 1, q, q)
    m = s2 * inv_s + stats.xtx[None, :, :q, :q]
    m_inv = np.linalg.inv(m)
    _, ztr = _residual_moments(b, stats.xtx[None], stats.xty[None], stats.yty[None], q)
    ztr = np.stack(ztr, axis=-1)  # (S, N, q)
    mean = np.einsum("snij,snj->sni", m_inv, ztr)
    return mean, s2 * m_inv


def _effects_kernel():  # noqa: ANN202
    """The per-(draw, patient) conditional draw, compiled once with numba (cached on disk)."""
    import numba

    @numba.njit(cache=True, fastmath=False)
    def kernel(beta, u, tidx, sigma, inv_sv, xtx, xty, z, out):  # noqa: ANN001, ANN202
        n_s, n_p, q = z.shape
        p = beta.shape[1]
        q_t = u.shape[2]
        b = np.empty(p)
        m = np.empty((q, q))
        r = np.empty(q)
        for s in range(n_s):
            s2 = sigma[s] * sigma[s]
            for i in range(n_p):
                for k in range(p):
                    b[k] = beta[s, k]
                for k in range(q_t):
                    b[k] += u[s, tidx[i], k]
                for a in range(q):
                    acc = xty[i, a]
                    for k in range(p):
                        acc -= xtx[i, a, k] * b[k]
                    r[a] = acc
                    for c in range(q):
                        m[a, c] = s2 * inv_sv[s, a, c] + xtx[i, a, c]
                # Cholesky M = L L' in place (lower triangle of m)
                for a in range(q):
                    for c in range(a + 1):
                        acc = m[a, c]
                        for k in range(c):
                            acc -= m[a, k] * m[c, k]
                        m[a, c] = np.sqrt(acc) if a == c else acc / m[c, c]
                # mean = M^-1 r (two triangular solves); noise = sigma * L'^-1 z
                for a in range(q):
                    acc = r[a]
                    for k in range(a):
                        acc -= m[a, k] * r[k]
                    r[a] = acc / m[a, a]
                for a in range(q - 1, -1, -1):
                    acc = r[a] + sigma[s] * z[s, i, a]
                    for k in range(a + 1, q):
                        acc -= m[k, a] * out[s, i, k]
                    out[s, i, a] = acc / m[a, a]

    return kernel


_KERNEL: list = []


def draw_conditional_effects(
    beta: np.ndarray,
    therapist_effect: np.ndarray | None,
    therapist_index: np.ndarray | None,
    sigma: np.ndarray,
    sigma_v: np.ndarray,
    stats: SufficientStatistics,
    q: int,
    *,
    rng: np.random.Generator,
    chunk: int = 4_000_000,
) -> np.ndarray:
    """One draw of every patient's effects from their exact conditional, per posterior draw.

    ``v_i = M_i^-1 Z_i'r_i + sigma L_i'^-1 z`` with ``M_i = L_i L_i'`` and standard normal
    z, i.e. a draw from ``N(M_i^-1 Z_i'r_i, sigma^2 M_i^-1)``. The loop over draws and
    patients is compiled with numba: millions of tiny q x q problems are far faster in
    one fused loop than as batched NumPy/LAPACK calls.

    Parameters
    ----------
    beta : array (S, p)
        Fixed effects per draw.
    therapist_effect : array (S, T, q_t) or None
        Therapist effects per draw (added to the first q_t coefficients).
    therapist_index : array (N,) or None
        Each patient's therapist.
    sigma, sigma_v, stats, q
        As in :func:`conditional_effects`.
    rng : numpy.random.Generator
        Source of the standard normals (drawn in chunks of about ``chunk`` values).

    Returns
    -------
    array (S, N, q)
    """
    if not _KERNEL:
        _KERNEL.append(_effects_kernel())
    kernel = _KERNEL[0]
    n_draws, n_patients = len(sigma), stats.n.shape[0]
    if therapist_effect is None:
        therapist_effect = np.zeros((n_draws, 1, 0))
        therapist_index = np.zeros(n_patients, dtype=np.int64)
    inv_sv = np.linalg.inv(sigma_v)
    out = np.empty((n_draws, n_patients, q))
    step = max(1, chunk // max(n_patients * q, 1))
    xtx = np.ascontiguousarray(stats.xtx)
    xty = np.ascontiguousarray(stats.xty)
    tidx = np.ascontiguousarray(therapist_index, dtype=np.int64)
    for start in range(0, n_draws, step):
        stop = min(n_draws, start + step)
        z = rng.standard_normal((stop - start, n_patients, q))
        part = np.empty((stop - start, n_patients, q))
        kernel(np.ascontiguousarray(beta[start:stop], dtype=float),
               np.ascontiguousarray(therapist_effect[start:stop], dtype=float), tidx,
               np.ascontiguousarray(sigma[start:stop], dtype=float),
               np.ascontiguousarray(inv_sv[start:stop]), xtx, xty, z, part)
        out[start:stop] = part
    return out
