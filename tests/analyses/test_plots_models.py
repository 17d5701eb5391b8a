"""Growth-model figures drawn from estimand tables of a pinned posterior on real data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyses.plots import (  # noqa: E402
    plot_deterioration_risk,
    plot_expected_change,
    plot_recovery_curves,
    plot_risk_calibration,
    plot_therapist_effects,
)
from trajectories.data import TherapyData  # noqa: E402
from trajectories.datasets import load_beat_the_blues  # noqa: E402
from trajectories.estimands import (  # noqa: E402
    deterioration_risk,
    expected_change,
    recovery_curves,
    therapist_effects,
)
from trajectories.fit import fit_from_draws  # noqa: E402
from trajectories.spec import GrowthSpec  # noqa: E402


@pytest.fixture(scope="module")
def btb_fit():  # noqa: ANN201
    draws = {"intercept": [22.0, 21.0], "slope": [-3.0, -2.5],
             "patient_intercept_sd": [8.0, 8.0], "patient_slope_sd": [2.0, 2.0],
             "patient_corr": [[0.0], [0.0]], "residual_sd": [6.0, 6.0],
             "patient_effect": [np.zeros((100, 2)), np.zeros((100, 2))]}
    return fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(), draws)


def test_expected_change_over_sessions(btb_fit) -> None:  # noqa: ANN001
    table = pd.concat([expected_change(btb_fit, at_session=s) for s in (0, 2, 5, 8)])
    ax = plot_expected_change(table)
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0, 2, 5, 8])
    np.testing.assert_allclose(line.get_ydata(),
                               table.query("quantity == 'expected_score'")["mean"])
    # labelled with the instrument, the time unit and the interval level (issue 17)
    assert ax.get_xlabel() == "month (0 = intake)"
    assert ax.get_ylabel().startswith("expected BDI-II score") and "95%" in ax.get_ylabel()
    change = plot_expected_change(table, quantity="change")
    assert change.get_ylabel().startswith("expected change in BDI-II")
    assert change.lines[-1].get_ydata()[0] == 0
    with pytest.raises(ValueError, match="quantity 'nope'"):
        plot_expected_change(table, quantity="nope")


def test_recovery_curves_one_line_and_boundary_per_intake(btb_fit) -> None:  # noqa: ANN001
    curves = recovery_curves(btb_fit, intake=[15, 25, 35], sessions=[0, 2, 3, 5, 8])
    ax = plot_recovery_curves(curves)
    assert len(ax.lines) == 3 * 2  # expected curve + failure boundary per intake
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["15", "25", "35"]
    boundary = ax.lines[1].get_ydata()
    np.testing.assert_allclose(boundary, curves[curves["intake"] == 15]["failure_boundary"])


def test_recovery_bands_stay_inside_the_scale(btb_fit) -> None:  # noqa: ANN001
    # intake 2 on the BDI-II (0-63): the latent predictive band reaches below 0, but the
    # table holds it on the bounded scale (issue 13) and the figure draws it inside the
    # scale (issue 17: "bands inside the scale")
    curves = recovery_curves(btb_fit, intake=[2], sessions=[0, 2, 3, 5, 8])
    assert (curves["band_low"] >= 0).all() and (curves["band_low"] == 0).any()
    ax = plot_recovery_curves(curves)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() >= 0.0 and ax.get_ylim() == (0.0, 63.0)
    assert "80%" in ax.get_ylabel() and ax.get_xlabel() == "month (0 = intake)"


def test_therapist_caterpillar_orders_and_shows_shrinkage() -> None:
    df = pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3], "therapist": ["A", "A", "B", "B", "C", "C"],
                       "session": [0, 1] * 3, "score": [20.0, 15, 22, 21, 18, 17]})
    data = TherapyData.from_frame(df, patient="patient", therapist="therapist",
                                  session="session", score="score")
    spec = GrowthSpec(time="linear", patient="intercept", therapist="intercept")
    draws = {"intercept": [21.0, 21.0], "slope": [-2.0, -2.0],
             "patient_intercept_sd": [3.0, 3.0], "therapist_intercept_sd": [1.0, 1.0],
             "therapist_effect": [[[1.0], [-1.0], [0.2]], [[0.5], [-0.5], [0.1]]],
             "residual_sd": [2.0, 2.0]}
    table = therapist_effects(fit_from_draws(spec, data, draws), at_session=1)
    raw = pd.DataFrame({"therapist": ["A", "B", "C"], "raw_effect": [2.0, -2.0, 0.5]})
    ax = plot_therapist_effects(table, raw=raw)
    # lower scores are better: B (negative effect) first, A last
    assert [t.get_text() for t in ax.get_yticklabels()] == ["B", "C", "A"]
    np.testing.assert_allclose(ax.collections[-1].get_offsets()[:, 0], [-2.0, 0.5, 2.0])
    assert "session 1" in ax.get_xlabel()
    icc = table.query("quantity == 'icc'").iloc[0]
    assert ax.get_title() == (f"therapist share of variance (ICC) {icc['mean']:.3f} "
                              f"[{icc['ci_low']:.3f}, {icc['ci_high']:.3f}]")


def test_risk_histogram_and_calibration(btb_fit) -> None:  # noqa: ANN001
    risk = deterioration_risk(btb_fit, by_session=8, instrument=8.5)
    ax = plot_deterioration_risk(risk)
    assert sum(p.get_height() for p in ax.patches) == len(risk) == 100
    rng = np.random.default_rng(1)
    p = rng.uniform(size=4000)
    y = rng.uniform(size=4000) < p  # perfectly calibrated
    cal = plot_risk_calibration(p, y, bins=5)
    x, obs = cal.lines[1].get_xdata(), cal.lines[1].get_ydata()
    assert len(x) == 5
    # each decile's observed rate is within 4 binomial SEs of its mean prediction
    assert np.all(np.abs(obs - x) < 4 * np.sqrt(0.25 / 800))
