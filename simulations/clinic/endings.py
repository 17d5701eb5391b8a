"""How a treatment ends: its planned length, an optional good-enough ending, or dropout.

Dropout is a discrete-time hazard after each attended session, missing not at random: it is
front-loaded and rises with a weak alliance, unresolved ruptures (acutely after a
confrontation, through a slowly fading load after withdrawals), observed worsening *and*
rapid improvement, the client's risk factors, the therapist and the patient's own frailty.
Planned endings with referral are :meth:`simulations.clinic.state.Chunk.refer`.
"""

from __future__ import annotations

import numpy as np

from simulations.clinic.state import F32, Chunk, sigmoid

__all__ = ["end_of_session"]


def end_of_session(c: Chunk) -> None:
    """Apply the endings of this session (in place).

    Examples
    --------
    >>> c = new_chunk()  # 50 patients of 5 therapists, patients drawn (a doctest fixture)
    >>> from simulations.clinic.alliance import alliance_step, resolve_ruptures
    >>> from simulations.clinic.course import measure
    >>> c.session = 0
    >>> measure(c); alliance_step(c); resolve_ruptures(c)
    >>> end_of_session(c)  # some patients may drop out after intake
    >>> bool(c.active.sum() <= 50)
    True
    """
    s, cfg = c.session, c.config
    dr, rt = cfg.dropout, cfg.ruptures
    np.copyto(c.sev_end, c.sev, where=c.active)  # latent score at the last attended session
    c.active &= c.planned > s + 1
    if s == c.n_sessions - 1:
        c.active[:] = False  # the session limit: everyone left completes
        return
    if not c.active.any():
        return
    u = c.uniform("dropout")
    if cfg.good_enough:
        c.ge_count = (c.ge_count + 1) * (c.o_sev < c.cut)
        c.active &= ~(c.ge_count >= cfg.good_enough_sessions)
    # minus the hazard's logit, one in-place pass per term
    neg = c.a * F32(dr.alliance)
    neg -= c.static
    neg -= F32(dr.front_loading / (1 + s))
    for kind, load in zip(rt.types, c.load, strict=True):
        neg -= F32(kind.dropout) * load
    worsening = np.maximum(c.worse, 0)
    worsening *= F32(dr.worsening + dr.improvement)
    neg -= worsening
    worsening = c.worse * F32(dr.improvement)
    neg += worsening
    dropout = c.active & (u < sigmoid(-neg))
    c.end += dropout.view(np.int8)
    c.active &= ~dropout
