"""Fixtures for the growth-model tests: small simulated data and one compiled fit per path.

Compilation is the slow part (tens of seconds per model structure), so each structure is
fitted once per test session; further fits of the same structure reuse the compiled model.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from trajectories.data import TherapyData
from trajectories.fit import GrowthFit, fit_growth
from trajectories.spec import GrowthSpec

#: The spec of the session-scoped fits (therapist intercepts keep the tiny fits well mixed).
SMALL_SPEC = GrowthSpec(time="log", therapist="intercept")
SMALL_DRAWS = {"draws": 500, "tune": 500, "chains": 2}


def simulate_growth(n_therapists: int, per_therapist: int, n_sessions: int, *, seed: int,
                    therapist_sd: tuple[float, float] = (1.5, 0.5)) -> pd.DataFrame:
    """Log-time growth data with known truth (as benchmarks/generate.py, without dropout)."""
    rng = np.random.default_rng(seed)
    n = n_therapists * per_therapist
    ther = np.repeat(np.arange(n_therapists), per_therapist)
    u = rng.normal(size=(n_therapists, 2)) * therapist_sd
    cov = np.array([[25.0, -0.3 * 5 * 1.5], [-0.3 * 5 * 1.5, 2.25]])
    v = rng.multivariate_normal([0.0, 0.0], cov, size=n)
    sessions = rng.integers(2, n_sessions + 1, size=n)  # unbalanced: 2..n_sessions rows
    rows = []
    for i in range(n):
        s = np.arange(sessions[i])
        mu = 20 + u[ther[i], 0] + v[i, 0] + (-3 + u[ther[i], 1] + v[i, 1]) * np.log1p(s)
        rows.append(pd.DataFrame({"therapist": f"T{ther[i]:02d}", "patient": f"P{i:03d}",
                                  "session": s, "score": mu + rng.normal(0, 3, s.size)}))
    return pd.concat(rows, ignore_index=True)


def to_data(df: pd.DataFrame, **kw: object) -> TherapyData:
    """TherapyData with canonical column names."""
    return TherapyData.from_frame(df, patient="patient", session="session", score="score",
                                  therapist="therapist" if "therapist" in df else None, **kw)


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    """8 therapists x 6 patients x 2-8 sessions."""
    return simulate_growth(8, 6, 8, seed=11)


@pytest.fixture(scope="session")
def small_data(small_frame: pd.DataFrame) -> TherapyData:
    """The small data as TherapyData (PHQ-9-like RCI given explicitly where needed)."""
    return to_data(small_frame)


def _quiet_fit(spec: GrowthSpec, data: TherapyData, seed: int) -> GrowthFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny runs may fail the ESS floor; tests check values
        return fit_growth(spec, data, seed=seed, **SMALL_DRAWS)


@pytest.fixture(scope="session")
def small_fit(small_data: TherapyData) -> GrowthFit:
    """The fast (marginal) path on the small data."""
    return _quiet_fit(SMALL_SPEC, small_data, seed=1)


@pytest.fixture(scope="session")
def small_latent_fit(small_data: TherapyData) -> GrowthFit:
    """The latent path, same spec and data."""
    from dataclasses import replace

    return _quiet_fit(replace(SMALL_SPEC, method="latent"), small_data, seed=2)


def same_posterior(fast: GrowthFit, slow: GrowthFit, params: list[str]) -> None:
    """Assert two fits of the same model have the same posterior within Monte Carlo error."""
    a = fast.summary().set_index("parameter")
    b = slow.summary().set_index("parameter")
    for name in params:
        f, s = a.loc[name], b.loc[name]
        # Means: the difference of two independent MC estimates has SE
        # sqrt(mcse_f^2 + mcse_l^2); 4 SE bounds a false alarm per check at ~6e-5.
        assert abs(f["mean"] - s["mean"]) < 4 * np.hypot(f["mcse_mean"], s["mcse_mean"]), name
        # SDs: the MC SE of an SD estimate is about sd / sqrt(2 ESS) (normal approximation);
        # same 4-SE rule, with the posterior SD of the wider fit.
        se = max(f["sd"], s["sd"]) * np.sqrt(1 / (2 * f["ess_bulk"]) + 1 / (2 * s["ess_bulk"]))
        assert abs(f["sd"] - s["sd"]) < 4 * se, name


@pytest.fixture(scope="session")
def growth_tools() -> dict:
    """Helpers and constants for test modules (test files are not a package to import from)."""
    return {"simulate": simulate_growth, "to_data": to_data, "spec": SMALL_SPEC,
            "draws": SMALL_DRAWS, "same_posterior": same_posterior}
