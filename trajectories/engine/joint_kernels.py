"""Machine code of the joint growth–dropout model, compiled once per install.

Like :mod:`.kernels`, every function is ``numba.njit(cache=True)`` and takes the sizes as
run-time arguments: no process and no data set compiles anything. The model and the
coordinates are described in :mod:`.joint_problem`; the algebra is this.

For patient i with coefficients ``b_i = beta + (u_t, 0)`` and ``K_i = G_i / sigma^2`` (``G_i``
the Gram matrix of ``[X y]``), the growth part gives the patient effects the Gaussian
conditional ``v_i | b_i, y_i ~ N(mu_i, A_i^-1)`` with ``A_i = Sigma_v^-1 + K_i[:q, :q] = L L'``,
``mu_i = A_i^-1 c_i``, ``c_i = K_i[:q, :] (-b_i, 1)``, and the marginal log-likelihood::

    l_i = -1/2 [n_i log(2 pi sigma^2) + log|Sigma_v| + log|A_i| + s_i - c_i' mu_i]

with ``s_i = (-b_i, 1)' K_i (-b_i, 1)``. The sampler's coordinate for the patient is the
standard normal ``z_i`` with ``v_i = mu_i + L'^-1 z_i``: the Jacobian cancels the
conditional density, so the growth part in ``z`` is exactly ``N(0, I)`` and only the
dropout likelihood (a few Bernoulli terms per patient) tilts it. The reverse pass for
``v_i = mu_i + L'^-1 z_i`` needs the adjoint of the Cholesky factor (Murray 2016)::

    Abar = sym(L'^-1 Phi(L' Lbar) L^-1),   Phi = lower triangle with half the diagonal

and the rest is the chain rule through ``A_i``, ``c_i`` and ``s_i``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from trajectories.engine.kernels import (
    _chol,
    _chol_inverse,
    _covariance,
    _covariance_adjoint,
    factor_adjoint,
)

_LOG_2PI = float(np.log(2.0 * np.pi))

#: Shared latent terms, as codes in the ``terms`` array (the order of spec.ASSOCIATIONS).
LEVEL, SLOPE, IMPROVEMENT, WORSENING = 0, 1, 2, 3


@nb.njit(cache=True)
def _forward(chol, k, rhs, out):  # noqa: ANN001, ANN202
    """``out = L^-1 rhs``."""
    for a in range(k):
        s = rhs[a]
        for c in range(a):
            s -= chol[a, c] * out[c]
        out[a] = s / chol[a, a]


@nb.njit(cache=True)
def _backward(chol, k, rhs, out):  # noqa: ANN001, ANN202
    """``out = L'^-1 rhs``."""
    for a in range(k - 1, -1, -1):
        s = rhs[a]
        for c in range(a + 1, k):
            s -= chol[c, a] * out[c]
        out[a] = s / chol[a, a]


@nb.njit(cache=True)
def _hazard_terms(eta, event, link):  # noqa: ANN001, ANN202
    """Bernoulli log-likelihood of one risk-set row and its derivative in eta."""
    if link == 0:  # logit
        if eta > 0:
            e = np.exp(-eta)
            log1pexp = eta + np.log1p(e)
            prob = 1.0 / (1.0 + e)
        else:
            e = np.exp(eta)
            log1pexp = np.log1p(e)
            prob = e / (1.0 + e)
        return event * eta - log1pexp, event - prob
    # cloglog: h = 1 - exp(-exp(eta))
    ee = np.exp(eta)
    if event > 0.5:
        h = -np.expm1(-ee)
        return np.log(h), ee * np.exp(-ee) / h
    return -ee, -ee


@nb.njit(cache=True)
def _feature(kind, value, sign, s_y, centre):  # noqa: ANN001, ANN202
    """Make a shared term from a latent value and its derivative in that value."""
    if kind == LEVEL:
        return sign * (value - centre) / s_y, sign / s_y
    if kind == SLOPE:
        return sign * value / s_y, sign / s_y
    worse = sign * value / s_y
    if kind == WORSENING:
        return (worse, sign / s_y) if worse > 0.0 else (0.0, 0.0)
    return (-worse, -sign / s_y) if worse < 0.0 else (0.0, 0.0)


