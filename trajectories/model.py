"""`build_model(spec, data)`: the PyMC growth model, fast (marginal) or latent. Never samples.

The fixed-effect design X starts with the growth coefficients (``intercept`` and the time
terms), so the random-effect designs of patients and therapists are simply its first
q and q_t columns. Covariates follow, then covariate x time interactions.

Data-dependent quantities (the sufficient statistics or the long arrays, and the prior
scales) are ``pm.Data`` containers with fixed names, so a compiled model can be reused
for new data of the same structure without recompiling (see :mod:`trajectories.fit`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from trajectories.data import DataValidationError, TherapyData
from trajectories.marginal import marginal_loglik, sufficient_statistics
from trajectories.spec import INTAKE, GrowthSpec

__all__ = ["Design", "build_model", "make_design", "posterior_coords"]


@dataclass(frozen=True)
class Design:
    """Numeric arrays a growth model needs, derived from a spec and data.

    ``encoding`` records how covariates were coded (levels, centring means), so that new
    patients (see :func:`trajectories.estimands.predict`) are coded the same way.
    """

    spec: GrowthSpec
    terms: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    session: np.ndarray
    patient_index: np.ndarray
    patients: np.ndarray
    therapists: np.ndarray
    therapist_index: np.ndarray | None
    encoding: dict
    prior_loc: np.ndarray
    prior_scale: np.ndarray
    group_scale: np.ndarray
    residual_scale: float

    @property
    def q(self) -> int:
        """Number of patient random effects."""
        return len(self.spec.patient_coefficients)

    @property
    def q_t(self) -> int:
        """Number of therapist random effects (0 for two-level data or ``therapist='none'``)."""
        return len(self.spec.therapist_coefficients(len(self.therapists) > 0))

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return len(self.patients)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The design matrix X for rows of a canonical frame, coded like the fitted data."""
        return _encode(self.spec, frame, self.encoding)[0]

    def basis(self, session: np.ndarray | float) -> np.ndarray:
        """Rows (1, f(session) [, g(session)]) of the growth coefficients, shape (n, k + 1)."""
        s = np.atleast_1d(np.asarray(session, dtype=float))
        return np.column_stack([np.ones_like(s), self.spec.time_basis(s)])


def _intake(frame: pd.DataFrame) -> pd.Series:
    """Each row's patient's first observed score (the intake severity)."""
    ordered = frame.sort_values(["patient", "session"], kind="stable")
    first = ordered.dropna(subset=["score"]).groupby("patient", sort=False)["score"].first()
    return frame["patient"].map(first)


def _encode(spec: GrowthSpec, frame: pd.DataFrame, enc: dict | None) -> tuple[np.ndarray, dict]:
    """Build X (and, when ``enc`` is None, learn the coding from ``frame``)."""
    learn = enc is None
    enc = {} if learn else enc
    time = spec.time_basis(frame["session"].to_numpy())
    cols = [np.ones(len(frame)), *time.T]
    names = list(spec.coefficients)
    for cov in spec.covariates:
        if cov == INTAKE and cov not in frame:
            raw = _intake(frame).to_numpy(dtype=float)
            kind = "numeric"
        elif cov not in frame:
            raise DataValidationError(
                f"column {cov!r}: covariate named in the GrowthSpec is not in the data "
                f"(pass covariates=({cov!r},) when building TherapyData, or use {INTAKE!r} "
                "for intake severity)"
            )
        else:
            raw = frame[cov]
            kind = "numeric" if pd.api.types.is_numeric_dtype(raw) else "categorical"
            raw = raw.to_numpy(dtype=float) if kind == "numeric" else raw.astype(str).to_numpy()
        if pd.isna(raw).any():
            raise DataValidationError(f"column {cov!r}: covariate values may not be missing")
        if learn:
            enc[cov] = ({"kind": kind, "mean": float(np.mean(raw))} if kind == "numeric"
                        else {"kind": kind, "levels": sorted(set(raw.tolist()))})
        rule = enc[cov]
        if rule["kind"] == "numeric":
            block = [(cov, raw.astype(float) - rule["mean"])]
        else:
            unknown = sorted(set(raw.tolist()) - set(rule["levels"]))
            if unknown:
                raise DataValidationError(
                    f"column {cov!r}: levels {unknown} were not in the fitted data "
                    f"(known: {rule['levels']})"
                )
            block = [(f"{cov}[{lev}]", (raw == lev).astype(float)) for lev in rule["levels"][1:]]
        for name, col in block:
            names.append(name)
            cols.append(col)
        if cov in spec.time_interactions:
            for name, col in block:
                for t_name, t_col in zip(spec.time_terms, time.T, strict=True):
                    names.append(f"{name}:{t_name}")
                    cols.append(col * t_col)
    if learn:
        enc["terms"] = names
    return np.column_stack(cols), enc


