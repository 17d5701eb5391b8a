"""Dropout risk for new patients, landmark outcomes and calibration, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr

from trajectories.data import TherapyData
from trajectories.dropout import DropoutFit, link_inverse
from trajectories.dropout_predict import landmark_outcomes, predict_dropout, risk_calibration
from trajectories.fit import GrowthFit, fit_from_draws
from trajectories.spec import DropoutSpec, GrowthSpec


def test_brier_auc_and_calibration_of_a_small_case_by_hand() -> None:
    p = [0.1, 0.8, 0.3, 0.6, 0.2]
    y = [0, 1, 1, 0, 0]
    out = risk_calibration(p, y)
    assert out["brier"] == pytest.approx((0.01 + 0.04 + 0.49 + 0.36 + 0.04) / 5, abs=1e-15)
    # pairs (event, non-event) ranked correctly: (0.8 > all 3), (0.3 > 0.1, 0.2): 5 of 6
    assert out["auc"] == pytest.approx(5 / 6, abs=1e-15)
    assert out["brier_reference"] == pytest.approx(0.4 * 0.6)
    assert (out["n"], out["n_events"], out["observed_rate"]) == (5, 2, 0.4)
    lp = np.log(np.array(p) / (1 - np.array(p)))
    ref = sm.GLM(np.array(y, float), sm.add_constant(lp), family=sm.families.Binomial()).fit()
    assert out["calibration_slope"] == pytest.approx(ref.params[1], rel=1e-10)


def test_calibration_slope_of_calibrated_risks_is_one() -> None:
    rng = np.random.default_rng(11)
    p = rng.uniform(0.02, 0.6, 20_000)
    y = (rng.random(p.size) < p).astype(int)
    out = risk_calibration(p, y)
    # slope and intercept have standard errors of about 0.022 here: allow 4.5 of them
    assert abs(out["calibration_slope"] - 1.0) < 0.1
    assert abs(out["calibration_intercept"]) < 0.1
    assert out["brier"] == pytest.approx(np.mean(p * (1 - p)), abs=0.004)


def test_calibration_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        risk_calibration([0.2, 0.4], [0, 2])
    with pytest.raises(ValueError, match="probabilities"):
        risk_calibration([0.2, 1.4], [0, 1])
    assert math.isnan(risk_calibration([0.2, 0.4], [0, 0])["auc"])


def _clinic() -> TherapyData:
    rows = []
    ends = {"a": (5, "dropout"), "b": (3, "dropout"), "c": (6, "completed"), "d": (4, "ongoing"),
            "e": (1, "dropout"), "f": (9, "ongoing"), "g": (2, "completed")}
    for pid, (last, status) in ends.items():
        for s in range(last + 1):
            rows.append({"p": pid, "s": s, "y": 20.0 - s, "st": status})
    return TherapyData.from_frame(pd.DataFrame(rows), patient="p", session="s", score="y",
                                  end_status="st")


def test_landmark_outcomes_by_hand() -> None:
    early, outcome = landmark_outcomes(_clinic(), landmark=2, horizon=3)  # sessions 2, 3, 4
    # e ended before the landmark; d is ongoing with last session 4: not known yet
    assert sorted(outcome.index) == ["a", "b", "c", "f", "g"]
    assert outcome.to_dict() == {"a": 0, "b": 1, "c": 0, "f": 0, "g": 0}
    assert early.frame["session"].max() == 2
    assert set(early.end_status) == {"ongoing"}


def _pinned_dropout(data: TherapyData) -> DropoutFit:
    spec = DropoutSpec(breaks=(0, 2), predictors=("score",), therapist=False)
    post = xr.Dataset({"dropout_baseline": (("chain", "draw", "dropout_bin"),
                                            np.array([[[-2.0, -1.0]] * 2])),
                       "dropout_coef": (("chain", "draw", "dropout_term"),
                                        np.array([[[0.5]] * 2]))},
                      coords={"dropout_bin": ["0-1", "2+"], "dropout_term": ["score"]})
    return DropoutFit(spec=spec, data=data, idata=xr.DataTree.from_dict({"posterior": post}),
                      diagnostics=None)


def test_standalone_risk_for_new_patients_closed_form() -> None:
    fitted = _clinic()
    fit = _pinned_dropout(fitted)
    y = fitted.frame["score"]
    new = TherapyData.from_frame(pd.DataFrame({"p": ["n1"] * 2 + ["n2"], "s": [0, 1, 0],
                                               "y": [25.0, 23.0, 10.0]}),
                                 patient="p", session="s", score="y")
    out = predict_dropout(fit, new, horizon=2).set_index("patient")
    for pid, last, score in (("n1", 1, 23.0), ("n2", 0, 10.0)):
        h = [link_inverse(np.array([(-2.0 if s < 2 else -1.0)
                                    + 0.5 * (score - y.mean()) / y.std(ddof=1)]), "logit")[0]
             for s in (last, last + 1)]
        assert out.loc[pid, "p_dropout_next"] == pytest.approx(h[0], rel=1e-10)
        assert out.loc[pid, "p_dropout"] == pytest.approx(1 - (1 - h[0]) * (1 - h[1]),
                                                          rel=1e-10)
        assert out.loc[pid, "horizon_session"] == last + 1


def test_joint_risk_for_a_patient_whose_effects_are_pinned_by_the_data() -> None:
    """Residual SD near 0: the new patient's effects are known from two scores, so the risk
    is the plug-in of the latent trajectory (and staying through session 0 changes nothing)."""
    fitted = _clinic()
    dspec = DropoutSpec(breaks=(0,), predictors=(), association=("level", "improvement"),
                        therapist=False)
    spec = GrowthSpec(time="linear", method="auto", dropout=dspec)
    s = 40
    growth = fit_from_draws(GrowthSpec(time="linear"), fitted, {
        "intercept": np.full(s, 20.0), "slope": np.full(s, -1.0),
        "patient_intercept_sd": np.full(s, 3.0), "patient_slope_sd": np.full(s, 1.0),
        "patient_corr": np.zeros((s, 1)), "residual_sd": np.full(s, 1e-4),
        "patient_effect": np.zeros((s, fitted.n_patients, 2))})
    post = growth.posterior.assign(
        dropout_baseline=(("chain", "draw", "dropout_bin"), np.full((1, s, 1), -2.0)),
        dropout_association=(("chain", "draw", "association"),
                             np.tile([0.7, 1.5], (1, s, 1)))).assign_coords(
        association=["level", "improvement"], dropout_bin=["0+"])
    idata = xr.DataTree.from_dict({"posterior": post,
                                   "sample_stats": growth.idata["sample_stats"].to_dataset()})
    fit = GrowthFit(spec=spec, data=fitted, design=growth.design, idata=idata,
                    diagnostics=growth.diagnostics)
    new = TherapyData.from_frame(pd.DataFrame({"p": ["n"] * 2, "s": [0, 1],
                                               "y": [26.0, 23.0]}),
                                 patient="p", session="s", score="y")
    out = predict_dropout(fit, new, horizon=2, seed=1).iloc[0]
    y = fitted.frame["score"]
    mean, sd = y.mean(), y.std(ddof=1)
    # the trajectory through the two scores: 26 - 3 s
    hs = []
    for sess in (1, 2):
        level, change = 26 - 3 * sess, -3 * sess
        eta = -2.0 + 0.7 * (level - mean) / sd + 1.5 * max(-change, 0) / sd
        hs.append(1 / (1 + math.exp(-eta)))
    assert out["p_dropout_next"] == pytest.approx(hs[0], rel=1e-4)
    assert out["p_dropout"] == pytest.approx(1 - (1 - hs[0]) * (1 - hs[1]), rel=1e-4)


def test_upcoming_sessions_follow_the_grid_then_steps_of_one() -> None:
    from trajectories.datasets import load_beat_the_blues
    from trajectories.dropout_estimands import last_states, upcoming_rows

    data = load_beat_the_blues()  # months 0, 2, 3, 5, 8
    last = last_states(data).iloc[:3].copy()
    last["session"] = [2, 8, 11]  # on the grid; its end; beyond it (a new patient seen later)
    rows = upcoming_rows(data, last, 3)
    got = rows.groupby("patient", sort=False)["session"].apply(list).tolist()
    assert got == [[2, 3, 5], [8, 9, 10], [11, 12, 13]]
    assert rows["step"].tolist() == [0, 1, 2] * 3
    assert rows["patient"].tolist() == np.repeat(last.index, 3).tolist()
