"""Figures drawn from small real results; each test checks what is on the figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyses.plots import (  # noqa: E402
    plot_clinical_significance,
    plot_dropout_hazard,
    plot_policy_differences,
    plot_policy_rates,
    plot_retention,
    plot_sbc_ranks,
    plot_study_performance,
    plot_trajectories,
)
from trajectories.clinical import (  # noqa: E402
    clinical_significance,
    reliable_deterioration_flags,
    summarize_clinical_significance,
)
from trajectories.datasets import load_beat_the_blues  # noqa: E402
from trajectories.retention import retention_curve  # noqa: E402


@pytest.fixture(scope="module")
def btb():  # noqa: ANN201
    return load_beat_the_blues()


def test_trajectories_with_curve_and_flags(btb) -> None:  # noqa: ANN001
    flags = reliable_deterioration_flags(btb, rci=5.0)
    flags = flags[flags["reliably_deteriorated"]]
    curve = pd.DataFrame({"session": [0, 8], "expected": [23.0, 12.0], "upper": [30.0, 22.0]})
    ax = plot_trajectories(btb, n_patients=100, curve=curve, flags=flags)
    # 100 patient lines + expected + upper boundary
    assert len(ax.lines) == 102
    # Beat the Blues counts months, and the axes say so (issue 17: "session" for months)
    assert ax.get_xlabel() == "month (0 = intake)" and ax.get_ylabel().startswith("BDI-II")
    assert ax.get_ylim() == (0.0, 63.0)  # the instrument's scale
    assert len(ax.collections[0].get_offsets()) == len(flags)  # every flagged session marked
    assert ax.get_title() == "100 of 100 patients"
    # the sample is seeded: same seed, same patients
    a = plot_trajectories(btb, n_patients=5, seed=3)
    b = plot_trajectories(btb, n_patients=5, seed=3)
    assert [tuple(line.get_ydata()) for line in a.lines] == \
        [tuple(line.get_ydata()) for line in b.lines]


def test_clinical_significance_bars(btb) -> None:  # noqa: ANN001
    table = clinical_significance(btb)
    summary = summarize_clinical_significance(table, by="end_status")
    ax = plot_clinical_significance(summary, by="end_status")
    assert len(ax.patches) == 4 * 2  # 4 categories x 2 groups
    widths = np.array([p.get_width() for p in ax.patches]).reshape(4, 2)
    np.testing.assert_allclose(widths.sum(axis=0), 100.0)  # each bar adds up to 100%
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["recovered", "improved", "unchanged", "deteriorated"]
    overall = plot_clinical_significance(summarize_clinical_significance(table))
    assert len(overall.patches) == 4


def test_retention_and_hazard(btb) -> None:  # noqa: ANN001
    table = retention_curve(btb, by="treatment")
    ax = plot_retention(table, by="treatment")
    assert len(ax.lines) == 2 and ax.get_ylim() == (0.0, 1.02)
    assert ax.get_legend().get_title().get_text() == "treatment"
    last = ax.lines[0].get_ydata()[-1]
    assert last == pytest.approx(table[table["treatment"] == "BtheB"]["retained"].iloc[-1])
    hz = plot_dropout_hazard(retention_curve(btb))
    np.testing.assert_allclose(hz.lines[0].get_ydata(), retention_curve(btb)["hazard"])


@pytest.fixture(scope="module")
def comparison() -> pd.DataFrame:
    from simulations import ClinicConfig
    from simulations.clinic.compare import compare_policies

    return compare_policies(ClinicConfig(n_patients=400, n_therapists=20),
                            ["feedback", "alliance-repair"], seed=3)


def test_policy_rates_and_differences(comparison) -> None:  # noqa: ANN001
    outcomes = ["deteriorated", "dropout"]
    ax = plot_policy_rates(comparison, outcomes=outcomes)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["tau", "feedback", "alliance-repair"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == outcomes
    diff = plot_policy_differences(comparison, subgroup="NOT", outcomes=outcomes)
    assert [t.get_text() for t in diff.get_yticklabels()] == ["feedback", "alliance-repair"]
    assert "percentage points (NOT)" in diff.get_xlabel()
    with pytest.raises(ValueError, match="subgroup 'nope'"):
        plot_policy_rates(comparison, subgroup="nope")


def test_study_performance_with_mcse_bars() -> None:
    summary = pd.DataFrame({
        "n_patients": [100, 400, 100, 400], "method": ["naive", "naive", "joint", "joint"],
        "metric": "bias", "value": [0.5, 0.4, 0.05, 0.01], "mcse": [0.1, 0.05, 0.1, 0.05],
    })
    ax = plot_study_performance(summary, metric="bias", x="n_patients", reference=0.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["naive", "joint"]
    assert ax.get_ylabel() == "bias (±1.96 MCSE)"
    bars = ax.containers[0]  # the first errorbar container: its bar half-widths are 1.96 MCSE
    segs = bars.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1][1] - s[0][1] for s in segs], 2 * 1.959964 * np.array(
        [0.1, 0.05]), rtol=1e-6)
    with pytest.raises(ValueError, match="metric 'coverage' not in the summary"):
        plot_study_performance(summary, metric="coverage", x="n_patients")


def test_sbc_rank_histogram_with_uniform_band() -> None:
    from simulations.tasks.sbc import sbc_histogram

    rng = np.random.default_rng(4)
    ranks = {"slope": rng.integers(0, 100, size=400), "residual_sd": np.zeros(400, int)}
    hist = sbc_histogram(ranks, 99, bins=10)
    ax = plot_sbc_ranks(hist, parameter="slope")
    assert len(ax.patches) == 10 and ax.get_title() == "slope"
    assert sum(p.get_height() for p in ax.patches) == 400
    assert ax.lines[0].get_ydata()[0] == pytest.approx(40.0)  # expected count per bin
    bad = plot_sbc_ranks(hist, parameter="residual_sd")
    assert bad.patches[0].get_height() == 400  # all mass in the first bin: clearly off
    with pytest.raises(ValueError, match="parameter 'nope'"):
        plot_sbc_ranks(hist, parameter="nope")
