"""Independent checks: statsmodels MixedLM (REML) and parameter recovery with known truth."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from trajectories.baseline import fit_mixedlm
from trajectories.datasets import load_beat_the_blues
from trajectories.fit import ConvergenceWarning, fit_growth
from trajectories.spec import GrowthSpec


def test_fit_mixedlm_matches_statsmodels_by_hand() -> None:
    data = load_beat_the_blues()
    table = fit_mixedlm(GrowthSpec(time="log"), data).set_index("parameter")
    frame = data.frame
    lt = np.log1p(frame["session"].to_numpy(float))
    x = np.column_stack([np.ones_like(lt), lt])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.MixedLM(frame["score"].to_numpy(float), x, groups=frame["patient"],
                         exog_re=x).fit(reml=True)
    np.testing.assert_allclose(table.loc[["intercept", "slope"], "estimate"], res.fe_params,
                               rtol=1e-10)
    np.testing.assert_allclose(table.loc["residual_sd", "estimate"], np.sqrt(res.scale),
                               rtol=1e-10)
    np.testing.assert_allclose(table.loc["patient_slope_sd", "estimate"],
                               np.sqrt(res.cov_re[1, 1]), rtol=1e-10)


def _two_level(n_patients: int, seed: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    truth = {"intercept": 20.0, "slope": -3.0, "patient_intercept_sd": 5.0,
             "patient_slope_sd": 1.5, "patient_corr[intercept,slope]": -0.3,
             "residual_sd": 3.0}
    cov = np.array([[25.0, -2.25], [-2.25, 2.25]])
    v = rng.multivariate_normal([0, 0], cov, size=n_patients)
    n_sess = rng.integers(3, 11, size=n_patients)
    pid = np.repeat(np.arange(n_patients), n_sess)
    s = np.concatenate([np.arange(k) for k in n_sess])
    y = 20 + v[pid, 0] + (-3 + v[pid, 1]) * np.log1p(s) + rng.normal(0, 3, s.size)
    return pd.DataFrame({"patient": pid, "session": s, "score": y}), truth


def _fit(df: pd.DataFrame, seed: int):  # noqa: ANN202
    from trajectories.data import TherapyData

    data = TherapyData.from_frame(df, patient="patient", session="session", score="score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_growth(GrowthSpec(time="log"), data, draws=1000, tune=1000, seed=seed)
    # gates before comparing values (STYLE.md section 7)
    assert fit.diagnostics.max_rhat < 1.01 and fit.diagnostics.min_ess_bulk > 400
    assert fit.diagnostics.n_divergent == 0
    return data, fit


@pytest.mark.slow
def test_posterior_means_agree_with_mixedlm_reml() -> None:
    df, _ = _two_level(2000, seed=7)
    data, fit = _fit(df, seed=1)
    bayes = fit.summary().set_index("parameter")
    reml = fit_mixedlm(GrowthSpec(time="log"), data).set_index("parameter")
    for name in ("intercept", "slope"):
        # with 2000 patients the prior is negligible: posterior mean = REML estimate up
        # to a fraction of the REML SE (0.5 SE leaves room for MC error and the mean/mode gap)
        assert abs(bayes.loc[name, "mean"] - reml.loc[name, "estimate"]) < \
            0.5 * reml.loc[name, "se"], name
    for name in ("patient_intercept_sd", "patient_slope_sd", "residual_sd"):
        # no REML SE for variance parameters: use the posterior SD as the yardstick
        assert abs(bayes.loc[name, "mean"] - reml.loc[name, "estimate"]) < \
            1.0 * bayes.loc[name, "sd"], name


@pytest.mark.slow
@pytest.mark.parametrize(("n_patients", "seed"), [(300, 11), (1000, 12)])
def test_parameter_recovery(n_patients: int, seed: int) -> None:
    df, truth = _two_level(n_patients, seed=seed)
    _, fit = _fit(df, seed=seed)
    table = fit.summary().set_index("parameter")
    # Each posterior mean within 4 posterior SDs of the truth: with 6 roughly normal
    # posteriors a false alarm has probability about 6 * 6e-5. (Requiring all six 99%
    # intervals to cover, tried first, fails 6% of the time by design.)
    for name, value in truth.items():
        z = abs(table.loc[name, "mean"] - value) / table.loc[name, "sd"]
        assert z < 4, (name, z)
    covered = [table.loc[n, "ci_low"] < v < table.loc[n, "ci_high"] for n, v in truth.items()]
    assert sum(covered) >= 4  # 95% intervals: P(fewer than 4 of 6 cover) is about 2e-3
