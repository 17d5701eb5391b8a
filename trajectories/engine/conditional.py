"""Patient effects through their exact conditional, as a PyTensor graph.

For given coefficients ``b_i`` (fixed effects plus the patient's therapist effects) and
variance parameters, the growth model gives each patient's effects the Gaussian
conditional ``v_i | b_i, y_i ~ N(A_i^-1 c_i, A_i^-1)`` with ``A_i = Sigma_v^-1 + Z_i'Z_i /
sigma^2 = L_i L_i'``. Writing ``v_i = A_i^-1 c_i + L_i'^-1 z_i`` with ``z_i ~ N(0, I)`` and
adding the patient's marginal log-likelihood ``log p(y_i | b_i, theta)`` gives the same
posterior as the latent model, but in coordinates where the growth part is exactly standard
normal however informative each patient's data are: only what is added to the model (a
dropout likelihood) tilts it. This is the PyMC form of the joint model's parametrisation;
the sampler itself uses the machine code of :mod:`.joint_kernels`, whose density equals
this graph's (tested).

Everything works on per-patient Gram matrices ``G_i = [X y]'[X y]``; small k x k
factorisations are unrolled into elementwise operations over patients.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

__all__ = ["conditional_patient_effects"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _cholesky(a, k: int) -> list[list]:  # noqa: ANN001
    """Lower Cholesky factor of the trailing k x k block of ``a`` as nested lists."""
    chol: list[list] = [[None] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1):
            s = a[..., i, j]
            for c in range(j):
                s = s - chol[i][c] * chol[j][c]
            chol[i][j] = pt.sqrt(s) if i == j else s / chol[j][j]
    return chol


def _forward(chol: list[list], rhs: list) -> list:
    out: list = []
    for i in range(len(chol)):
        s = rhs[i]
        for c in range(i):
            s = s - chol[i][c] * out[c]
        out.append(s / chol[i][i])
    return out


def _backward(chol: list[list], rhs: list) -> list:
    k = len(chol)
    out: list = [None] * k
    for i in range(k - 1, -1, -1):
        s = rhs[i]
        for c in range(i + 1, k):
            s = s - chol[c][i] * out[c]
        out[i] = s / chol[i][i]
    return out


def _precision(factor, k: int) -> tuple:  # noqa: ANN001
    """``(Sigma^-1, log|Sigma|)`` from the lower-triangular factor ``F`` of ``Sigma = F F'``."""
    inv: list[list] = [[pt.zeros(()) for _ in range(k)] for _ in range(k)]
    for i in range(k):
        inv[i][i] = 1.0 / factor[i, i]
        for j in range(i):
            inv[i][j] = -sum(factor[i, c] * inv[c][j] for c in range(j, i)) / factor[i, i]
    prec = pt.stack([pt.stack([sum(inv[c][i] * inv[c][j] for c in range(k))
                               for j in range(k)]) for i in range(k)])
    return prec, 2.0 * sum(pt.log(factor[i, i]) for i in range(k))


def conditional_patient_effects(gram, n_obs, sigma, factor_v, coef, z_patient,  # noqa: ANN001
                                *, q: int) -> tuple:
    """Patient effects from standard normals through their conditional, and the marginal.

    Parameters
    ----------
    gram : tensor (N, m, m)
        Per-patient Gram matrices of ``[X y]`` (m = p + 1).
    n_obs : tensor (N,)
        Observed scores per patient.
    sigma : scalar tensor
        Residual SD.
    factor_v : tensor (q, q)
        Lower-triangular factor ``diag(sd) L`` of the patient-effect covariance.
    coef : tensor (N, p)
        Each patient's coefficients: fixed effects plus its therapist's effects.
    z_patient : tensor (N, q)
        Standard normals.
    q : int
        Patient effects, on the first q columns of X.

    Returns
    -------
    tuple
        ``(patient_effect (N, q), loglik)`` with ``loglik`` the sum over patients of
        ``log p(y_i | b_i, theta)`` (patient effects integrated out).

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> problem = small_fit.design.collapsed()
    >>> effect, loglik = conditional_patient_effects(
    ...     pt.as_tensor(problem.gram), pt.as_tensor(problem.n_obs), pt.as_tensor(5.0),
    ...     pt.as_tensor(np.diag([8.0, 3.0])), pt.as_tensor(np.tile([20.0, -4.0, 0.0], (100, 1))),
    ...     pt.as_tensor(np.zeros((100, 2))), q=2)
    >>> effect.eval().shape, bool(np.isfinite(loglik.eval()))
    ((100, 2), True)
    """
    kmat = gram / sigma**2
    p = kmat.shape[-1] - 1
    prec, logdet_v = _precision(factor_v, q)
    chol = _cholesky(kmat[:, :q, :q] + prec, q)
    # c = K[:q, :] (-b, 1), s = (-b, 1)' K (-b, 1)
    kb = kmat[:, :, p] - (kmat[:, :, :p] * coef[:, None, :]).sum(-1)  # K (-b, 1)
    quad = kb[:, p] - (kb[:, :p] * coef).sum(-1)
    y = _forward(chol, [kb[:, j] for j in range(q)])
    v = pt.stack(_backward(chol, [yj + z_patient[:, j] for j, yj in enumerate(y)]), axis=-1)
    logdet_a = 2.0 * sum(pt.log(chol[i][i]) for i in range(q))
    loglik = -0.5 * pt.sum(n_obs * (_LOG_2PI + 2.0 * pt.log(sigma)) + logdet_v + logdet_a
                           + quad - sum(yj**2 for yj in y))
    return v, loglik
