"""Scores stay on the instrument's range; Student-t fits use t tails or refuse clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

from trajectories.checks import posterior_predictive
from trajectories.data import TherapyData
from trajectories.engine.tree import group
from trajectories.estimands import deterioration_risk, expected_change, predict, recovery_curves
from trajectories.fit import fit_from_draws
from trajectories.instruments import Instrument
from trajectories.spec import GrowthSpec

WELLBEING = Instrument(key="wellbeing40", name="Well-being 0-40", min_score=0, max_score=40,
                       higher_is_worse=False, reliability=0.9, clinical_sd=8.0)


def _data(scores: np.ndarray, instrument: object) -> TherapyData:
    n, m = scores.shape
    frame = pd.DataFrame({"patient": np.repeat(np.arange(n), m), "session": np.tile(
        np.arange(m), n), "score": scores.ravel()})
    return TherapyData.from_frame(frame, patient="patient", session="session", score="score",
                                  instrument=instrument)


def _pinned(data: TherapyData, b0: float, b1: float, v: np.ndarray) -> object:
    s = len(v)
    draws = {"intercept": np.full(s, b0), "slope": np.full(s, b1),
             "patient_intercept_sd": np.full(s, 4.0), "patient_slope_sd": np.full(s, 2.0),
             "patient_corr": np.zeros((s, 1)), "residual_sd": np.full(s, 3.0),
             "patient_effect": v}
    return fit_from_draws(GrowthSpec(time="log"), data, draws)


def _all_scores(fit: object, newdata: TherapyData) -> list[np.ndarray]:
    """Every score-valued output of every estimand (expected scores, intervals, bands)."""
    pred = predict(fit, newdata, at_session=12)
    curves = recovery_curves(fit, intake=[0.0, 5.0, 20.0, 40.0], sessions=range(13))
    pat = expected_change(fit, at_session=12, level="patient")
    pop = expected_change(fit, at_session=12)
    reps = group(posterior_predictive(fit, seed=1).idata, "posterior_predictive")["score"]
    return [pred[c].to_numpy() for c in ("intake_score", "expected_score", "ci_low",
                                        "ci_high", "pred_low", "pred_high")] + \
        [curves[c].to_numpy() for c in ("expected_score", "ci_low", "ci_high", "band_low",
                                        "band_high", "failure_boundary")] + \
        [d.query("quantity == 'expected_score'")[c].to_numpy() for d in (pat, pop)
         for c in ("mean", "ci_low", "ci_high")] + [reps.values.ravel()]


def test_phq9_scores_near_the_floor_stay_in_0_27(rng: np.random.Generator) -> None:
    # patients recovering towards 0: the latent course runs well below the floor
    latent = 6 - 4 * np.log1p(np.arange(6))[None] + rng.normal(0, 3, (30, 6))
    data = _data(np.clip(np.round(latent), 0, 27), "phq9")
    fit = _pinned(data, 6.0, -4.0, rng.normal(0, 1, (200, 30, 2)) * [4.0, 2.0])
    for values in _all_scores(fit, data.before_session(3)):
        assert values.min() >= 0.0 and values.max() <= 27.0
    # the same fit without an instrument is unbounded: the latent mean is far below 0
    free = _pinned(_data(np.clip(np.round(latent), 0, 27), None), 6.0, -4.0,
                   np.zeros((200, 30, 2)))
    assert predict(free, free.data, at_session=12, instrument=6.0)["pred_low"].min() < -5
    # censored mean: E[min(max(Y, 0), 27)] for the population at session 12 (quadrature)
    pop = expected_change(fit, at_session=12).query("quantity == 'expected_score'")
    mu = 6 - 4 * np.log(13.0)
    sd = np.sqrt(16 + 4 * np.log(13.0) ** 2 + 9)
    expected = norm.expect(lambda y: np.clip(y, 0, 27), loc=mu, scale=sd)
    assert pop["mean"].iloc[0] == pytest.approx(expected, rel=1e-7)
    assert expected > mu * norm.cdf(mu / sd) + sd * norm.pdf(mu / sd) - 1e-4 > 0.5 > mu


def test_higher_is_better_scores_near_the_ceiling_stay_in_0_40(rng: np.random.Generator) -> None:
    latent = 32 + 4 * np.log1p(np.arange(6))[None] + rng.normal(0, 3, (30, 6))
    data = _data(np.clip(np.round(latent), 0, 40), WELLBEING)
    fit = _pinned(data, 32.0, 4.0, rng.normal(0, 1, (200, 30, 2)) * [4.0, 2.0])
    for values in _all_scores(fit, data.before_session(3)):
        assert values.min() >= 0.0 and values.max() <= 40.0
    # a patient who starts within one RCI of the ceiling cannot improve reliably
    pred = predict(fit, data, at_session=12).set_index("patient")
    intake = data.frame.query("session == 0").set_index("patient")["score"]
    rci = WELLBEING.rci
    near = intake.index[intake + rci > 40]
    assert len(near) and (pred.loc[near, "p_improved"] == 0).all()
    assert (pred.loc[intake.index[intake + rci <= 38], "p_improved"] > 0).all()


def test_student_t_deterioration_uses_t_tails() -> None:
    frame = pd.DataFrame({"patient": [1, 1, 2, 2], "session": [0, 4, 0, 4],
                          "score": [20.0, 18.0, 25.0, 30.0]})
    data = TherapyData.from_frame(frame, patient="patient", session="session", score="score")
    spec = GrowthSpec(time="linear", patient="intercept", therapist="none",
                      likelihood="student_t")
    draws = {"intercept": [21.0, 20.0], "slope": [-1.0, -0.5], "patient_intercept_sd": [3.0, 3.0],
             "residual_sd": [2.0, 2.5], "nu": [3.0, 5.0],
             "patient_effect": [[[0.0], [4.0]], [[1.0], [5.0]]]}
    fit = fit_from_draws(spec, data, draws)
    risk = deterioration_risk(fit, by_session=4, instrument=5.0).set_index("patient")
    mu = np.array([21.0 + 4.0 - 4.0, 20.0 + 5.0 - 2.0])  # patient 2, per draw
    p = t.cdf((mu - 25.0 - 5.0) / np.array([2.0, 2.5]), df=[3.0, 5.0]).mean()
    assert risk.loc[2, "p_deteriorated"] == pytest.approx(p, rel=1e-10)
    gauss = norm.cdf((mu - 30.0) / np.array([2.0, 2.5])).mean()
    assert risk.loc[2, "p_deteriorated"] > gauss  # heavier tails: more risk far out
    for call in (lambda: predict(fit, data, at_session=4, instrument=5.0),
                 lambda: recovery_curves(fit, intake=[20.0])):
        with pytest.raises(ValueError, match="needs a fit with normal residuals"):
            call()
    # expected scores include the t tails (no instrument: the plain mean)
    row = expected_change(fit, at_session=4, level="patient").query(
        "quantity == 'expected_score'").set_index("patient")
    assert row.loc[2, "mean"] == pytest.approx(mu.mean(), rel=1e-9)
