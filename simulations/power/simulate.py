"""Data of a simulated trial from :class:`~simulations.power.design.TrialDesign`.

Vectorised over patients: effects, scores at every measurement, then dropout. Under
MCAR dropout (``informative = 0``) each patient leaves after measurement j with the
design's Weibull-curve hazard; with ``informative = g`` the log-odds of leaving after any
measurement are shifted by ``g`` times the patient's standardised slope effect (patient and
therapist parts; positive means less improvement on a higher-is-worse scale), so
patients who improve less leave more often and the completers look better than everyone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.power.design import TrialDesign

__all__ = ["simulate_trial"]


def simulate_trial(design: TrialDesign, rng: np.random.Generator, *,
                   effect: float | None = None) -> pd.DataFrame:
    """Simulate one trial's long data.

    The columns are ``patient``, ``therapist``, ``arm``, ``session``, ``time``, ``score`` and each
    patient's ``end_status`` (``completed``/``dropout``).

    ``effect`` overrides the design's slope difference (e.g. drawn from a design prior).
    Control patients of a partially nested design have ``therapist = "none-<patient>"``
    (each is their own cluster of one).

    Examples
    --------
    >>> d = TrialDesign(n_therapists=3, patients_per_therapist=4, n_sessions=5, cohend=-0.5,
    ...                 dropout=0.3)
    >>> f = simulate_trial(d, np.random.default_rng(1))
    >>> sizes = f.groupby("patient").size()
    >>> f["patient"].nunique(), sorted(f["arm"].unique().tolist()), int(sizes.max())
    (24, [0, 1], 5)
    """
    b3 = design.slope_diff_value if effect is None else float(effect)
    n2, n3 = design.patients_per_therapist, design.n_therapists
    n_tx = n2 * n3
    n_c = design.control_patients
    n = n_tx + n_c
    arm = np.r_[np.ones(n_tx, int), np.zeros(n_c, int)]
    n_ther = n3 if design.nesting == "partial" else 2 * n3
    ther = np.r_[np.repeat(np.arange(n3), n2),
                 np.repeat(np.arange(n3, 2 * n3), n2) if design.nesting == "full"
                 else np.full(n_c, -1)]
    u = rng.multivariate_normal(np.zeros(2), design.patient_cov(), size=n, method="cholesky")
    v = rng.multivariate_normal(np.zeros(2), design.therapist_cov(), size=n_ther,
                                method="cholesky")
    eff = u + np.where(ther[:, None] >= 0, v[np.maximum(ther, 0)], 0.0)
    t = design.times
    slope = b3 * arm + eff[:, 1]
    mu = eff[:, :1] + slope[:, None] * t[None, :]
    y = mu + rng.normal(0.0, design.sigma_error, size=mu.shape)
    last = _last_observed(design, eff[:, 1], rng)
    keep = np.arange(len(t))[None, :] <= last[:, None]
    pid = np.repeat(np.arange(n)[:, None], len(t), axis=1)
    names = np.array([f"t{k}" for k in range(n_ther)], dtype=object)
    therapist = np.where(ther >= 0, names[np.maximum(ther, 0)],
                         np.char.add("none-", np.arange(n).astype(str)).astype(object))
    status = np.where(last < len(t) - 1, "dropout", "completed")
    rows = pid[keep]
    return pd.DataFrame({"patient": rows, "therapist": therapist[rows], "arm": arm[rows],
                         "session": np.tile(np.arange(len(t)), (n, 1))[keep],
                         "time": np.tile(t, (n, 1))[keep], "score": y[keep],
                         "end_status": status[rows]})


def _last_observed(design: TrialDesign, slope_effect: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Each patient's last observed measurement under the (possibly informative) dropout."""
    n, k = len(slope_effect), design.n_sessions
    if design.dropout == 0:
        return np.full(n, k - 1)
    p_last = design.last_session_probabilities()
    at_risk = 1.0 - np.cumsum(np.r_[0.0, p_last[:-1]])  # still in before measurement j
    hazard = np.clip(p_last[:-1] / at_risk[:-1], 1e-12, 1 - 1e-12)  # leave after j
    logit = np.log(hazard / (1 - hazard))[None, :]
    sd = float(np.sqrt(design.patient_cov()[1, 1] + design.therapist_cov()[1, 1])) or 1.0
    logit = logit + design.informative * (slope_effect / sd)[:, None]
    leave = rng.uniform(size=(n, k - 1)) < 1.0 / (1.0 + np.exp(-logit))
    return np.where(leave.any(1), leave.argmax(1), k - 1)
