"""The design of a growth fit: the numeric arrays a spec needs from the data, derived once.

The fixed-effect design X starts with the growth coefficients (``intercept`` and the time
terms), so the random-effect designs of patients and therapists are simply its first q and
q_t columns. Covariates follow, then covariate x time interactions. ``Design.encoding``
records how covariates were coded (levels, centring means), so new patients
(:func:`trajectories.predict.predict`) are coded the same way. A :class:`~trajectories.fit.
GrowthFit` keeps the design it was fitted with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from trajectories.data import DataValidationError, TherapyData
from trajectories.engine.collapsed import CollapsedProblem, gram_matrices
from trajectories.spec import INTAKE, GrowthSpec

__all__ = ["Design", "check_identified", "growth_posterior", "make_design", "posterior_coords"]


@dataclass(frozen=True)
class Design:
    """Numeric arrays a growth model needs, derived from a spec and data.

    ``encoding`` records how covariates were coded (levels, centring means), so that new
    patients (see :func:`trajectories.estimands.predict`) are coded the same way.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> d = make_design(GrowthSpec(time="log"), load_beat_the_blues())
    >>> d.terms, d.x.shape, d.n_patients, d.q, d.q_t
    (('intercept', 'slope'), (380, 2), 100, 2, 0)
    >>> d.basis([0.0, 1.0]).round(3).tolist()  # (1, log(1 + session))
    [[1.0, 0.0], [1.0, 0.693]]
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
    therapist_scale: np.ndarray
    residual_scale: float
    therapist_row: np.ndarray | None = None

    @property
    def changes_therapist(self) -> bool:
        """Whether some patient is seen by more than one therapist.

        Then sessions are attributed to their therapist (latent path only).
        """
        if self.therapist_row is None or not self.q_t:
            return False
        return bool((self.therapist_row != self.therapist_index[self.patient_index]).any())

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
        """Encode the design matrix X for rows of a canonical frame, coded like the fitted data."""
        return _encode(self.spec, frame, self.encoding)[0]

    def basis(self, session: np.ndarray | float) -> np.ndarray:
        """Rows (1, f(session) [, g(session)]) of the growth coefficients, shape (n, k + 1)."""
        s = np.atleast_1d(np.asarray(session, dtype=float))
        return np.column_stack([np.ones_like(s), self.spec.time_basis(s)])

    def collapsed(self) -> CollapsedProblem:
        """Return the collapsed (all Gaussian effects integrated) problem of this design.

        Built from the per-patient Gram matrices of ``[X y]`` (with the AR(1) parts for
        ``GrowthSpec(residual="ar1")``; rows are in session order within each patient);
        used by the fast path for sampling and by every path for the per-patient
        log-likelihood. A patient without a therapist (``therapist_index`` -1, partially
        nested designs) gets no therapist effect.
        """
        if self.changes_therapist:
            raise ValueError("the collapsed (fast) path nests each patient in one therapist; "
                             "data with therapist changes take the latent path")
        ar = self.spec.residual == "ar1"
        g0, gd, gl = gram_matrices(self.x, self.y, self.patient_index, self.n_patients, ar=ar)
        tidx = (np.full(self.n_patients, -1, dtype=np.int64) if self.therapist_index is None
                else self.therapist_index)
        return CollapsedProblem(
            gram=g0, gram_d=gd, gram_l=gl,
            n_obs=np.bincount(self.patient_index, minlength=self.n_patients),
            therapist=tidx, n_therapists=len(self.therapists) if self.q_t else 0,
            q=self.q, q_t=self.q_t, correlated=self.spec.correlated, ar=ar,
            ar_eta=self.spec.priors.ar_eta,
            prior_mean=self.prior_loc, prior_sd=self.prior_scale,
            scale_v=self.group_scale[: self.q], scale_u=self.therapist_scale[: self.q_t],
            residual_scale=self.residual_scale, eta=self.spec.priors.corr_eta)


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


