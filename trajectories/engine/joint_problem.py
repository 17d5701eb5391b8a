"""The joint growth–dropout model as machine code: the arrays of one fit and their density.

The model (:mod:`trajectories.joint`) is the growth model of :mod:`.collapsed` plus a
discrete-time dropout hazard whose linear predictor includes each patient's latent
severity and change. The sampler explores, on R^d:

- ``log residual_sd``; per level (patients, therapists) ``log sd`` of each effect and
  ``atanh`` of each partial correlation (LKJ through a C-vine, as in :mod:`.kernels`);
- the fixed effects ``beta`` and the therapists' standard normals ``z_u``
  (``u_t = F_u z_t``);
- each patient's standard normal ``z_i`` with ``v_i = mu_i + L_i'^-1 z_i``, relative to the
  exact Gaussian conditional of the patient's effects given beta, u and its scores (see
  :mod:`.joint_kernels`): the growth part in these coordinates is exactly N(0, I), so the
  geometry stays nearly isotropic whatever the data;
- the hazard's baseline per session bin, coefficients of observed predictors, association
  coefficients of the shared latent terms, and ``log sd`` plus standard normals of the
  therapist effects on dropout.

The log-density and gradient (:func:`.joint_kernels.joint_log_density`) are compiled once
per install; nothing compiles per data set. After sampling, :meth:`JointProblem.
refresh_effects` refreshes every patient's effects by an independence Metropolis–Hastings
kernel that leaves their exact conditional invariant (proposals from the Gaussian growth
conditional, accepted by the ratio of dropout likelihoods): each draw of the patient
effects is then nearly independent of the previous one, as on the collapsed fast path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from trajectories.engine import joint_kernels as jk
from trajectories.engine import kernels
from trajectories.engine.collapsed import GramSizes
from trajectories.engine.machine import address, header_of, machine_model

__all__ = ["JointProblem"]

_TERM_CODES = {"level": jk.LEVEL, "slope": jk.SLOPE, "improvement": jk.IMPROVEMENT,
               "worsening": jk.WORSENING}


@dataclass(frozen=True, eq=False)
class JointProblem(GramSizes):
    """Arrays and prior constants of one joint growth–dropout fit.

    Parameters
    ----------
    gram : array (N, m, m)
        Per-patient Gram matrices of ``[X y]`` (m = number of fixed effects + 1).
    n_obs : array (N,)
        Observed scores per patient.
    therapist : int array (N,)
        Each patient's therapist for the growth effects (0..T-1), or -1 for none.
    n_therapists : int
        T (0 without therapist effects on growth).
    q, q_t : int
        Patient and therapist effects (first q / q_t columns of X).
    correlated : bool
        LKJ-correlated effects at each level.
    prior_mean, prior_sd : arrays (p,)
        Normal prior of the fixed effects.
    scale_v, scale_u : arrays
        Half-normal prior scales of the effect SDs.
    residual_scale, eta : float
        Half-normal scale of the residual SD; LKJ shape.
    row_patient, row_bin, row_event : arrays (R,)
        Risk-set rows: patient index, baseline bin, 1 = dropped out after this session.
    row_x : array (R, n_x)
        Observed predictors and covariates of the hazard (standardised).
    row_therapist : int array (R,)
        Therapist of the row for the dropout effect (-1: none).
    latent : array (3, R, p)
        Design rows of the latent level, rate of change and change since intake at each row.
    terms : tuple of str
        Shared latent terms (``level``, ``slope``, ``improvement``, ``worsening``).
    link : {"logit", "cloglog"}
    n_bins : int
        Baseline bins.
    n_dropout_therapists : int
        Therapists with a dropout effect (0: none).
    baseline_centre, baseline_sd, coef_sd, therapist_dropout_scale : float
        Hazard priors.
    sign, score_sd, score_mean : float
        Orientation and standardisation of the latent terms.

    Examples
    --------
    >>> from trajectories.design import make_design
    >>> from trajectories.joint_fit import joint_hazard_design, joint_problem
    >>> from trajectories.spec import DropoutSpec, GrowthSpec
    >>> design = make_design(GrowthSpec(time="log"), small_data)
    >>> prob = joint_problem(design, joint_hazard_design(DropoutSpec(), small_data), small_data)
    >>> prob.n_patients, prob.ndim
    (100, 212)
    >>> bool(np.isfinite(prob.log_density(prob.initial_point(1))[0]))
    True
    """

    gram: np.ndarray
    n_obs: np.ndarray
    therapist: np.ndarray
    n_therapists: int
    q: int
    q_t: int
    correlated: bool
    prior_mean: np.ndarray
    prior_sd: np.ndarray
    scale_v: np.ndarray
    scale_u: np.ndarray
    residual_scale: float
    eta: float
    row_patient: np.ndarray
    row_bin: np.ndarray
    row_event: np.ndarray
    row_x: np.ndarray
    row_therapist: np.ndarray
    latent: np.ndarray
    terms: tuple[str, ...]
    link: str
    n_bins: int
    n_dropout_therapists: int
    baseline_centre: float
    baseline_sd: float
    coef_sd: float
    therapist_dropout_scale: float
    sign: float
    score_sd: float
    score_mean: float
    centring: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.centring is None:
            object.__setattr__(self, "centring", np.zeros((self.n_bins, len(self.terms))))
        floats = ("gram", "n_obs", "prior_mean", "prior_sd", "scale_v", "scale_u",
                  "row_event", "row_x", "latent", "centring")
        for name in floats:
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name),
                                                                dtype=np.float64))
        for name in ("therapist", "row_patient", "row_bin", "row_therapist"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name),
                                                                dtype=np.int64))
        if not 1 <= self.q <= 3 or not 0 <= self.q_t <= 3:
            raise ValueError(f"the joint model has 1-3 patient and 0-3 therapist effects, got "
                             f"{self.q} and {self.q_t}")
        if self.q_t and self.n_therapists == 0:
            object.__setattr__(self, "q_t", 0)
        if self.row_x.ndim != 2 or self.row_x.shape[0] != len(self.row_patient):
            raise ValueError("row_x must have one row per risk-set row")
        codes = np.array([_TERM_CODES[t] for t in self.terms], dtype=np.int64)
        consts = np.array([self.residual_scale, self.eta, self.baseline_centre,
                           self.baseline_sd, self.coef_sd, self.therapist_dropout_scale,
                           self.sign, self.score_sd, self.score_mean], dtype=np.float64)
        object.__setattr__(self, "_codes", codes)
        # the kernel wants patients and rows last (its inner loops run over them)
        last = [np.ascontiguousarray(a) for a in (self.gram.transpose(1, 2, 0),
                                                  self.latent.transpose(0, 2, 1),
                                                  self.row_x.T)]
        object.__setattr__(self, "_args", (
            last[0], self.n_obs, self.therapist, self.q, self.q_t, self.correlated,
            self.prior_mean, 1.0 / self.prior_sd**2, self.scale_v, self.scale_u, consts,
            self.offsets, self.row_patient, self.row_bin, self.row_event, last[2],
            self.row_therapist, last[1], codes, 0 if self.link == "logit" else 1,
            self.centring))

    # ---------------------------------------------------------------- coordinates
    @property
    def offsets(self) -> np.ndarray:
        """Start of each block of the coordinates.

        The blocks are therapist covariance, beta, z_u, z_v, baseline, observed coefficients,
        associations, therapist dropout, and the end.
        """
        o_u = 1 + self.q + self._n_corr(self.q)
        o_b = o_u + (self.q_t + self._n_corr(self.q_t) if self.q_t else 0)
        o_zu = o_b + self.n_fixed
        o_zv = o_zu + self.n_therapists * self.q_t
        o_base = o_zv + self.n_patients * self.q
        o_g = o_base + self.n_bins
        o_a = o_g + self.row_x.shape[1]
        o_w = o_a + len(self.terms)
        end = o_w + (1 + self.n_dropout_therapists if self.n_dropout_therapists else 0)
        return np.array([o_u, o_b, o_zu, o_zv, o_base, o_g, o_a, o_w, end], dtype=np.int64)

    @property
    def ndim(self) -> int:
        """Dimension of the space the sampler explores."""
        return int(self.offsets[-1])

    def initial_point(self, seed: int) -> np.ndarray:
        """Make a jittered start.

        SDs at half their prior scale, beta at its prior mean, the standard normals and coefficients
        near 0, the baseline at the overall rate.
        """
        rng = np.random.default_rng(seed)
        o = self.offsets
        start = np.zeros(self.ndim)
        start[0] = np.log(0.5 * self.residual_scale)
        start[1: 1 + self.q] = np.log(0.5 * self.scale_v)
        if self.q_t:
            start[o[0]: o[0] + self.q_t] = np.log(0.5 * self.scale_u)
        start[o[1]: o[2]] = self.prior_mean
        start[o[4]: o[5]] = self.baseline_centre
        if self.n_dropout_therapists:
            start[o[7]] = np.log(0.5 * self.therapist_dropout_scale)
        jitter = rng.uniform(-0.5, 0.5, size=self.ndim)
        jitter[o[1]: o[2]] *= 0.1 * self.prior_sd  # beta: a small step on its own scale
        return start + jitter

    # ---------------------------------------------------------------- density
    def log_density(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density on R^d (up to a constant) and its gradient."""
        grad = np.empty(theta.shape[0])
        value = jk.joint_log_density(np.ascontiguousarray(theta, dtype=np.float64), grad,
                                     *self._args)
        return float(value), grad

    def machine_model(self) -> object:
        """Wrap the problem as a nutpie model calling :func:`_logp_callback`.

        No Python per gradient; see :mod:`.machine`.
        """
        a = self._args
        header, keep = header_of(
            [a[0], a[1], a[2], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14],
             a[15], a[16], a[17], a[18], a[20]],
            [self.n_patients, self.gram.shape[1], len(self.row_patient), self.row_x.shape[1],
             self.q, self.q_t, int(self.correlated), a[19], len(self.terms), self.n_bins])
        return machine_model(_logp_callback, header, keep, self.ndim,
                             self.initial_point)

    # ---------------------------------------------------------------- results
    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Named values of draws ``theta`` (S, d).

        ``sigma`` (S,), ``cov_v``/``corr_v`` (S, q, q), ``cov_u``/``corr_u``, ``beta``
        (S, p), ``u`` (S, T, q_t), ``z`` (S, N, q: the sampler's standard normals of the
        patient effects, ``v = mu + L'^-1 z``; see :meth:`refresh_effects`),
        ``baseline`` (S, bins), ``gamma``, ``association``, ``therapist_dropout_sd`` (S,)
        and ``therapist_dropout_effect`` (S, T_w).
        """
        theta = np.ascontiguousarray(np.atleast_2d(theta), dtype=np.float64)
        n_s, o = theta.shape[0], self.offsets
        out = {"sigma": np.empty(n_s), "cov_v": np.empty((n_s, self.q, self.q)),
               "corr_v": np.empty((n_s, self.q, self.q)),
               "cov_u": np.zeros((n_s, self.q_t, self.q_t)),
               "corr_u": np.zeros((n_s, self.q_t, self.q_t)), "rho": np.zeros(n_s)}
        head = np.concatenate([theta[:, : o[1]], np.zeros((n_s, 0))], axis=1)
        kernels.unpack(head, self.q, self.q_t, self.correlated, self.correlated, False,
                       out["sigma"], out["cov_v"], out["cov_u"], out["corr_v"], out["corr_u"],
                       out["rho"])
        out["beta"] = theta[:, o[1]: o[2]].copy()
        z_u = theta[:, o[2]: o[3]].reshape(n_s, self.n_therapists, self.q_t)
        if self.q_t:
            fac = np.linalg.cholesky(out["cov_u"])
            out["u"] = np.einsum("sab,stb->sta", fac, z_u)
        else:
            out["u"] = np.zeros((n_s, 0, 0))
        out["z"] = theta[:, o[3]: o[4]].reshape(n_s, self.n_patients, self.q).copy()
        out["baseline"] = theta[:, o[4]: o[5]] - theta[:, o[6]: o[7]] @ self.centring.T
        out["gamma"] = theta[:, o[5]: o[6]].copy()
        out["association"] = theta[:, o[6]: o[7]].copy()
        if self.n_dropout_therapists:
            out["therapist_dropout_sd"] = np.exp(theta[:, o[7]])
            out["therapist_dropout_effect"] = (out["therapist_dropout_sd"][:, None]
                                               * theta[:, o[7] + 1: o[8]])
        return out

    def refresh_effects(self, values: dict[str, np.ndarray], rng: np.random.Generator, *,
                        steps: int = 1) -> tuple[np.ndarray, float]:
        """Patient effects refreshed from their exact conditional, per draw.

        For each draw and patient: the sampler's effects ``v = mu + L'^-1 z``, then
        ``steps`` independence Metropolis–Hastings steps with proposals from the Gaussian
        growth conditional, accepted with the ratio of the patient's dropout likelihoods.
        The kernel leaves the conditional of the effects given everything else invariant,
        so draws that start from the sampler's effects stay draws of the joint posterior,
        now almost independent from draw to draw.

        Returns
        -------
        (v, acceptance) : (array (S, N, q), float)
        """
        z = np.ascontiguousarray(values["z"], dtype=np.float64)
        v = np.empty_like(z)
        n_s = z.shape[0]
        w = values.get("therapist_dropout_effect", np.zeros((n_s, 0)))
        accepted = _refresh(
            z, v, np.ascontiguousarray(values["beta"]), np.ascontiguousarray(values["u"]),
            values["sigma"], np.ascontiguousarray(values["cov_v"]),
            np.ascontiguousarray(values["baseline"]), np.ascontiguousarray(values["gamma"]),
            np.ascontiguousarray(values["association"]), np.ascontiguousarray(w), self.gram,
            self.therapist, self.q, self.q_t, self.row_patient, self.row_bin, self.row_event,
            self.row_x, self.row_therapist, self.latent, self._codes,
            0 if self.link == "logit" else 1, self.sign, self.score_sd, self.score_mean,
            steps, rng)
        return v, accepted / max(n_s * self.n_patients * steps, 1)


def _logp_callback(dim, x_, grad_, logp_, user_):  # noqa: ANN001, ANN202
    """Nutpie's C callback: the data of the fit come through the header of addresses."""
    h = nb.carray(user_, (27,), np.int64)
    n, m, r, n_x, q, q_t, link, n_terms, n_bins = (h[17], h[18], h[19], h[20], h[21],
                                                   h[22], h[24], h[25], h[26])
    p = m - 1
    grad = nb.carray(grad_, (dim,))
    value = jk.joint_log_density(
        nb.carray(x_, (dim,)), grad,
        nb.carray(address(h[0]), (m, m, n), np.float64),
        nb.carray(address(h[1]), (n,), np.float64),
        nb.carray(address(h[2]), (n,), np.int64), q, q_t, h[23] == 1,
        nb.carray(address(h[3]), (p,), np.float64),
        nb.carray(address(h[4]), (p,), np.float64),
        nb.carray(address(h[5]), (q,), np.float64),
        nb.carray(address(h[6]), (q_t,), np.float64),
        nb.carray(address(h[7]), (9,), np.float64),
        nb.carray(address(h[8]), (9,), np.int64),
        nb.carray(address(h[9]), (r,), np.int64),
        nb.carray(address(h[10]), (r,), np.int64),
        nb.carray(address(h[11]), (r,), np.float64),
        nb.carray(address(h[12]), (n_x, r), np.float64),
        nb.carray(address(h[13]), (r,), np.int64),
        nb.carray(address(h[14]), (3, p, r), np.float64),
        nb.carray(address(h[15]), (n_terms,), np.int64), link,
        nb.carray(address(h[16]), (n_bins, n_terms), np.float64))
    nb.carray(logp_, (1,))[0] = value
    if not np.isfinite(value):
        for j in range(dim):
            grad[j] = 0.0  # as the growth callback: no half-written gradient reaches nutpie
        return 4  # nutpie: the log-density failed here (a divergent step)
    return 0


@nb.njit(cache=True)
def _moments(i, beta, u, s2, prec, gram, therapist, q, q_t, chol, mu, coef):  # noqa: ANN001, ANN202
    """Conditional mean and precision factor of patient i's effects; coef = beta (+ u_t)."""
    m = gram.shape[1]
    p = m - 1
    for a in range(p):
        coef[a] = beta[a]
    t = therapist[i]
    if q_t > 0 and t >= 0:
        for a in range(q_t):
            coef[a] += u[t, a]
    amat = np.empty((3, 3))
    for a in range(q):
        for b in range(q):
            amat[a, b] = prec[a, b] + gram[i, a, b] / s2
    kernels._chol(amat, q, chol)
    c = np.empty(3)
    for a in range(q):
        s = gram[i, a, p]
        for b in range(p):
            s -= gram[i, a, b] * coef[b]
        c[a] = s / s2
    y = np.empty(3)
    jk._forward(chol, q, c, y)
    jk._backward(chol, q, y, mu)


@nb.njit(cache=True)
def _patient_dropout_loglik(i, start, stop, coef, v, base, gamma, assoc, w, row_bin,
                            row_event, row_x, row_w, latent, codes, link, sign, s_y,
                            centre):  # noqa: ANN001, ANN202
    """Log p(dropout data of patient i | effects v), over its risk-set rows start..stop."""
    p = coef.shape[0]
    q = v.shape[0]
    total = 0.0
    for r in range(start, stop):
        eta = base[row_bin[r]]
        for j in range(gamma.shape[0]):
            eta += gamma[j] * row_x[r, j]
        if w.shape[0] > 0 and row_w[r] >= 0:
            eta += w[row_w[r]]
        for j in range(codes.shape[0]):
            kind = codes[j]
            src = 0 if kind == jk.LEVEL else (1 if kind == jk.SLOPE else 2)
            val = 0.0
            for a in range(p):
                val += latent[src, r, a] * coef[a]
            for a in range(q):
                val += latent[src, r, a] * v[a]
            f, _ = jk._feature(kind, val, sign, s_y, centre)
            eta += assoc[j] * f
        ll, _ = jk._hazard_terms(eta, row_event[r], link)
        total += ll
    return total


@nb.njit(cache=True)
def _refresh(z, v, beta, u, sigma, cov_v, base, gamma, assoc, w, gram, therapist, q, q_t,
             row_patient, row_bin, row_event, row_x, row_w, latent, codes, link, sign, s_y,
             centre, steps, rng):  # noqa: ANN001, ANN202
    n_s, n = v.shape[0], v.shape[1]
    starts = np.full(n + 1, row_patient.shape[0], dtype=np.int64)
    for r in range(row_patient.shape[0] - 1, -1, -1):  # rows are grouped by patient
        starts[row_patient[r]] = r
    for i in range(n - 1, -1, -1):
        if starts[i] > starts[i + 1]:
            starts[i] = starts[i + 1]
    work = np.zeros((3, 3))
    prec = np.zeros((3, 3))
    chol = np.zeros((3, 3))
    mu = np.empty(3)
    noise = np.empty(3)
    step = np.empty(3)
    prop = np.empty(q)
    coef = np.empty(gram.shape[1])
    accepted = 0
    for s in range(n_s):
        kernels._chol(cov_v[s], q, work)
        kernels._chol_inverse(work, q, prec)
        for i in range(n):
            _moments(i, beta[s], u[s], sigma[s] ** 2, prec, gram, therapist, q, q_t, chol,
                     mu, coef)
            jk._backward(chol, q, z[s, i], step)  # the sampler's effects: the start
            for a in range(q):
                v[s, i, a] = mu[a] + step[a]
            a0, a1 = starts[i], starts[i + 1]
            current = _patient_dropout_loglik(i, a0, a1, coef, v[s, i], base[s], gamma[s],
                                              assoc[s], w[s], row_bin, row_event, row_x,
                                              row_w, latent, codes, link, sign, s_y, centre)
            for _ in range(steps):
                for a in range(q):
                    noise[a] = rng.standard_normal()
                jk._backward(chol, q, noise, step)
                for a in range(q):
                    prop[a] = mu[a] + step[a]
                new = _patient_dropout_loglik(i, a0, a1, coef, prop, base[s], gamma[s],
                                              assoc[s], w[s], row_bin, row_event, row_x,
                                              row_w, latent, codes, link, sign, s_y, centre)
                if np.log(rng.random()) < new - current:
                    for a in range(q):
                        v[s, i, a] = prop[a]
                    current = new
                    accepted += 1
    return accepted
