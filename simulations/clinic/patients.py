"""Who is in the clinic.

Therapists' true effects and skills, and each patient's intake, trajectory class, risk factors,
alliance level and dropout propensity.

These are drawn once, before any session, and identically under every policy (common random
numbers): policies only ever change what happens afterwards.
"""

from __future__ import annotations

import math

import numpy as np

from simulations.clinic.config import ClinicConfig
from simulations.clinic.state import F32, Chunk

__all__ = ["THERAPIST_FACTORS", "draw_patients", "therapist_effects"]

#: Columns of ``SimulatedClinic.therapists`` (besides ``therapist`` and ``n_patients``).
THERAPIST_FACTORS = ("rate_effect", "intake_effect", "alliance_skill", "dropout_effect",
                     "responsiveness", "noticing_skill", "repair_skill", "rupture_propensity",
                     "overrating")


def therapist_effects(config: ClinicConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the therapists' true effects and skills.

    See :class:`~simulations.clinic.parameters.TherapistConfig`.

    ``overrating`` is the therapist's standardised overrating of their own effectiveness; it
    lowers their responsiveness to feedback (a mean-one log-normal multiplier of the
    probability of acting on an alert) and a little their alliance skill.

    Examples
    --------
    >>> th = therapist_effects(ClinicConfig(n_patients=50, n_therapists=5),
    ...                        np.random.default_rng(1))
    >>> sorted(th) == sorted(THERAPIST_FACTORS), th["repair_skill"].shape
    (True, (5,))
    """
    t = config.therapists
    z = rng.standard_normal((len(THERAPIST_FACTORS), config.n_therapists))
    over = z[8]
    log_resp = t.responsiveness_sd * z[4] - t.stance_feedback * over
    return {
        "rate_effect": t.rate_sd * z[0],
        "intake_effect": t.intake_sd * z[1],
        "alliance_skill": t.alliance_sd * z[2] - t.stance_alliance * over,
        "dropout_effect": t.dropout_sd * z[3],
        "responsiveness": np.exp(log_resp - (t.responsiveness_sd**2 + t.stance_feedback**2) / 2),
        "noticing_skill": t.noticing_sd * z[5],
        "repair_skill": t.repair_sd * z[6],
        "rupture_propensity": t.rupture_sd * z[7],
        "overrating": over,
    }


def draw_patients(c: Chunk) -> None:
    """Set the chunk's patient traits and initial state (in place).

    Examples
    --------
    >>> from simulations.clinic.config import ClinicConfig
    >>> from simulations.clinic.engine import setup
    >>> cfg = ClinicConfig(n_patients=50, n_therapists=5)
    >>> th, th_of = setup(cfg, seed=1)
    >>> c = Chunk(cfg, th, th_of, np.random.SeedSequence(1), record=False)
    >>> draw_patients(c)
    >>> c.sev0.shape, int(c.active.sum()), bool((c.planned <= cfg.max_sessions).all())
    ((50,), 50, True)
    """
    cfg = c.config
    co, al, rk, dr = cfg.course, cfg.alliance, cfg.risk, cfg.dropout
    n, n_sess = c.n, c.n_sessions
    zp, up = c.normal("patient", 5), c.uniform("patient", 9)
    low_plan = cfg.min_planned
    c.planned = (low_plan + (up[7] * (n_sess - low_plan + 1)).astype(np.int16)).clip(max=n_sess)
    mean_sev = (cfg.intake_mean_value - c.lo) if c.hiw else (c.hi - cfg.intake_mean_value)
    latent_sd = math.sqrt(max(cfg.intake_sd_value**2 - c.sem**2
                              - cfg.therapists.intake_sd**2, 0.01))
    c.sev0 = np.clip(mean_sev + c.of_therapist("intake_effect") + latent_sd * zp[0],
                     0, c.span).astype(F32)
    c.readiness, c.comorb = up[1] < rk.p_low_readiness, up[2] < rk.p_comorbidity
    c.prior_neg, c.stress = up[3] < rk.p_prior_negative, up[4] < rk.p_external_stress
    cum = np.cumsum(co.class_probs)[:-1]
    c.klass = np.searchsorted(cum, up[0], side="right").astype(np.int8)
    rates = np.asarray(co.class_rates, dtype=F32)
    penalty = F32(rk.readiness_rate) * c.readiness + F32(rk.comorbidity_rate) * c.comorb
    c.rate = (rates[c.klass] + F32(co.rate_sd) * zp[1] + c.of_therapist("rate_effect")
              - penalty).astype(F32)
    c.initial_rate = c.rate.copy()
    # the next treatment of a referred patient: a fresh class (another treatment may suit
    # where this one did not), a lower mean response as in STAR*D's steps, the same risks
    next_class = np.searchsorted(cum, up[8], side="right")
    c.next_rate = (F32(cfg.follow_up.next_response) * (rates[next_class]
                                                       + F32(co.rate_sd) * zp[4])
                   - penalty).astype(F32)
    c.step = c.sev0 / F32(math.log1p(co.reference_session))
    c.level = (F32(al.patient_sd) * zp[2] + c.of_therapist("alliance_skill")
               - F32(rk.prior_negative_alliance) * c.prior_neg).astype(F32)
    c.initial_level = c.level.copy()
    c.frailty = F32(dr.frailty_sd) * zp[3]
    c.static = (dr.base_logit + c.of_therapist("dropout_effect") + c.frailty
                + rk.readiness_dropout * c.readiness + rk.stress_dropout * c.stress
                + rk.comorbidity_dropout * c.comorb
                + rk.prior_negative_dropout * c.prior_neg).astype(F32)
    c.p_event = (rk.stress_event_p * c.stress).astype(F32)
    c.event = np.zeros(n, bool)
    c.has_gain = up[5] < co.p_sudden_gain
    c.gain_at = np.where(c.has_gain, 2 + (up[6] * 6).astype(np.int16), -1)
    # state
    c.course, c.dev, c.sev = c.sev0.copy(), np.zeros(n, F32), c.sev0.copy()
    c.anchor = c.sev0 * F32(1 - cfg.follow_up.natural_change)
    c.a = c.level.copy()
    c.hidden = np.zeros(n, F32)  # rupture damage the patient's rating does not show
    c.load = np.zeros((2, n), F32)  # unresolved-rupture load by type (dropout)
    c.rupture = np.zeros(n, np.int8)
    c.rating = c.prev_rating = np.full(n, np.nan, F32)
    c.scores = np.empty((n_sess, n), F32)
    c.o0 = c.o_sev = c.prev_o = None
    c.worse = c.change = np.zeros(n, F32)
    c.n_rupt = np.zeros((2, n), np.int16)
    c.n_resolved = np.zeros((2, n), np.int16)
    c.n_noticed = np.zeros(n, np.int16)
    c.early_sum, c.early_n = np.zeros(n, F32), np.zeros(n, np.int8)
    c.ge_count = np.zeros(n, np.int16)
    c.sev_end = c.sev0.copy()
    c.in_next = np.zeros(n, bool)
    c.next_step = np.zeros(n, F32)
