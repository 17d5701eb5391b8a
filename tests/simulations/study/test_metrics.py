"""Performance measures and their Monte Carlo SEs against hand-worked examples (rtol 1e-10).

Formulas: Morris, White & Crowther (2019), Table 6; DOMAIN.md §9.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulations.study.design import StudyDesign
from simulations.study.metrics import performance, replications_needed, summarise
from simulations.study.run import run_study

RTOL = 1e-10


@pytest.fixture
def four() -> pd.DataFrame:
    """Four replications of one method; truth 1, so d = (-0.1, 0.2, 0, -0.3)."""
    return pd.DataFrame({
        "condition_id": 0, "n": 10, "replication": [0, 1, 2, 3], "method": "m",
        "estimand": "theta", "estimate": [0.9, 1.2, 1.0, 0.7], "truth": 1.0,
        "se": [0.2, 0.25, 0.2, 0.25], "ci_low": [0.5, 1.05, 0.6, 0.2],
        "ci_high": [1.3, 1.6, 1.4, 1.1], "p_value": [0.01, 0.2, 0.04, 0.5], "error": None,
    })


# By hand: mean d = -0.05; squared deviations of d (and of the estimates) sum to 0.13.
# d^2 = (0.01, 0.04, 0, 0.09): mean 0.035, squared deviations sum to 0.0049.
# se^2 = (0.04, 0.0625, 0.04, 0.0625): mean 0.05125, squared deviations sum to 0.00050625.
EMPSE = math.sqrt(0.13 / 3)
MODSE = math.sqrt(0.05125)
VAR_SE2 = 0.00050625 / 3
HAND = {
    "bias": (-0.05, math.sqrt(0.13 / 3) / 2),
    "empse": (EMPSE, EMPSE / math.sqrt(6)),
    "mse": (0.035, math.sqrt(0.0049 / 3) / 2),
    "rmse": (math.sqrt(0.035), math.sqrt(0.0049 / 3) / 2 / (2 * math.sqrt(0.035))),
    "modse": (MODSE, math.sqrt(VAR_SE2 / (4 * 4 * 0.05125))),
    "relerror_modse": (100 * (MODSE / EMPSE - 1), 100 * MODSE / EMPSE
                       * math.sqrt(VAR_SE2 / (4 * 4 * 0.05125**2) + 1 / 6)),
    "coverage": (0.75, math.sqrt(0.75 * 0.25 / 4)),   # the second CI misses 1
    "rejection": (0.5, math.sqrt(0.5 * 0.5 / 4)),     # p < 0.05 twice
    "mean": (0.95, math.sqrt(0.13 / 3) / 2),
}


@pytest.mark.parametrize("metric", list(HAND))
def test_metric_matches_hand_computation(four: pd.DataFrame, metric: str) -> None:
    value, mcse, n = performance(four, metric)
    np.testing.assert_allclose([value, mcse], HAND[metric], rtol=RTOL)
    assert n == 4


def test_rejection_from_interval_when_there_is_no_p_value(four: pd.DataFrame) -> None:
    no_p = four.drop(columns="p_value")
    assert performance(no_p, "rejection")[:2] == (1.0, 0.0)   # every CI excludes 0
    value, mcse, _ = performance(no_p, "rejection", null_value=1.0)  # only the second one
    np.testing.assert_allclose([value, mcse], [0.25, math.sqrt(0.25 * 0.75 / 4)], rtol=RTOL)


def test_bias_uses_replication_specific_truth() -> None:
    rows = pd.DataFrame({"estimate": [1.0, 3.0, 2.0], "truth": [0.0, 2.0, 2.0]})
    value, mcse, _ = performance(rows, "bias")  # d = (1, 1, 0)
    np.testing.assert_allclose([value, mcse], [2 / 3, math.sqrt(1 / 3) / math.sqrt(3)],
                               rtol=RTOL)


def test_rows_missing_values_are_left_out_and_counted(four: pd.DataFrame) -> None:
    four.loc[3, "se"] = np.nan
    out = summarise(four, ("modse", "bias"))
    assert out.set_index("metric")["n_ok"].to_dict() == {"modse": 3, "bias": 4}
    assert out.set_index("metric")["n_failed"].to_dict() == {"modse": 1, "bias": 0}


def test_replications_needed_domain_example() -> None:
    assert replications_needed(0.005, p=0.95) == 1900   # DOMAIN.md §9
    assert replications_needed(0.01, p=0.5) == 2500
    assert replications_needed(0.05, sd=1.0) == 400
    with pytest.raises(ValueError, match="exactly one"):
        replications_needed(0.01)
    with pytest.raises(ValueError, match="positive"):
        replications_needed(0.0, p=0.5)


def test_summarise_layout_failures_and_n_needed(four: pd.DataFrame) -> None:
    failed = pd.DataFrame({"condition_id": [0], "n": [10], "replication": [4],
                           "error": ["RuntimeError: boom"]})
    frame = pd.concat([four, failed], ignore_index=True)
    out = summarise(frame, target_mcse=0.01)
    assert list(out.columns) == ["condition_id", "n", "method", "estimand", "metric", "value",
                                 "mcse", "n_ok", "n_failed", "n_needed"]
    assert out["metric"].tolist() == ["bias", "empse", "rmse", "modse", "relerror_modse",
                                      "coverage", "rejection"]
    assert (out["n_failed"] == 1).all() and (out["n_ok"] == 4).all()
    cov = out.set_index("metric").loc["coverage"]
    # n_ok * (mcse / target)^2 = 0.75 * 0.25 / 0.01^2 = 1875
    assert cov["n_needed"] == 1875


def test_default_metrics_without_truth_are_mean_and_empse() -> None:
    rates = pd.DataFrame({"condition_id": 0, "caseload": 20, "replication": [0, 1, 2],
                          "method": "alert", "estimand": "dropout_rate",
                          "estimate": [0.2, 0.25, 0.15], "error": None})
    out = summarise(rates)
    assert out["metric"].tolist() == ["mean", "empse"]
    np.testing.assert_allclose(out["value"], [0.2, 0.05], rtol=RTOL)


def test_unknown_metric_and_missing_column_are_errors(four: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown metric 'power'"):
        summarise(four, ("power",))
    with pytest.raises(ValueError, match="needs columns \\['se'\\]"):
        summarise(four.drop(columns="se"), ("modse",))


def test_t_interval_coverage_within_monte_carlo_band() -> None:
    # normal data, n = 30: the t-interval is exact, so coverage must satisfy
    # |cov - 0.95| < 4 sqrt(0.95 * 0.05 / R) (STYLE.md §7); type I error likewise around 0.05
    reps = 400
    design = StudyDesign({"n": [30], "dist": ["normal"]}, replications=reps, seed=99)
    table = run_study(design, "t_interval", executor="serial", progress=False).summarise()
    by = table.set_index("metric")
    band = 4 * math.sqrt(0.95 * 0.05 / reps)
    assert abs(by.loc["coverage", "value"] - 0.95) < band
    assert abs(by.loc["rejection", "value"] - 0.05) < band
    assert abs(by.loc["bias", "value"]) < 4 * by.loc["bias", "mcse"]


def test_rsimsum_measures_against_hand_computation() -> None:
    from simulations.study.metrics import performance, summarise

    est = np.array([1.1, 0.8, 1.3, 0.9])
    rows = pd.DataFrame({"estimate": est, "truth": 1.0, "ci_low": est - 0.25,
                         "ci_high": est + 0.25})
    value, mcse, _ = performance(rows, "rbias")
    d = est / 1.0 - 1.0
    assert value == pytest.approx(d.mean()) and mcse == pytest.approx(d.std(ddof=1) / 2)
    # bias-eliminated coverage: intervals around each estimate covering mean(est) = 1.025
    value, mcse, _ = performance(rows, "becover")
    assert value == pytest.approx(0.75) and mcse == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    frame = pd.DataFrame({
        "condition_id": 0, "n": 5, "replication": np.tile(np.arange(4), 2),
        "method": ["a"] * 4 + ["b"] * 4, "estimand": "mu",
        "estimate": np.r_[est, 1.0 + 2 * (est - 1.0)], "error": None})
    table = summarise(frame, ("relprec",), reference="b").set_index("method")
    # a has half b's deviations: (SD_b / SD_a)^2 = 4, +300%; r = 1 so the MCSE is 0
    assert table.loc["a", "value"] == pytest.approx(300.0)
    assert table.loc["a", "mcse"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["b", "value"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="needs reference"):
        summarise(frame, ("relprec",))


def test_per_metric_targets_and_task_metric_sets() -> None:
    from simulations.study.design import StudyDesign
    from simulations.study.metrics import METRICS
    from simulations.study.run import run_study
    from simulations.study.targets import parse_targets

    res = run_study(StudyDesign({"n": [10]}, replications=50, seed=1), "t_interval",
                    executor="serial", progress=False)
    table = res.summarise(target_mcse={"coverage": 0.01, "bias": 0.02})
    assert table["metric"].tolist() == ["bias", "empse", "rmse", "modse", "coverage",
                                        "rejection"]  # the task's registered set
    by = table.set_index("metric")
    assert by.loc["coverage", "n_needed"] == np.ceil(
        round(50 * (by.loc["coverage", "mcse"] / 0.01) ** 2, 9))
    assert pd.isna(by.loc["rmse", "n_needed"])  # no target: no answer
    assert parse_targets("coverage=0.005,0.1") == {"coverage": 0.005, "*": 0.1}
    with pytest.raises(ValueError, match="unknown metric 'bais'"):
        parse_targets("bais=0.1", METRICS)
