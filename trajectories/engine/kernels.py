"""Machine code of the collapsed Gaussian growth model, compiled once per install.

Every function here is ``numba.njit(cache=True)``: the first process on a new install
compiles it (a few seconds) and writes the machine code next to this file (or under
``NUMBA_CACHE_DIR``); every later process loads it in a fraction of a second, whatever the
data. Nothing is compiled per data set or per model structure: sizes (patients, therapists,
fixed effects, random effects) are run-time arguments. All of the machine code lives in
this one file on purpose: numba invalidates a cached function when *its* source file
changes, not when a function it calls from another file does, so splitting the file could
leave stale machine code after an edit.

The model and the algebra are in :mod:`trajectories.engine.collapsed`. Notation: per patient
the Gram matrix ``G = [X y]'R^-1[X y]`` (m = p + 1 columns; R is the AR(1) correlation or
the identity), ``K = G / sigma^2``. One operator integrates a Gaussian block of effects that
act on the first ``k`` columns with prior precision ``P``::

    A = P + K[:k, :k],   W = K[:, :k] A^-1,   R = K - W K[:k, :],   l = log|A| - log|P|

``R`` is the Gram matrix of the same columns after the block is integrated out (Woodbury)
and ``l`` the log-determinant it adds (determinant lemma). Applied to patients (k = q,
P = Sigma_v^-1), then to the sum over each therapist's patients (k = q_t, P = Sigma_u^-1),
then to the fixed effects (k = p, P = their prior precision), it leaves the Schur complement
``y'V^-1 y`` of the whole marginal likelihood. Its adjoint (reverse-mode derivative) is::

    Kbar = Rbar - (E W'Rbar + Rbar W E') + E C E',   C = W'Rbar W + lbar A^-1
    Pbar = C - lbar P^-1

with E the first k columns of the identity, which gives the exact gradient in O(patients).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_LOG_2PI = float(np.log(2.0 * np.pi))


# ------------------------------------------------------------------ small dense algebra
@nb.njit(cache=True, error_model="numpy")
def _chol(a, n, out):  # noqa: ANN001, ANN202
    """Lower Cholesky factor of ``a[:n, :n]`` into ``out``; log-determinant, NaN if not PD."""
    logdet = 0.0
    for i in range(n):
        for j in range(i + 1):
            s = a[i, j]
            for k in range(j):
                s -= out[i, k] * out[j, k]
            if i == j:
                if not s > 0.0:
                    return np.nan
                out[i, i] = np.sqrt(s)
                logdet += 2.0 * np.log(out[i, i])
            else:
                out[i, j] = s / out[j, j]
        for j in range(i + 1, n):
            out[i, j] = 0.0
    return logdet


@nb.njit(cache=True, error_model="numpy")
def _chol_inverse(chol, n, out):  # noqa: ANN001, ANN202
    """``(L L')^-1`` from the Cholesky factor L."""
    for c in range(n):
        for i in range(n):
            s = 1.0 if i == c else 0.0
            for k in range(i):
                s -= chol[i, k] * out[k, c]
            out[i, c] = s / chol[i, i]
        for i in range(n - 1, -1, -1):
            s = out[i, c]
            for k in range(i + 1, n):
                s -= chol[k, i] * out[k, c]
            out[i, c] = s / chol[i, i]


@nb.njit(cache=True, error_model="numpy")
def _block(kmat, prec, k, work_a, work_l, a_inv, w, r):  # noqa: ANN001, ANN202
    """Apply the block operator on a full symmetric ``kmat``; returns log|A| (NaN if not PD)."""
    m = kmat.shape[0]
    for i in range(k):
        for j in range(k):
            work_a[i, j] = prec[i, j] + kmat[i, j]
    logdet = _chol(work_a, k, work_l)
    if not np.isfinite(logdet):
        return logdet
    _chol_inverse(work_l, k, a_inv)
    for i in range(m):
        for j in range(k):
            s = 0.0
            for c in range(k):
                s += kmat[i, c] * a_inv[c, j]
            w[i, j] = s
    for i in range(m):
        for j in range(i, m):
            s = kmat[i, j]
            for c in range(k):
                s -= w[i, c] * kmat[c, j]
            r[i, j] = s
            r[j, i] = s
    return logdet


@nb.njit(cache=True, error_model="numpy")
def _block_adjoint(rbar, w, a_inv, lbar, k, u, c, kbar):  # noqa: ANN001, ANN202
    """Adjoint of the block operator: ``kbar`` from ``rbar`` (C = W'Rbar W + lbar A^-1)."""
    m = rbar.shape[0]
    for i in range(m):
        for j in range(k):
            s = 0.0
            for b in range(m):
                s += rbar[i, b] * w[b, j]
            u[i, j] = s
    for i in range(k):
        for j in range(k):
            s = lbar * a_inv[i, j]
            for b in range(m):
                s += w[b, i] * u[b, j]
            c[i, j] = s
    for i in range(m):
        for j in range(m):
            kbar[i, j] = rbar[i, j]
    for i in range(m):
        for j in range(k):
            kbar[i, j] -= u[i, j]
            kbar[j, i] -= u[i, j]
    for i in range(k):
        for j in range(k):
            kbar[i, j] += c[i, j]


# ------------------------------------------------------------------ per-patient Gram matrix
@nb.njit(cache=True, error_model="numpy")
def _patient_gram(i, gram, inv_s2, out):  # noqa: ANN001, ANN202
    """``K_i = G_i / sigma^2`` (``gram`` already holds G(rho) for AR(1): :func:`_ar_gram`)."""
    m = gram.shape[1]
    for a in range(m):
        for b in range(m):
            out[a, b] = gram[i, a, b] * inv_s2


# ------------------------------------------------------------------ log-likelihood + gradient
@nb.njit(cache=True, error_model="numpy", nogil=True)
def loglik_and_adjoints(sigma2, sigma_v, sigma_u, rho, has_ar, gram, gram_d, gram_l, n_obs,
                        therapist, n_therapists, q, q_t, prior_mean, prior_prec, g_sigma_v,
                        g_sigma_u):  # noqa: ANN001, ANN201
    """Marginal log-likelihood of all scores and its derivatives.

    Patient effects, therapist effects and fixed effects (with their normal prior) are all
    integrated out. Returns ``(loglik, d/dsigma2, d/drho)``; writes ``d/dSigma_v`` into
    ``g_sigma_v`` and ``d/dSigma_u`` into ``g_sigma_u`` (symmetric-matrix derivatives:
    ``dL = tr(G dSigma)``). ``therapist[i] < 0`` marks a patient without a therapist effect
    (partially nested designs). Returns ``-inf`` when a covariance is not positive definite.
    """
    n, m, _ = gram.shape
    p = m - 1
    kq = max(q, 1)
    kt = max(q_t, 1)
    kmax = max(p, max(q, q_t))
    work_a = np.empty((kmax, kmax))
    work_l = np.empty((kmax, kmax))
    prec_v = np.empty((kq, kq))
    logdet_sv = _chol(sigma_v, q, work_l)
    if not np.isfinite(logdet_sv):
        return -np.inf, 0.0, 0.0
    _chol_inverse(work_l, q, prec_v)
    prec_u = np.zeros((kt, kt))
    logdet_su = 0.0
    if q_t > 0:
        logdet_su = _chol(sigma_u, q_t, work_l)
        if not np.isfinite(logdet_su):
            return -np.inf, 0.0, 0.0
        _chol_inverse(work_l, q_t, prec_u)
    inv_s2 = 1.0 / sigma2
    has_t = q_t > 0 and n_therapists > 0
    n_t = n_therapists if has_t else 0
    # one slot per therapist plus slot n_t for patients without a therapist effect (their
    # reduced Gram matrices go straight to the fixed-effect level); indices, not views,
    # keep the per-patient loop free of array-object creation
    k_grp = np.zeros((n_t + 1, m, m))
    group = np.empty(n, dtype=np.int64)
    w_pat = np.empty((n, m, 3))  # W_i, zero-padded to 3 effects (see _patients_forward)
    a_pat = np.empty((n, 6))  # upper triangle of A_i^-1, zero-padded to 3 x 3
    # ---- level 1: each patient's effects (see _patients_forward). With AR(1) the Gram
    # matrices G(rho) are formed once here, so the per-patient loops have no AR branch
    # (a run-time branch there makes them about three times slower).
    g_eff = _ar_gram(gram, gram_d, gram_l, rho) if has_ar else gram
    logdet_a, n_tot, n_ar = _patients_forward(g_eff, inv_s2, prec_v, therapist, has_t, n_t,
                                              n_obs, q, k_grp, group, w_pat, a_pat)
    if not np.isfinite(logdet_a):
        return -np.inf, 0.0, 0.0
    # ---- level 2: each therapist's effects
    h_tot = np.empty((m, m))
    w_ther = np.empty((max(n_t, 1), m, kt))
    a_ther = np.empty((max(n_t, 1), kt, kt))
    r_mat = np.empty((m, m))
    logdet_at = _therapists_forward(k_grp, n_t, prec_u, q_t, work_a, work_l, a_ther, w_ther,
                                    r_mat, h_tot)
    if not np.isfinite(logdet_at):
        return -np.inf, 0.0, 0.0
    # ---- level 3: fixed effects beta ~ N(mu, diag(1/prec)); shift y by X mu first
    h0 = np.empty((m, m))
    _shift(h_tot, prior_mean, h0)
    prec_b = np.zeros((max(p, 1), max(p, 1)))
    logdet_pb = 0.0
    for a in range(p):
        prec_b[a, a] = prior_prec[a]
        logdet_pb += np.log(prior_prec[a])
    a_b = np.empty((max(p, 1), max(p, 1)))
    w_b = np.empty((m, max(p, 1)))
    logdet_ab = _block(h0, prec_b, p, work_a, work_l, a_b, w_b, r_mat)
    if not np.isfinite(logdet_ab):
        return -np.inf, 0.0, 0.0
    schur = r_mat[p, p]
    loglik = -0.5 * (n_tot * (_LOG_2PI + np.log(sigma2)) + logdet_a + n * logdet_sv
                     + logdet_at + n_t * logdet_su + logdet_ab - logdet_pb + schur)
    if has_ar:
        loglik -= 0.5 * n_ar * np.log(1.0 - rho * rho)
    # ---- reverse pass
    u = np.empty((m, kmax))
    c = np.empty((kmax, kmax))
    rbar = np.zeros((m, m))
    rbar[p, p] = -0.5
    kbar = np.empty((m, m))
    _block_adjoint(rbar, w_b, a_b, -0.5, p, u, c, kbar)
    hbar = np.empty((m, m))
    _unshift(kbar, prior_mean, hbar)
    kbar_grp = np.empty((n_t + 1, m, m))  # slot n_t: patients without a therapist effect
    for a in range(m):
        for b in range(m):
            kbar_grp[n_t, a, b] = hbar[a, b]
    for a in range(kt):
        for b in range(kt):
            g_sigma_u[a, b] = 0.0
    pbar_u = np.zeros((kt, kt))
    for t in range(n_t):
        _block_adjoint(hbar, w_ther[t], a_ther[t], -0.5, q_t, u, c, kbar_grp[t])
        for a in range(q_t):
            for b in range(q_t):
                pbar_u[a, b] += c[a, b] + 0.5 * sigma_u[a, b]
    pbar_v = np.zeros((kq, kq))
    s2bar = -0.5 * n_tot * inv_s2
    c_pat = np.empty((n, 6)) if has_ar else np.empty((0, 6))
    s2bar = _patients_adjoint(g_eff, inv_s2, group, w_pat, a_pat, kbar_grp, pbar_v, s2bar,
                              c_pat)
    rhobar = _rho_adjoint(gram_d, gram_l, rho, inv_s2, group, w_pat, kbar_grp, c_pat) \
        if has_ar else 0.0
    for a in range(q):
        for b in range(q):
            pbar_v[a, b] += 0.5 * n * sigma_v[a, b]  # the -lbar P^-1 term of every patient
    if has_ar:
        rhobar += n_ar * rho / (1.0 - rho * rho)
    _precision_to_cov_adjoint(prec_v, pbar_v, q, g_sigma_v)
    if n_t > 0:
        _precision_to_cov_adjoint(prec_u, pbar_u, q_t, g_sigma_u)
    return loglik, s2bar, rhobar


@nb.njit(cache=True, error_model="numpy")
def _therapists_forward(k_grp, n_t, prec_u, q_t, work_a, work_l, a_ther, w_ther, r_mat,
                        h_tot):  # noqa: ANN001, ANN202
    """Level 2: each therapist's block on the sum of its patients' reduced Gram matrices.

    The reduced Gram matrices are upper triangles from level 1, made symmetric here, added to
    ``h_tot`` together with slot ``n_t`` (patients without a therapist effect). Returns the sum
    of log|A_t|.
    """
    m = k_grp.shape[1]
    for a in range(m):
        for b in range(a, m):
            h_tot[a, b] = k_grp[n_t, a, b]
            h_tot[b, a] = k_grp[n_t, a, b]
    logdet = 0.0
    for t in range(n_t):
        for a in range(m):
            for b in range(a + 1, m):
                k_grp[t, b, a] = k_grp[t, a, b]
        ld = _block(k_grp[t], prec_u, q_t, work_a, work_l, a_ther[t], w_ther[t], r_mat)
        if not np.isfinite(ld):
            return ld
        logdet += ld
        for a in range(m):
            for b in range(m):
                h_tot[a, b] += r_mat[a, b]
    return logdet


@nb.njit(cache=True, error_model="numpy")
def _inverse3(a00, a01, a02, a11, a12, a22, q):  # noqa: ANN001, ANN202
    """Invert the leading q x q block (q <= 3) of a symmetric matrix, with its determinant.

    The inverse is the upper triangle, zero-padded to 3 x 3, all in scalars (registers, not memory).
    """
    if q == 1:
        return a00, 1.0 / a00, 0.0, 0.0, 0.0, 0.0, 0.0
    if q == 2:
        d = a00 * a11 - a01 * a01
        r = 1.0 / d
        return d, a11 * r, -a01 * r, 0.0, a00 * r, 0.0, 0.0
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a11 * a02
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    d = a00 * c00 + a01 * c01 + a02 * c02
    r = 1.0 / d
    return d, c00 * r, c01 * r, c02 * r, c11 * r, c12 * r, c22 * r


@nb.njit(cache=True, error_model="numpy")
def _patients_forward(gram, inv_s2, prec_v, therapist, has_t, n_t, n_obs, q, k_grp, group,
                      w_pat, a_pat):  # noqa: ANN001, ANN202
    """Level 1 of the forward pass: every patient's block, summed into its group's slot.

    The q x q algebra (q <= 3) is written out in scalars, zero-padded to three effects:
    one code path for every q, held in registers (about three times faster than loops
    over a run-time q, whose stores LLVM cannot prove free of aliasing). Stores W_i
    (N, m, 3) and A_i^-1's upper triangle (N, 6) for the reverse pass. Returns (sum of
    log|A_i|, -inf if one is not positive definite; total scores; total AR pairs).
    """
    n, m, _ = gram.shape
    kmat = np.zeros((max(m, 3), max(m, 3)))  # rows/columns past m stay 0 (padding)
    pv = np.zeros((3, 3))
    for a in range(q):
        for b in range(q):
            pv[a, b] = prec_v[a, b]
    n_tot = 0.0
    n_ar = 0.0
    logdet_a = 0.0
    prod = 1.0
    for i in range(n):
        for a in range(m):
            for b in range(m):
                kmat[a, b] = gram[i, a, b] * inv_s2
        det, i00, i01, i02, i11, i12, i22 = _inverse3(
            pv[0, 0] + kmat[0, 0], pv[0, 1] + kmat[0, 1], pv[0, 2] + kmat[0, 2],
            pv[1, 1] + kmat[1, 1], pv[1, 2] + kmat[1, 2], pv[2, 2] + kmat[2, 2], q)
        if not det > 0.0:
            return -np.inf, 0.0, 0.0
        prod *= det
        if (i & 7) == 7:
            logdet_a += np.log(prod)
            prod = 1.0
        a_pat[i, 0] = i00
        a_pat[i, 1] = i01
        a_pat[i, 2] = i02
        a_pat[i, 3] = i11
        a_pat[i, 4] = i12
        a_pat[i, 5] = i22
        t = therapist[i]
        g_i = t if (has_t and t >= 0) else n_t
        group[i] = g_i
        for a in range(m):
            k0, k1, k2 = kmat[a, 0], kmat[a, 1], kmat[a, 2]
            w0 = k0 * i00 + k1 * i01 + k2 * i02
            w1 = k0 * i01 + k1 * i11 + k2 * i12
            w2 = k0 * i02 + k1 * i12 + k2 * i22
            w_pat[i, a, 0] = w0
            w_pat[i, a, 1] = w1
            w_pat[i, a, 2] = w2
            for b in range(a, m):
                k_grp[g_i, a, b] += (kmat[a, b] - w0 * kmat[0, b] - w1 * kmat[1, b]
                                     - w2 * kmat[2, b])
        n_tot += n_obs[i]
        n_ar += n_obs[i] - 1.0
    return logdet_a + np.log(prod), n_tot, n_ar


@nb.njit(cache=True, error_model="numpy")
def _sym_dot(c, x):  # noqa: ANN001, ANN202
    """``sum(C * X[:3, :3])`` for C given by its upper triangle (6,) and symmetric X."""
    return (c[0] * x[0, 0] + c[3] * x[1, 1] + c[5] * x[2, 2]
            + 2.0 * (c[1] * x[0, 1] + c[2] * x[0, 2] + c[4] * x[1, 2]))


@nb.njit(cache=True, error_model="numpy")
def _ar_gram(gram, gram_d, gram_l, rho):  # noqa: ANN001, ANN202
    """``G(rho) = G0 + (rho^2 GD - rho GL) / (1 - rho^2)`` for every patient."""
    f = 1.0 / (1.0 - rho * rho)
    return gram + (rho * rho * gram_d - rho * gram_l) * f


@nb.njit(cache=True, error_model="numpy")
def _patients_adjoint(gram, inv_s2, group, w_pat, a_pat, kbar_grp, pbar_v, s2bar,
                      c_pat):  # noqa: ANN001, ANN202
    """Level 1 of the reverse pass, in the same padded scalars as the forward pass.

    With ``U = Rbar W_i`` and ``C_i = W_i'Rbar W_i - A_i^-1 / 2``: adds C_i to ``pbar_v``
    and returns ``d/dsigma2`` plus ``tr(Kbar_i dK_i)`` with ``dK = -K / sigma^2``, where
    ``tr(Kbar X) = tr(Rbar X) - 2 sum(U * X[:, :3]) + sum(C * X[:3, :3])`` (Kbar_i is never
    formed). Keeps each C_i in ``c_pat`` when it has a row per patient (AR(1): see
    :func:`_rho_adjoint`).
    """
    n, m, _ = gram.shape
    q = pbar_v.shape[0]
    kmat = np.zeros((max(m, 3), max(m, 3)))
    ci = np.empty(6)
    pb = np.zeros(6)
    keep = c_pat.shape[0] == n
    for i in range(n):
        for a in range(m):
            for b in range(m):
                kmat[a, b] = gram[i, a, b] * inv_s2
        for j in range(6):
            ci[j] = -0.5 * a_pat[i, j]
        tr = _adjoint_terms(kbar_grp, group[i], w_pat, i, kmat, m, ci)
        for j in range(6):
            pb[j] += ci[j]
        s2bar -= (tr + _sym_dot(ci, kmat)) * inv_s2
        if keep:
            for j in range(6):
                c_pat[i, j] = ci[j]
    for a in range(q):
        for b in range(a, q):
            j = (0, 3, 5)[a] + b - a
            pbar_v[a, b] += pb[j]
            if b != a:
                pbar_v[b, a] += pb[j]
    return s2bar


@nb.njit(cache=True, error_model="numpy")
def _rho_adjoint(gram_d, gram_l, rho, inv_s2, group, w_pat, kbar_grp, c_pat):  # noqa: ANN001, ANN202
    """Differentiate the patients' part in rho: ``sum_i tr(Kbar_i dK_i/drho)``.

    Here ``dK/drho = (2 rho GD - (1 + rho^2) GL) / (1 - rho^2)^2 / sigma^2``.
    """
    n, m, _ = gram_d.shape
    f = inv_s2 / ((1.0 - rho * rho) * (1.0 - rho * rho))
    dg = np.zeros((max(m, 3), max(m, 3)))
    scratch = np.empty(6)
    out = 0.0
    for i in range(n):
        for a in range(m):
            for b in range(m):
                dg[a, b] = (2.0 * rho * gram_d[i, a, b] - (1.0 + rho * rho) * gram_l[i, a, b]) * f
        out += _adjoint_terms(kbar_grp, group[i], w_pat, i, dg, m, scratch) + _sym_dot(
            c_pat[i], dg)
    return out


@nb.njit(cache=True, error_model="numpy")
def _adjoint_terms(kbar_grp, g_i, w_pat, i, x, m, c):  # noqa: ANN001, ANN202
    """Compute ``tr(Rbar X) - 2 sum(U * X[:, :3])`` with ``U = Rbar W_i``, and ``c += W_i'U``.

    ``c`` is the upper triangle of C_i; it receives garbage when only the trace is wanted.
    """
    tr = 0.0
    for a in range(m):
        u0 = 0.0
        u1 = 0.0
        u2 = 0.0
        for e in range(m):
            rb = kbar_grp[g_i, a, e]
            u0 += rb * w_pat[i, e, 0]
            u1 += rb * w_pat[i, e, 1]
            u2 += rb * w_pat[i, e, 2]
            tr += rb * x[a, e]
        tr -= 2.0 * (u0 * x[a, 0] + u1 * x[a, 1] + u2 * x[a, 2])
        w0, w1, w2 = w_pat[i, a, 0], w_pat[i, a, 1], w_pat[i, a, 2]
        c[0] += w0 * u0
        c[1] += w0 * u1
        c[2] += w0 * u2
        c[3] += w1 * u1
        c[4] += w1 * u2
        c[5] += w2 * u2
    return tr


@nb.njit(cache=True, error_model="numpy")
def _shift(h, mu, out):  # noqa: ANN001, ANN202
    """``T' H T`` with ``T = [[I, -mu], [0, 1]]``: the Gram matrix of ``[X, y - X mu]``."""
    m = h.shape[0]
    p = m - 1
    for a in range(p):
        for b in range(p):
            out[a, b] = h[a, b]
    s_pp = h[p, p]
    for a in range(p):
        s = h[a, p]
        for b in range(p):
            s -= h[a, b] * mu[b]
        out[a, p] = s
        out[p, a] = s
        s_pp -= 2.0 * mu[a] * h[a, p]
        for b in range(p):
            s_pp += mu[a] * h[a, b] * mu[b]
    out[p, p] = s_pp


@nb.njit(cache=True, error_model="numpy")
def _unshift(kbar, mu, out):  # noqa: ANN001, ANN202
    """Adjoint of :func:`_shift`: ``T Kbar T'``."""
    m = kbar.shape[0]
    p = m - 1
    for a in range(m):
        for b in range(m):
            v = kbar[a, b]
            if a < p:
                v -= mu[a] * kbar[p, b]
            if b < p:
                v -= mu[b] * kbar[a, p]
            if a < p and b < p:
                v += mu[a] * mu[b] * kbar[p, p]
            out[a, b] = v


@nb.njit(cache=True, error_model="numpy")
def _precision_to_cov_adjoint(prec, pbar, k, out):  # noqa: ANN001, ANN202
    """``dL/dSigma = -P Pbar P`` for ``P = Sigma^-1``."""
    for a in range(k):
        for b in range(k):
            s = 0.0
            for c in range(k):
                for d in range(k):
                    s += prec[a, c] * pbar[c, d] * prec[d, b]
            out[a, b] = -s


# ------------------------------------------------------------------ parameters on R^d
@nb.njit(cache=True, error_model="numpy")
def _vine(pc, k, chol):  # noqa: ANN001, ANN202
    """Cholesky factor of a k x k correlation matrix (k <= 3) from C-vine partial correlations.

    ``pc`` holds (r12, r13, r23|1) for k = 3 and (r12,) for k = 2; with independent
    ``(r + 1) / 2 ~ Beta(b, b)``, ``b = eta + (k - 1 - level) / 2``, the matrix is LKJ(eta)
    (Lewandowski, Kurowicka & Joe 2009).
    """
    for a in range(k):
        for b in range(k):
            chol[a, b] = 0.0
    chol[0, 0] = 1.0
    if k == 2:
        chol[1, 0] = pc[0]
        chol[1, 1] = np.sqrt(1.0 - pc[0] * pc[0])
    elif k == 3:
        s12 = np.sqrt(1.0 - pc[0] * pc[0])
        s13 = np.sqrt(1.0 - pc[1] * pc[1])
        s23 = np.sqrt(1.0 - pc[2] * pc[2])
        chol[1, 0] = pc[0]
        chol[1, 1] = s12
        chol[2, 0] = pc[1]
        chol[2, 1] = pc[2] * s13
        chol[2, 2] = s13 * s23


@nb.njit(cache=True, error_model="numpy")
def _vine_adjoint(pc, k, lbar, out):  # noqa: ANN001, ANN202
    """Turn derivatives of the factor into those of the partial correlations."""
    if k == 2:
        out[0] = lbar[1, 0] - lbar[1, 1] * pc[0] / np.sqrt(1.0 - pc[0] * pc[0])
    elif k == 3:
        s13 = np.sqrt(1.0 - pc[1] * pc[1])
        s23 = np.sqrt(1.0 - pc[2] * pc[2])
        out[0] = lbar[1, 0] - lbar[1, 1] * pc[0] / np.sqrt(1.0 - pc[0] * pc[0])
        ds13 = -pc[1] / s13
        out[1] = lbar[2, 0] + (lbar[2, 1] * pc[2] + lbar[2, 2] * s23) * ds13
        out[2] = lbar[2, 1] * s13 - lbar[2, 2] * s13 * pc[2] / s23


@nb.njit(cache=True, error_model="numpy")
def _covariance(theta, start, k, correlated, sd, pc, chol, cov):  # noqa: ANN001, ANN202
    """SDs, partial correlations, correlation factor and covariance of one level."""
    for a in range(k):
        sd[a] = np.exp(theta[start + a])
    n_pc = k * (k - 1) // 2 if correlated else 0
    for j in range(n_pc):
        pc[j] = np.tanh(theta[start + k + j])
    if n_pc:
        _vine(pc, k, chol)
    else:
        for a in range(k):
            for b in range(k):
                chol[a, b] = 1.0 if a == b else 0.0
    for a in range(k):
        for b in range(k):
            s = 0.0
            for c in range(k):
                s += chol[a, c] * chol[b, c]
            cov[a, b] = sd[a] * s * sd[b]
    return start + k + n_pc


@nb.njit(cache=True, error_model="numpy")
def _covariance_adjoint(theta, start, k, correlated, sd, pc, chol, gcov, scale, eta,
                        grad):  # noqa: ANN001, ANN202
    """Chain ``dL/dSigma`` to the level's coordinates and add prior + Jacobian terms.

    SDs: ``sd = exp(x)`` with ``sd ~ HalfNormal(scale)``; partial correlations
    ``r = tanh(x)`` with ``(r + 1)/2 ~ Beta(b, b)``; log prior + log Jacobian is
    ``-sd^2 / (2 scale^2) + x`` and ``b log(1 - r^2)``. Returns (log prior, next index).
    """
    # Sigma = F F', F = diag(sd) L: Fbar = 2 Gbar F
    fbar = np.zeros((3, 3))
    for a in range(k):
        for j in range(k):
            s = 0.0
            for b in range(k):
                s += 2.0 * gcov[a, b] * sd[b] * chol[b, j]
            fbar[a, j] = s
    logp = factor_adjoint(theta, start, k, correlated, sd, pc, chol, fbar, scale, eta, grad)
    return logp, start + k + (k * (k - 1) // 2 if correlated else 0)


@nb.njit(cache=True, error_model="numpy")
def factor_adjoint(theta, start, k, correlated, sd, pc, chol, fbar, scale, eta,
                   grad):  # noqa: ANN001, ANN202
    """Chain ``dL/dF`` of a level's factor ``F = diag(sd) L`` to its coordinates.

    It adds the prior + Jacobian terms (see :func:`_covariance_adjoint`) and returns the log prior.
    """
    logp = 0.0
    lbar = np.zeros((3, 3))
    for a in range(k):
        sdbar = 0.0  # sdbar_a = sum_j Fbar_aj L_aj
        for j in range(k):
            sdbar += fbar[a, j] * chol[a, j]
            lbar[a, j] = sd[a] * fbar[a, j]
        z = sd[a] / scale[a]
        logp += -0.5 * z * z + theta[start + a]
        grad[start + a] += sdbar * sd[a] - z * z + 1.0
    n_pc = k * (k - 1) // 2 if correlated else 0
    if n_pc:
        pcbar = np.zeros(3)
        _vine_adjoint(pc, k, lbar, pcbar)
        for j in range(n_pc):
            b = eta + 0.5 * (k - 1 - (1 if (k == 2 or j < 2) else 2))
            r = pc[j]
            logp += b * np.log(1.0 - r * r)
            grad[start + k + j] += pcbar[j] * (1.0 - r * r) - 2.0 * b * r
    return logp


@nb.njit(cache=True, error_model="numpy", nogil=True)
def log_density(theta, grad, gram, gram_d, gram_l, n_obs, therapist, n_therapists, q, q_t,
                correlated_v, correlated_u, has_ar, prior_mean, prior_prec, scale_v,
                scale_u, residual_scale, eta, ar_eta):  # noqa: ANN001, ANN201
    """Log posterior density (up to a constant) on R^d and its gradient, written to ``grad``.

    Coordinates: ``log residual_sd``, then per level (patients, therapists) ``log sd`` of each
    effect and ``atanh`` of each partial correlation, then ``atanh rho`` (AR(1) only).
    """
    d = theta.shape[0]
    for j in range(d):
        grad[j] = 0.0
    sigma = np.exp(theta[0])
    kq = max(q, 1)
    kt = max(q_t, 1)
    sd_v = np.empty(kq)
    pc_v = np.zeros(3)
    chol_v = np.empty((kq, kq))
    cov_v = np.empty((kq, kq))
    nxt = _covariance(theta, 1, q, correlated_v, sd_v, pc_v, chol_v, cov_v)
    sd_u = np.empty(kt)
    pc_u = np.zeros(3)
    chol_u = np.eye(kt)
    cov_u = np.eye(kt)
    start_u = nxt
    if q_t > 0:
        nxt = _covariance(theta, start_u, q_t, correlated_u, sd_u, pc_u, chol_u, cov_u)
    rho = np.tanh(theta[nxt]) if has_ar else 0.0
    g_v = np.empty((kq, kq))
    g_u = np.zeros((kt, kt))
    loglik, s2bar, rhobar = loglik_and_adjoints(
        sigma * sigma, cov_v, cov_u, rho, has_ar, gram, gram_d, gram_l, n_obs, therapist,
        n_therapists, q, q_t, prior_mean, prior_prec, g_v, g_u)
    if not np.isfinite(loglik):
        return -np.inf
    z = sigma / residual_scale
    logp = loglik - 0.5 * z * z + theta[0]
    grad[0] = s2bar * 2.0 * sigma * sigma - z * z + 1.0
    lp, _ = _covariance_adjoint(theta, 1, q, correlated_v, sd_v, pc_v, chol_v, g_v, scale_v,
                                eta, grad)
    logp += lp
    if q_t > 0:
        lp, _ = _covariance_adjoint(theta, start_u, q_t, correlated_u, sd_u, pc_u, chol_u,
                                    g_u, scale_u, eta, grad)
        logp += lp
    if has_ar:
        # (rho + 1)/2 ~ Beta(ar_eta, ar_eta), rho = tanh(x): log prior + Jacobian
        logp += ar_eta * np.log(1.0 - rho * rho)
        grad[nxt] = rhobar * (1.0 - rho * rho) - 2.0 * ar_eta * rho
    return logp


@nb.njit(cache=True, error_model="numpy")
def unpack(theta, q, q_t, correlated_v, correlated_u, has_ar, sigma, cov_v, cov_u,
           corr_v, corr_u, rho):  # noqa: ANN001, ANN201
    """Constrained values of draws ``theta`` (S, d): SDs, covariances, correlations, rho."""
    kq = max(q, 1)
    kt = max(q_t, 1)
    sd = np.empty(max(kq, kt))
    pc = np.zeros(3)
    chol = np.empty((max(kq, kt), max(kq, kt)))
    cov = np.empty((max(kq, kt), max(kq, kt)))
    for s in range(theta.shape[0]):
        th = theta[s]
        sigma[s] = np.exp(th[0])
        nxt = _covariance(th, 1, q, correlated_v, sd, pc, chol, cov)
        for a in range(q):
            for b in range(q):
                cov_v[s, a, b] = cov[a, b]
                corr_v[s, a, b] = cov[a, b] / (sd[a] * sd[b])
        if q_t > 0:
            nxt = _covariance(th, nxt, q_t, correlated_u, sd, pc, chol, cov)
            for a in range(q_t):
                for b in range(q_t):
                    cov_u[s, a, b] = cov[a, b]
                    corr_u[s, a, b] = cov[a, b] / (sd[a] * sd[b])
        rho[s] = np.tanh(th[nxt]) if has_ar else 0.0


# ------------------------------------------------------------------ exact conditional draws
@nb.njit(cache=True, error_model="numpy")
def _patient_conditional(kmat, prec, k, coef, p, work_a, chol, g, z, out):  # noqa: ANN001, ANN202
    """Compute one patient's effects' conditional given coefficients ``coef``.

    The conditional is N(A^-1 g, A^-1) with ``A = P + K[:k, :k]``, ``g = K[:k, :] [-coef; 1]``.

    With ``z`` given, writes a draw ``A^-1 g + L'^-1 z`` into ``out``. Returns
    ``(log|A|, r'K r - g'A^-1 g)`` with ``r = [-coef; 1]``: the log-determinant and the
    quadratic form of the patient's marginal density (the Woodbury form of ``r'V^-1 r``).
    """
    m = kmat.shape[0]
    for a in range(k):
        for b in range(k):
            work_a[a, b] = prec[a, b] + kmat[a, b]
        s = kmat[a, m - 1]
        for b in range(p):
            s -= kmat[a, b] * coef[b]
        g[a] = s
    logdet = _chol(work_a, k, chol)
    rkr = kmat[m - 1, m - 1]
    for a in range(p):
        rkr -= 2.0 * coef[a] * kmat[a, m - 1]
        for b in range(p):
            rkr += coef[a] * kmat[a, b] * coef[b]
    quad = 0.0
    for a in range(k):  # forward solve L y = g (in place): g'A^-1 g = |y|^2
        s = g[a]
        for c in range(a):
            s -= chol[a, c] * g[c]
        g[a] = s / chol[a, a]
        quad += g[a] * g[a]
    if z.shape[0] > 0:
        for a in range(k - 1, -1, -1):  # backward: L' out = y + z
            s = g[a] + z[a]
            for c in range(a + 1, k):
                s -= chol[c, a] * out[c]
            out[a] = s / chol[a, a]
    return logdet, rkr - quad


@nb.njit(cache=True, error_model="numpy", nogil=True, parallel=True)
def draw_effects(sigma, cov_v, cov_u, rho, has_ar, gram, gram_d, gram_l, n_obs, therapist,
                 n_therapists, q, q_t, prior_mean, prior_prec, z_beta, z_ther, z_pat, beta,
                 u_out, v_out, loglik):  # noqa: ANN001, ANN201
    """Draw fixed, therapist and patient effects from their exact conditionals, per draw.

    For each draw s of the variance parameters: ``beta | theta, y``, then
    ``u_t | beta, theta, y`` (patient effects integrated out), then
    ``v_i | u, beta, theta, y``, each Gaussian with the moments of the block operator;
    ``z_*`` are standard normals. Together they are one exact draw of the joint posterior.
    ``loglik[s, i]`` receives patient i's marginal log-likelihood given the drawn beta and
    u (as :func:`patient_loglik`). Draws run in parallel (numba threads). Returns False if a
    covariance was not positive definite for some draw.
    """
    n_s = sigma.shape[0]
    n, m, _ = gram.shape
    p = m - 1
    has_t = q_t > 0 and n_therapists > 0
    n_t = n_therapists if has_t else 0
    ok = np.ones(n_s, dtype=np.bool_)
    for s in nb.prange(n_s):
        ok[s] = _one_draw(s, sigma, cov_v, cov_u, rho, has_ar, gram, gram_d, gram_l, n_obs,
                          therapist, n_t, has_t, q, q_t, p, prior_mean, prior_prec, z_beta,
                          z_ther, z_pat, beta, u_out, v_out, loglik)
    return ok.all()


@nb.njit(cache=True, error_model="numpy")
def _one_draw(s, sigma, cov_v, cov_u, rho, has_ar, gram, gram_d, gram_l, n_obs, therapist,
              n_t, has_t, q, q_t, p, prior_mean, prior_prec, z_beta, z_ther, z_pat, beta,
              u_out, v_out, loglik):  # noqa: ANN001, ANN202
    n, m, _ = gram.shape
    kq = max(q, 1)
    kt = max(q_t, 1)
    kmax = max(p, max(q, q_t))
    work_a = np.empty((kmax, kmax))
    work_l = np.empty((kmax, kmax))
    chol = np.empty((kmax, kmax))
    r_mat = np.empty((m, m))
    kmat = np.empty((m, m))
    h0 = np.empty((m, m))
    prec_v = np.empty((kq, kq))
    prec_u = np.empty((kt, kt))
    prec_b = np.zeros((max(p, 1), max(p, 1)))
    for a in range(p):
        prec_b[a, a] = prior_prec[a]
    mean = np.empty(kmax)
    g = np.empty(kmax)
    b_i = np.empty(max(p, 1))
    inv_s2 = 1.0 / (sigma[s] * sigma[s])
    g_eff = _ar_gram(gram, gram_d, gram_l, rho[s]) if has_ar else gram
    logdet_sv = _chol(cov_v[s], q, work_l)
    if not np.isfinite(logdet_sv):
        return False
    _chol_inverse(work_l, q, prec_v)
    if n_t > 0:
        if not np.isfinite(_chol(cov_u[s], q_t, work_l)):
            return False
        _chol_inverse(work_l, q_t, prec_u)
    # patients: accumulate what each therapist block (or the fixed effects) sees, with
    # the same pass as the log-density (slot n_t: patients without a therapist effect)
    k_ther = np.zeros((n_t + 1, m, m))
    group = np.empty(n, dtype=np.int64)
    ok = _patients_forward(g_eff, inv_s2, prec_v, therapist, has_t, n_t, n_obs, q, k_ther,
                           group, np.empty((n, m, 3)), np.empty((n, 6)))[0]
    if not np.isfinite(ok):
        return False
    h_tot = np.empty((m, m))
    _therapists_forward(k_ther, n_t, prec_u, q_t, work_a, work_l,
                        np.empty((max(n_t, 1), kt, kt)), np.empty((max(n_t, 1), m, kt)),
                        r_mat, h_tot)
    # beta | theta, y ~ N(mu + A^-1 c, A^-1), A = P_b + H0_xx, c = H0[:p, p]
    _shift(h_tot, prior_mean, h0)
    for a in range(p):
        b_i[a] = 0.0
    _patient_conditional(h0, prec_b, p, b_i, p, work_a, chol, g, z_beta[s], mean)
    for a in range(p):
        beta[s, a] = prior_mean[a] + mean[a]
    for t in range(n_t):
        _patient_conditional(k_ther[t], prec_u, q_t, beta[s], p, work_a, chol, g,
                             z_ther[s, t], mean)
        for a in range(q_t):
            u_out[s, t, a] = mean[a]
    for i in range(n):
        for a in range(p):
            b_i[a] = beta[s, a]
        t = therapist[i]
        if has_t and t >= 0:
            for a in range(q_t):
                b_i[a] += u_out[s, t, a]
        _patient_gram(i, g_eff, inv_s2, kmat)
        logdet, quad = _patient_conditional(kmat, prec_v, q, b_i, p, work_a, chol, g,
                                            z_pat[s, i], mean)
        for a in range(q):
            v_out[s, i, a] = mean[a]
        loglik[s, i] = _patient_density(n_obs[i], sigma[s], rho[s], has_ar, logdet,
                                        logdet_sv, quad)
    return True


@nb.njit(cache=True, error_model="numpy")
def _patient_density(n_i, sigma, rho, has_ar, logdet_a, logdet_sv, quad):  # noqa: ANN001, ANN202
    """``log N(y_i; X_i b, V_i)`` from the Woodbury pieces (determinant lemma)."""
    val = -0.5 * (n_i * (_LOG_2PI + 2.0 * np.log(sigma)) + logdet_a + logdet_sv + quad)
    if has_ar:
        val -= 0.5 * (n_i - 1.0) * np.log(1.0 - rho * rho)
    return val


# ------------------------------------------------------------------ per-patient log-likelihood
@nb.njit(cache=True, error_model="numpy", nogil=True, parallel=True)
def patient_loglik(coef, u, therapist, sigma, cov_v, rho, has_ar, gram, gram_d, gram_l,
                   n_obs, q, out):  # noqa: ANN001, ANN201
    """Compute ``log p(y_i | beta, u_t, Sigma_v, sigma[, rho])`` per draw and patient.

    The effects v_i are integrated out: this is the pointwise log-likelihood of
    leave-one-patient-out cross-validation.

    ``coef`` (S, p) fixed effects, ``u`` (S, T, q_t) therapist effects (T may be 0).
    """
    n_s = sigma.shape[0]
    n, m, _ = gram.shape
    p = m - 1
    q_t = u.shape[2]
    for s in nb.prange(n_s):
        kq = max(q, 1)
        work_a = np.empty((kq, kq))
        work_l = np.empty((kq, kq))
        chol = np.empty((kq, kq))
        kmat = np.empty((m, m))
        g = np.empty(kq)
        prec = np.empty((kq, kq))
        b_i = np.empty(max(p, 1))
        none = np.empty(0)
        inv_s2 = 1.0 / (sigma[s] * sigma[s])
        g_eff = _ar_gram(gram, gram_d, gram_l, rho[s]) if has_ar else gram
        logdet_sv = _chol(cov_v[s], q, work_l)
        _chol_inverse(work_l, q, prec)
        for i in range(n):
            for a in range(p):
                b_i[a] = coef[s, a]
            t = therapist[i]
            if t >= 0 and q_t > 0:
                for a in range(q_t):
                    b_i[a] += u[s, t, a]
            _patient_gram(i, g_eff, inv_s2, kmat)
            logdet, quad = _patient_conditional(kmat, prec, q, b_i, p, work_a, chol, g, none,
                                                none)
            out[s, i] = _patient_density(n_obs[i], sigma[s], rho[s], has_ar, logdet,
                                         logdet_sv, quad)
    return True
