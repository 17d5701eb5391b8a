"""Monitor study: operating characteristics by hand, plumbing with a given fit, real fit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import trajectories.fit
from simulations.tasks.monitor import monitor_study, operating_characteristics
from trajectories.fit import fit_from_draws

SMALL = {"n_train": 200, "n_test": 200, "caseload": 20, "max_draws": 10}


def _given_fit(spec, data, **_):  # noqa: ANN001, ANN003, ANN202
    n = 10
    values = {"intercept": np.full(n, 15.0), "slope": np.full(n, -2.6),
              "patient_intercept_sd": np.full(n, 4.5), "patient_slope_sd": np.full(n, 1.4),
              "patient_corr": np.full((n, 1), -0.2), "residual_sd": np.full(n, 2.6),
              "therapist_intercept_sd": np.full(n, 1.0),
              "therapist_effect": np.zeros((n, data.n_therapists, 1))}
    return fit_from_draws(spec, data, values)


def test_operating_characteristics_by_hand() -> None:
    t = pd.DataFrame({"failure": [True, True, True, False, False],
                      "ever_not": [True, True, False, True, False],
                      "first_not_session": [2, 5, -1, 3, -1], "n_sessions": [10, 8, 9, 12, 9]})
    oc = operating_characteristics(t, n_therapists=5)
    assert oc["sensitivity"] == pytest.approx(2 / 3)
    assert oc["specificity"] == pytest.approx(1 / 2)
    assert oc["ppv"] == pytest.approx(2 / 3)
    assert oc["lead_time"] == pytest.approx(((9 - 2) + (7 - 5)) / 2)
    assert oc["alerts_per_therapist"] == pytest.approx(3 / 5)


def test_monitor_study_rows_are_deterministic_and_sensible(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(trajectories.fit, "fit_growth", _given_fit)
    a = pd.DataFrame(monitor_study(SMALL, np.random.default_rng(5)))
    b = pd.DataFrame(monitor_study(SMALL, np.random.default_rng(5)))
    pd.testing.assert_frame_equal(a, b)
    est = a.set_index(["method", "estimand"])["estimate"]
    for m in ("fitted", "generating"):
        assert 0 <= est[(m, "sensitivity")] <= 1 and 0 <= est[(m, "specificity")] <= 1
        # better than chance: flagged patients fail more often than the base rate
        assert est[(m, "ppv")] > est[("tau", "failure")]
        assert est[(m, "failure_vs_tau")] <= 0.02
    # the threshold gives the fitted monitor about the generating monitor's alert budget
    assert abs(est[("fitted", "flag_rate")] - est[("generating", "flag_rate")]) < 0.12
    with pytest.raises(ValueError, match="unknown factor"):
        monitor_study({"n_tain": 3}, np.random.default_rng(0))


@pytest.mark.parametrize("threshold", [1.5, 0, "high"])
def test_a_bad_threshold_is_refused_before_the_fit(monkeypatch, threshold) -> None:  # noqa: ANN001
    def no_fit(*_, **__):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the growth model was fitted before the threshold was checked")

    monkeypatch.setattr(trajectories.fit, "fit_growth", no_fit)
    with pytest.raises(ValueError, match="threshold must be 'match' or a probability"):
        monitor_study({**SMALL, "threshold": threshold}, np.random.default_rng(0))


@pytest.mark.slow
def test_monitor_study_with_a_real_fit() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = pd.DataFrame(monitor_study({"n_train": 300, "n_test": 400},
                                          np.random.default_rng(1)))
    est = rows.set_index(["method", "estimand"])["estimate"]
    assert est[("fitted", "sensitivity")] > 1 - est[("fitted", "specificity")]
    assert 0 < est[("fitted", "lead_time")] < 20
