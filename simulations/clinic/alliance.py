"""The working alliance in session (Safran & Muran's model, DOMAIN.md §6).

Drift, ruptures of two kinds, the patient's rating, the therapist's noticing, and the resolution of
ruptures.

Each session, for the patients in treatment:

1. The latent alliance drifts around the patient's level and responds to symptom change.
2. At most one rupture occurs: a **withdrawal** or a **confrontation**, each with its own
   rate (more likely with a weak alliance, worsening symptoms and a therapist who contributes
   to ruptures).
3. The patient rates the alliance. A confrontation shows in the rating; a withdrawal is
   expressed indirectly and the rating hides most of it (``RuptureType.visibility``).
4. The therapist notices the rupture with a probability that depends on its type and on the
   therapist's noticing skill (attunement). Policies may add other ways of noticing (a drop of
   the measured rating) between this step and the next.
5. A noticed rupture is addressed (metacommunication) and resolved with a probability that
   rises with the therapist's repair skill (weighted by type) and the alliance before the
   rupture; an unnoticed one resolves only spontaneously. Resolved ruptures leave the alliance
   stronger; unresolved ones weaken it for good, cost symptoms and raise the dropout hazard:
   acutely (confrontation) or through a load that builds up over sessions (withdrawal).
"""

from __future__ import annotations

import numpy as np

from simulations.clinic.state import F32, Chunk, sigmoid, sigmoid_

__all__ = ["alliance_step", "resolve_ruptures"]


def alliance_step(c: Chunk) -> None:
    """Advance the alliance one session, steps 1-4: drift, rupture, rating, noticing.

    Examples
    --------
    >>> c = new_chunk()  # 50 patients of 5 therapists, patients drawn (a doctest fixture)
    >>> c.session = 0
    >>> alliance_step(c)  # drift, rupture, rating, noticing for every patient
    >>> c.a.shape, c.a.dtype, sorted(set(c.rupture.tolist())) <= [0, 1, 2]
    ((50,), dtype('float32'), True)
    """
    al, rt = c.config.alliance, c.config.ruptures
    wd, cf = rt.withdrawal, rt.confrontation
    a = c.a  # in place: one pass over the chunk per line
    a -= c.level
    a *= F32(al.persistence)
    a += c.level
    drift = c.normal("alliance")
    drift *= F32(al.innovation_sd)
    a += drift
    np.multiply(c.change, F32(al.symptom_response), out=drift)
    a += drift
    worsening = np.maximum(c.worse, 0)
    base = c.of_therapist("rupture_propensity")
    p = []
    for kind in (wd, cf):
        x = a * F32(-kind.alliance)
        x += base
        x += F32(kind.logit)
        np.multiply(worsening, F32(kind.worsening), out=drift)
        x += drift
        p.append(sigmoid_(x))
    p_w, p_c = p
    u = c.uniform("rupture")
    withdrawal = c.active & (u < p_w)
    p_c += p_w
    confrontation = c.active & ~withdrawal & (u < p_c)
    c.rupture = withdrawal.view(np.int8) + 2 * confrontation.view(np.int8)
    # the few ruptured patients only (indexed by c.ruptured): alliance before the rupture, damage
    c.ruptured = idx = np.flatnonzero(c.rupture)
    is_c = confrontation[idx]
    c.a_before = a[idx]
    c.damage = np.where(is_c, F32(cf.damage), F32(wd.damage))
    a[idx] -= c.damage
    c.hidden *= F32(al.persistence)
    c.hidden[idx] += np.where(is_c, F32(1 - cf.visibility), F32(1 - wd.visibility)) * c.damage
    rating = a + c.hidden
    rating *= F32(al.rating_sd)
    rating += F32(al.rating_mean)
    noise = c.normal("rating")
    noise *= F32(al.rating_noise_sd)
    rating += noise
    c.prev_rating, c.rating = c.rating, np.clip(rating, 1, 5, out=rating)
    u_notice = c.uniform("notice")
    logit = (np.where(is_c, F32(cf.notice_logit), F32(wd.notice_logit))
             + c.of_therapist("noticing_skill")[idx] + c.notice_boost[idx])
    c.noticed = np.zeros(c.n, bool)
    c.noticed[idx] = u_notice[idx] < sigmoid(logit)
    c.meta_boost = np.zeros(c.n, F32)


def resolve_ruptures(c: Chunk) -> None:
    """Step 5: resolution of this session's ruptures and its consequences.

    Examples
    --------
    >>> c = new_chunk()  # 50 patients of 5 therapists, patients drawn (a doctest fixture)
    >>> c.session = 0
    >>> alliance_step(c)
    >>> resolve_ruptures(c)
    >>> c.repaired.shape, bool((c.repaired <= (c.rupture > 0)).all())  # only ruptures are repaired
    ((50,), True)
    """
    al, rt = c.config.alliance, c.config.ruptures
    wd, cf = rt.withdrawal, rt.confrontation
    u = c.uniform("repair")
    idx = c.ruptured
    is_c = c.rupture[idx] == 2
    pick = lambda w, k: np.where(is_c, F32(k), F32(w))  # noqa: E731 - per-type constant
    before = F32(al.repair_alliance) * c.a_before
    skill = c.of_therapist("repair_skill")[idx] + c.repair_boost[idx]
    addressed = (pick(wd.resolve_logit, cf.resolve_logit) + before + c.meta_boost[idx]
                 + pick(wd.skill_weight, cf.skill_weight) * skill)
    spontaneous = pick(wd.spontaneous_logit, cf.spontaneous_logit) + before
    p = sigmoid(np.where(c.noticed[idx], addressed, spontaneous))
    fixed = u[idx] < p
    c.repaired = np.zeros(c.n, bool)
    c.repaired[idx] = fixed
    damage = c.damage
    gain = damage * F32(1 + al.repair_bonus) * fixed
    c.a[idx] += gain
    c.level[idx] += damage * np.where(fixed, F32(al.repair_bonus), F32(-al.unrepaired_loss))
    c.hidden[idx] -= damage * (1 - pick(wd.visibility, cf.visibility)) * fixed
    c.dev[idx] += pick(wd.symptom, cf.symptom) * ~fixed
    for k, kind in enumerate((wd, cf)):
        c.load[k] *= F32(kind.dropout_persistence)
    c.load[is_c.view(np.int8), idx] += ~fixed
    c.n_rupt[is_c.view(np.int8), idx] += 1
    c.n_resolved[is_c.view(np.int8), idx] += fixed
    c.n_noticed[idx] += c.noticed[idx]