@nb.njit(cache=True, nogil=True)
def joint_log_density(theta, grad, gram, n_obs, therapist, q, q_t, correlated, prior_mean,
                      prior_prec, scale_v, scale_u, consts, offsets, row_patient, row_bin,
                      row_event, row_x, row_w, latent, terms, link, centring):  # noqa: ANN001, ANN201
    """Log posterior density (up to a constant) of the joint model and its gradient.

    Arrays are laid out with the patients (or risk-set rows) last, so that every inner
    loop runs over patients or rows: ``gram`` (m, m, N), ``latent`` (3, p, R) holding the
    design rows of the latent level, rate and change at each risk-set row, ``row_x``
    (n_x, R). ``consts`` = (residual_scale, lkj_eta, baseline_centre, baseline_sd, coef_sd,
    therapist_dropout_scale, sign, score_sd, score_mean); ``offsets`` = start of
    (therapist covariance, beta, z_u, z_v, baseline, gamma, association, therapist dropout,
    end); ``row_w`` is the row's therapist for the dropout effect (-1: none).
    """
    d = theta.shape[0]
    for j in range(d):
        grad[j] = 0.0
    m, _, n = gram.shape
    p = m - 1
    n_rows = row_patient.shape[0]
    o_u, o_b, o_zu, o_zv, o_base, o_g, o_a, o_w, o_end = offsets
    n_t = (o_zv - o_zu) // q_t if q_t > 0 else 0
    sign, s_y, centre = consts[6], consts[7], consts[8]
    # ---- variance parameters
    sigma = np.exp(theta[0])
    s2 = sigma * sigma
    sd_v = np.empty(3)
    pc_v = np.zeros(3)
    chol_v = np.zeros((3, 3))
    cov_v = np.zeros((3, 3))
    _covariance(theta, 1, q, correlated, sd_v, pc_v, chol_v, cov_v)
    work = np.zeros((3, 3))
    logdet_v = _chol(cov_v, q, work)
    if not np.isfinite(logdet_v):
        return -np.inf
    prec_v = np.zeros((3, 3))
    _chol_inverse(work, q, prec_v)
    sd_u = np.empty(3)
    pc_u = np.zeros(3)
    chol_u = np.zeros((3, 3))
    cov_u = np.zeros((3, 3))
    fac_u = np.zeros((3, 3))
    if q_t > 0:
        _covariance(theta, o_u, q_t, correlated, sd_u, pc_u, chol_u, cov_u)
        for a in range(q_t):
            for b in range(q_t):
                fac_u[a, b] = sd_u[a] * chol_u[a, b]
    u = np.zeros((3, max(n_t, 1)))
    for t in range(n_t):
        for a in range(q_t):
            s = 0.0
            for b in range(a + 1):
                s += fac_u[a, b] * theta[o_zu + t * q_t + b]
            u[a, t] = s
    # ---- forward, patients last: coefficients, conditional moments, effects
    coef = np.empty((max(p, 1), n))
    for a in range(p):
        for i in range(n):
            coef[a, i] = theta[o_b + a]
    if q_t > 0:
        for a in range(q_t):
            for i in range(n):
                t = therapist[i]
                if t >= 0:
                    coef[a, i] += u[a, t]
    inv_s2 = 1.0 / s2
    chol = np.zeros((3, 3, n))
    logdet_a = np.zeros(n)
    for a in range(q):
        for b in range(a + 1):
            for i in range(n):
                s = prec_v[a, b] + gram[a, b, i] * inv_s2
                for c in range(b):
                    s -= chol[a, c, i] * chol[b, c, i]
                if a == b:
                    r = np.sqrt(s)
                    chol[a, a, i] = r
                    logdet_a[i] += 2.0 * np.log(r)
                else:
                    chol[a, b, i] = s / chol[b, b, i]
    for i in range(n):
        if not np.isfinite(logdet_a[i]):
            return -np.inf
    kb = np.zeros((m, n))  # K (-b, 1): its first q entries are c_i
    for a in range(m):
        for i in range(n):
            kb[a, i] = gram[a, p, i]
        for b in range(p):
            for i in range(n):
                kb[a, i] -= gram[a, b, i] * coef[b, i]
        for i in range(n):
            kb[a, i] *= inv_s2
    quad = np.empty(n)
    for i in range(n):
        quad[i] = kb[p, i]
    for b in range(p):
        for i in range(n):
            quad[i] -= coef[b, i] * kb[b, i]
    y = np.zeros((3, n))
    mu = np.zeros((3, n))
    wv = np.zeros((3, n))
    _solve_lower(chol, q, kb, y)  # y = L^-1 c
    _solve_upper(chol, q, y, mu)  # mu = A^-1 c
    zv = np.empty((3, n))
    for a in range(q):
        for i in range(n):
            zv[a, i] = theta[o_zv + i * q + a]
    _solve_upper(chol, q, zv, wv)  # w = L'^-1 z
    logp = 0.0
    for i in range(n):
        cmu = 0.0
        zz = 0.0
        for a in range(q):
            cmu += y[a, i] * y[a, i]
            zz += zv[a, i] * zv[a, i]
        logp -= 0.5 * (n_obs[i] * (_LOG_2PI + 2.0 * theta[0]) + logdet_v + logdet_a[i]
                       + quad[i] - cmu + zz)
    for a in range(q):
        for i in range(n):
            grad[o_zv + i * q + a] -= zv[a, i]
    # total coefficients: beta + u_t, plus v_i on the first q
    total = np.empty((max(p, 1), n))
    for a in range(p):
        for i in range(n):
            total[a, i] = coef[a, i]
    for a in range(q):
        for i in range(n):
            total[a, i] += mu[a, i] + wv[a, i]
    # ---- the dropout hazard, rows last
    n_w = o_end - o_w - 1 if o_end > o_w else 0
    sd_w = np.exp(theta[o_w]) if n_w > 0 else 0.0
    n_a = o_w - o_a
    n_x = o_a - o_g
    vals = np.zeros((3, n_rows))
    need = np.zeros(3, dtype=np.bool_)
    for j in range(n_a):
        need[0 if terms[j] == LEVEL else (1 if terms[j] == SLOPE else 2)] = True
    for k in range(3):
        if need[k]:
            for a in range(p):
                for r in range(n_rows):
                    vals[k, r] += latent[k, a, r] * total[a, row_patient[r]]
    eta = np.empty(n_rows)
    for r in range(n_rows):
        eta[r] = theta[o_base + row_bin[r]]
    for j in range(n_x):
        gj = theta[o_g + j]
        for r in range(n_rows):
            eta[r] += gj * row_x[j, r]
    if n_w > 0:
        for r in range(n_rows):
            if row_w[r] >= 0:
                eta[r] += sd_w * theta[o_w + 1 + row_w[r]]
    feat = np.empty((max(n_a, 1), n_rows))
    dfeat = np.empty((max(n_a, 1), n_rows))
    for j in range(n_a):
        kind = terms[j]
        src = 0 if kind == LEVEL else (1 if kind == SLOPE else 2)
        aj = theta[o_a + j]
        for r in range(n_rows):
            f, df = _feature(kind, vals[src, r], sign, s_y, centre)
            f -= centring[row_bin[r], j]
            feat[j, r] = f
            dfeat[j, r] = df
            eta[r] += aj * f
    ebar = np.empty(n_rows)
    for r in range(n_rows):
        ll, eb = _hazard_terms(eta[r], row_event[r], link)
        logp += ll
        ebar[r] = eb
    for r in range(n_rows):
        grad[o_base + row_bin[r]] += ebar[r]
    for j in range(n_x):
        s = 0.0
        for r in range(n_rows):
            s += ebar[r] * row_x[j, r]
        grad[o_g + j] += s
    wbar_sd = 0.0
    if n_w > 0:
        for r in range(n_rows):
            if row_w[r] >= 0:
                zw = theta[o_w + 1 + row_w[r]]
                grad[o_w + 1 + row_w[r]] += ebar[r] * sd_w
                wbar_sd += ebar[r] * zw
    vbs = np.zeros((3, n_rows))
    for j in range(n_a):
        kind = terms[j]
        src = 0 if kind == LEVEL else (1 if kind == SLOPE else 2)
        aj = theta[o_a + j]
        s = 0.0
        for r in range(n_rows):
            s += ebar[r] * feat[j, r]
            vbs[src, r] += ebar[r] * aj * dfeat[j, r]
        grad[o_a + j] += s
    tbar = np.zeros((max(p, 1), n))
    for k in range(3):
        if need[k]:
            for a in range(p):
                for r in range(n_rows):
                    tbar[a, row_patient[r]] += vbs[k, r] * latent[k, a, r]
    # ---- reverse through each patient's conditional (vbar = tbar[:q], cbar = tbar)
    h = np.zeros((3, n))
    g = np.zeros((3, n))
    _solve_lower(chol, q, tbar, h)  # h = L^-1 vbar: the z adjoint
    _solve_upper(chol, q, h, g)  # g = A^-1 vbar
    for a in range(q):
        for i in range(n):
            grad[o_zv + i * q + a] += h[a, i]
    linv = np.zeros((3, 3, n))  # L^-1, lower
    for a in range(q):
        for i in range(n):
            linv[a, a, i] = 1.0 / chol[a, a, i]
        for b in range(a):
            for i in range(n):
                s = 0.0
                for c in range(b, a):
                    s += chol[a, c, i] * linv[c, b, i]
                linv[a, b, i] = -s * linv[a, a, i]
    phi = np.zeros((3, 3, n))  # Phi(L' Lbar) with Lbar = lower(-w h')
    for a in range(q):
        for b in range(a + 1):
            for i in range(n):
                s = 0.0
                for e in range(a, q):
                    s -= chol[e, a, i] * wv[e, i]
                phi[a, b, i] = s * h[b, i] * (0.5 if a == b else 1.0)
    sigma_bar = 0.0  # d/d sigma^2
    pbar = np.zeros((3, 3))
    abar = np.zeros((3, 3, n))
    for a in range(q):
        for b in range(q):
            for i in range(n):
                ainv = 0.0
                sab = 0.0
                sba = 0.0
                for e in range(max(a, b), q):
                    ainv += linv[e, a, i] * linv[e, b, i]
                for e in range(q):
                    for f in range(e + 1):
                        pe = phi[e, f, i]
                        sab += linv[e, a, i] * pe * linv[f, b, i]
                        sba += linv[e, b, i] * pe * linv[f, a, i]
                val = (-0.5 * ainv - 0.5 * mu[a, i] * mu[b, i]
                       - 0.5 * (g[a, i] * mu[b, i] + mu[a, i] * g[b, i]) + 0.5 * (sab + sba))
                abar[a, b, i] = val
                pbar[a, b] += val
    # sigma^2: sum of Kbar * K over the entries each quantity reads
    kk = np.zeros(n)
    ctil = np.zeros((3, n))
    for a in range(q):
        for i in range(n):
            ctil[a, i] = mu[a, i] + g[a, i]
            kk[i] += ctil[a, i] * kb[a, i] * s2
        for b in range(q):
            for i in range(n):
                kk[i] += abar[a, b, i] * gram[a, b, i]
    for i in range(n):
        kk[i] -= 0.5 * quad[i] * s2
        sigma_bar += -kk[i] * inv_s2 * inv_s2 - 0.5 * n_obs[i] * inv_s2
    # coefficients: cbar = tbar - bbar, bbar_b = sum_a<q G[a, b] ctil_a / s2 - kb_b
    for b in range(p):
        for i in range(n):
            s = -kb[b, i]
            for a in range(q):
                s += gram[a, b, i] * ctil[a, i] * inv_s2
            tbar[b, i] -= s
    # ---- beta, therapist effects
    for a in range(p):
        s = 0.0
        for i in range(n):
            s += tbar[a, i]
        dev = theta[o_b + a] - prior_mean[a]
        logp -= 0.5 * prior_prec[a] * dev * dev
        grad[o_b + a] += s - prior_prec[a] * dev
    if q_t > 0:
        ubar = np.zeros((3, max(n_t, 1)))
        for a in range(q_t):
            for i in range(n):
                t = therapist[i]
                if t >= 0:
                    ubar[a, t] += tbar[a, i]
        fbar = np.zeros((3, 3))
        for t in range(n_t):
            for a in range(q_t):
                for b in range(a + 1):
                    zt = theta[o_zu + t * q_t + b]
                    grad[o_zu + t * q_t + b] += fac_u[a, b] * ubar[a, t]
                    fbar[a, b] += ubar[a, t] * zt
            for b in range(q_t):
                zt = theta[o_zu + t * q_t + b]
                logp -= 0.5 * zt * zt
                grad[o_zu + t * q_t + b] -= zt
        logp += factor_adjoint(theta, o_u, q_t, correlated, sd_u, pc_u, chol_u, fbar,
                                scale_u, consts[1], grad)
    # ---- patient covariance: Sigma_v-bar = -P Pbar P - n P / 2 (the log|Sigma_v| terms)
    gcov = np.zeros((3, 3))
    for a in range(q):
        for b in range(q):
            s = -0.5 * n * prec_v[a, b]
            for e in range(q):
                for f in range(q):
                    s -= prec_v[a, e] * pbar[e, f] * prec_v[f, b]
            gcov[a, b] = s
    lp, _ = _covariance_adjoint(theta, 1, q, correlated, sd_v, pc_v, chol_v, gcov, scale_v,
                                consts[1], grad)
    logp += lp
    z = sigma / consts[0]
    logp += -0.5 * z * z + theta[0]
    grad[0] += sigma_bar * 2.0 * s2 - z * z + 1.0
    # ---- priors of the hazard
    for j in range(o_base, o_g):  # the prior is on baseline = theta - sum_k a_k centring
        base = theta[j]
        for k in range(n_a):
            base -= theta[o_a + k] * centring[j - o_base, k]
        dev = (base - consts[2]) / consts[3]
        logp -= 0.5 * dev * dev
        grad[j] -= dev / consts[3]
        for k in range(n_a):
            grad[o_a + k] += dev / consts[3] * centring[j - o_base, k]
    for j in range(o_g, o_w):
        dev = theta[j] / consts[4]
        logp -= 0.5 * dev * dev
        grad[j] -= dev / consts[4]
    if n_w > 0:
        zw = sd_w / consts[5]
        logp += -0.5 * zw * zw + theta[o_w]
        grad[o_w] += wbar_sd * sd_w - zw * zw + 1.0
        for j in range(o_w + 1, o_end):
            logp -= 0.5 * theta[j] * theta[j]
            grad[j] -= theta[j]
    return logp


@nb.njit(cache=True)
def _solve_lower(chol, k, rhs, out):  # noqa: ANN001, ANN202
    """``out[:, i] = L_i^-1 rhs[:k, i]`` for every patient i (patients last)."""
    n = out.shape[1]
    for a in range(k):
        for i in range(n):
            s = rhs[a, i]
            for c in range(a):
                s -= chol[a, c, i] * out[c, i]
            out[a, i] = s / chol[a, a, i]


@nb.njit(cache=True)
def _solve_upper(chol, k, rhs, out):  # noqa: ANN001, ANN202
    """``out[:, i] = L_i'^-1 rhs[:k, i]``."""
    n = out.shape[1]
    for a in range(k - 1, -1, -1):
        for i in range(n):
            s = rhs[a, i]
            for c in range(a + 1, k):
                s -= chol[c, a, i] * out[c, i]
            out[a, i] = s / chol[a, a, i]
