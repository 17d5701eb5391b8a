"""Alliance policies: rupture repair, training in it, and the alliance-focused switch.

Rupture repair by metacommunication, training in it, and the switch of early alliance-based
potential failures to an alliance-focused treatment (Safran & Muran).

Metacommunication is a therapist skill (``noticing_skill`` and ``repair_skill`` of
``SimulatedClinic.therapists``): these policies act through it, so their effect differs from
therapist to therapist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from simulations.clinic.policies.base import Policy
from simulations.clinic.state import F32
from simulations.clinic.validate import check, check_int, check_prob

if TYPE_CHECKING:
    from simulations.clinic.state import Chunk

__all__ = ["AllianceFocusedSwitch", "AllianceRepair", "RepairTraining"]


@dataclass(frozen=True)
class AllianceRepair(Policy):
    """Rupture repair: a noticed rupture triggers metacommunication.

    The alliance is measured every session, and a noticed rupture triggers metacommunication whose
    success depends on the therapist's repair skill.

    Noticing: the therapist notices a rupture through the measured rating (a drop of at least
    ``drop`` points since the last session, or a rating of at most ``low``), which catches
    confrontations far more often than withdrawals, since patients' ratings hide withdrawals;
    or through attunement (the therapist's noticing skill, raised by ``attunement`` logits
    while the alliance is attended to every session), the only way withdrawals are seen.
    Metacommunication on a noticed rupture succeeds with probability ``p_success`` for a
    therapist of average repair skill at average alliance (more with more skill, weighted by
    rupture type; never less than without the policy). Resolved ruptures restore and
    strengthen the alliance; unresolved ones weaken it, worsen symptoms and raise dropout
    (Eubanks, Muran & Safran 2018 [V]: repair-outcome r = .29; Muran et al. 2009 [V] and
    Eubanks et al. 2019 [V]: resolution predicts retention).

    No trial gives the effect of such a policy: ``p_success`` and ``attunement`` are
    [assumed]. Vary them in a sensitivity analysis before relying on the size of the effect.

    Examples
    --------
    >>> from simulations.clinic.config import ClinicConfig
    >>> from simulations.clinic.simulate import simulate
    >>> run = simulate(ClinicConfig(n_patients=60, n_therapists=4), AllianceRepair(), seed=1)
    >>> AllianceRepair.name, len(run.patients)
    ('alliance-repair', 60)
    """

    name: ClassVar[str] = "alliance-repair"
    order: ClassVar[int] = 40
    drop: float = 0.5
    low: float = 3.0
    p_success: float = 0.6
    attunement: float = 0.8

    def __post_init__(self) -> None:
        check("alliance_repair.p_success", self.p_success, 0.001, 0.999)
        check("alliance_repair.drop", self.drop, 0.0, 4.0, open_low=True)
        check("alliance_repair.low", self.low, 1.0, 5.0)
        check("alliance_repair.attunement", self.attunement, 0.0, 10.0)

    def start(self, chunk: Chunk) -> None:
        """Attending to the alliance every session sharpens attunement."""
        chunk.notice_boost += F32(self.attunement)

    def during_session(self, chunk: Chunk) -> None:
        """Notice through the rating; metacommunicate on what was noticed."""
        idx = chunk.ruptured
        if not len(idx):
            return
        rating, prev = chunk.rating[idx], chunk.prev_rating[idx]
        seen = (prev - rating >= self.drop) | (rating <= self.low)
        chunk.noticed[idx] |= seen
        rt = chunk.config.ruptures
        tau_logit = np.where(chunk.rupture[idx] == 2, F32(rt.confrontation.resolve_logit),
                             F32(rt.withdrawal.resolve_logit))
        target = F32(math.log(self.p_success / (1 - self.p_success)))
        chunk.meta_boost[idx] += np.maximum(target - tau_logit, 0)


@dataclass(frozen=True)
class RepairTraining(Policy):
    """Rupture-resolution training of every therapist.

    Their repair skill rises by ``skill_gain`` and their noticing skill by ``noticing_gain``
    (logits).

    Training or supervision in rupture resolution had a small effect on outcome, r = .11
    (d = .22), CI [-.09, .30] (Eubanks, Muran & Safran 2018 [V], 6 studies, 276 trainees);
    the defaults are [calibrated] so that training alone moves outcome by about that d
    (calibration target ``training_d``). Combine it with :class:`AllianceRepair` to train the
    therapists of a service that measures the alliance.

    Examples
    --------
    >>> policy = RepairTraining() + AllianceRepair()  # train the therapists of a measuring service
    >>> [p.name for p in policy.parts]
    ['alliance-repair', 'repair-training']
    """

    name: ClassVar[str] = "repair-training"
    order: ClassVar[int] = 45
    skill_gain: float = 0.8
    noticing_gain: float = 0.8

    def __post_init__(self) -> None:
        check("repair_training.skill_gain", self.skill_gain, -5.0, 5.0)
        check("repair_training.noticing_gain", self.noticing_gain, -5.0, 5.0)

    def start(self, chunk: Chunk) -> None:
        """Trained therapists notice and repair better."""
        chunk.repair_boost += F32(self.skill_gain)
        chunk.notice_boost += F32(self.noticing_gain)


@dataclass(frozen=True)
class AllianceFocusedSwitch(Policy):
    """Switch early alliance-based potential failures to an alliance-focused treatment.

    The design of Safran, Muran, Wallner Samstag & Winston (2005): identify early alliance-based
    potential treatment failures and switch them to an alliance-focused treatment (brief relational
    therapy, BRT).

    In the first ``window`` sessions a patient whose alliance rating is at most ``low`` in
    ``n_low`` sessions is identified as a potential failure (``switch_identified``); in the
    study 18 of 60 patients (30%) met the alliance-based criteria in the first 8 sessions
    [V], and ``low`` is [calibrated] to that (calibration target ``switch_identified``). An
    identified patient accepts the switch with probability ``p_accept`` (10 of the 18 did
    [V]). A switched patient's treatment becomes alliance-focused: their therapist's noticing
    and repair of ruptures rise by ``noticing_gain`` and ``skill_gain`` logits (BRT works
    through metacommunication) and their alliance level by ``alliance_boost`` SDs. The study
    gave preliminary evidence for BRT without effect sizes that were read: the gains are
    [assumed].

    Examples
    --------
    >>> from simulations.clinic.config import ClinicConfig
    >>> from simulations.clinic.simulate import simulate
    >>> run = simulate(ClinicConfig(n_patients=60, n_therapists=4), AllianceFocusedSwitch(),
    ...                seed=1)
    >>> AllianceFocusedSwitch.name, "switch_identified" in run.patients
    ('alliance-switch', True)
    """

    name: ClassVar[str] = "alliance-switch"
    order: ClassVar[int] = 50
    window: int = 8
    low: float = 3.2
    n_low: int = 2
    p_accept: float = 10 / 18
    noticing_gain: float = 1.5
    skill_gain: float = 1.0
    alliance_boost: float = 0.5

    def __post_init__(self) -> None:
        check_int("alliance_switch.window", self.window, 1, 200)
        check_int("alliance_switch.n_low", self.n_low, 1, 200)
        check("alliance_switch.low", self.low, 1.0, 5.0)
        check_prob("alliance_switch.p_accept", self.p_accept)
        for name in ("noticing_gain", "skill_gain", "alliance_boost"):
            check(f"alliance_switch.{name}", getattr(self, name), -5.0, 10.0)

    def start(self, chunk: Chunk) -> None:
        """Draw each patient's acceptance; make the output columns."""
        chunk.extra["_accept"] = chunk.uniform("switch") < self.p_accept
        chunk.column("switch_identified", bool)
        chunk.column("switched", bool)
        chunk.column("switch_session", np.int16, -1)
        chunk.column("_n_low", np.int16)

    def during_session(self, chunk: Chunk) -> None:
        """Count low ratings in the window; switch the identified who accept."""
        s = chunk.session
        if s >= self.window:
            return
        n_low = chunk.extra["_n_low"]
        n_low += chunk.active & (chunk.rating <= self.low)
        identified = chunk.extra["switch_identified"]
        new = chunk.active & (n_low >= self.n_low) & ~identified
        if not new.any():
            return
        identified |= new
        switch = new & chunk.extra["_accept"]
        chunk.extra["switched"] |= switch
        chunk.extra["switch_session"][switch] = s
        chunk.notice_boost[switch] += F32(self.noticing_gain)
        chunk.repair_boost[switch] += F32(self.skill_gain)
        chunk.level[switch] += F32(self.alliance_boost)