def make_design(spec: GrowthSpec, data: TherapyData) -> Design:
    """Code the data for a spec: X, y, indices and data-scaled prior scales.

    Rows with a missing score (allowed only with ``allow_missing_scores=True``) carry no
    information about the outcome and are left out of the likelihood; their sessions
    still appear in ``coords()``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> d = make_design(GrowthSpec(time="log", covariates=("treatment",)), load_beat_the_blues())
    >>> d.terms, d.x.shape, d.q, d.q_t
    (('intercept', 'slope', 'treatment[TAU]'), (380, 3), 2, 0)
    """
    frame = data.frame
    frame = frame[frame["score"].notna()].reset_index(drop=True)
    x, enc = _encode(spec, frame, None)
    y = frame["score"].to_numpy(dtype=float)
    patients = data.patients
    pidx = pd.Categorical(frame["patient"], categories=patients).codes.astype(np.int64)
    if (pidx < 0).any() or len(np.unique(pidx)) != len(patients):
        raise DataValidationError("column 'score': every patient needs at least one observed score")
    if data.has_therapist and spec.therapist != "none":
        therapists = np.asarray(data.coords()["therapist"], dtype=object)
        tidx = pd.Categorical(data.therapist_of_patient.reindex(patients),
                              categories=therapists).codes.astype(np.int64)
    else:
        therapists, tidx = np.asarray([], dtype=object), None
    # Prior scales: the score SD, per unit of each column (see Priors).
    s_y = float(np.std(y, ddof=1)) if len(y) > 1 else 1.0
    s_y = s_y if np.isfinite(s_y) and s_y > 0 else 1.0
    k = len(spec.time_terms)
    spread = np.ones(x.shape[1])
    for j in range(1, x.shape[1]):
        col = x[:, j]
        width = np.ptp(col) if j <= k else np.std(col)
        spread[j] = width if width > 0 else 1.0
    pri = spec.priors
    factor = np.array([pri.intercept] + [pri.time] * k + [pri.covariate] * (x.shape[1] - k - 1))
    intake = frame.groupby("patient", sort=False)["score"].first().mean()
    loc = np.zeros(x.shape[1])
    loc[0] = float(intake)
    return Design(
        spec=spec, terms=tuple(enc["terms"]), x=x, y=y, session=frame["session"].to_numpy(),
        patient_index=pidx, patients=patients, therapists=therapists, therapist_index=tidx,
        encoding=enc, prior_loc=loc, prior_scale=factor * s_y / spread,
        group_scale=pri.group_sd * s_y / spread[: k + 1],
        residual_scale=pri.residual_sd * s_y,
    )


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
    """SDs, correlation Cholesky factor and covariance entries of one random-effect level."""
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
        corr = pt.eye(q)
    cov = [[sds[i] * sds[j] * corr[i, j] if i != j else sds[i] ** 2 for j in range(q)]
           for i in range(q)]
    factor = pt.stack(sds)[:, None] * chol  # diag(sd) L: effect = z @ factor.T
    return cov, factor


def posterior_coords(spec: GrowthSpec, design: Design) -> dict:
    """Coordinate values of every model and posterior dimension for this spec and design."""
    has_t = bool(design.q_t)
    pairs = {lvl: [f"{a},{b}" for i, a in enumerate(nm) for b in nm[i + 1:]]
             for lvl, nm in (("patient", spec.patient_coefficients),
                             ("therapist", spec.therapist_coefficients(has_t)))}
    return {"patient": design.patients.tolist(), "therapist": design.therapists.tolist(),
            "session": sorted(np.unique(design.session).tolist()),
            "coefficient": list(spec.patient_coefficients),
            "therapist_coefficient": list(spec.therapist_coefficients(has_t)),
            "term": list(design.terms[len(spec.coefficients):]),
            "patient_corr_pair": pairs["patient"], "therapist_corr_pair": pairs["therapist"]}


