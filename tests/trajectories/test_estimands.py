"""Estimands on fake posteriors pinned at known values, against closed forms (rtol 1e-8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from trajectories.datasets import load_beat_the_blues
from trajectories.estimands import (
    deterioration_risk,
    expected_change,
    predict,
    recovery_curves,
    therapist_effects,
)
from trajectories.fit import fit_from_draws
from trajectories.spec import GrowthSpec

RTOL = 1e-8
QUAD = 1e-7  # numerical integration (scipy quad) of the censored means


def observed_mean(mean: float, sd: float, lower: float = 0.0, upper: float = 63.0) -> float:
    """E[clip(Y, lower, upper)], Y ~ N(mean, sd^2), by quadrature (BDI-II range 0-63)."""
    return norm.expect(lambda y: np.clip(y, lower, upper), loc=mean, scale=sd)
B0, B1 = np.array([22.0, 20.0, 24.0]), np.array([-3.0, -2.0, -4.0])
SD0, SD1, RHO, SIGMA = np.array([8.0, 7.0, 9.0]), np.array([2.0, 1.5, 2.5]), 0.2, 5.0


@pytest.fixture(scope="module")
def btb():  # noqa: ANN201
    return load_beat_the_blues()


@pytest.fixture(scope="module")
def btb_fit(btb):  # noqa: ANN001, ANN201
    rng = np.random.default_rng(5)
    draws = {"intercept": B0, "slope": B1, "patient_intercept_sd": SD0,
             "patient_slope_sd": SD1, "patient_corr": np.full((3, 1), RHO),
             "residual_sd": np.full(3, SIGMA), "patient_effect": rng.normal(size=(3, 100, 2))}
    return fit_from_draws(GrowthSpec(time="log"), btb, draws), draws


def test_expected_change_population_and_patient(btb_fit) -> None:  # noqa: ANN001
    fit, draws = btb_fit
    lt = np.log(9.0)
    table = expected_change(fit, at_session=8).set_index("quantity")
    # expected scores are means of the score censored at the BDI-II range (no covariates:
    # every patient has the same population distribution)
    sd8 = np.sqrt(SD0**2 + 2 * RHO * SD0 * SD1 * lt + (SD1 * lt) ** 2 + SIGMA**2)
    sd0 = np.sqrt(SD0**2 + SIGMA**2)
    at8 = np.array([observed_mean(m, s) for m, s in zip(B0 + B1 * lt, sd8, strict=True)])
    at0 = np.array([observed_mean(m, s) for m, s in zip(B0, sd0, strict=True)])
    np.testing.assert_allclose(table.loc["expected_score", "mean"], at8.mean(), rtol=QUAD)
    assert table.loc["expected_score", "mean"] > np.mean(B0 + B1 * lt)  # the floor lifts it
    np.testing.assert_allclose(table.loc["change", "ci_low"], np.quantile(at8 - at0, 0.025),
                               rtol=QUAD)
    np.testing.assert_allclose(table.loc["standardised_change", "mean"],
                               np.mean((at8 - at0) / sd0), rtol=QUAD)
    pat = expected_change(fit, at_session=8, level="patient")
    row = pat[(pat["patient"] == fit.data.patients[4]) & (pat["quantity"] == "expected_score")]
    v = draws["patient_effect"][:, 4]
    mu = B0 + v[:, 0] + (B1 + v[:, 1]) * lt
    np.testing.assert_allclose(row["mean"].iloc[0],
                               np.mean([observed_mean(m, SIGMA) for m in mu]), rtol=QUAD)
    with pytest.raises(ValueError, match="no therapist effects"):
        expected_change(fit, at_session=8, level="therapist")


def test_recovery_curve_is_the_conditional_normal(btb) -> None:  # noqa: ANN001
    one = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
           "patient_slope_sd": [2.0], "patient_corr": [[RHO]], "residual_sd": [SIGMA]}
    fit = fit_from_draws(GrowthSpec(time="log"), btb, one)
    curves = recovery_curves(fit, intake=[15.0, 35.0], sessions=[5.0], band=0.8)
    cov = np.array([[64.0, RHO * 16.0], [RHO * 16.0, 4.0]])
    z0, z5 = np.array([1.0, 0.0]), np.array([1.0, np.log(6.0)])
    c00, c50, c55 = z0 @ cov @ z0 + 25, z5 @ cov @ z0, z5 @ cov @ z5 + 25
    for intake, row in zip([15.0, 35.0], curves.itertuples(), strict=True):
        mean = 22 - 3 * np.log(6.0) + c50 / c00 * (intake - 22)
        sd = np.sqrt(c55 - c50**2 / c00)
        np.testing.assert_allclose(row.expected_score, observed_mean(mean, sd), rtol=QUAD)
        np.testing.assert_allclose(row.band_high, mean + norm.ppf(0.9) * sd, rtol=RTOL)
        np.testing.assert_allclose(row.failure_boundary, row.band_high, rtol=RTOL)


@pytest.fixture(scope="module")
def three_level():  # noqa: ANN201
    from trajectories.data import TherapyData

    df = pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3], "therapist": ["A", "A", "A", "A", "B", "B"],
                       "session": [0, 4, 0, 4, 0, 4], "score": [20.0, 14, 25, 26, 18, 10]})
    data = TherapyData.from_frame(df, patient="patient", therapist="therapist",
                                  session="session", score="score")
    spec = GrowthSpec(time="linear", patient="intercept", therapist="intercept")
    draws = {"intercept": [21.0, 20.0], "slope": [-1.0, -1.5],
             "patient_intercept_sd": [3.0, 4.0], "therapist_intercept_sd": [1.0, 2.0],
             "therapist_effect": [[[0.5], [-0.7]], [[-0.2], [0.4]]], "residual_sd": [2.0, 2.5],
             "patient_effect": [[[1.0], [2.0], [-1.0]], [[0.0], [1.0], [0.5]]]}
    return fit_from_draws(spec, data, draws), draws


def test_therapist_level_with_covariates_averages_the_therapists_patients() -> None:
    """Therapist A has one control and two treated patients: A's expected score weights
    each profile by its patients (no instrument, so the censored mean is the mean)."""
    from trajectories.data import TherapyData

    df = pd.DataFrame({"patient": [1, 1, 2, 2, 5, 5, 3, 3, 4, 4],
                       "therapist": ["A"] * 6 + ["B"] * 4,
                       "session": [0, 4] * 5,
                       "score": [20.0, 14, 25, 26, 21, 17, 18, 10, 22, 15],
                       "arm": ["c", "c", "t", "t", "t", "t", "t", "t", "t", "t"]})
    data = TherapyData.from_frame(df, patient="patient", therapist="therapist",
                                  session="session", score="score", covariates=("arm",))
    spec = GrowthSpec(time="linear", patient="intercept", therapist="intercept",
                      covariates=("arm",))
    draws = {"intercept": [21.0, 20.0], "slope": [-1.0, -1.5], "covariate_effect": [[3.0], [5.0]],
             "patient_intercept_sd": [3.0, 4.0], "therapist_intercept_sd": [1.0, 2.0],
             "therapist_effect": [[[0.5], [-0.7]], [[-0.2], [0.4]]], "residual_sd": [2.0, 2.5]}
    fit = fit_from_draws(spec, data, draws)
    table = expected_change(fit, at_session=4, level="therapist")
    got = table.query("quantity == 'expected_score'").set_index("therapist")["mean"]
    b0, b1, g = np.array([21.0, 20.0]), np.array([-1.0, -1.5]), np.array([3.0, 5.0])
    u = np.array([[0.5, -0.7], [-0.2, 0.4]])  # draw x therapist
    a = b0 + u[:, 0] + 4 * b1 + 2 * g / 3  # one control and two treated patients
    b = b0 + u[:, 1] + 4 * b1 + g      # both treated
    np.testing.assert_allclose(got[["A", "B"]].to_numpy(), [a.mean(), b.mean()], rtol=RTOL)


def test_population_change_with_covariates_averages_every_patient(btb) -> None:  # noqa: ANN001
    """With covariates each patient has their own censored mean; the population expected
    score is their average (checked patient by patient, by quadrature)."""
    spec = GrowthSpec(time="log", covariates=("treatment", "drug"))
    gamma = np.array([[-2.0, 1.0], [-3.0, 2.0]])  # treatment[TAU], drug[Yes]
    draws = {"intercept": B0[:2], "slope": B1[:2], "patient_intercept_sd": SD0[:2],
             "patient_slope_sd": SD1[:2], "patient_corr": np.full((2, 1), RHO),
             "residual_sd": np.full(2, SIGMA), "covariate_effect": gamma}
    fit = fit_from_draws(spec, btb, draws)
    first = btb.frame.groupby("patient").head(1)
    tau = (first["treatment"] == "TAU").to_numpy(float)
    drug = (first["drug"] == "Yes").to_numpy(float)
    lt = np.log(9.0)
    expect = []
    for s in range(2):
        sd8 = np.sqrt(SD0[s]**2 + 2 * RHO * SD0[s] * SD1[s] * lt + (SD1[s] * lt) ** 2
                      + SIGMA**2)
        mean = B0[s] + B1[s] * lt + gamma[s, 0] * tau + gamma[s, 1] * drug
        expect.append(np.mean([observed_mean(m, sd8) for m in mean]))
    got = expected_change(fit, at_session=8).set_index("quantity")
    np.testing.assert_allclose(got.loc["expected_score", "mean"], np.mean(expect), rtol=QUAD)
    np.testing.assert_allclose(got.loc["expected_score", "ci_high"],
                               np.quantile(expect, 0.975), rtol=QUAD)


def test_therapist_effects_closed_form(three_level) -> None:  # noqa: ANN001
    fit, draws = three_level
    te = therapist_effects(fit, at_session=4)
    icc = te.query("quantity == 'icc'")["mean"].iloc[0]
    su, sv, s = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([2.0, 2.5])
    np.testing.assert_allclose(icc, np.mean(su**2 / (su**2 + sv**2 + s**2)), rtol=RTOL)
    eff = te.query("quantity == 'effect'").set_index("therapist")["mean"]
    np.testing.assert_allclose(eff.to_numpy(), [0.15, -0.15], rtol=RTOL)
    p = te.query("quantity == 'p_better_than_average'").set_index("therapist")["mean"]
    assert p.to_dict() == {"A": 0.5, "B": 0.5}  # lower is better: A better in draw 2 only
    rank = te.query("quantity == 'rank'").set_index("therapist")["mean"]
    assert rank.to_dict() == {"A": 1.5, "B": 1.5}
    ther = expected_change(fit, at_session=4, level="therapist")
    got = ther.query("quantity == 'expected_score' and therapist == 'A'")["mean"].iloc[0]
    np.testing.assert_allclose(got, np.mean([21 - 4 + 0.5, 20 - 6 - 0.2]), rtol=RTOL)


def test_deterioration_risk_closed_form(three_level) -> None:  # noqa: ANN001
    fit, _ = three_level
    risk = deterioration_risk(fit, by_session=4, instrument=5.0).set_index("patient")
    # patient 2 (therapist A): mu_4 = b0 + u + v + 4 b1, change from observed intake 25
    mu = np.array([21 + 0.5 + 2.0 - 4.0, 20 - 0.2 + 1.0 - 6.0])
    p = norm.cdf((mu - 25 - 5.0) / np.array([2.0, 2.5])).mean()
    np.testing.assert_allclose(risk.loc[2, "p_deteriorated"], p, rtol=RTOL)
    assert risk.loc[2, "observed_at_session"]


def test_predict_is_gaussian_conditioning(three_level) -> None:  # noqa: ANN001
    fit, draws = three_level
    seen = fit.data.subset([3])  # therapist B, sessions 0 and 4
    out = predict(fit, seen, at_session=8, instrument=5.0).iloc[0]
    means, p_fail = [], []
    for s in range(2):
        sv, sig = draws["patient_intercept_sd"][s], draws["residual_sd"][s]
        u = draws["therapist_effect"][s][1][0]
        y = np.array([18.0, 10.0])
        m = draws["intercept"][s] + u + draws["slope"][s] * np.array([0.0, 4.0])
        v = sv**2 * np.ones((2, 2)) + sig**2 * np.eye(2)
        gain = sv**2 * np.ones(2) @ np.linalg.inv(v)
        mean_v, var_v = gain @ (y - m), sv**2 - gain @ (sv**2 * np.ones(2))
        mu8 = draws["intercept"][s] + u + 8 * draws["slope"][s] + mean_v
        means.append(mu8)
        p_fail.append(1 - norm.cdf((-5.0 - (mu8 - 18.0)) / np.sqrt(var_v + sig**2)))
    np.testing.assert_allclose(out["expected_score"], np.mean(means), rtol=RTOL)
    np.testing.assert_allclose(out["p_failure"], np.mean(p_fail), rtol=RTOL)


def test_predict_with_all_sessions_equals_in_sample_posterior(small_fit, small_data) -> None:  # noqa: ANN001
    pred = predict(small_fit, small_data, at_session=6, instrument=6.0).set_index("patient")
    ins = expected_change(small_fit, at_session=6, level="patient")
    ins = ins[ins["quantity"] == "expected_score"].set_index("patient")
    # In-sample means average 1000 draws of sampled effects, predict averages exact
    # conditional means over the same parameter draws: their difference is MC error of
    # at most sd / sqrt(ESS); with ESS >= 250 (a quarter of the draws), 5 SE is ample.
    tol = 5 * ins["sd"] / np.sqrt(250)
    assert (np.abs(pred["expected_score"] - ins["mean"]) < tol).all()
    # and the credible intervals agree to MC precision of the 2.5% quantile
    np.testing.assert_allclose(pred["ci_low"], ins["ci_low"], atol=float(ins["sd"].max()) * 0.5)
