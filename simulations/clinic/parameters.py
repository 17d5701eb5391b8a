"""Sub-configurations of :class:`~simulations.clinic.config.ClinicConfig`.

Course, therapists, risk factors, dropout and the follow-up to a common horizon (the alliance and
rupture parameters are in :mod:`simulations.clinic.alliance_params`).

Every default cites its source in ``DOMAIN.md`` with its provenance tag ([V] verified, [S]
secondary, [derived], or [assumed]/[calibrated] for modelling choices without a published
number). Every field is validated; errors name the field and its allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulations.clinic.alliance_params import AllianceConfig
from simulations.clinic.validate import check, check_all, check_int

__all__ = [
    "TRAJECTORY_CLASSES",
    "AllianceConfig",
    "CourseConfig",
    "DropoutConfig",
    "FollowUpConfig",
    "RiskConfig",
    "TherapistConfig",
]

TRAJECTORY_CLASSES: tuple[str, ...] = ("early", "gradual", "non_responder", "deteriorator")
Setting = Literal["trial", "routine"]


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

    Examples
    --------
    >>> co = CourseConfig()
    >>> len(co.class_probs), round(sum(co.class_probs), 6)
    (4, 1.0)
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
            check("course.class_probs", p, 0.0, 1.0)
        if abs(sum(self.class_probs) - 1.0) > 1e-9:
            raise ValueError(f"course.class_probs must sum to 1, got {sum(self.class_probs)}")
        for r in self.class_rates:
            check("course.class_rates", r, -2.0, 1.5)
        check_all(self, "course", {
            "rate_sd": (0.0, 2.0), "reference_session": (1, 100), "shock_sd": (0.0, 20.0),
            "shock_persistence": (0.0, 1.0),
            "alliance_effect": (-2.0, 2.0), "p_sudden_gain": (0.0, 1.0),
            "sudden_gain_fraction": (0.0, 1.0),
        })


@dataclass(frozen=True)
class TherapistConfig:
    """Therapist effects.

    Change rate, caseload severity, alliance, ruptures and their repair, dropout, use of feedback
    and the therapist's stance towards their own effectiveness.

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
        SD of the therapist effect on the dropout logit. With the rupture and repair skills
        below it puts about 10% of latent dropout variance at therapist level, between 5.7%
        (Zimmermann et al. 2017 [V]) and 12.6% (Saxon et al. 2017 [V]) [derived].
    responsiveness_sd : float
        SD of the log multiplier of a therapist's probability of acting on a feedback alert;
        therapists differ in how they use feedback (Lutz et al. 2022 [V]) [assumed].
    noticing_sd : float
        SD of the therapist's rupture-noticing skill (attunement; logit of noticing a
        rupture) [assumed]: metacommunication starts with noticing (Safran & Muran 1996 [V]).
    repair_sd : float
        SD of the therapist's repair (metacommunication) skill, on the logit of resolving a
        noticed rupture [assumed].
    rupture_sd : float
        SD of the therapist's own contribution to ruptures (rupture logit). Observer-rated
        therapist contribution to ruptures predicted dropout, d = .61 (Eubanks, Lubitz,
        Muran & Safran 2019 [V]) [calibrated to that].
    stance_feedback : float
        Lower log responsiveness to feedback per SD of the therapist overrating their own
        effectiveness. Therapists overrate themselves (25% place themselves at the 90th
        percentile, Walfish et al. 2012 [V]); their self-view does not match their measured
        effectiveness (Constantino et al. 2023 [S]); professional self-doubt goes with better
        outcomes (Nissen-Lie et al. 2017 [S]). The size is [assumed].
    stance_alliance : float
        Lower alliance skill (latent SDs) per SD of overrating (Nissen-Lie et al. 2017 [S];
        size [assumed]).

    Examples
    --------
    >>> TherapistConfig().rate_sd > 0
    True
    >>> TherapistConfig(rate_sd=0.0).rate_sd  # no therapist effect on change
    0.0
    """

    rate_sd: float = 0.11
    intake_sd: float = 0.5
    alliance_sd: float = 0.3
    dropout_sd: float = 0.3
    responsiveness_sd: float = 0.3
    noticing_sd: float = 1.0
    repair_sd: float = 0.8
    rupture_sd: float = 1.0
    stance_feedback: float = 0.6
    stance_alliance: float = 0.1

    def __post_init__(self) -> None:
        check_all(self, "therapists", {
            "rate_sd": (0.0, 2.0), "intake_sd": (0.0, 20.0), "alliance_sd": (0.0, 5.0),
            "dropout_sd": (0.0, 5.0), "responsiveness_sd": (0.0, 3.0),
            "noticing_sd": (0.0, 5.0), "repair_sd": (0.0, 5.0), "rupture_sd": (0.0, 5.0),
            "stance_feedback": (-5.0, 5.0), "stance_alliance": (-5.0, 5.0),
        })


@dataclass(frozen=True)
class RiskConfig:
    """Adverse-outcome factors of the client and their life.

    Low readiness, comorbidity, earlier negative therapy, external stress. DOMAIN.md lists these
    factors (Lambert 2013 via PMC9856216 [S]; negative treatment expectations and higher impairment
    predict dropout, Zimmermann et al. 2017 [V]) but no prevalences or effect sizes: all values are
    [assumed]. Each factor raises both deterioration and dropout (tested in
    ``tests/simulations/clinic/test_factors.py``).

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
    readiness_dropout, stress_dropout, comorbidity_dropout, prior_negative_dropout : float
        Increase in the dropout logit.

    Examples
    --------
    >>> rk = RiskConfig()
    >>> all(0 <= p <= 1 for p in (rk.p_low_readiness, rk.p_comorbidity, rk.p_prior_negative,
    ...                           rk.p_external_stress))
    True
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
    comorbidity_dropout: float = 0.2
    prior_negative_dropout: float = 0.2

    def __post_init__(self) -> None:
        check_all(self, "risk", {
            "p_low_readiness": (0.0, 1.0), "p_comorbidity": (0.0, 1.0),
            "p_prior_negative": (0.0, 1.0), "p_external_stress": (0.0, 1.0),
            "readiness_rate": (-2.0, 2.0), "comorbidity_rate": (-2.0, 2.0),
            "prior_negative_alliance": (-5.0, 5.0), "stress_event_p": (0.0, 1.0),
            "stress_event_size": (-50.0, 50.0), "readiness_dropout": (-5.0, 5.0),
            "stress_dropout": (-5.0, 5.0), "comorbidity_dropout": (-5.0, 5.0),
            "prior_negative_dropout": (-5.0, 5.0),
        })


