"""Outcome rates and their intervals; direction of the scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulations import ClinicConfig, simulate
from simulations.clinic.outcomes import cluster_se, rate_table, ratio_influence
from trajectories.instruments import get_instrument


def test_ratio_influence_by_hand() -> None:
    y = np.array([1.0, 0.0, 1.0, 1.0])
    member = np.array([True, True, False, True])
    rate, phi = ratio_influence(y, member)
    assert rate == pytest.approx(2 / 3)
    # phi_i = m_i (y_i - rate) / mean(m): [1/3, -2/3, 0, 1/3] / 0.75
    np.testing.assert_allclose(phi, np.array([1 / 3, -2 / 3, 0, 1 / 3]) / 0.75)
    assert phi.mean() == pytest.approx(0.0)


def test_cluster_se_with_singleton_clusters_is_the_binomial_se() -> None:
    y = np.array([1.0, 0, 0, 1, 1, 0, 1, 1, 0, 1])
    rate, phi = ratio_influence(y, np.ones(10, bool))
    se = cluster_se(phi, np.arange(10))
    assert se == pytest.approx(np.sqrt(rate * (1 - rate) / 10 * 10 / 9))


def test_cluster_robust_interval_covers_at_nominal_rate(rng: np.random.Generator) -> None:
    # R = 2,000 clustered data sets (40 clusters x 25, cluster-level rates vary):
    # coverage must be within 4 MCSE of .95, MCSE = sqrt(.95 * .05 / R) = 0.0049; the
    # Wald interval with 40 clusters is slightly liberal, hence the lower band of 4 MCSE
    # plus 0.01 for the known small-sample shortfall.
    reps, k, m, truth = 2_000, 40, 25, 0.3
    cluster = np.repeat(np.arange(k), m)
    hits = 0
    for _ in range(reps):
        p = np.clip(truth + rng.normal(0, 0.1, k), 0, 1)
        y = (rng.random(k * m) < p[cluster]).astype(float)
        rate, phi = ratio_influence(y, np.ones(k * m, bool))
        se = cluster_se(phi, cluster)
        hits += abs(rate - truth) <= 1.959964 * se
    mcse = np.sqrt(0.95 * 0.05 / reps)
    assert 0.95 - 4 * mcse - 0.01 < hits / reps < 0.95 + 4 * mcse


def test_rate_table_matches_direct_means() -> None:
    p = simulate(ClinicConfig(n_patients=2_000, n_therapists=20), "feedback", seed=8,
                 keep_sessions=False).patients
    table = rate_table(p).set_index(["subgroup", "outcome"])
    assert table.loc[("all", "dropout"), "rate"] == pytest.approx(p["dropout"].mean())
    not_ = p[p["ever_not"]]
    assert table.loc[("NOT", "deteriorated"), "rate"] == pytest.approx(
        not_["deteriorated"].mean())
    assert table.loc[("NOT", "deteriorated"), "n"] == len(not_)


def test_higher_is_better_instrument_mirrors_the_phq9_run() -> None:
    # The same clinic on a mirrored scale (score' = 27 - score, cutoff 17, higher = better)
    # must give exactly the same courses, alerts and outcome classes.
    phq9 = get_instrument("phq9")
    mirrored = phq9.replace(key="phq9mirror", name="PHQ-9 mirrored", higher_is_worse=False,
                            clinical_mean=27 - phq9.clinical_mean, cutoff=27 - phq9.cutoff)
    base = ClinicConfig(n_patients=1_500, n_therapists=15)
    a = simulate(base, "feedback+cst", seed=4).patients
    b = simulate(base.replace(instrument=mirrored), "feedback+cst", seed=4).patients
    np.testing.assert_array_equal(27 - a["final"], b["final"])
    for col in ("change_class", "ever_not", "acted", "end_status", "n_sessions", "improvement"):
        pd.testing.assert_series_equal(a[col], b[col])
