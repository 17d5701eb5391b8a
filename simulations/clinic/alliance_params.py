"""Alliance and rupture parameters: the alliance process, rupture types and their resolution.

They are sub-configurations of :class:`~simulations.clinic.config.ClinicConfig`.

Withdrawal and confrontation ruptures are two processes with their own parameters (Safran &
Muran's rupture markers; DOMAIN.md §6): each has its own rate, its own **visibility** to the
patient's alliance rating and to the therapist (an observer), its own cost to symptoms and to
retention, and its own resolution path. Defaults carry DOMAIN.md provenance tags; numbers with
no published value are [assumed] and were set during calibration (``docs/simulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulations.clinic.validate import check_all

__all__ = ["AllianceConfig", "RuptureConfig", "RuptureType"]


@dataclass(frozen=True)
class RuptureType:
    """One kind of alliance rupture.

    How often it happens, who sees it, what it costs and how it is resolved.

    Parameters
    ----------
    logit : float
        Logit of a rupture of this type in a session at average alliance, with an average
        therapist and no worsening.
    alliance : float
        Increase of that logit per SD of weaker latent alliance.
    worsening : float
        Increase per RCI of observed worsening since intake.
    damage : float
        Immediate drop of the latent alliance (patient SDs).
    visibility : float
        Share of the damage that shows in the patient's own alliance rating while the rupture
        is unresolved (1: fully visible; withdrawal is expressed indirectly, by deferring and
        pleasing, so the patient's rating hides most of it).
    notice_logit : float
        Logit that the therapist notices the rupture in the session (attunement), for a
        therapist of average noticing skill. Observer-coded confrontation matches what patients
        report (d = 1.54, Eubanks, Lubitz, Muran & Safran 2019 [V]); withdrawal is the harder
        one to see.
    resolve_logit : float
        Logit that a noticed rupture is resolved when the therapist addresses it, for a
        therapist of average repair skill at average alliance.
    skill_weight : float
        Weight of the therapist's repair skill in that logit: confrontations ask the therapist
        to disembed from a hostile exchange (Safran & Muran 1996 [V]), so skill matters more.
    spontaneous_logit : float
        Logit that an unnoticed rupture resolves by itself.
    symptom : float
        Symptom worsening (score points, fading like other shocks) after an unresolved
        rupture; with the defaults the repair-outcome correlation is near r = .29 (Eubanks,
        Muran & Safran 2018 [V]) [calibrated].
    dropout : float
        Increase of the dropout logit per unit of unresolved-rupture load. Observer-coded
        confrontation predicted dropout, d = .74 (Eubanks et al. 2019 [V]).
    dropout_persistence : float
        Share of the load kept from one session to the next: 0 makes the dropout risk acute
        (that session only, the confrontation pattern); withdrawal ruptures accumulate quietly
        and weighed more among dropouts in a qualitative study (PMC9856216 [S]).

    Examples
    --------
    >>> WITHDRAWAL.logit > CONFRONTATION.logit  # withdrawals outnumber confrontations
    True
    >>> from dataclasses import replace
    >>> replace(WITHDRAWAL, damage=0.5).damage
    0.5
    """

    logit: float
    alliance: float
    worsening: float
    damage: float
    visibility: float
    notice_logit: float
    resolve_logit: float
    skill_weight: float
    spontaneous_logit: float
    symptom: float
    dropout: float
    dropout_persistence: float

    def validate(self, prefix: str) -> None:
        """Check every field (errors name ``prefix.field``)."""
        check_all(self, prefix, {
            "logit": (-50.0, 5.0), "alliance": (-5.0, 5.0), "worsening": (-5.0, 5.0),
            "damage": (0.0, 5.0), "visibility": (0.0, 1.0), "notice_logit": (-20.0, 20.0),
            "resolve_logit": (-20.0, 20.0), "skill_weight": (0.0, 5.0),
            "spontaneous_logit": (-20.0, 20.0), "symptom": (-20.0, 20.0),
            "dropout": (-5.0, 10.0), "dropout_persistence": (0.0, 0.99),
        })


#: Withdrawal: the more frequent, indirect kind (deferring, pleasing, going silent) [assumed
#: values]: mostly hidden from the patient's rating and noticed through attunement only.
WITHDRAWAL = RuptureType(
    logit=-2.35, alliance=0.6, worsening=0.3, damage=0.7, visibility=0.2, notice_logit=-0.9,
    resolve_logit=0.4, skill_weight=0.7, spontaneous_logit=-1.6, symptom=2.2, dropout=0.3,
    dropout_persistence=0.75)
#: Confrontation: hostility or criticism towards the therapist [assumed values]: visible to
#: patient and observer, acute dropout risk.
CONFRONTATION = RuptureType(
    logit=-2.9, alliance=0.45, worsening=0.7, damage=1.0, visibility=1.0, notice_logit=1.7,
    resolve_logit=0.0, skill_weight=1.2, spontaneous_logit=-2.0, symptom=2.8, dropout=1.3,
    dropout_persistence=0.0)


@dataclass(frozen=True)
class RuptureConfig:
    """The two rupture types.

    Parameters
    ----------
    withdrawal, confrontation : RuptureType
        Each type's process (defaults: module constants ``WITHDRAWAL`` and ``CONFRONTATION``).
        In a session at most one rupture occurs; with the defaults ruptures occur in about
        a quarter of sessions, within the 19-42% of sessions in which patients report tension
        (Miller, quoted [S]) [calibrated], and withdrawals outnumber confrontations
        [assumed].

    Examples
    --------
    >>> rt = RuptureConfig()
    >>> rt.withdrawal is WITHDRAWAL, rt.confrontation is CONFRONTATION
    (True, True)
    """

    withdrawal: RuptureType = field(default_factory=lambda: WITHDRAWAL)
    confrontation: RuptureType = field(default_factory=lambda: CONFRONTATION)

    def __post_init__(self) -> None:
        for name in ("withdrawal", "confrontation"):
            value = getattr(self, name)
            if not isinstance(value, RuptureType):
                raise ValueError(f"ruptures.{name} must be a RuptureType")
            value.validate(f"ruptures.{name}")

    @property
    def types(self) -> tuple[RuptureType, RuptureType]:
        """(withdrawal, confrontation): rupture codes 1 and 2."""
        return self.withdrawal, self.confrontation


@dataclass(frozen=True)
class AllianceConfig:
    """Alliance process (latent, patient SD units) and what repair does to it.

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
    repair_alliance : float
        Increase in the logit of resolving a rupture per SD of stronger alliance before it
        [assumed].
    repair_bonus : float
        A resolved rupture restores the alliance and adds this share of the damage on top,
        also to the patient's alliance level: repaired ruptures go with better outcomes than
        no rupture (Eubanks et al. 2018 [S]) [assumed].
    unrepaired_loss : float
        Share of an unresolved rupture's damage that lowers the patient's alliance level for
        good [assumed].
    rating_mean, rating_sd, rating_noise_sd : float
        Observed rating = mean + sd * (latent alliance + hidden damage) + noise, clipped to
        [1, 5] (a WAI-SR-like item mean) [assumed].

    Examples
    --------
    >>> al = AllianceConfig()
    >>> 0 < al.persistence < 1
    True
    >>> AllianceConfig(persistence=0.5).persistence
    0.5
    """

    patient_sd: float = 1.0
    persistence: float = 0.7
    innovation_sd: float = 0.35
    symptom_response: float = 0.15
    repair_alliance: float = 0.9
    repair_bonus: float = 0.6
    unrepaired_loss: float = 0.5
    rating_mean: float = 3.9
    rating_sd: float = 0.55
    rating_noise_sd: float = 0.2

    def __post_init__(self) -> None:
        check_all(self, "alliance", {
            "patient_sd": (0.0, 5.0), "persistence": (0.0, 1.0), "innovation_sd": (0.0, 5.0),
            "symptom_response": (-5.0, 5.0), "repair_alliance": (-5.0, 5.0),
            "repair_bonus": (0.0, 5.0), "unrepaired_loss": (0.0, 5.0), "rating_mean": (1.0, 5.0),
            "rating_sd": (0.0, 4.0), "rating_noise_sd": (0.0, 4.0),
        })