def build_model(spec: GrowthSpec, data: TherapyData, *, design: Design | None = None) -> pm.Model:
    """The PyMC model of a growth spec on data (never samples).

    Parameters
    ----------
    spec : GrowthSpec
        What to fit; ``spec.resolved_method`` picks the fast marginal or the latent path.
        With ``spec.dropout`` the joint growth–dropout model
        (:func:`trajectories.joint.build_joint_model`) is returned.
    data : TherapyData
        Validated data. Without a therapist column the model is two-level.
    design : Design, optional
        Pre-computed :func:`make_design` output (saves recoding).

    Returns
    -------
    pymc.Model
        Dims ``patient``, ``therapist``, ``session``, ``coefficient``; variables
        ``intercept``, the time terms (``slope`` ...), ``covariate_effect`` (dim ``term``),
        ``patient_<coef>_sd``, ``patient_corr``, ``therapist_<coef>_sd``,
        ``therapist_corr``, ``therapist_effect``, ``residual_sd`` (and ``nu`` for
        Student-t). The latent path also has ``patient_effect``; the fast path draws it
        after sampling (:func:`trajectories.fit.fit_growth`).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> model = build_model(GrowthSpec(time="log"), load_beat_the_blues())
    >>> sorted(v.name for v in model.free_RVs)  # doctest: +NORMALIZE_WHITESPACE
    ['intercept', 'patient_corr_raw', 'patient_intercept_sd', 'patient_slope_sd',
     'residual_sd', 'slope']
    """
    if spec.dropout is not None:  # the joint growth-dropout model
        from trajectories.joint import build_joint_model

        if design is not None:
            raise ValueError("design= is for growth models without a dropout part")
        return build_joint_model(replace(spec, dropout=None), spec.dropout, data)
    design = design if design is not None else make_design(spec, data)
    method = spec.resolved_method
    if method == "marginal" and spec.likelihood != "normal":
        raise ValueError("the marginal (fast) path needs likelihood='normal'")
    k = len(spec.coefficients)
    p = design.x.shape[1]
    q_t = design.q_t
    coords = {k: v for k, v in posterior_coords(spec, design).items() if v}
    with pm.Model(coords=coords) as model:
        loc = pm.Data("prior_loc", design.prior_loc)
        scale = pm.Data("prior_scale", design.prior_scale)
        gscale = pm.Data("group_scale", design.group_scale)
        rscale = pm.Data("residual_scale", np.asarray(design.residual_scale))
        coefs = [pm.Normal(name, mu=loc[j], sigma=scale[j])
                 for j, name in enumerate(spec.coefficients)]
        beta = pt.stack(coefs)
        if p > k:
            cov_eff = pm.Normal("covariate_effect", mu=0.0, sigma=scale[k:], dims="term")
            beta = pt.concatenate([beta, cov_eff])
        sigma_v, factor_v = _covariance("patient", spec.patient_coefficients, gscale, spec)
        if q_t:
            _, factor_u = _covariance("therapist", spec.therapist_coefficients(True), gscale,
                                      spec)
            raw_u = pm.Normal("therapist_effect_raw", 0.0, 1.0,
                              dims=("therapist", "therapist_coefficient"))
            u = pm.Deterministic("therapist_effect", raw_u @ factor_u.T,
                                 dims=("therapist", "therapist_coefficient"))
        sigma = pm.HalfNormal("residual_sd", sigma=rscale)
        if method == "marginal":
            _marginal_likelihood(design, beta, u if q_t else None, sigma, sigma_v)
        else:
            _latent_likelihood(spec, design, beta, u if q_t else None, sigma, factor_v)
    return model


def _marginal_likelihood(design: Design, beta, u, sigma, sigma_v) -> None:  # noqa: ANN001
    stats = sufficient_statistics(design.x, design.y, design.patient_index, design.n_patients)
    data = {name: pm.Data(f"stat_{name}", getattr(stats, name))
            for name in ("n", "xtx", "xty", "yty")}
    p, q_t = design.x.shape[1], design.q_t
    if u is None:
        b = beta[None, :]
    else:
        tidx = pm.Data("therapist_of_patient", design.therapist_index)
        head = beta[None, :q_t] + u[tidx]
        b = head if p == q_t else pt.concatenate(
            [head, pt.broadcast_to(beta[None, q_t:], (tidx.shape[0], p - q_t))], axis=1)
    pm.Potential("marginal_loglik", marginal_loglik(b, sigma, sigma_v, data, design.q))


def _latent_likelihood(spec: GrowthSpec, design: Design, beta, u, sigma, factor_v) -> None:  # noqa: ANN001
    x = pm.Data("x", design.x)
    y = pm.Data("y", design.y)
    prow = pm.Data("patient_row", design.patient_index)
    raw_v = pm.Normal("patient_effect_raw", 0.0, 1.0, dims=("patient", "coefficient"))
    v = pm.Deterministic("patient_effect", raw_v @ factor_v.T, dims=("patient", "coefficient"))
    mu = (x * beta[None, :]).sum(-1) + (x[:, : design.q] * v[prow]).sum(-1)
    if u is not None:
        trow = pm.Data("therapist_row", design.therapist_index[design.patient_index])
        mu = mu + (x[:, : design.q_t] * u[trow]).sum(-1)
    if spec.likelihood == "student_t":
        nu = pm.Gamma("nu", alpha=spec.priors.nu_alpha, beta=spec.priors.nu_beta)
        pm.StudentT("score", nu=nu, mu=mu, sigma=sigma, observed=y, shape=y.shape[0])
    else:
        pm.Normal("score", mu=mu, sigma=sigma, observed=y, shape=y.shape[0])
