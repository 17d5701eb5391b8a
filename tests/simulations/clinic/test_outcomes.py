"""Outcome rates and their intervals; direction of the scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulations import ClinicConfig, simulate
from simulations.clinic.compare import paired_table
from simulations.clinic.outcomes import (
    MIN_CLUSTERS,
    RATIOS,
    FewClustersWarning,
    cluster_se,
    rate_table,
    ratio_influence,
)
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
    se = cluster_se(phi, np.arange(10), min_clusters=2)
    assert se == pytest.approx(np.sqrt(rate * (1 - rate) / 10 * 10 / 9))


def test_cluster_se_refuses_too_few_clusters() -> None:
    phi = np.linspace(-1, 1, 40)
    with pytest.raises(ValueError, match=f"needs at least {MIN_CLUSTERS} clusters, got 1"):
        cluster_se(phi, np.zeros(40, int))
    with pytest.raises(ValueError, match="needs at least 20 clusters, got 19"):
        cluster_se(phi, np.arange(40) % 19)
    assert cluster_se(phi, np.arange(40) % 20) > 0


def _one_therapist(n: int = 60, seed: int = 4) -> pd.DataFrame:
    return simulate(ClinicConfig(n_patients=n, n_therapists=1), "tau", seed=seed,
                    keep_sessions=False).patients


def test_one_therapist_rates_get_wilson_intervals_not_zero_width() -> None:
    # Issue 12, finding 4: with one therapist the cluster-robust SE is 0, so 60 patients
    # printed "3.3% [3.3%, 3.3%]". Now the Wilson interval (statsmodels) is used, with a
    # warning saying so.
    from statsmodels.stats.proportion import proportion_confint

    p = _one_therapist()
    with pytest.warns(FewClustersWarning, match="only 1 therapist: cluster-robust intervals "
                      f"need at least {MIN_CLUSTERS}") as caught:
        table = rate_table(p)
    assert len(caught) == 1  # once per table, not once per row
    assert (table["interval"] == "independent").all()
    assert (table["ci_high"] > table["ci_low"]).all()
    row = table.set_index(["subgroup", "outcome"]).loc[("all", "deteriorated")]
    low, high = proportion_confint(int(p["deteriorated"].sum()), len(p), method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)


def test_one_therapist_policy_differences_are_not_zero_width() -> None:
    # compare-policies --therapists 1 reported differences with zero-width intervals that
    # looked significant; the paired interval treating patients as independent has width
    # 2 * 1.96 * sd(d) / sqrt(n) > 0 whenever some patient's outcome differs
    config = ClinicConfig(n_patients=300, n_therapists=1)
    runs = {name: simulate(config, name, seed=2, keep_sessions=False).patients
            for name in ("tau", "feedback+cst")}
    with pytest.warns(FewClustersWarning):
        table = paired_table(runs)
    other = table[(table["policy"] != "tau") & (table["subgroup"] == "all")]
    for _, r in other[~other["outcome"].isin(list(RATIOS))].iterrows():  # shares of patients
        d = runs["feedback+cst"][r["outcome"]].astype(float) - runs["tau"][r["outcome"]]
        if d.any():
            width = 2 * 1.959964 * d.std(ddof=1) / np.sqrt(len(d))
            assert r["diff_ci_high"] - r["diff_ci_low"] == pytest.approx(width, rel=1e-9)
    assert (other["diff_ci_high"] > other["diff_ci_low"]).any()
    assert (table["ci_high"] > table["ci_low"]).all()


def test_twenty_therapists_keep_the_cluster_robust_interval() -> None:
    import warnings

    p = simulate(ClinicConfig(n_patients=400, n_therapists=MIN_CLUSTERS), "tau", seed=1,
                 keep_sessions=False).patients
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewClustersWarning)
        table = rate_table(p)
    assert (table["interval"] == "cluster-robust").all()


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
