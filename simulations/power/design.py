"""`TrialDesign`: a two-arm longitudinal trial with patients nested in therapists.

The model is powerlmm's three-level growth model (Magnusson; Galbraith, Marschner &
Stevens 2002): for measurement j of patient i of therapist k in arm TX (0 control, 1
treatment), at times ``t = 0 .. t_end`` in ``n_sessions`` equal steps::

    y_ijk = b0 + b1 t + (b2 + b3 t) TX + u0_i + u1_i t + v0_k + v1_k t + e_ijk

with patient effects ``(u0, u1)`` (correlation ``corr_subject``), therapist effects
``(v0, v1)`` (``corr_cluster``) and residual SD ``sigma_error``. The variances are given,
as in powerlmm, by relative inputs:

- ``icc_pre_subject``: share of the pre-treatment variance between patients, therapists
  included, ``(su0^2 + sv0^2) / (su0^2 + sv0^2 + se^2)``;
- ``icc_pre_cluster``: share between therapists, ``sv0^2 / (su0^2 + sv0^2 + se^2)``;
- ``var_ratio``: slope variance relative to the residual, ``(su1^2 + sv1^2) / se^2``;
- ``icc_slope``: share of the slope variance between therapists, ``sv1^2 / (su1^2 + sv1^2)``.

The effect is the time x treatment coefficient ``b3``, given either as a slope difference
per unit of time or as Cohen's d at the end of treatment standardised by the pre-treatment
SD (powerlmm's default, ``standardizer = "pretest_SD"``): ``d = b3 t_end / sqrt(su0^2 +
sv0^2 + se^2)``. ``nesting="partial"`` puts therapists in the treatment arm only (e.g.
group therapy against a waiting list); control patients are then independent.

Dropout is monotone: the share ``dropout`` of patients has left by the last session,
following a Weibull curve in time (``dropout_shape`` 1 constant, < 1 early, > 1 late:
powerlmm's ``dropout_weibull``); intake is always observed. ``informative`` makes it
missing not at random in simulations: the log-odds of leaving after a session rise by
``informative`` per SD of the patient's own slope (positive: patients who improve less
leave more) [assumed; Arndt et al. 2020 find both worsening and improving patients leave].

Defaults: therapist share of intake variance 5% and of slope variance 5% (DOMAIN.md §5:
therapist effects about 5%, plausible 1-10%); patient share 50% and slope-to-residual
variance 0.02 are powerlmm's vignette values [assumed].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np

__all__ = ["TrialDesign"]


@dataclass(frozen=True)
class TrialDesign:
    """A two-arm trial of therapy with repeated measures and therapist clustering.

    Parameters
    ----------
    n_therapists : int
        Therapists per arm (fully nested) or in the treatment arm (partially nested).
    patients_per_therapist : int
        Patients per therapist.
    n_sessions : int
        Measurements per patient, equally spaced from 0 to ``t_end``.
    t_end : float, optional
        Time of the last measurement (default ``n_sessions - 1``).
    cohend : float, optional
        Standardised end-of-treatment difference (treatment minus control; negative is
        better on a scale where higher is worse). Give this or ``slope_diff``.
    slope_diff : float, optional
        Difference in slope per unit of time (``b3``).
    sigma_error, icc_pre_subject, icc_pre_cluster, icc_slope, var_ratio : float
        Residual SD and the relative variance inputs of the module docstring.
    corr_subject, corr_cluster : float
        Intercept-slope correlations of patients and of therapists.
    nesting : {"full", "partial"}
        Therapists in both arms, or in the treatment arm only.
    n_control : int, optional
        Control patients of a partially nested design (default: as many as treated).
    dropout : float
        Share of patients who have dropped out by the last session (0 to < 1).
    dropout_shape : float
        Weibull shape of the dropout curve.
    informative : float
        Log-odds of dropping out per SD of the patient's slope (simulations only).
    alpha : float
        Two-sided test level.

    Examples
    --------
    >>> d = TrialDesign(n_therapists=4, patients_per_therapist=10, n_sessions=11,
    ...                 cohend=-0.8, icc_pre_cluster=0.0)
    >>> round(d.slope_diff_value, 4), d.n_patients
    (-1.1314, 80)
    """

    n_therapists: int = 10
    patients_per_therapist: int = 10
    n_sessions: int = 11
    t_end: float | None = None
    cohend: float | None = None
    slope_diff: float | None = None
    sigma_error: float = 10.0
    icc_pre_subject: float = 0.5
    icc_pre_cluster: float = 0.05
    icc_slope: float = 0.05
    var_ratio: float = 0.02
    corr_subject: float = -0.5
    corr_cluster: float = 0.0
    nesting: Literal["full", "partial"] = "full"
    n_control: int | None = None
    dropout: float = 0.0
    dropout_shape: float = 1.0
    informative: float = 0.0
    alpha: float = 0.05

    def __post_init__(self) -> None:
        for name, low in (("n_therapists", 2), ("patients_per_therapist", 1),
                          ("n_sessions", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"TrialDesign.{name} must be an integer >= {low}, got {value!r}")
            object.__setattr__(self, name, int(value))
        if (self.cohend is None) == (self.slope_diff is None):
            raise ValueError("give the effect as exactly one of cohend (standardised end-of-"
                             "treatment difference) or slope_diff (difference in slope)")
        if self.nesting not in ("full", "partial"):
            raise ValueError(f"TrialDesign.nesting must be 'full' or 'partial', got "
                             f"{self.nesting!r}")
        checks = {"sigma_error": (0, math.inf, True), "icc_pre_subject": (0, 1, False),
                  "icc_pre_cluster": (0, 1, False), "icc_slope": (0, 1, False),
                  "var_ratio": (0, math.inf, False), "corr_subject": (-1, 1, False),
                  "corr_cluster": (-1, 1, False), "dropout": (0, 1, False),
                  "dropout_shape": (0, math.inf, True), "alpha": (0, 1, True)}
        for name, (low, high, open_low) in checks.items():
            v = float(getattr(self, name))
            if not (math.isfinite(v) and (v > low if open_low else v >= low) and v <= high) or (
                    name in ("dropout", "alpha") and v >= 1):
                raise ValueError(f"TrialDesign.{name} = {getattr(self, name)!r} is out of range")
        if self.icc_pre_cluster > self.icc_pre_subject:
            raise ValueError("TrialDesign.icc_pre_cluster cannot exceed icc_pre_subject (the "
                             "subject share includes the therapists')")
        if self.t_end is not None and not self.t_end > 0:
            raise ValueError(f"TrialDesign.t_end must be positive, got {self.t_end!r}")
        if self.n_control is not None and (self.nesting != "partial" or self.n_control < 2):
            raise ValueError("TrialDesign.n_control (>= 2) is for partially nested designs")

    # ------------------------------------------------------------------ derived values
    @property
    def times(self) -> np.ndarray:
        """Measurement times ``0 .. t_end``."""
        end = self.n_sessions - 1 if self.t_end is None else self.t_end
        return np.linspace(0.0, float(end), self.n_sessions)

    @property
    def variances(self) -> dict[str, float]:
        """``su0, su1, sv0, sv1`` (SDs) and ``se`` from the relative inputs."""
        se2 = self.sigma_error**2
        pre = se2 / (1.0 - self.icc_pre_subject)  # total pre-treatment variance
        slope = self.var_ratio * se2
        return {"se": self.sigma_error,
                "su0": math.sqrt(pre * (self.icc_pre_subject - self.icc_pre_cluster)),
                "sv0": math.sqrt(pre * self.icc_pre_cluster),
                "su1": math.sqrt(slope * (1 - self.icc_slope)),
                "sv1": math.sqrt(slope * self.icc_slope)}

    @property
    def pretest_sd(self) -> float:
        """SD of the scores at time 0 (the standardiser of ``cohend``)."""
        return self.sigma_error / math.sqrt(1.0 - self.icc_pre_subject)

    @property
    def slope_diff_value(self) -> float:
        """The time x treatment coefficient ``b3``."""
        if self.slope_diff is not None:
            return float(self.slope_diff)
        return float(self.slope_of(float(self.cohend)))

    @property
    def cohend_value(self) -> float:
        """The effect as Cohen's d at the end of treatment (pretest SD)."""
        return float(self.cohend_of(self.slope_diff_value))

    def slope_of(self, cohend: Any) -> Any:
        """Convert Cohen's d at the end of treatment (a number or an array) to ``b3``.

        Examples
        --------
        >>> d = TrialDesign(cohend=-0.5)
        >>> bool(np.isclose(d.cohend_of(d.slope_of(0.3)), 0.3))
        True
        """
        return cohend * self.pretest_sd / float(self.times[-1])

    def cohend_of(self, slope: Any) -> Any:
        """Convert a time x treatment coefficient ``b3`` to Cohen's d (inverts :meth:`slope_of`)."""
        return slope * float(self.times[-1]) / self.pretest_sd

    @property
    def n_patients(self) -> int:
        """Patients in both arms."""
        treated = self.n_therapists * self.patients_per_therapist
        return treated + (treated if self.nesting == "full" else self.control_patients)

    @property
    def control_patients(self) -> int:
        """Patients in the control arm."""
        if self.nesting == "full" or self.n_control is None:
            return self.n_therapists * self.patients_per_therapist
        return int(self.n_control)

    def patient_cov(self) -> np.ndarray:
        """Covariance of a patient's (intercept, slope) effects."""
        v = self.variances
        c = self.corr_subject * v["su0"] * v["su1"]
        return np.array([[v["su0"] ** 2, c], [c, v["su1"] ** 2]])

    def therapist_cov(self) -> np.ndarray:
        """Covariance of a therapist's (intercept, slope) effects."""
        v = self.variances
        c = self.corr_cluster * v["sv0"] * v["sv1"]
        return np.array([[v["sv0"] ** 2, c], [c, v["sv1"] ** 2]])

    def last_session_probabilities(self) -> np.ndarray:
        """P(last observed measurement = j), j = 0..n_sessions-1, under the dropout curve."""
        t = self.times
        if self.dropout == 0:
            out = np.zeros(len(t))
            out[-1] = 1.0
            return out
        scale = t[-1] / (-math.log1p(-self.dropout)) ** (1.0 / self.dropout_shape)
        gone = 1.0 - np.exp(-((t / scale) ** self.dropout_shape))  # left by time t
        stay = 1.0 - gone
        return np.append(stay[:-1] - stay[1:], stay[-1])  # left after j, or completed

    # ------------------------------------------------------------------ conversions
    def with_values(self, **changes: Any) -> TrialDesign:
        """Return a copy with some fields changed (e.g. ``n_therapists=12``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain fields (inverse of :meth:`from_mapping`)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrialDesign:
        """Make a design from a mapping such as a study condition; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown trial design setting(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in values.items()})
