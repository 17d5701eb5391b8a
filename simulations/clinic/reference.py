"""Reference runs of the generating model: treatment as usual, no monitor, no policy.

They give the observed scores for expected recovery curves (:mod:`simulations.clinic.monitors`).
"""

from __future__ import annotations

import numpy as np

from simulations.clinic.config import ClinicConfig
from simulations.clinic.engine import chunk_seeds, run_chunk, setup

__all__ = ["REFERENCE_CHUNK", "observed_scores"]

REFERENCE_CHUNK = 100_000


def observed_scores(config: ClinicConfig, *, n_patients: int, seed: int) -> np.ndarray:
    """Simulate observed scores under treatment as usual, shape (n_patients, max_sessions).

    Scores are NaN after the last attended session. Used to build expected recovery curves; no
    monitor runs.

    Examples
    --------
    >>> observed_scores(ClinicConfig(), n_patients=50, seed=3).shape
    (50, 20)
    """
    cfg = config.replace(n_patients=n_patients,
                         n_therapists=min(config.n_therapists, n_patients))
    th, th_of = setup(cfg, seed)
    parts = []
    for start, stop, ss in chunk_seeds(cfg, seed, REFERENCE_CHUNK):
        out = run_chunk(cfg, [], th, th_of[start:stop], ss)
        scores = out.obs.T.astype(float)
        scores[np.arange(scores.shape[1])[None, :] > out.last_session[:, None]] = np.nan
        parts.append(scores)
    return np.concatenate(parts)