def make_design(spec: GrowthSpec, data: TherapyData, *, identified: bool = True) -> Design:
    """Code the data for a spec: X, y, indices and data-scaled prior scales.

    Rows with a missing score (allowed only with ``allow_missing_scores=True``) carry no
    information about the outcome and are left out of the likelihood; their sessions
    still appear in ``coords()``. Data the model cannot learn from are refused here, before
    any sampling (:func:`check_identified`), unless ``identified=False`` (designs of
    posteriors that are given rather than fitted: pinned test posteriors, saved fits).

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
        # each session's therapist; -1: no therapist (partially nested design)
        trow = pd.Categorical(frame["therapist"], categories=therapists).codes.astype(np.int64)
        # each patient's current therapist: that of the last observed session
        last = np.flatnonzero(np.r_[pidx[1:] != pidx[:-1], True])  # rows sorted by session
        tidx = np.empty(len(patients), dtype=np.int64)
        tidx[pidx[last]] = trow[last]
        if spec.residual == "ar1" and (trow != tidx[pidx]).any():
            raise DataValidationError(
                "column 'therapist': AR(1) residuals are not available for patients who "
                "change therapist (the collapsed path nests patients in one therapist)")
    else:
        therapists, tidx, trow = np.asarray([], dtype=object), None, None
    if identified:
        check_identified(spec, data, x, y, frame, tuple(enc["terms"]), len(therapists))
    loc, scale, group, ther, resid = _prior_constants(spec, x, y, frame)
    return Design(
        spec=spec, terms=tuple(enc["terms"]), x=x, y=y, session=frame["session"].to_numpy(),
        patient_index=pidx, patients=patients, therapists=therapists, therapist_index=tidx,
        encoding=enc, prior_loc=loc, prior_scale=scale, group_scale=group,
        therapist_scale=ther, residual_scale=resid, therapist_row=trow,
    )


def check_identified(spec: GrowthSpec, data: TherapyData, x: np.ndarray, y: np.ndarray,
                     frame: pd.DataFrame, terms: tuple[str, ...], n_therapists: int) -> None:
    """Refuse a model the data cannot identify, in words, before any sampling.

    Without these checks such fits run and return numbers that look like results: constant
    scores gave a "change of -1.1 [-1.29, -0.92]" with R-hat 1e16. Checked: scores that do
    not vary; every score at one session; a time shape with too few distinct sessions (or
    none after the breakpoint); patient effects when every patient has one score; therapist
    effects with a single therapist; design columns that are constant or a combination of
    others (a one-level covariate, duplicated information).

    Raises
    ------
    DataValidationError
        Naming the column or term and saying what to change.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"patient": [1, 1, 2, 2], "session": [0, 1, 0, 1],
    ...                    "score": [5.0, 5.0, 5.0, 5.0]})
    >>> data = TherapyData.from_frame(df, patient="patient", session="session", score="score")
    >>> make_design(GrowthSpec(), data)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    trajectories.validation.DataValidationError: column 'score': the scores do not vary ...
    """
    cols = data.source_columns or {}
    score, session = cols.get("score", "score"), cols.get("session", "session")
    if len(y) and np.ptp(y) == 0:
        raise DataValidationError(
            f"column {score!r}: the scores do not vary (all {len(y)} are {y[0]:g}), so there "
            "is no change to model and no variance to share between levels")
    sessions = np.unique(frame["session"].to_numpy())
    if len(sessions) < 2:
        raise DataValidationError(
            f"column {session!r}: every score is at {data.time_unit} {sessions[0]}, so change "
            f"over {data.time_unit}s cannot be estimated")
    if spec.time == "quadratic" and len(sessions) < 3:
        raise DataValidationError(
            f"column {session!r}: a quadratic course needs scores at 3 or more distinct "
            f"{data.time_unit}s, the data have {len(sessions)}; use time='linear' or 'log'")
    if spec.time == "piecewise" and not (sessions.min() < spec.breakpoint < sessions.max()):
        raise DataValidationError(
            f"column {session!r}: piecewise time needs scores before and after the breakpoint "
            f"({spec.breakpoint:g}); the data span {data.time_unit}s {sessions.min()} to "
            f"{sessions.max()}: choose a breakpoint inside that range or another time shape")
    per_patient = np.bincount(pd.factorize(frame["patient"])[0])
    if per_patient.max() < 2:
        raise DataValidationError(
            f"column {session!r}: every patient has a single score, so patients' courses (and "
            "patient from residual variance) cannot be told apart; growth models need "
            "repeated scores")
    if n_therapists == 1 and spec.therapist != "none":
        who = cols.get("therapist", "therapist")
        raise DataValidationError(
            f"column {who!r}: there is only one therapist, so therapist effects cannot be "
            "estimated: fit without them (GrowthSpec(therapist='none'), on the command line "
            "--therapist-effects none) or leave the therapist column out")
    for j in range(1, x.shape[1]):
        col = x[:, j]
        if np.ptp(col) == 0:
            raise DataValidationError(
                f"term {terms[j]!r}: the column is constant in these data (e.g. a covariate "
                "with a single value or level), so its effect is not identified; leave it out")
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:  # find the first term that the earlier ones already determine
        j = next(k for k in range(2, x.shape[1] + 1) if np.linalg.matrix_rank(x[:, :k]) < k)
        raise DataValidationError(
            f"term {terms[j - 1]!r} is a linear combination of {list(terms[:j - 1])} in these "
            "data, so the model is not identified; leave one of them out")


def _prior_constants(spec: GrowthSpec, x: np.ndarray, y: np.ndarray,
                     frame: pd.DataFrame) -> tuple:
    """Prior locations and scales of :class:`~trajectories.spec.Priors` for this data.

    ``"data"`` scale: multiples of the score SD per unit of each column (the range of a
    time term, the SD of a covariate column); ``"absolute"``: the numbers as given.
    """
    pri = spec.priors
    k = len(spec.time_terms)
    n_coef = k + 1
    intake = pri.intercept_mean
    if intake is None:
        intake = float(frame.groupby("patient", sort=False)["score"].first().mean())
    loc = np.zeros(x.shape[1])
    loc[0] = intake
    loc[1:n_coef] = pri.per_term("time_mean", k)
    time_sd = np.array(pri.per_term("time", k))
    group = np.array(pri.per_term("group_sd", n_coef))
    ther = np.array(pri.per_term("therapist_sd", n_coef))
    if pri.scale == "absolute":
        scale = np.concatenate([[pri.intercept], time_sd,
                                np.full(x.shape[1] - n_coef, pri.covariate)])
        return loc, scale, group, ther, float(pri.residual_sd)
    s_y = float(np.std(y, ddof=1)) if len(y) > 1 else 1.0
    s_y = s_y if np.isfinite(s_y) and s_y > 0 else 1.0
    spread = np.ones(x.shape[1])
    for j in range(1, x.shape[1]):
        col = x[:, j]
        width = np.ptp(col) if j < n_coef else np.std(col)
        spread[j] = width if width > 0 else 1.0
    factor = np.concatenate([[pri.intercept], time_sd,
                             np.full(x.shape[1] - n_coef, pri.covariate)])
    return (loc, factor * s_y / spread, group * s_y / spread[:n_coef],
            ther * s_y / spread[:n_coef], pri.residual_sd * s_y)


def posterior_coords(spec: GrowthSpec, design: Design) -> dict:
    """Coordinate values of every model and posterior dimension for this spec and design.

    Examples
    --------
    >>> coords = posterior_coords(small_fit.spec, small_fit.design)
    >>> coords["coefficient"], coords["term"], coords["patient_corr_pair"]
    (['intercept', 'slope'], ['treatment[TAU]'], ['intercept,slope'])
    >>> len(coords["patient"]), coords["therapist"]
    (100, [])
    """
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


def growth_posterior(spec: GrowthSpec, design: Design, values: dict[str, np.ndarray],
                     beta: np.ndarray, u: np.ndarray, v: np.ndarray, *,
                     chains: int) -> xr.Dataset:
    """Name the growth model's posterior variables from flat draws (S first).

    ``values`` holds ``sigma`` (S,), ``cov_v``/``corr_v`` and ``cov_u``/``corr_u``
    (S, k, k); ``beta`` (S, p), ``u`` (S, T, q_t) and ``v`` (S, N, q) are the effects. The
    S draws are split into ``chains`` equal chains. Used by every path that samples
    coordinates of its own (the collapsed fast path, the joint model's machine code).

    Examples
    --------
    >>> from trajectories.fit import posterior_draws
    >>> d = posterior_draws(small_fit)
    >>> sd = np.sqrt(np.diagonal(d.sigma_v, axis1=1, axis2=2))
    >>> values = {"sigma": d.residual_sd, "cov_v": d.sigma_v,
    ...           "corr_v": d.sigma_v / (sd[:, :, None] * sd[:, None, :])}
    >>> post = growth_posterior(small_fit.spec, small_fit.design, values, d.beta, None,
    ...                         d.patient_effect, chains=2)
    >>> same = np.allclose(post["patient_corr"], small_fit.posterior["patient_corr"])
    >>> post["intercept"].shape, bool(same)
    ((2, 100), True)
    """
    n_draw = len(values["sigma"]) // chains

    def shaped(a: np.ndarray) -> np.ndarray:
        return a.reshape(chains, n_draw, *a.shape[1:])

    cd = ("chain", "draw")
    out: dict = {}
    k = len(spec.coefficients)
    for j, name in enumerate(spec.coefficients):
        out[name] = (cd, shaped(beta[:, j]))
    if design.x.shape[1] > k:
        out["covariate_effect"] = ((*cd, "term"), shaped(beta[:, k:]))
    levels = [("patient", spec.patient_coefficients, "cov_v", "corr_v")]
    if design.q_t:
        levels.append(("therapist", spec.therapist_coefficients(True), "cov_u", "corr_u"))
    for level, names, cov, corr in levels:
        for j, c in enumerate(names):
            out[f"{level}_{c}_sd"] = (cd, shaped(np.sqrt(values[cov][:, j, j])))
        if spec.correlated and len(names) > 1:
            pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
            out[f"{level}_corr"] = ((*cd, f"{level}_corr_pair"), shaped(
                np.stack([values[corr][:, i, j] for i, j in pairs], axis=-1)))
    if design.q_t:
        out["therapist_effect"] = ((*cd, "therapist", "therapist_coefficient"), shaped(u))
    out["residual_sd"] = (cd, shaped(values["sigma"]))
    if spec.residual == "ar1":
        out["residual_ar"] = (cd, shaped(values["rho"]))
    out["patient_effect"] = ((*cd, "patient", "coefficient"), shaped(v))
    coords = posterior_coords(spec, design)
    post = xr.Dataset(out)
    return post.assign_coords({k: v for k, v in coords.items() if k in post.dims})
