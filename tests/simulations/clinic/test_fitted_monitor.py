"""FittedModelMonitor: equals predict(), ranks like the generating monitor, beats chance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulations import ClinicConfig, simulate
from simulations.clinic.monitors import ExpectedRecoveryMonitor, FittedModelMonitor, Monitor
from trajectories.data import TherapyData
from trajectories.fit import fit_from_draws
from trajectories.predict import predict
from trajectories.spec import GrowthSpec

CFG = ClinicConfig(n_patients=400, n_therapists=10)


def _given_fit(data: TherapyData, spec: GrowthSpec, n: int = 20) -> object:
    """A fit with fixed, plausible PHQ-9 parameters (no sampling)."""
    rng = np.random.default_rng(0)
    values = {"intercept": 15.0 + rng.normal(0, 0.2, n), "slope": -2.6 + rng.normal(0, 0.1, n),
              "patient_intercept_sd": np.full(n, 4.5), "patient_slope_sd": np.full(n, 1.4),
              "patient_corr": np.full((n, 1), -0.2), "residual_sd": np.full(n, 2.6)}
    if spec.therapist == "intercept":
        values["therapist_intercept_sd"] = np.full(n, 1.0)
        values["therapist_effect"] = np.zeros((n, data.n_therapists, 1))
    return fit_from_draws(spec, data, values)


@pytest.fixture(scope="module")
def train() -> object:
    return simulate(CFG, "tau", seed=11)


@pytest.mark.parametrize("spec", [GrowthSpec(therapist="none"),
                                  GrowthSpec(therapist="intercept"),
                                  GrowthSpec(therapist="none", covariates=("intake",),
                                             time_interactions=("intake",))])
def test_equals_predict_for_an_unknown_therapist(train, spec: GrowthSpec) -> None:  # noqa: ANN001
    values_fit = _given_fit(train.data, spec)
    if spec.covariates:  # add intake effects to the fixed draws
        n = 20
        post = values_fit.idata["posterior"].to_dataset()
        vals = {v: post[v].values.reshape(n, *post[v].shape[2:]) for v in post.data_vars}
        vals["covariate_effect"] = np.tile([0.3, -0.1], (n, 1))
        values_fit = fit_from_draws(spec, train.data, vals)
    mon = FittedModelMonitor(values_fit, max_draws=20).bind(CFG)
    assert isinstance(mon, Monitor) and mon.at_session == CFG.max_sessions - 1
    s = 4
    frame = train.data.frame
    full = frame.groupby("patient")["session"].max() >= s
    sub = frame[frame["patient"].isin(full[full].index) & (frame["session"] <= s)].copy()
    sub["therapist"] = "unseen-" + sub["therapist"].astype(str)
    new = TherapyData.from_frame(sub[["patient", "therapist", "session", "score"]],
                                 patient="patient", therapist="therapist", session="session",
                                 score="score", instrument="phq9")
    expected = predict(values_fit, new, at_session=CFG.max_sessions - 1)["p_failure"]
    scores = sub.pivot(index="patient", columns="session", values="score").to_numpy()
    got = mon.p_failure(s, scores, instrument=CFG.instrument)
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-9, atol=1e-12)


def test_rank_order_agrees_with_the_generating_monitor_on_a_clear_case(train) -> None:  # noqa: ANN001
    mon = FittedModelMonitor(_given_fit(train.data, GrowthSpec(therapist="none")),
                             threshold=0.8).bind(CFG)
    erm = ExpectedRecoveryMonitor(n_reference=20_000).bind(CFG)
    s = 5
    final = np.linspace(3.0, 27.0, 13)  # from much better to much worse than intake 16
    scores = 16.0 + (final - 16.0)[:, None] * np.linspace(0, 1, s + 1)[None, :]
    risk = mon.p_failure(s, scores, instrument=CFG.instrument)
    row = erm.bounds[s]
    margin = scores[:, s] - (row[0] + row[1] * scores[:, 0] + row[2])
    assert stats.spearmanr(risk, margin).statistic == pytest.approx(1.0)
    flags_fit = mon.flag(s, scores, instrument=CFG.instrument)
    flags_erm = erm.flag(s, scores, instrument=CFG.instrument)
    assert not flags_fit[0] and not flags_erm[0] and flags_fit[-1] and flags_erm[-1]


def test_flags_future_failures_better_than_chance(train) -> None:  # noqa: ANN001
    mon = FittedModelMonitor(_given_fit(train.data, GrowthSpec(therapist="none"))).bind(CFG)
    test = simulate(CFG, "tau", seed=12)
    frame = test.data.frame
    s = 4
    seen = frame.groupby("patient")["session"].max() >= s
    wide = frame.pivot(index="patient", columns="session", values="score")
    wide = wide.loc[seen[seen].index, list(range(s + 1))]
    risk = mon.p_failure(s, wide.to_numpy(), instrument=CFG.instrument)
    failure = test.patients.set_index("patient").loc[wide.index, "failure"].to_numpy(bool)
    auc = stats.mannwhitneyu(risk[failure], risk[~failure]).statistic / (
        failure.sum() * (~failure).sum())
    assert auc > 0.7  # chance is 0.5; SE of the AUC with ~150 per group is about 0.03


def test_runs_inside_the_simulator_and_validates(train) -> None:  # noqa: ANN001
    fit = _given_fit(train.data, GrowthSpec(therapist="none"))
    mon = FittedModelMonitor(fit, threshold=0.85)
    sim = simulate(CFG.replace(n_patients=200, n_therapists=5), "feedback", seed=3,
                   monitor=mon, keep_sessions=False)
    rate = sim.patients["ever_not"].mean()
    assert 0.05 < rate < 0.8
    with pytest.raises(ValueError, match="bind"):
        mon.flag(1, np.zeros((2, 2)), instrument=CFG.instrument)
    with pytest.raises(ValueError, match="threshold"):
        FittedModelMonitor(fit, threshold=1.5)
    nan_rows = np.full((3, 3), np.nan)
    assert not mon.bind(CFG).flag(2, nan_rows, instrument=CFG.instrument).any()
