"""The fitting benchmark's data generator (workloads W1-W3 of issue 4).

Model, for session s = 0, 1, ... of patient p seen by therapist t::

    y = (b0 + u0_t + v0_p) + (b1 + u1_t + v1_p) * log(1 + s) + e
    b0 = 20, b1 = -3
    (u0, u1) ~ N(0, diag(1.5, 0.5)^2)                  therapist effects, independent
    (v0, v1) ~ N(0, [[5^2, -0.3*5*1.5], [., 1.5^2]])    patient effects, correlation -0.3
    e ~ N(0, 3^2)

After each observed session s < max_sessions - 1 the patient drops out with probability
``logistic(-3.2 + 0.25 * (latent - 20) / 5)``, where ``latent`` is the expected score at
that session without residual (worse-off patients leave more often: missing not at
random through the patient effects, but ignorable given them). Every patient has the
intake session. Workloads: W1 = 40 therapists x 25 patients x <= 12 sessions,
W2 = 200 x 50 x <= 16, W3 = 500 x 40 x <= 20.

Run ``python -m benchmarks.generate W2 out.csv`` to write a workload to CSV.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

__all__ = ["TRUTH", "WORKLOADS", "simulate_workload"]

#: (therapists, patients per therapist, maximum sessions including the intake)
WORKLOADS: dict[str, tuple[int, int, int]] = {
    "W1": (40, 25, 12),
    "W2": (200, 50, 16),
    "W3": (500, 40, 20),
}

#: True values, named like the posterior variables of ``GrowthSpec(time="log")``.
TRUTH: dict[str, float] = {
    "intercept": 20.0,
    "slope": -3.0,
    "therapist_intercept_sd": 1.5,
    "therapist_slope_sd": 0.5,
    "patient_intercept_sd": 5.0,
    "patient_slope_sd": 1.5,
    "patient_corr": -0.3,
    "residual_sd": 3.0,
}


def simulate_workload(
    n_therapists: int, patients_per_therapist: int, max_sessions: int, *, seed: int
) -> pd.DataFrame:
    """Simulate one data set: columns ``therapist, patient, session, score``.

    Examples
    --------
    >>> df = simulate_workload(3, 4, 5, seed=1)
    >>> list(df.columns), df["patient"].nunique()
    (['therapist', 'patient', 'session', 'score'], 12)
    """
    rng = np.random.default_rng(seed)
    n = n_therapists * patients_per_therapist
    therapist = np.repeat(np.arange(n_therapists), patients_per_therapist)
    u = rng.normal(size=(n_therapists, 2)) * [TRUTH["therapist_intercept_sd"],
                                              TRUTH["therapist_slope_sd"]]
    sd = np.array([TRUTH["patient_intercept_sd"], TRUTH["patient_slope_sd"]])
    corr = np.array([[1.0, TRUTH["patient_corr"]], [TRUTH["patient_corr"], 1.0]])
    v = rng.multivariate_normal(np.zeros(2), corr * np.outer(sd, sd), size=n)
    b0 = TRUTH["intercept"] + u[therapist, 0] + v[:, 0]
    b1 = TRUTH["slope"] + u[therapist, 1] + v[:, 1]
    rows = []
    active = np.ones(n, dtype=bool)
    for s in range(max_sessions):
        latent = b0 + b1 * np.log1p(s)
        idx = np.flatnonzero(active)
        score = latent[idx] + rng.normal(0.0, TRUTH["residual_sd"], size=idx.size)
        rows.append(pd.DataFrame({"therapist": therapist[idx], "patient": idx,
                                  "session": s, "score": score}))
        hazard = 1.0 / (1.0 + np.exp(-(-3.2 + 0.25 * (latent - 20.0) / 5.0)))
        active &= rng.random(n) >= hazard
    df = pd.concat(rows, ignore_index=True)
    df["therapist"] = [f"T{t:03d}" for t in df["therapist"]]
    df["patient"] = [f"P{p:05d}" for p in df["patient"]]
    return df.sort_values(["patient", "session"], kind="stable").reset_index(drop=True)


def main(argv: list[str]) -> int:
    """``python -m benchmarks.generate W1|W2|W3 OUT.csv [SEED]``."""
    if len(argv) < 2 or argv[0] not in WORKLOADS:
        print(__doc__)
        return 1
    seed = int(argv[2]) if len(argv) > 2 else 2026
    simulate_workload(*WORKLOADS[argv[0]], seed=seed).to_csv(argv[1], index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
