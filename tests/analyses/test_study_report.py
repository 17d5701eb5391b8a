"""The study report shows every condition, its failures and (for SBC) the rank ECDFs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyses.pipelines.study import performance_layout, study_report  # noqa: E402
from analyses.plots import plot_nested_loop  # noqa: E402
from simulations.study import ParquetStore, StudyDesign, run_study  # noqa: E402

FACTORS = {"n": [5, 10, 30], "dist": ["normal", "lognormal", "exponential"],
           "level": [0.9, 0.95]}


@pytest.fixture(scope="module")
def three_factor_report(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("study")
    design = StudyDesign(FACTORS, replications=10, seed=5)
    run_study(design, "t_interval", store=ParquetStore(folder), executor="serial",
              progress=False)
    return study_report(folder)


def _points(ax) -> list[tuple]:  # noqa: ANN001
    """(label, x values) of each line with error bars on a panel."""
    return [(c.get_label(), tuple(c.lines[0].get_xdata()))
            for c in ax.containers if hasattr(c, "lines")]


def test_every_condition_of_a_three_factor_study_is_on_each_figure(three_factor_report) -> None:  # noqa: ANN001
    rep = three_factor_report
    fig = rep.figures["coverage_mean"]
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    # x: n (3 levels); columns: dist (3 levels); rows: level (2 levels) -> 6 panels
    assert len(panels) == 3 * 2
    titles = sorted(ax.get_title() for ax in panels)
    assert titles == sorted(f"level = {lv}, dist = {d}" for d in FACTORS["dist"]
                            for lv in FACTORS["level"])
    for ax in panels:
        (label, xs), = _points(ax)  # one method, one line per panel
        assert label == "t" and xs == (5, 10, 30)  # every level of n
        # the coverage target is each panel's own nominal level
        dashed = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"]
        assert dashed == [float(ax.get_title().split(",")[0].split("= ")[1])]
    caption = rep.captions["figure/coverage_mean"]
    assert caption.startswith("coverage of mean (±1.96 MCSE) in all 18 conditions")
    assert "panel columns: dist (exponential, lognormal, normal)" in caption
    assert "panel rows: level (0.9, 0.95)" in caption
    # every metric of the task's set has its figure
    assert {"bias_mean", "coverage_mean", "rejection_mean"} <= set(rep.figures)
    assert rep.tables["performance"]["condition_id"].nunique() == 18


def test_more_than_three_factors_make_a_nested_loop_plot() -> None:
    rows = [{"condition_id": i, "a": a, "b": b, "c": c, "d": d, "method": m, "metric": "bias",
             "value": 0.1 * i, "mcse": 0.01}
            for i, (a, b, c, d) in enumerate(np.ndindex(2, 3, 2, 2)) for m in ("x", "y")]
    summary = pd.DataFrame(rows)
    layout = performance_layout(summary, ["a", "b", "c", "d"])
    assert layout["kind"] == "nested" and layout["factors"] == ["a", "b", "c", "d"]
    ax = plot_nested_loop(summary, metric="bias", factors=layout["factors"])
    steps = [line for line in ax.lines if len(line.get_xdata()) == 24]
    # two methods plus one step line per factor, each over all 24 conditions
    assert len(steps) == 2 + 4
    assert "24 conditions" in ax.get_xlabel()


def test_failed_conditions_are_reported_and_named_in_captions(tmp_path: Path) -> None:
    design = StudyDesign({"n": [1, 10, 30], "dist": ["normal"]}, replications=8, seed=2)
    run_study(design, "t_interval", store=ParquetStore(tmp_path), executor="serial",
              progress=False)
    rep = study_report(tmp_path)
    status = rep.tables["status"].set_index("condition_id")
    assert bool(status.loc[0, "failed_entirely"]) and not status.loc[1, "flagged"]
    assert rep.tables["errors"]["message"].tolist() == ["ValueError: n must be >= 2, got 1"]
    assert "2 of 3 conditions (no coverage in condition(s) 0" in rep.captions[
        "figure/coverage_mean"]


def test_sbc_section_has_tests_and_ecdf_panels(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    # An SBC study whose "posterior" is the exact conjugate one: ranks are uniform.
    from simulations.tasks import register_task

    register_task("toy_sbc", toy_sbc, metrics=("coverage", "mean_rank", "uniformity"))
    design = StudyDesign({"n_obs": [5]}, replications=100, seed=9)
    run_study(design, toy_sbc, store=ParquetStore(tmp_path), executor="serial",
              progress=False)
    rep = study_report(tmp_path)
    test = rep.tables["sbc_uniformity_0"]
    assert test["parameter"].tolist() == ["mu", "mu_shifted"]
    assert test.set_index("parameter")["uniform"].to_dict() == {"mu": True, "mu_shifted": False}
    fig = rep.figures["sbc_ecdf_0"]
    assert [ax.get_title() for ax in fig.axes] == ["mu (n = 100)", "mu_shifted (n = 100)"]
    perf = rep.tables["performance"]
    assert set(perf["metric"]) == {"coverage", "mean_rank", "uniformity"}


def toy_sbc(condition: dict, rng: np.random.Generator) -> list[dict]:
    """SBC of mu ~ N(0, 1), y ~ N(mu, 1): exact posterior draws, and a shifted fake."""
    n, L = int(condition["n_obs"]), 19  # noqa: N806
    mu = rng.normal()
    y = rng.normal(mu, 1.0, n)
    mean, sd = y.sum() / (n + 1), (1 / (n + 1)) ** 0.5
    rows = []
    for name, shift in (("mu", 0.0), ("mu_shifted", 1.0)):
        draws = rng.normal(mean + shift * sd, sd, L)
        rows.append({"method": "sbc", "estimand": name, "truth": mu,
                     "estimate": float(draws.mean()), "ci_low": mean + (shift - 1.96) * sd,
                     "ci_high": mean + (shift + 1.96) * sd,
                     "rank": int((draws < mu).sum()), "n_ranked": L})
    return rows
