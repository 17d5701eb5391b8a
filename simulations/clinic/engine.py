"""The session loop of the clinic simulator, for one chunk of patients at a time.

Everything is an array over the chunk's patients; the only Python loop is over sessions.
Internally scores live on a *severity* scale (0 = best, ``max - min`` = worst) so that the
same code serves instruments where higher is better; observed scores are converted back.

Each stochastic component draws from its own stream the same number of variates every
session whether or not a policy acts, so policies run on one seed share all noise (common
random numbers). Policy effects only ever change deterministic state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulations.clinic.config import ClinicConfig
from simulations.clinic.monitors import Monitor
from simulations.clinic.policies import AllianceRepair, ClinicalSupport, Feedback, Referral

__all__ = ["DOMAINS", "SESSION_TRUTH", "ChunkResult", "Plan", "run_chunk", "therapist_effects"]

#: Per-session hidden columns recorded when sessions are kept.
SESSION_TRUTH = ("latent_score", "latent_alliance", "rupture", "repaired", "alert", "action")
#: CST domain codes (0 = no CST assessment).
DOMAINS = ("none", "crisis", "alliance", "motivation", "social_support", "case_formulation",
           "no_failing_domain")
_STREAMS = ("patient", "course", "stress", "measure", "act", "alliance", "rupture",
            "rupture_type", "repair", "rating", "dropout")
F32 = np.float32


@dataclass(frozen=True)
class Plan:
    """A policy resolved into its parts, with a bound monitor (``None``: no monitoring)."""

    feedback: Feedback | None
    support: ClinicalSupport | None
    repair: AllianceRepair | None
    referral: Referral | None
    monitor: Monitor | None


@dataclass
class ChunkResult:
    """Arrays of one chunk: per patient (1-D) and per session x patient (``obs``, matrices:
    session-major, so that each session's writes and the monitor's reads are contiguous)."""

    therapist: np.ndarray
    obs: np.ndarray
    last_session: np.ndarray
    end: np.ndarray
    patient: dict[str, np.ndarray]
    matrices: dict[str, np.ndarray] = field(default_factory=dict)
    variates: dict[str, int] = field(default_factory=dict)


def therapist_effects(config: ClinicConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the therapists' true effects (see
    :class:`~simulations.clinic.config.TherapistConfig`)."""
    t = config.therapists
    z = rng.standard_normal((5, config.n_therapists))
    return {
        "rate_effect": t.rate_sd * z[0],
        "intake_effect": t.intake_sd * z[1],
        "alliance_skill": t.alliance_sd * z[2],
        "dropout_effect": t.dropout_sd * z[3],
        # mean-one log-normal multiplier of the probability of acting on an alert
        "responsiveness": np.exp(t.responsiveness_sd * z[4] - t.responsiveness_sd**2 / 2),
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def run_chunk(config: ClinicConfig, plan: Plan, th: dict[str, np.ndarray], th_of: np.ndarray,
              ss: np.random.SeedSequence, *, record: bool) -> ChunkResult:
    """Simulate the patients of one chunk (``th_of``: their therapists) through all sessions."""
    n, n_sess = len(th_of), config.max_sessions
    inst = config.instrument
    hiw, lo, hi = inst.higher_is_worse, inst.min_score, inst.max_score
    span, rci, sem = hi - lo, inst.rci, inst.measurement_sd
    cut = (inst.cutoff - lo) if hiw else (hi - inst.cutoff)
    co, al, rk, dr = config.course, config.alliance, config.risk, config.dropout
    children = ss.spawn(len(_STREAMS))
    gens = {k: np.random.default_rng(s) for k, s in zip(_STREAMS, children, strict=True)}
    drawn = {"normal": 0, "uniform": 0}

    def normal(stream: str, k: int = 1) -> np.ndarray:
        drawn["normal"] += k * n
        return gens[stream].standard_normal((k, n) if k > 1 else n, dtype=F32)

    def uniform(stream: str, k: int = 1) -> np.ndarray:
        drawn["uniform"] += k * n
        return gens[stream].random((k, n) if k > 1 else n, dtype=F32)

    # ---- patients: intake, trajectory class, risk factors, alliance level, dropout propensity
    zp, up = normal("patient", 4), uniform("patient", 8)
    low_plan = config.min_planned
    planned = (low_plan + (up[7] * (n_sess - low_plan + 1)).astype(np.int16)).clip(max=n_sess)
    mean_sev = (config.intake_mean_value - lo) if hiw else (hi - config.intake_mean_value)
    latent_sd = math.sqrt(max(config.intake_sd_value**2 - sem**2
                              - config.therapists.intake_sd**2, 0.01))
    sev0 = np.clip(mean_sev + th["intake_effect"][th_of] + latent_sd * zp[0], 0, span).astype(F32)
    readiness, comorb = up[1] < rk.p_low_readiness, up[2] < rk.p_comorbidity
    prior_neg, stress = up[3] < rk.p_prior_negative, up[4] < rk.p_external_stress
    klass = np.searchsorted(np.cumsum(co.class_probs)[:-1], up[0], side="right").astype(np.int8)
    rate = (np.asarray(co.class_rates, dtype=F32)[klass] + F32(co.rate_sd) * zp[1]
            + th["rate_effect"][th_of].astype(F32)
            - F32(rk.readiness_rate) * readiness - F32(rk.comorbidity_rate) * comorb)
    initial_rate = rate.copy()
    step = sev0 / F32(math.log1p(co.reference_session))
    level = (F32(al.patient_sd) * zp[2] + th["alliance_skill"][th_of].astype(F32)
             - F32(rk.prior_negative_alliance) * prior_neg)
    initial_level = level.copy()
    static = (dr.base_logit + th["dropout_effect"][th_of] + dr.frailty_sd * zp[3]
              + rk.readiness_dropout * readiness + rk.stress_dropout * stress).astype(F32)
    p_event = (rk.stress_event_p * stress).astype(F32)
    has_gain = up[5] < co.p_sudden_gain
    gain_at = np.where(has_gain, 2 + (up[6] * 6).astype(np.int16), -1)
    p_act = np.zeros(n, F32)
    if plan.feedback is not None:
        base_p = plan.support.p_act if plan.support is not None else plan.feedback.p_act
        p_act = np.minimum(base_p * th["responsiveness"][th_of], 1.0).astype(F32)

    # ---- state
    course, dev, a = sev0.copy(), np.zeros(n, F32), level.copy()
    sev = sev0.copy()
    logit_spont = math.log(al.p_spontaneous_repair / (1 - al.p_spontaneous_repair))
    obs = np.empty((n_sess, n), F32)
    active = np.ones(n, bool)
    last = np.zeros(n, np.int16)
    end = np.zeros(n, np.int8)  # 0 completed, 1 dropout, 2 referred
    flagged, first_flag = np.zeros(n, bool), np.full(n, -1, np.int16)
    acted, act_at = np.zeros(n, bool), np.full(n, -1, np.int16)
    domain = np.zeros(n, np.int8)
    n_rupt, n_rep = np.zeros(n, np.int16), np.zeros(n, np.int16)
    early_sum, early_n = np.zeros(n, F32), np.zeros(n, np.int8)
    ge_count = np.zeros(n, np.int16)
    prev_rating = np.full(n, np.nan, F32)
    o0 = prev_o = None
    mats = {k: np.zeros((n_sess, n), F32) for k in ("alliance", "latent_score",
                                                    "latent_alliance")} if record else {}
    if record:
        mats |= {"rupture": np.zeros((n_sess, n), np.int8), "repaired": np.zeros((n_sess, n), bool),
                 "alert": np.zeros((n_sess, n), bool), "action": np.zeros((n_sess, n), bool)}

    for s in range(n_sess):
        last += active & (s > 0)  # arithmetic, not masked assignment: far faster in NumPy
        if s > 0:  # symptoms move since the last session: course, alliance, shocks, events
            dl = F32(math.log1p(s) - math.log(s))
            events = uniform("stress") < p_event
            course -= dl * step * (rate + F32(co.alliance_effect) * a)
            # transient deviations (AR(1)): shocks and life events fade, so a patient flagged
            # in a bad week can still recover, as many NOT cases do under TAU
            dev *= F32(co.shock_persistence)
            dev += F32(co.shock_sd) * normal("course") + F32(rk.stress_event_size) * events
            if co.p_sudden_gain > 0:
                course[gain_at == s] *= F32(1 - co.sudden_gain_fraction)
            sev = np.clip(course + dev, 0, span)
        o_sev = np.clip(np.rint(sev + F32(sem) * normal("measure")), 0, span)
        obs[s] = (lo + o_sev) if hiw else (hi - o_sev)
        if s == 0:
            o0 = prev_o = o_sev
        worse = (o_sev - o0) / F32(rci)
        worsening = np.maximum(worse, 0)  # in RCIs since intake; improvement = this - worse

        # ---- monitoring, feedback, clinical support, referral
        alert = act = np.zeros(n, bool)
        if plan.feedback is not None:  # the act stream is only used when someone may act
            u_act = uniform("act")
        if plan.monitor is not None and s > 0:
            alert = plan.monitor.flag(s, obs[: s + 1].T, instrument=inst) & active
            first_flag += (s + 1) * (alert & ~flagged)  # from -1 to s at the first alert
            flagged |= alert
            if plan.feedback is not None:
                act = alert & (u_act < p_act)
                first = np.flatnonzero(act & ~acted)
                if len(first):
                    _first_action(first, plan, config, rate, static, p_event, level, domain,
                                  readiness, comorb, stress, (o_sev - prev_o) >= rci,
                                  prev_rating)
                    act_at[first] = s
                    planned[first] = np.minimum(planned[first] + plan.feedback.extend_sessions,
                                                n_sess)
                acted |= act
            if plan.referral is not None:
                start = act_at if plan.feedback is not None else first_flag
                referred = alert & (start >= 0) & (s - start >= plan.referral.after_sessions)
                end += 2 * referred.view(np.int8)
                active &= ~referred

        # ---- in-session alliance: drift, ruptures, noticing, repair
        improvement = (prev_o - o_sev) / F32(rci)
        a = level + F32(al.persistence) * (a - level) + F32(al.innovation_sd) * normal("alliance")
        a += F32(al.symptom_response) * improvement
        p_rupture = _sigmoid(al.rupture_logit - al.rupture_alliance * a
                             + al.rupture_worsening * worsening)
        rupture = active & (uniform("rupture") < p_rupture)
        confront = uniform("rupture_type") < al.p_confrontation
        damage = (F32(al.damage_withdrawal)
                  + F32(al.damage_confrontation - al.damage_withdrawal) * confront) * rupture
        # patients with a stronger alliance (before the rupture) resolve ruptures more often
        p_repair = _sigmoid(F32(logit_spont) + F32(al.repair_alliance) * a)
        a -= damage
        rating = np.clip(al.rating_mean + al.rating_sd * a + al.rating_noise_sd * normal("rating"),
                         1, 5)
        if plan.repair is not None:
            noticed = (prev_rating - rating >= plan.repair.drop) | (rating <= plan.repair.low)
            p_repair = np.maximum(p_repair, F32(plan.repair.p_success) * noticed)
        repaired = rupture & (uniform("repair") < p_repair)
        unrepaired = rupture & ~repaired
        a += damage * repaired * F32(1 + al.repair_bonus)
        level += damage * (repaired * F32(al.repair_bonus) - unrepaired * F32(al.unrepaired_loss))
        dev += F32(al.unrepaired_symptom) * unrepaired
        n_rupt += rupture
        n_rep += repaired
        if s < 3:
            early_sum += rating * active
            early_n += active
        if record:
            _record(mats, s, active, rating, sev, a, rupture, confront, repaired, alert, act,
                    hiw, lo, hi)
        prev_rating, prev_o = rating, o_sev

        # ---- endings: planned length, good-enough level, dropout (missing not at random)
        active &= planned > s + 1
        if s == n_sess - 1 or not active.any():
            break
        u_drop = uniform("dropout")
        if config.good_enough:
            ge_count = (ge_count + 1) * (o_sev < cut)
            active &= ~(ge_count >= config.good_enough_sessions)
        logit = (static + F32(dr.front_loading / (1 + s)) - F32(dr.alliance) * a
                 + F32(dr.unrepaired_rupture) * unrepaired
                 + F32(dr.worsening) * worsening
                 + F32(dr.improvement) * (worsening - worse))
        dropout = active & (u_drop < _sigmoid(logit))
        end += dropout.view(np.int8)
        active &= ~dropout

    if record:
        mats["score"] = obs
    final = obs[last, np.arange(n)]
    to_score = (lambda v: lo + v) if hiw else (lambda v: hi - v)
    patient = {
        "intake": obs[0].copy(), "final": final, "ever_not": flagged,
        "first_not_session": first_flag, "acted": acted, "first_action_session": act_at,
        "cst_domain": domain, "n_ruptures": n_rupt, "n_repaired": n_rep,
        "early_alliance": early_sum / np.maximum(early_n, 1),
        "latent_intake": to_score(sev0), "latent_final": to_score(sev),
        "trajectory_class": klass, "change_rate": initial_rate, "low_readiness": readiness,
        "comorbidity": comorb, "prior_negative_therapy": prior_neg, "external_stress": stress,
        "sudden_gain": has_gain & (gain_at <= last), "planned_sessions": planned,
        "alliance_level": initial_level, "dropout_frailty": F32(dr.frailty_sd) * zp[3],
    }
    return ChunkResult(therapist=th_of, obs=obs, last_session=last, end=end, patient=patient,
                       matrices=mats, variates=drawn)


def _record(mats: dict[str, np.ndarray], s: int, active: np.ndarray, rating: np.ndarray,
            sev: np.ndarray, a: np.ndarray, rupture: np.ndarray, confront: np.ndarray,
            repaired: np.ndarray, alert: np.ndarray, act: np.ndarray, hiw: bool, lo: float,
            hi: float) -> None:
    mats["alliance"][s] = rating
    mats["latent_score"][s] = (lo + sev) if hiw else (hi - sev)
    mats["latent_alliance"][s] = a
    mats["rupture"][s] = rupture * (1 + confront)
    mats["repaired"][s] = repaired
    mats["alert"][s] = alert
    mats["action"][s] = act


def _first_action(first: np.ndarray, plan: Plan, config: ClinicConfig, rate: np.ndarray,
                  static: np.ndarray, p_event: np.ndarray, level: np.ndarray,
                  domain: np.ndarray, readiness: np.ndarray, comorb: np.ndarray,
                  stress: np.ndarray, crisis: np.ndarray, last_rating: np.ndarray) -> None:
    """Apply therapists' first actions on alerts (in place, for patient indices ``first``):
    plain feedback, or clinical support tools that target the first failing domain."""
    fb, cst, rk = plan.feedback, plan.support, config.risk
    assert fb is not None
    static[first] += math.log(fb.dropout_odds)
    if cst is None:
        rate[first] += fb.rate_boost
        return
    rate[first] += cst.rate_boost
    fix = cst.domain_fix
    failing = [crisis[first], last_rating[first] < cst.low_alliance, readiness[first],
               stress[first], comorb[first]]
    chosen = np.zeros(len(first), np.int8)
    for code, is_failing in enumerate(failing, start=1):  # first failing domain, in order
        chosen[(chosen == 0) & is_failing] = code
    chosen[chosen == 0] = len(DOMAINS) - 1
    domain[first] = chosen
    calm = first[(chosen == 1) | (chosen == 4)]  # crisis plan / social support: fewer events
    p_event[calm] *= 1 - fix
    static[calm] -= fix * rk.stress_dropout * stress[calm]
    level[first[chosen == 2]] += cst.alliance_boost
    motivation = first[chosen == 3]
    rate[motivation] += fix * rk.readiness_rate
    static[motivation] -= fix * rk.readiness_dropout
    rate[first[chosen == 5]] += fix * rk.comorbidity_rate
