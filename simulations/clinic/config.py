"""`ClinicConfig`: everything that defines a simulated service, with literature defaults.

Every default cites its source in ``DOMAIN.md`` (provenance tag in brackets: [V] verified,
[S] secondary, [derived] computed from those, [assumed] a modelling choice with no published
number, set during calibration). Calibrated means: with these defaults, treatment as usual
and feedback reproduce the validation targets checked in ``tests/simulations`` and tabled in
``docs/simulator.md``.

The default instrument is the **PHQ-9**: it is the only instrument for which DOMAIN.md has a
verified routine-care outcome distribution on the same scale (IAPT: 6.6% reliable
deterioration, 63.7% reliable improvement, 40.3% recovery; Gyani et al. 2013 [V]), together
with intake norms (15.4, SD 5.5), the RCI of 6 and the caseness cutoff of 10. The OQ-45's
cutoff and the reliability behind its RCI are unverified, so its scale cannot be calibrated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from simulations.clinic.alliance_params import RuptureConfig
from simulations.clinic.parameters import (
    TRAJECTORY_CLASSES,
    AllianceConfig,
    CourseConfig,
    DropoutConfig,
    FollowUpConfig,
    RiskConfig,
    TherapistConfig,
)
from simulations.clinic.validate import check
from trajectories.instruments import Instrument, get_instrument

__all__ = [
    "TRAJECTORY_CLASSES",
    "AllianceConfig",
    "ClinicConfig",
    "CourseConfig",
    "DropoutConfig",
    "FollowUpConfig",
    "RiskConfig",
    "RuptureConfig",
    "TherapistConfig",
]

_PARTS = {"course": CourseConfig, "therapists": TherapistConfig, "alliance": AllianceConfig,
          "ruptures": RuptureConfig, "risk": RiskConfig, "dropout": DropoutConfig,
          "follow_up": FollowUpConfig}


@dataclass(frozen=True)
class ClinicConfig:
    """A simulated service: therapists, patients, instrument, course, alliance, dropout, ending.

    Parameters
    ----------
    n_patients : int
        Number of patients (1 to 100 million).
    n_therapists : int
        Number of therapists; patients are assigned to therapists at random with equal
        probability. The defaults give about 90 patients per therapist (Saxon & Barkham 2012:
        10,786 patients of 119 therapists [derived]).
    instrument : str or Instrument
        Outcome measure; PHQ-9 by default (see the module docstring for why).
    intake_mean, intake_sd : float or None
        Observed intake distribution; ``None`` takes the instrument's clinical norms
        (PHQ-9: 15.4, SD 5.5, NHS Talking Therapies 2022/23 [S]). The latent intake SD is
        reduced so that latent plus measurement error has this SD.
    max_sessions : int
        Session limit: sessions are numbered 0 (intake) to ``max_sessions - 1``. 20 covers the
        13-18 sessions needed for 50% to improve (Hansen et al. 2002 [V]).
    min_planned_sessions : int or None
        Each patient's planned number of sessions is uniform between this and
        ``max_sessions``; ``None`` takes 60% of ``max_sessions`` (12 of 20: with dropout,
        about the 12.7 sessions of trial treatments, Hansen et al. 2002 [V]).
    good_enough : bool
        End treatment (as completed) once the observed score has been below the cutoff for
        ``good_enough_sessions`` consecutive sessions (Barkham et al. 2006 [V]).
    good_enough_sessions : int
        Consecutive non-clinical sessions required by the good-enough rule.
    course, therapists, alliance, ruptures, risk, dropout, follow_up : sub-configurations
        See each class. ``follow_up.horizon`` (default week 26) is the common week at which
        every patient's outcome is assessed again, after whatever ended their treatment.

    Examples
    --------
    >>> cfg = ClinicConfig(n_patients=200, n_therapists=10)
    >>> cfg.instrument.name, cfg.patients_per_therapist
    ('PHQ-9', 20.0)
    >>> cfg
    ClinicConfig(200 patients of 10 therapists (about 20 each); PHQ-9 intake 15.4 (SD 5.5); \
12-20 planned sessions; trial dropout)
    >>> ClinicConfig(n_patients=0)
    Traceback (most recent call last):
    ...
    ValueError: n_patients must be in [1, 100000000], got 0
    >>> ClinicConfig.routine().dropout.setting
    'routine'
    >>> ClinicConfig().horizon
    26
    """

    n_patients: int = 2_000
    n_therapists: int = 22
    instrument: Instrument | str = "phq9"
    intake_mean: float | None = None
    intake_sd: float | None = None
    max_sessions: int = 20
    min_planned_sessions: int | None = None
    good_enough: bool = False
    good_enough_sessions: int = 2
    course: CourseConfig = field(default_factory=CourseConfig)
    therapists: TherapistConfig = field(default_factory=TherapistConfig)
    alliance: AllianceConfig = field(default_factory=AllianceConfig)
    ruptures: RuptureConfig = field(default_factory=RuptureConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    dropout: DropoutConfig = field(default_factory=DropoutConfig)
    follow_up: FollowUpConfig = field(default_factory=FollowUpConfig)

    def __post_init__(self) -> None:
        for name, high in (("n_patients", 100_000_000), ("n_therapists", 1_000_000),
                           ("max_sessions", 200), ("good_enough_sessions", 50)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValueError(f"{name} must be in [1, {high}], got {value!r}")
        if self.max_sessions < 2:
            raise ValueError(f"max_sessions must be in [2, 200], got {self.max_sessions}")
        low = self.min_planned_sessions
        if low is not None and (isinstance(low, bool) or not isinstance(low, int)
                                or not 1 <= low <= self.max_sessions):
            raise ValueError(f"min_planned_sessions must be in [1, max_sessions="
                             f"{self.max_sessions}], got {low!r}")
        if self.n_therapists > self.n_patients:
            raise ValueError(f"n_therapists must be in [1, n_patients={self.n_patients}], "
                             f"got {self.n_therapists}")
        inst = get_instrument(self.instrument)
        object.__setattr__(self, "instrument", inst)
        if inst.cutoff is None:
            raise ValueError(f"instrument {inst.name} has no clinical cutoff; the simulator "
                             "needs one (give Instrument(cutoff=...))")
        mean, sd = self.intake_mean_value, self.intake_sd_value
        check("intake_mean", mean, inst.min_score, inst.max_score)
        check("intake_sd", sd, inst.measurement_sd, inst.max_score - inst.min_score,
              open_low=True)
        for name, expected in _PARTS.items():
            if not isinstance(getattr(self, name), expected):
                raise ValueError(f"{name} must be a {expected.__name__}")
        horizon = self.follow_up.horizon
        if horizon is not None and horizon < self.max_sessions:
            raise ValueError(f"follow_up.horizon must be >= max_sessions={self.max_sessions} "
                             f"(the follow-up comes after the last possible session), "
                             f"got {horizon}")

    def __repr__(self) -> str:
        inst = get_instrument(self.instrument)
        ending = ", good-enough ending" if self.good_enough else ""
        return (f"ClinicConfig({self.n_patients} patients of {self.n_therapists} therapists "
                f"(about {self.patients_per_therapist:.0f} each); {inst.name} intake "
                f"{self.intake_mean_value:g} (SD {self.intake_sd_value:g}); "
                f"{self.min_planned}-{self.max_sessions} planned sessions{ending}; "
                f"{self.dropout.setting} dropout)")

    @classmethod
    def routine(cls, **changes: object) -> ClinicConfig:
        """Return the routine-care setting: about 30% dropout (Bennemann et al. 2022 [V])."""
        cfg = cls(**changes)  # type: ignore[arg-type]
        return replace(cfg, dropout=replace(cfg.dropout, setting="routine"))

    @property
    def intake_mean_value(self) -> float:
        """Observed intake mean (the instrument's clinical mean unless given)."""
        inst = get_instrument(self.instrument)
        value = self.intake_mean if self.intake_mean is not None else inst.clinical_mean
        if value is None:
            raise ValueError(f"intake_mean: instrument {inst.name} has no clinical mean; give one")
        return float(value)

    @property
    def intake_sd_value(self) -> float:
        """Observed intake SD (the instrument's clinical SD unless given)."""
        inst = get_instrument(self.instrument)
        value = self.intake_sd if self.intake_sd is not None else inst.clinical_sd
        if value is None:
            raise ValueError(f"intake_sd: instrument {inst.name} has no clinical SD; give one")
        return float(value)

    @property
    def min_planned(self) -> int:
        """Shortest planned treatment (sessions, intake included)."""
        if self.min_planned_sessions is not None:
            return self.min_planned_sessions
        return max(1, round(0.6 * self.max_sessions))

    @property
    def horizon(self) -> int:
        """Week of the common follow-up assessment.

        ``follow_up.horizon``, else 26 or ``max_sessions``, whichever is later.
        """
        given = self.follow_up.horizon
        return given if given is not None else max(26, self.max_sessions)

    @property
    def patients_per_therapist(self) -> float:
        """Mean caseload."""
        return self.n_patients / self.n_therapists

    def replace(self, **changes: object) -> ClinicConfig:
        """Return a copy with some values changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """Plain values for ``summary.json`` and provenance records."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Instrument):
                value = value.key
            elif hasattr(value, "__dataclass_fields__"):
                value = asdict(value)
            out[f.name] = value
        return out
