"""`GrowthSpec`, `Priors` and `DropoutSpec`: what model to fit, frozen and storable as JSON.

The model (see DESIGN.md, "The statistical model") is, for session j of patient i seen by
therapist t::

    y_ij = x_ij'beta + z_ij'(u_t + v_i) + e_ij
    z_ij = (1, f(session_ij) [, g(session_ij)])

``time`` chooses f and g, ``patient`` and ``therapist`` choose which columns of z carry
random effects, ``covariates`` and ``time_interactions`` add columns to x, and
``likelihood`` chooses the distribution of e. Priors are weakly informative and scaled to
the data (see :class:`Priors`), so one spec fits PHQ-9 and OQ-45 data alike. A
:class:`DropoutSpec` describes a discrete-time dropout hazard: fitted alone
(:func:`trajectories.dropout.fit_dropout`) or, as ``GrowthSpec(dropout=...)``, jointly with
the growth model (:mod:`trajectories.joint`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

import numpy as np

__all__ = ["INTAKE", "DropoutSpec", "GrowthSpec", "Priors"]

#: Covariate name that means "centred intake severity" (each patient's first score).
INTAKE = "intake"

TimeShape = Literal["linear", "log", "quadratic", "piecewise"]
_TIME_SHAPES = ("linear", "log", "quadratic", "piecewise")


@dataclass(frozen=True)
class Priors:
    """Weakly informative priors, in units of the data's score SD ``s_y``.

    Every scale below is multiplied by ``s_y`` (the SD of all observed scores) and, for
    a time term, divided by the range of that time term in the data, so that a prior SD
    of 1 means "a change of one score SD over the observed sessions". Override any field,
    e.g. ``Priors(group_sd=0.5)``.

    Parameters
    ----------
    intercept : float
        ``intercept ~ Normal(mean intake score, intercept * s_y)``.
    time : float
        Each fixed time coefficient ``~ Normal(0, time * s_y / range)``.
    covariate : float
        Each covariate coefficient ``~ Normal(0, covariate * s_y / sd(column))``.
    group_sd : float
        Each patient and therapist random-effect SD ``~ HalfNormal(group_sd * s_y [/ range])``.
    residual_sd : float
        ``residual_sd ~ HalfNormal(residual_sd * s_y)``.
    corr_eta : float
        LKJ shape of the random-effect correlation matrices (2 mildly favours small
        correlations; 1 is uniform).
    nu_alpha, nu_beta : float
        Student-t degrees of freedom ``nu ~ Gamma(nu_alpha, nu_beta)`` (Juarez & Steel, 2010).
    ar_eta : float
        AR(1) residual correlation (``GrowthSpec(residual="ar1")``):
        ``(residual_ar + 1) / 2 ~ Beta(ar_eta, ar_eta)``; 1 (default) is uniform on (-1, 1),
        larger values favour correlations near 0 [assumed].
    scale : {"data", "absolute"}
        ``"data"`` (default): the SD fields above are multiples of the data's score SD as
        described. ``"absolute"``: they are prior SDs in score units, used as given (what
        simulation-based calibration needs: the prior that generated the parameters).
        ``time`` and ``group_sd`` then take one number per time term / growth coefficient.
    intercept_mean : float, optional
        Prior mean of the intercept; default the mean intake score of the data.
    time_mean : float or tuple of float
        Prior mean of each time coefficient (default 0: no change expected a priori).
    therapist_sd : float or tuple of float, optional
        Like ``group_sd`` for the therapist effects (default: the same as ``group_sd``).

    Examples
    --------
    >>> Priors(group_sd=0.5).group_sd
    0.5
    >>> Priors(scale="absolute", intercept_mean=15, intercept=3, time_mean=-2.5, time=1,
    ...        group_sd=(5, 2), residual_sd=3).group_sd
    (5.0, 2.0)
    """

    intercept: float = 2.0
    time: float | tuple[float, ...] = 2.0
    covariate: float = 2.0
    group_sd: float | tuple[float, ...] = 1.0
    residual_sd: float = 1.0
    corr_eta: float = 2.0
    nu_alpha: float = 2.0
    nu_beta: float = 0.1
    ar_eta: float = 1.0
    scale: Literal["data", "absolute"] = "data"
    intercept_mean: float | None = None
    time_mean: float | tuple[float, ...] = 0.0
    therapist_sd: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.scale not in ("data", "absolute"):
            raise ValueError(f"Priors.scale must be 'data' or 'absolute', got {self.scale!r}")
        for name in ("time", "group_sd", "time_mean", "therapist_sd"):
            value = getattr(self, name)
            if isinstance(value, list | tuple):
                object.__setattr__(self, name, tuple(float(v) for v in value))
        positive = ("intercept", "time", "covariate", "group_sd", "residual_sd", "corr_eta",
                    "nu_alpha", "nu_beta", "ar_eta", "therapist_sd")
        for name in positive:
            value = getattr(self, name)
            if name == "therapist_sd" and value is None:
                continue
            values = value if isinstance(value, tuple) else (value,)
            if not values or not all(isinstance(v, int | float) and math.isfinite(v) and v > 0
                                     for v in values):
                raise ValueError(f"Priors.{name} must be a positive number (or, for time, "
                                 f"group_sd and therapist_sd, a tuple of them), got {value!r}")
        for name in ("intercept_mean", "time_mean"):
            value = getattr(self, name)
            values = () if value is None else value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
                raise ValueError(f"Priors.{name} must be a finite number, got {value!r}")

    def per_term(self, name: str, n: int) -> tuple[float, ...]:
        """Field ``name`` as ``n`` numbers (a scalar is repeated; a tuple must have n).

        Examples
        --------
        >>> Priors(group_sd=(5, 2)).per_term("group_sd", 2)
        (5.0, 2.0)
        """
        value = getattr(self, name)
        if name == "therapist_sd" and value is None:
            value = self.group_sd
        if not isinstance(value, tuple):
            return (float(value),) * n
        if len(value) != n:
            what = "time terms" if name.startswith("time") else "growth coefficients"
            raise ValueError(f"Priors.{name} has {len(value)} values but the model has {n} "
                             f"{what}")
        return value


#: Observed predictors of the standalone model (what each means: see DropoutSpec).
PREDICTORS = ("score", "improvement", "worsening", "alliance")
#: Shared latent terms of the joint model.
ASSOCIATIONS = ("level", "slope", "improvement", "worsening")


def check_hazard_fields(spec: object, *tuples: str) -> None:
    """Validate (in ``__post_init__``) the fields a discrete-time hazard spec shares.

    ``predictors``, ``covariates`` and the named ``tuples`` become tuples; ``breaks``
    must increase, ``n_bins`` be in [1, 50], the predictors distinct values of
    :data:`PREDICTORS`, the prior scales positive, ``baseline_mean`` finite and
    ``score_scale`` a (centre, SD > 0) pair. Errors name the spec's class.
    """
    name = type(spec).__name__
    for field_name in ("predictors", "covariates", *tuples):
        object.__setattr__(spec, field_name, tuple(getattr(spec, field_name)))
    if spec.breaks is not None:
        object.__setattr__(spec, "breaks", tuple(int(b) for b in spec.breaks))
        if len(spec.breaks) == 0 or any(np.diff(spec.breaks) <= 0):
            raise ValueError(f"{name}.breaks must be increasing, got {spec.breaks}")
    if not (isinstance(spec.n_bins, int) and 1 <= spec.n_bins <= 50):
        raise ValueError(f"{name}.n_bins must be an integer in [1, 50], got {spec.n_bins!r}")
    bad = [p for p in spec.predictors if p not in PREDICTORS]
    if bad or len(set(spec.predictors)) != len(spec.predictors):
        raise ValueError(f"{name}.predictors must be distinct values of {PREDICTORS}, got "
                         f"{spec.predictors}")
    for field_name in ("coef_sd", "baseline_sd", "therapist_sd"):
        value = getattr(spec, field_name)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name}.{field_name} must be a positive number, got {value!r}")
    if spec.baseline_mean is not None and not (
            isinstance(spec.baseline_mean, int | float) and math.isfinite(spec.baseline_mean)):
        raise ValueError(f"{name}.baseline_mean must be a finite number, got "
                         f"{spec.baseline_mean!r}")
    if spec.score_scale is not None:
        scale = tuple(float(v) for v in spec.score_scale)
        if len(scale) != 2 or not all(map(math.isfinite, scale)) or scale[1] <= 0:
            raise ValueError(f"{name}.score_scale must be (centre, sd > 0), got "
                             f"{spec.score_scale!r}")
        object.__setattr__(spec, "score_scale", scale)


@dataclass(frozen=True)
class DropoutSpec:
    """What dropout model to fit, frozen.

    Parameters
    ----------
    link : {"logit", "cloglog"}
        Link of the discrete-time hazard. The complementary log-log link makes the
        coefficients log hazard ratios of an underlying continuous-time proportional hazard.
    n_bins : int
        Number of piecewise-constant baseline bins, cut at quantiles of the risk-set
        sessions (used when ``breaks`` is None). Sessions past the last cut share its bin.
    breaks : tuple of int, optional
        Explicit first session of each baseline bin, increasing, e.g. ``(0, 1, 3, 6)``.
    predictors : tuple of str
        Observed predictors of the standalone model, each standardised by the score (or
        alliance) SD: ``"score"`` (current observed severity, centred), ``"improvement"``
        and ``"worsening"`` (observed change since intake, split so that each can raise
        the hazard: Arndt et al. 2020), ``"alliance"`` (current rating, centred). The joint
        model replaces the score-based ones by their latent counterparts and keeps
        ``"alliance"``.
    association : tuple of str
        Shared latent terms of the joint model (per SD of the scores, oriented so that
        positive means more severe): ``"level"`` (current latent severity), ``"slope"``
        (latent rate of change per session, positive = worsening), ``"improvement"`` and
        ``"worsening"`` (latent change since intake, in two one-sided terms).
    covariates : tuple of str
        Data columns (patient- or session-level). Numeric ones are centred and divided by
        their SD; text ones are dummy coded against their first sorted level.
    therapist : bool
        Therapist random effect on dropout (ignored for data without therapists).
    coef_sd, baseline_sd, therapist_sd : float
        Prior scales: ``Normal(0, coef_sd)`` for every coefficient (per SD of its
        predictor), ``Normal(g(overall rate), baseline_sd)`` for each baseline bin,
        ``HalfNormal(therapist_sd)`` for the therapist SD on the link scale.
    baseline_mean : float, optional
        Prior mean of every baseline bin on the link scale; default ``g(overall rate)``
        of the data. Give it (with ``breaks`` and ``score_scale``) when the prior must not
        depend on the data, as in simulation-based calibration.
    score_scale : tuple of (float, float), optional
        ``(centre, sd)`` that standardise scores in the predictors and the joint model's
        latent terms; default the data's score mean and SD.

    Examples
    --------
    >>> spec = DropoutSpec(link="cloglog", breaks=(0, 2, 5))
    >>> DropoutSpec.from_dict(spec.to_dict()) == spec
    True
    """

    link: Literal["logit", "cloglog"] = "logit"
    n_bins: int = 4
    breaks: tuple[int, ...] | None = None
    predictors: tuple[str, ...] = ("score", "improvement", "worsening")
    association: tuple[str, ...] = ("level", "improvement", "worsening")
    covariates: tuple[str, ...] = ()
    therapist: bool = True
    coef_sd: float = 1.0
    baseline_sd: float = 1.5
    therapist_sd: float = 0.5
    baseline_mean: float | None = None
    score_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_hazard_fields(self, "association")
        if self.link not in ("logit", "cloglog"):
            raise ValueError(f"DropoutSpec.link must be 'logit' or 'cloglog', got {self.link!r}")
        bad = [p for p in self.association if p not in ASSOCIATIONS]
        if bad or len(set(self.association)) != len(self.association):
            raise ValueError(f"DropoutSpec.association must be distinct values of "
                             f"{ASSOCIATIONS}, got {self.association}")

    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (``from_dict`` inverts it)."""
        out = asdict(self)
        for key in ("predictors", "association", "covariates", "breaks", "score_scale"):
            out[key] = None if out[key] is None else list(out[key])
        return out

    @classmethod
    def from_dict(cls, d: dict) -> DropoutSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown keys are an error."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"DropoutSpec.from_dict: unknown keys {sorted(unknown)}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class GrowthSpec:
    """A three-level (or, without therapists, two-level) growth model, frozen.

    Parameters
    ----------
    time : {"linear", "log", "quadratic", "piecewise"}
        Shape of change over sessions: ``session``; ``log(1 + session)`` (Finch, Lambert &
        Schaalje, 2001); ``session`` and ``session**2``; or two linear pieces, early
        (up to ``breakpoint``) and late change.
    breakpoint : float
        Session at which early change ends (``piecewise`` only).
    patient : {"intercept", "slopes"}
        Patient random effects on the intercept only, or on the intercept and every time term.
    therapist : {"none", "intercept", "slopes"}
        Therapist random effects. Ignored (two-level model) when the data have no therapist.
    correlated : bool
        Whether random intercepts and slopes are correlated (LKJ prior) at each level.
    covariates : tuple of str
        Data covariate columns in x. Numeric columns are centred; text columns are dummy
        coded against their first level in sorted order. ``"intake"`` means each
        patient's first observed score, centred (intake severity).
    time_interactions : tuple of str
        Covariates that also change the slope(s) (e.g. arm x time).
    likelihood : {"normal", "student_t"}
        Residual distribution. Student-t residuals resist outlying sessions.
    residual : {"independent", "ar1"}
        Residuals independent across sessions, or AR(1): a patient's deviation from their
        own curve carries over to the next observed session with correlation
        ``residual_ar`` (estimated), ``corr(e_j, e_k) = residual_ar^|j - k|`` over the
        patient's consecutive *observed* sessions (gaps are not counted). Normal residuals
        keep the fast path (the collapsed algebra is exact for AR(1)); Student-t residuals
        get AR(1) Student-t innovations on the latent path.
    method : {"auto", "marginal", "latent"}
        ``"marginal"`` integrates patient effects out (the fast path; normal likelihood
        only), ``"latent"`` samples them; ``"auto"`` picks the fast path where it applies.
    priors : Priors
        Prior scales (see :class:`Priors`).
    dropout : DropoutSpec, optional
        Switches on the joint growth–dropout model (informative dropout): the dropout
        hazard of :mod:`trajectories.dropout` shares each patient's latent trajectory
        (:mod:`trajectories.joint`). It needs the patient effects themselves: with normal
        residuals they are sampled relative to their exact growth conditional through
        machine code (:mod:`trajectories.joint_fit`); with Student-t residuals or
        ``method="latent"`` the PyMC latent model is fitted. ``None`` (default): dropout is
        ignored, i.e. assumed missing at random.

    Examples
    --------
    >>> spec = GrowthSpec(time="log", covariates=("treatment",),
    ...                   time_interactions=("treatment",))
    >>> spec.coefficients
    ('intercept', 'slope')
    >>> GrowthSpec.from_dict(spec.to_dict()) == spec
    True
    >>> spec.resolved_method
    'marginal'
    >>> GrowthSpec(dropout=DropoutSpec()).resolved_method
    'latent'
    """

    time: TimeShape = "log"
    breakpoint: float = 4.0
    patient: Literal["intercept", "slopes"] = "slopes"
    therapist: Literal["none", "intercept", "slopes"] = "slopes"
    correlated: bool = True
    covariates: tuple[str, ...] = ()
    time_interactions: tuple[str, ...] = ()
    likelihood: Literal["normal", "student_t"] = "normal"
    residual: Literal["independent", "ar1"] = "independent"
    method: Literal["auto", "marginal", "latent"] = "auto"
    priors: Priors = field(default_factory=Priors)
    dropout: DropoutSpec | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "time_interactions", tuple(self.time_interactions))
        choices = {
            "time": _TIME_SHAPES,
            "patient": ("intercept", "slopes"),
            "therapist": ("none", "intercept", "slopes"),
            "likelihood": ("normal", "student_t"),
            "residual": ("independent", "ar1"),
            "method": ("auto", "marginal", "latent"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"GrowthSpec.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if not (math.isfinite(self.breakpoint) and self.breakpoint > 0):
            raise ValueError(f"GrowthSpec.breakpoint must be positive, got {self.breakpoint}")
        if len(set(self.covariates)) != len(self.covariates):
            raise ValueError(f"GrowthSpec.covariates has duplicates: {self.covariates}")
        stray = [c for c in self.time_interactions if c not in self.covariates]
        if stray:
            raise ValueError(
                f"GrowthSpec.time_interactions {stray} must also be listed in covariates"
            )
        if self.method == "marginal" and self.likelihood != "normal":
            raise ValueError(
                "method='marginal' integrates patient effects analytically, which needs "
                "likelihood='normal'; use method='latent' (or 'auto') for Student-t residuals"
            )
        if not isinstance(self.priors, Priors):
            raise ValueError("GrowthSpec.priors must be a Priors instance")
        if self.dropout is not None and not isinstance(self.dropout, DropoutSpec):
            raise ValueError("GrowthSpec.dropout must be a DropoutSpec or None, got "
                             f"{type(self.dropout).__name__}")
        if self.dropout is not None and self.residual == "ar1":
            raise ValueError(
                "GrowthSpec(residual='ar1') is not available with a dropout part: the joint "
                "growth-dropout model has independent residuals")
        if self.dropout is not None and self.method == "marginal":
            raise ValueError(
                "GrowthSpec.dropout needs latent patient effects (the hazard shares them): "
                "use method='latent' or 'auto' with a dropout part")

    # ------------------------------------------------------------------ derived names
    @property
    def time_terms(self) -> tuple[str, ...]:
        """Names of the time coefficients (the fixed effects after the intercept)."""
        if self.time == "quadratic":
            return ("slope", "quadratic")
        if self.time == "piecewise":
            return ("slope_early", "slope_late")
        return ("slope",)

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Names of the growth coefficients: ``intercept`` and the time terms."""
        return ("intercept", *self.time_terms)

    @property
    def patient_coefficients(self) -> tuple[str, ...]:
        """Growth coefficients that vary between patients."""
        return self.coefficients if self.patient == "slopes" else ("intercept",)

    def therapist_coefficients(self, has_therapist: bool = True) -> tuple[str, ...]:
        """Growth coefficients that vary between therapists (none for two-level data)."""
        if not has_therapist or self.therapist == "none":
            return ()
        return self.coefficients if self.therapist == "slopes" else ("intercept",)

    @property
    def resolved_method(self) -> Literal["marginal", "latent"]:
        """The path that will be used: the fast marginal path unless it cannot apply."""
        if self.method == "auto":
            normal = self.likelihood == "normal" and self.dropout is None
            return "marginal" if normal else "latent"
        return self.method

    def time_basis(self, session: np.ndarray) -> np.ndarray:
        """Compute the time columns f(session) [, g(session)] as an ``(n, k)`` array.

        Examples
        --------
        >>> GrowthSpec(time="piecewise", breakpoint=2).time_basis(np.array([0, 1, 4]))
        array([[0., 0.],
               [1., 0.],
               [2., 2.]])
        """
        s = np.asarray(session, dtype=float)
        if self.time == "linear":
            return s[:, None]
        if self.time == "log":
            return np.log1p(s)[:, None]
        if self.time == "quadratic":
            return np.column_stack([s, s**2])
        return np.column_stack([np.minimum(s, self.breakpoint),
                                np.maximum(s - self.breakpoint, 0.0)])

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (``from_dict`` inverts it)."""
        out = asdict(self)
        out["covariates"] = list(self.covariates)
        out["time_interactions"] = list(self.time_interactions)
        out["dropout"] = None if self.dropout is None else self.dropout.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict) -> GrowthSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown keys are an error."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"GrowthSpec.from_dict: unknown keys {sorted(unknown)}")
        if "priors" in d and isinstance(d["priors"], dict):
            d["priors"] = Priors(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in d["priors"].items()})
        if isinstance(d.get("dropout"), dict):
            d["dropout"] = DropoutSpec.from_dict(d["dropout"])
        for key in ("covariates", "time_interactions"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal specs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True)
