"""Sub-configurations of :class:`~simulations.clinic.config.ClinicConfig`: course, therapists,
alliance and ruptures, risk factors, dropout.

Every default cites its source in ``DOMAIN.md`` with its provenance tag ([V] verified, [S]
secondary, [derived], or [assumed]/[calibrated] for modelling choices without a published
number). Every field is validated; errors name the field and its allowed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "TRAJECTORY_CLASSES",
    "AllianceConfig",
    "CourseConfig",
    "DropoutConfig",
    "RiskConfig",
    "TherapistConfig",
]

TRAJECTORY_CLASSES: tuple[str, ...] = ("early", "gradual", "non_responder", "deteriorator")
Setting = Literal["trial", "routine"]


def _check(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    """Raise ``ValueError`` naming the field and its allowed range."""
    ok = (low < value if open_low else low <= value) and value <= high
    if not (isinstance(value, int | float) and math.isfinite(value) and ok):
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")


def _check_all(obj: object, prefix: str, ranges: dict[str, tuple[float, float]]) -> None:
    for name, (low, high) in ranges.items():
        _check(f"{prefix}.{name}", getattr(obj, name), low, high)


@dataclass(frozen=True)
class CourseConfig:
    """Latent symptom course: log-linear in session, a mixture of trajectory classes.

    The latent score moves each session by ``-rate * intake / log(1 + reference_session)``
    times the increment of ``log(1 + session)``, so the mean curve is linear in log(session)
    as in the OQ expected recovery curves (Finch, Lambert & Schaalje 2001 [V]) and ``rate`` is
    the fraction of intake severity shed by ``reference_session``.

    Parameters
    ----------
    class_probs : tuple of 4 float
        Shares of early responders, gradual responders, non-responders and deteriorators.
        Latent-class studies find early-change, steady-change and plateau classes and a
        worsening-then-improving class (Stulz et al. 2007 [V]; Owen et al. 2015 [V];
        Saunders et al. 2019 [V]); the shares are [assumed], calibrated to IAPT outcome
        rates (Gyani et al. 2013 [V]).
    class_rates : tuple of 4 float
        Mean fraction of intake shed by ``reference_session`` in each class [assumed,
        calibrated]; about 50% improve by session 8 (Howard et al. 1986 [V]).
    rate_sd : float
        Within-class SD of the rate [assumed, calibrated].
    reference_session : int
        Session at which ``rate`` is reached on the mean curve; 12 is the mean trial length
        (Hansen, Lambert & Forman 2002 [V]).
    shock_sd : float
        SD of session-to-session latent shocks (score points) [assumed, calibrated].
    shock_persistence : float
        Share of last session's deviation from the course kept (AR(1)); deviations fade, so
        many not-on-track patients still recover (about 20% under TAU, Lambert 2017 [V])
        [calibrated].
    alliance_effect : float
        Change in rate per latent-alliance SD; with the alliance process it gives the
        alliance-outcome correlation r = .28 (Flückiger et al. 2018 [V]) [calibrated].
    p_sudden_gain : float
        Share of patients with one sudden gain; 0 switches gains off. About one third when on
        (Kelly, Cyranowski & Frank 2007 [V]).
    sudden_gain_fraction : float
        Size of a sudden gain as a fraction of the current latent score (Tang & DeRubeis
        1999: gains average about half of those patients' total improvement [V]).
    """

    class_probs: tuple[float, float, float, float] = (0.34, 0.42, 0.17, 0.07)
    class_rates: tuple[float, float, float, float] = (0.78, 0.55, 0.10, -0.25)
    rate_sd: float = 0.15
    reference_session: int = 12
    shock_sd: float = 2.5
    shock_persistence: float = 0.3
    alliance_effect: float = 0.08
    p_sudden_gain: float = 0.0
    sudden_gain_fraction: float = 0.3

    def __post_init__(self) -> None:
        if len(self.class_probs) != 4 or len(self.class_rates) != 4:
            raise ValueError("course.class_probs and course.class_rates need 4 values "
                             f"(one per class {TRAJECTORY_CLASSES})")
        for p in self.class_probs:
            _check("course.class_probs", p, 0.0, 1.0)
        if abs(sum(self.class_probs) - 1.0) > 1e-9:
            raise ValueError(f"course.class_probs must sum to 1, got {sum(self.class_probs)}")
        for r in self.class_rates:
            _check("course.class_rates", r, -2.0, 1.5)
        _check_all(self, "course", {
            "rate_sd": (0.0, 2.0), "reference_session": (1, 100), "shock_sd": (0.0, 20.0),
            "shock_persistence": (0.0, 1.0),
            "alliance_effect": (-2.0, 2.0), "p_sudden_gain": (0.0, 1.0),
            "sudden_gain_fraction": (0.0, 1.0),
        })


@dataclass(frozen=True)
class TherapistConfig:
    """Therapist effects: change rate, caseload severity, alliance skill, dropout, feedback use.

    Parameters
    ----------
    rate_sd : float
        SD of the therapist effect on the change rate; gives a therapist share of outcome
        variance of about 5% (Johns et al. 2019 [V]; Wampold & Brown 2005 [V]) [calibrated].
    intake_sd : float
        SD of therapist caseload severity (score points) [assumed]; caseloads with more severe
        patients fare worse (Saxon & Barkham 2012 [V]).
    alliance_sd : float
        SD of therapist alliance-building skill in latent-alliance SDs [assumed].
    dropout_sd : float
        SD of the therapist effect on the dropout logit. 0.6 puts about 10% of latent dropout
        variance at therapist level, between 5.7% (Zimmermann et al. 2017 [V]) and 12.6%
        (Saxon et al. 2017 [V]) [derived: 0.36 / (0.36 + pi^2/3)].
    responsiveness_sd : float
        SD of the log multiplier of a therapist's probability of acting on a feedback alert;
        therapists differ in how they use feedback (Lutz et al. 2022 [V]) [assumed].
    """

    rate_sd: float = 0.11
    intake_sd: float = 0.5
    alliance_sd: float = 0.3
    dropout_sd: float = 0.6
    responsiveness_sd: float = 0.3

    def __post_init__(self) -> None:
        _check_all(self, "therapists", {
            "rate_sd": (0.0, 2.0), "intake_sd": (0.0, 20.0), "alliance_sd": (0.0, 5.0),
            "dropout_sd": (0.0, 5.0), "responsiveness_sd": (0.0, 3.0),
        })


@dataclass(frozen=True)
class AllianceConfig:
    """Alliance process (latent, patient SD units) and ruptures with their repair.

    Parameters
    ----------
    patient_sd : float
        SD of the patient's alliance level [assumed].
    persistence : float
        Share of last session's deviation from the patient's level kept each session [assumed].
    innovation_sd : float
        SD of session-to-session alliance change [assumed].
    symptom_response : float
        Alliance gain per RCI of improvement since the last session (early improvement
        strengthens the alliance) [assumed].
    rupture_logit : float
        Logit of the rupture probability at average alliance; with the defaults ruptures
        occur in about 23% of sessions, within the 19-42% of sessions in which patients
        report tension (Miller, quoted [S]) [calibrated].
    rupture_alliance : float
        Increase in the rupture logit per SD of weaker alliance [assumed].
    rupture_worsening : float
        Increase in the rupture logit per RCI of worsening since intake [assumed].
    p_confrontation : float
        Share of ruptures that are confrontations rather than withdrawals [assumed];
        confrontation markers are the more visible ones (Eubanks et al. 2019 [V]).
    damage_withdrawal, damage_confrontation : float
        Immediate alliance drop of each rupture type (latent SDs) [assumed].
    p_spontaneous_repair : float
        Probability that a rupture is resolved without a deliberate repair policy, at
        average alliance before the rupture [assumed]; with the defaults about a quarter of
        ruptures are resolved under treatment as usual.
    repair_alliance : float
        Increase in the logit of spontaneous repair per SD of stronger alliance [assumed].
    unrepaired_symptom : float
        Symptom worsening (score points, fading like other shocks) after an unrepaired
        rupture; with the alliance effects it gives the repair-outcome r = .29 (Eubanks,
        Muran & Safran 2018 [V]) [calibrated].
    repair_bonus : float
        A repaired rupture restores the alliance and adds this share of the damage on top,
        also to the patient's alliance level: repaired ruptures go with better outcomes than
        no rupture (Eubanks et al. 2018 [S]) [assumed].
    unrepaired_loss : float
        Share of an unrepaired rupture's damage that lowers the patient's alliance level for
        good [assumed].
    rating_mean, rating_sd, rating_noise_sd : float
        Observed rating = mean + sd * latent + noise, clipped to [1, 5] (a WAI-SR-like item
        mean) [assumed].
    """

    patient_sd: float = 1.0
    persistence: float = 0.7
    innovation_sd: float = 0.35
    symptom_response: float = 0.15
    rupture_logit: float = -1.6
    rupture_alliance: float = 0.5
    rupture_worsening: float = 0.5
    p_confrontation: float = 0.4
    damage_withdrawal: float = 0.6
    damage_confrontation: float = 1.0
    p_spontaneous_repair: float = 0.45
    repair_alliance: float = 1.2
    unrepaired_symptom: float = 2.0
    repair_bonus: float = 0.6
    unrepaired_loss: float = 0.5
    rating_mean: float = 3.9
    rating_sd: float = 0.55
    rating_noise_sd: float = 0.2

    def __post_init__(self) -> None:
        _check_all(self, "alliance", {
            "patient_sd": (0.0, 5.0), "persistence": (0.0, 1.0), "innovation_sd": (0.0, 5.0),
            "symptom_response": (-5.0, 5.0), "rupture_logit": (-20.0, 20.0),
            "rupture_alliance": (-5.0, 5.0), "rupture_worsening": (-5.0, 5.0),
            "p_confrontation": (0.0, 1.0), "damage_withdrawal": (0.0, 5.0),
            "damage_confrontation": (0.0, 5.0), "p_spontaneous_repair": (0.001, 0.999),
            "repair_alliance": (-5.0, 5.0), "unrepaired_symptom": (-20.0, 20.0),
            "repair_bonus": (0.0, 5.0), "unrepaired_loss": (0.0, 5.0), "rating_mean": (1.0, 5.0),
            "rating_sd": (0.0, 4.0), "rating_noise_sd": (0.0, 4.0),
        })


@dataclass(frozen=True)
class RiskConfig:
    """Adverse-outcome risk factors: low readiness, comorbidity, earlier negative therapy,
    stigma/external stress. Prevalences and effects are [assumed]: DOMAIN.md lists these
    factors (Lambert 2013 via PMC9856216 [S]; Zimmermann et al. 2017 [V] on negative
    expectations and dropout) but no prevalences.

    Parameters
    ----------
    p_low_readiness, p_comorbidity, p_prior_negative, p_external_stress : float
        Prevalence of each factor.
    readiness_rate, comorbidity_rate : float
        Loss of change rate (fraction of intake by the reference session).
    prior_negative_alliance : float
        Lower starting alliance (latent SDs) after an earlier negative therapy.
    stress_event_p, stress_event_size : float
        Per-session probability and size (score points) of a life event under external stress.
    readiness_dropout, stress_dropout : float
        Increase in the dropout logit.
    """

    p_low_readiness: float = 0.20
    p_comorbidity: float = 0.30
    p_prior_negative: float = 0.15
    p_external_stress: float = 0.20
    readiness_rate: float = 0.20
    comorbidity_rate: float = 0.15
    prior_negative_alliance: float = 0.6
    stress_event_p: float = 0.15
    stress_event_size: float = 3.0
    readiness_dropout: float = 0.5
    stress_dropout: float = 0.3

    def __post_init__(self) -> None:
        _check_all(self, "risk", {
            "p_low_readiness": (0.0, 1.0), "p_comorbidity": (0.0, 1.0),
            "p_prior_negative": (0.0, 1.0), "p_external_stress": (0.0, 1.0),
            "readiness_rate": (-2.0, 2.0), "comorbidity_rate": (-2.0, 2.0),
            "prior_negative_alliance": (-5.0, 5.0), "stress_event_p": (0.0, 1.0),
            "stress_event_size": (-50.0, 50.0), "readiness_dropout": (-5.0, 5.0),
            "stress_dropout": (-5.0, 5.0),
        })


@dataclass(frozen=True)
class DropoutConfig:
    """Discrete-time dropout hazard after each attended session (missing not at random).

    Parameters
    ----------
    setting : {"trial", "routine"}
        Baseline: about 20% drop out in trial-like settings (Swift & Greenberg 2012: 19.7%
        [V]), about 30% in routine CBT (Bennemann et al. 2022 [V]).
    trial_logit, routine_logit : float
        Baseline hazard logit of each setting [calibrated to those rates].
    front_loading : float
        Extra logit after session 0 decaying as 1/(1 + session): most dropouts happen in the
        first few sessions (Swift & Greenberg 2012, as cited in PMC9856216 [S]); the default
        puts about 45% of dropouts in the first three sessions [assumed].
    alliance : float
        Logit increase per SD of weaker latent alliance; weaker alliance predicts dropout,
        d = .55 (Sharf, Primavera & Diener 2010 [V]); with ruptures and their repair the
        defaults give d of about .6 for the early-alliance rating [calibrated].
    unrepaired_rupture : float
        Logit increase in a session with an unrepaired rupture; confrontation ruptures and
        failed resolution predict dropout (Eubanks et al. 2019 [V]; Muran et al. 2009 [V]).
    worsening, improvement : float
        Logit increase per RCI of observed worsening, and of improvement, since intake: both
        deteriorating and rapidly improving patients drop out more (Arndt et al. 2020 [V]).
    frailty_sd : float
        SD of a patient's own dropout propensity (logit) [assumed].
    """

    setting: Setting = "trial"
    trial_logit: float = -5.9
    routine_logit: float = -5.25
    front_loading: float = 2.5
    alliance: float = 0.25
    unrepaired_rupture: float = 0.6
    worsening: float = 0.35
    improvement: float = 0.15
    frailty_sd: float = 0.5

    def __post_init__(self) -> None:
        if self.setting not in ("trial", "routine"):
            raise ValueError(f"dropout.setting must be 'trial' or 'routine', got {self.setting!r}")
        _check_all(self, "dropout", {
            "trial_logit": (-20.0, 5.0), "routine_logit": (-20.0, 5.0),
            "front_loading": (-5.0, 10.0), "alliance": (-5.0, 5.0),
            "unrepaired_rupture": (-5.0, 10.0), "worsening": (-5.0, 5.0),
            "improvement": (-5.0, 5.0), "frailty_sd": (0.0, 5.0),
        })

    @property
    def base_logit(self) -> float:
        """Baseline logit of the chosen setting."""
        return self.trial_logit if self.setting == "trial" else self.routine_logit
