"""The collapsed Gaussian growth model: every Gaussian effect integrated out analytically.

For session j of patient i seen by therapist t (DESIGN.md, "The statistical model")::

    y_ij = x_ij'beta + z_ij'(u_t + v_i) + e_ij,   v_i ~ N(0, Sigma_v), u_t ~ N(0, Sigma_u),
    beta ~ N(mu, diag(s^2)),   e_i ~ N(0, sigma^2 R_i)

with R_i the identity, or the AR(1) correlation ``rho^|j - k|`` over the patient's
consecutive observed sessions. Integrating v (per patient), then u (per therapist), then
beta leaves a marginal likelihood of the variance parameters alone; each step is the same
Woodbury/determinant-lemma operator on small Gram matrices (:mod:`.kernels`), so a
log-density and its exact gradient cost O(patients) and involve only per-patient sums
``[X y]'[X y]`` computed once per data set. NUTS then explores only the residual SD, the
random-effect SDs and correlations (and rho): about 5-15 numbers whatever the data size.
Afterwards beta, u and v are drawn from their exact Gaussian conditionals for every
posterior draw, so the result is a draw from the same joint posterior as the latent model.

:class:`CollapsedProblem` holds the arrays of one data set; its :meth:`~CollapsedProblem.
log_density` is what the sampler calls. Nothing here compiles per data set (the kernels are
compiled once per install and cached on disk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from trajectories.engine import kernels
from trajectories.engine.machine import address, header_of, machine_model

__all__ = ["CollapsedProblem", "GramSizes", "gram_matrices"]


def gram_matrices(x: np.ndarray, y: np.ndarray, patient_index: np.ndarray, n_patients: int,
                  *, ar: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-patient Gram matrices of ``[X y]``: plain, and the two AR(1) parts.

    Rows must be in session order within each patient. ``G0 = sum_j w_j w_j'``;
    ``GD = sum_j c_j w_j w_j'`` with ``c_j`` the number of neighbouring observations (0-2);
    ``GL = sum_j (w_j w_{j+1}' + w_{j+1} w_j')`` over consecutive observations. Then
    ``[X y]'R^-1[X y] = G0 + (rho^2 GD - rho GL) / (1 - rho^2)`` for the AR(1) correlation R.
    Without ``ar`` the AR parts are empty arrays.

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([1.0, 2.0, 4.0])
    >>> g0, gd, gl = gram_matrices(x, y, np.array([0, 0, 1]), 2, ar=True)
    >>> g0[0].tolist(), gd[0].tolist(), float(gl[0][1, 1])
    ([[2.0, 3.0], [3.0, 5.0]], [[2.0, 3.0], [3.0, 5.0]], 4.0)
    """
    w = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    idx = np.asarray(patient_index, dtype=np.int64)
    m = w.shape[1]

    def accumulate(a: np.ndarray, b: np.ndarray, where: np.ndarray,
                   weight: np.ndarray | None = None, both: bool = False) -> np.ndarray:
        out = np.zeros((n_patients, m, m))
        for i in range(m):
            for j in range(i, m):
                prod = a[:, i] * b[:, j] + (a[:, j] * b[:, i] if both else 0.0)
                if weight is not None:
                    prod = prod * weight
                out[:, i, j] = np.bincount(where, weights=prod, minlength=n_patients)
                out[:, j, i] = out[:, i, j]
        return out

    g0 = accumulate(w, w, idx)
    if not ar:
        empty = np.zeros((0, m, m))
        return g0, empty, empty
    same = idx[1:] == idx[:-1]
    neighbours = np.zeros(len(idx))
    neighbours[1:] += same
    neighbours[:-1] += same
    gd = accumulate(w, w, idx, weight=neighbours)
    pairs = np.flatnonzero(same)
    gl = accumulate(w[pairs], w[pairs + 1], idx[pairs], both=True)
    return g0, gd, gl