@dataclass(frozen=True)
class DropoutConfig:
    """Discrete-time dropout hazard after each attended session (missing not at random).

    The hazard also rises with unresolved ruptures, by type
    (:class:`~simulations.clinic.alliance_params.RuptureType`), and with the risk factors.

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
        d = .55 (Sharf, Primavera & Diener 2010 [V]) [calibrated to about that d for the
        early-alliance rating].
    worsening, improvement : float
        Logit increase per RCI of observed worsening, and of improvement, since intake: both
        deteriorating and rapidly improving patients drop out more (Arndt et al. 2020 [V]).
    frailty_sd : float
        SD of a patient's own dropout propensity (logit) [assumed].

    Examples
    --------
    >>> DropoutConfig().setting
    'trial'
    >>> DropoutConfig(setting="routine").setting
    'routine'
    """

    setting: Setting = "trial"
    trial_logit: float = -6.1
    routine_logit: float = -5.52
    front_loading: float = 2.5
    alliance: float = 0.17
    worsening: float = 0.35
    improvement: float = 0.15
    frailty_sd: float = 0.5

    def __post_init__(self) -> None:
        if self.setting not in ("trial", "routine"):
            raise ValueError(f"dropout.setting must be 'trial' or 'routine', got {self.setting!r}")
        check_all(self, "dropout", {
            "trial_logit": (-20.0, 5.0), "routine_logit": (-20.0, 5.0),
            "front_loading": (-5.0, 10.0), "alliance": (-5.0, 5.0),
            "worsening": (-5.0, 5.0), "improvement": (-5.0, 5.0), "frailty_sd": (0.0, 5.0),
        })

    @property
    def base_logit(self) -> float:
        """Baseline logit of the chosen setting."""
        return self.trial_logit if self.setting == "trial" else self.routine_logit


@dataclass(frozen=True)
class FollowUpConfig:
    """Life after this treatment.

    The common horizon, the course off treatment and the next treatment of a referred patient.

    Sessions are weekly [assumed], so session ``s`` is week ``s`` and the horizon is a week
    number. Every patient is followed to the horizon whatever ended their treatment, so that
    continuing a failing treatment and ending it to refer are compared on the same outcome at
    the same time.

    Parameters
    ----------
    horizon : int or None
        Week of the common follow-up assessment; ``None`` takes 26 (half a year) or
        ``max_sessions`` if that is later.
    drift : float
        Weekly share of the gap to the untreated course closed off treatment: gains fade a
        little, an untreated course improves a little [assumed].
    natural_change : float
        Share of intake severity an untreated course sheds by itself (the level the course
        drifts to off treatment) [assumed].
    referral_wait : int
        Weeks between a planned ending with referral and the first session of the next
        treatment [assumed].
    next_sessions : int
        Weekly sessions of the next treatment (STAR*D's acute steps lasted up to 12-14 weeks,
        Rush et al. 2006 [V]) [assumed 12].
    next_response : float
        Mean change rate of the next treatment relative to a first treatment. STAR*D's
        remission fell from 36.8% at step 1 to 30.6% at step 2 (then 13.7% and 13.0%), Rush et
        al. 2006 [V]: 0.83 = 30.6 / 36.8 [derived; a shape, not a psychotherapy number].

    Examples
    --------
    >>> FollowUpConfig().horizon is None  # 26 weeks or max_sessions, whichever is later
    True
    >>> from simulations.clinic.config import ClinicConfig
    >>> ClinicConfig(n_patients=10, n_therapists=2).horizon
    26
    """

    horizon: int | None = None
    drift: float = 0.02
    natural_change: float = 0.25
    referral_wait: int = 3
    next_sessions: int = 12
    next_response: float = 0.83

    def __post_init__(self) -> None:
        if self.horizon is not None:
            check_int("follow_up.horizon", self.horizon, 2, 520)
        check_int("follow_up.referral_wait", self.referral_wait, 0, 104)
        check_int("follow_up.next_sessions", self.next_sessions, 1, 200)
        check_all(self, "follow_up", {"drift": (0.0, 1.0), "natural_change": (-1.0, 1.0),
                                      "next_response": (0.0, 3.0)})