class GramSizes:
    """Sizes of a problem built on per-patient Gram matrices ``gram`` (N, p + 1, p + 1).

    Examples
    --------
    >>> problem = small_fit.design.collapsed()  # a CollapsedProblem is a GramSizes
    >>> problem.n_patients, problem.n_fixed  # intercept, slope, treatment
    (100, 3)
    """

    gram: np.ndarray
    correlated: bool

    @property
    def n_patients(self) -> int:
        """Number of patients N."""
        return self.gram.shape[0]

    @property
    def n_fixed(self) -> int:
        """Number of fixed effects p."""
        return self.gram.shape[1] - 1

    def _n_corr(self, k: int) -> int:
        return k * (k - 1) // 2 if self.correlated else 0


@dataclass(frozen=True, eq=False)
class CollapsedProblem(GramSizes):
    """The arrays and prior constants of one collapsed fit.

    Parameters
    ----------
    gram, gram_d, gram_l : arrays (N, m, m)
        :func:`gram_matrices` of ``[X y]`` (m = number of fixed effects + 1).
    n_obs : array (N,)
        Observed scores per patient.
    therapist : int array (N,)
        Each patient's therapist (0..T-1), or -1 for a patient without a therapist effect.
    n_therapists : int
        T (0 for a two-level model).
    q, q_t : int
        Patient and therapist random effects, on the first q / q_t columns of X.
    correlated : bool
        LKJ-correlated effects at each level (independent otherwise).
    ar : bool
        AR(1) residuals.
    prior_mean, prior_sd : arrays (p,)
        Normal prior of the fixed effects.
    scale_v, scale_u : arrays (q,), (q_t,)
        Half-normal prior scales of the patient and therapist effect SDs.
    residual_scale : float
        Half-normal prior scale of the residual SD.
    eta : float
        LKJ shape of both correlation matrices.
    ar_eta : float
        ``(rho + 1) / 2 ~ Beta(ar_eta, ar_eta)`` (1: uniform).

    Examples
    --------
    >>> problem = small_fit.design.collapsed()
    >>> problem.gram.shape  # 100 patients, [X y] with 3 fixed effects
    (100, 4, 4)
    >>> value, grad = problem.log_density(problem.initial_point(1))
    >>> bool(np.isfinite(value)), grad.shape == (problem.ndim,)
    (True, True)
    """

    gram: np.ndarray
    gram_d: np.ndarray
    gram_l: np.ndarray
    n_obs: np.ndarray
    therapist: np.ndarray
    n_therapists: int
    q: int
    q_t: int
    correlated: bool
    ar: bool
    prior_mean: np.ndarray
    prior_sd: np.ndarray
    scale_v: np.ndarray
    scale_u: np.ndarray
    residual_scale: float
    eta: float
    ar_eta: float = 1.0

    def __post_init__(self) -> None:
        for name in ("gram", "gram_d", "gram_l", "n_obs", "prior_mean", "prior_sd",
                     "scale_v", "scale_u"):
            object.__setattr__(self, name,
                               np.ascontiguousarray(getattr(self, name), dtype=np.float64))
        object.__setattr__(self, "therapist",
                           np.ascontiguousarray(self.therapist, dtype=np.int64))
        if not 1 <= self.q <= 3 or not 0 <= self.q_t <= 3:
            raise ValueError(f"the collapsed model has 1-3 patient and 0-3 therapist effects, "
                             f"got {self.q} and {self.q_t}")
        if self.q_t and self.n_therapists == 0:
            object.__setattr__(self, "q_t", 0)
        object.__setattr__(self, "_kernel_args", (
            self.gram, self.gram_d, self.gram_l, self.n_obs, self.therapist,
            self.n_therapists, self.q, self.q_t, self.correlated, self.correlated, self.ar,
            self.prior_mean, 1.0 / self.prior_sd**2, self.scale_v, self.scale_u,
            float(self.residual_scale), float(self.eta), float(self.ar_eta)))

    # ---------------------------------------------------------------- coordinates
    @property
    def ndim(self) -> int:
        """Dimension of the space the sampler explores."""
        return (1 + self.q + self._n_corr(self.q) + self.q_t + self._n_corr(self.q_t)
                + int(self.ar))

    def initial_point(self, seed: int) -> np.ndarray:
        """Make a jittered start: SDs at half their prior scale, correlations near 0."""
        rng = np.random.default_rng(seed)
        parts = [np.log([0.5 * self.residual_scale]),
                 np.log(0.5 * self.scale_v), np.zeros(self._n_corr(self.q))]
        if self.q_t:
            parts += [np.log(0.5 * self.scale_u), np.zeros(self._n_corr(self.q_t))]
        if self.ar:
            parts.append(np.zeros(1))
        start = np.concatenate(parts)
        return start + rng.uniform(-0.5, 0.5, size=start.shape)

    # ---------------------------------------------------------------- density
    def log_density(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density on R^d (up to a constant) and its gradient.

        Examples
        --------
        >>> prob = CollapsedProblem(
        ...     gram=np.array([[[2.0, 3.0], [3.0, 5.0]]]), gram_d=np.zeros((0, 2, 2)),
        ...     gram_l=np.zeros((0, 2, 2)), n_obs=np.array([2.0]), therapist=np.array([-1]),
        ...     n_therapists=0, q=1, q_t=0, correlated=True, ar=False,
        ...     prior_mean=np.array([0.0]), prior_sd=np.array([10.0]), scale_v=np.array([1.0]),
        ...     scale_u=np.zeros(0), residual_scale=1.0, eta=2.0)
        >>> value, grad = prob.log_density(np.zeros(prob.ndim))
        >>> bool(np.isfinite(value)), grad.shape
        (True, (2,))
        """
        grad = np.empty(theta.shape[0])
        # The kernels use NumPy's error model: a variance that underflows to 0 (e.g. log
        # residual SD -400 early in warm-up) gives -inf or NaN, never an exception that
        # would abort the sampler (and, through nutpie, the whole process).
        value = kernels.log_density(theta, grad, *self._kernel_args)
        if not np.isfinite(value):
            grad[:] = 0.0
            return -np.inf, grad
        return float(value), grad

    def machine_model(self) -> object:
        """Wrap the problem as a nutpie model calling :func:`_logp_callback`.

        The sampler calls machine code directly, with no Python (and no interpreter lock) per
        gradient (:mod:`trajectories.engine.machine`).
        """
        a = self._kernel_args
        consts = np.array([a[15], a[16], a[17]], dtype=np.float64)
        header, keep = header_of(
            [self.gram, self.gram_d, self.gram_l, self.n_obs, self.therapist, a[11], a[12],
             self.scale_v, self.scale_u, consts],
            [self.n_patients, self.gram.shape[1], self.gram_d.shape[0], self.n_therapists,
             self.q, self.q_t, int(self.correlated), int(self.ar)])
        return machine_model(_logp_callback, header, keep, self.ndim,
                             self.initial_point)

    # ---------------------------------------------------------------- results
    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained values of draws ``theta`` (S, d).

        Returns ``sigma`` (S,), ``cov_v``/``corr_v`` (S, q, q), ``cov_u``/``corr_u``
        (S, q_t, q_t) and ``rho`` (S,; zeros without AR).
        """
        theta = np.ascontiguousarray(np.atleast_2d(theta), dtype=np.float64)
        n_s = theta.shape[0]
        out = {"sigma": np.empty(n_s), "cov_v": np.empty((n_s, self.q, self.q)),
               "corr_v": np.empty((n_s, self.q, self.q)),
               "cov_u": np.zeros((n_s, self.q_t, self.q_t)),
               "corr_u": np.zeros((n_s, self.q_t, self.q_t)), "rho": np.zeros(n_s)}
        kernels.unpack(theta, self.q, self.q_t, self.correlated, self.correlated, self.ar,
                       out["sigma"], out["cov_v"], out["cov_u"], out["corr_v"], out["corr_u"],
                       out["rho"])
        return out

    def draw_effects(self, values: dict[str, np.ndarray], rng: np.random.Generator,
                     *, chunk: int = 4_000_000) -> dict[str, np.ndarray]:
        """Draw beta (S, p), u (S, T, q_t) and v (S, N, q) from their exact conditionals.

        Exact conditional draws of beta (S, p), u (S, T, q_t) and v (S, N, q), and each patient's
        marginal log-likelihood given the drawn beta and u (S, N).

        ``values`` is :meth:`unpack` output. Standard normals come from ``rng`` in chunks
        of about ``chunk`` numbers, so memory stays bounded on large data.
        """
        n_s = len(values["sigma"])
        n, p = self.n_patients, self.n_fixed
        t, q, q_t = self.n_therapists if self.q_t else 0, self.q, self.q_t
        beta = np.empty((n_s, p))
        u = np.zeros((n_s, t, q_t))
        v = np.empty((n_s, n, q))
        loglik = np.empty((n_s, n))
        step = max(1, chunk // max(n * q + t * q_t + p, 1))
        for lo in range(0, n_s, step):
            hi = min(n_s, lo + step)
            k = hi - lo
            z_b, z_t, z_p = (rng.standard_normal((k, p)), rng.standard_normal((k, t, q_t)),
                             rng.standard_normal((k, n, q)))
            ok = kernels.draw_effects(
                values["sigma"][lo:hi], np.ascontiguousarray(values["cov_v"][lo:hi]),
                np.ascontiguousarray(values["cov_u"][lo:hi]), values["rho"][lo:hi], self.ar,
                self.gram, self.gram_d, self.gram_l, self.n_obs, self.therapist, t, q, q_t,
                self.prior_mean, 1.0 / self.prior_sd**2, z_b, z_t, z_p, beta[lo:hi],
                u[lo:hi], v[lo:hi], loglik[lo:hi])
            if not ok:
                raise FloatingPointError("a posterior draw has a covariance matrix that is not "
                                         "positive definite")
        return {"beta": beta, "u": u, "v": v, "loglik": loglik}

    def patient_loglik(self, beta: np.ndarray, u: np.ndarray | None, sigma: np.ndarray,
                       cov_v: np.ndarray, rho: np.ndarray | None = None) -> np.ndarray:
        """Compute each patient's marginal log-likelihood per draw, (S, N).

        See :func:`.kernels.patient_loglik` (the pointwise log-likelihood for LOO).
        """
        n_s = len(sigma)
        u = np.zeros((n_s, 0, 0)) if u is None else np.ascontiguousarray(u, dtype=float)
        rho = np.zeros(n_s) if rho is None else np.ascontiguousarray(rho, dtype=float)
        out = np.empty((n_s, self.n_patients))
        kernels.patient_loglik(np.ascontiguousarray(beta, dtype=float), u, self.therapist,
                               np.ascontiguousarray(sigma, dtype=float),
                               np.ascontiguousarray(cov_v, dtype=float), rho, self.ar,
                               self.gram, self.gram_d, self.gram_l, self.n_obs, self.q, out)
        return out


def _logp_callback(dim, x_, grad_, logp_, user_):  # noqa: ANN001, ANN202
    """Nutpie's C callback for :func:`.kernels.log_density`.

    The data come through the header of :meth:`CollapsedProblem.machine_model` (10 addresses, then 8
    sizes and flags).
    """
    h = nb.carray(user_, (18,), np.int64)
    n, m, n_ar, n_t, q, q_t = h[10], h[11], h[12], h[13], h[14], h[15]
    p = m - 1
    grad = nb.carray(grad_, (dim,))
    consts = nb.carray(address(h[9]), (3,), np.float64)
    value = kernels.log_density(
        nb.carray(x_, (dim,)), grad,
        nb.carray(address(h[0]), (n, m, m), np.float64),
        nb.carray(address(h[1]), (n_ar, m, m), np.float64),
        nb.carray(address(h[2]), (n_ar, m, m), np.float64),
        nb.carray(address(h[3]), (n,), np.float64),
        nb.carray(address(h[4]), (n,), np.int64), n_t, q, q_t, h[16] == 1, h[16] == 1,
        h[17] == 1, nb.carray(address(h[5]), (p,), np.float64),
        nb.carray(address(h[6]), (p,), np.float64),
        nb.carray(address(h[7]), (q,), np.float64),
        nb.carray(address(h[8]), (q_t,), np.float64), consts[0], consts[1], consts[2])
    nb.carray(logp_, (1,))[0] = value
    if not np.isfinite(value):
        for j in range(dim):
            grad[j] = 0.0
        return 4  # nutpie: the log-density failed here (a divergent step)
    return 0
