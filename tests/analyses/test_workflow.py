"""Workflow figures, report sections and `setback fit --compare` on Beat the Blues."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyses.cli import main  # noqa: E402
from analyses.pipelines.workflow import add_workflow_sections  # noqa: E402
from analyses.plots import plot_contrast, plot_predictive_check  # noqa: E402
from analyses.plots.checks import predictive_summaries  # noqa: E402
from analyses.report import Report  # noqa: E402
from trajectories.checks import posterior_predictive  # noqa: E402
from trajectories.datasets import load_beat_the_blues  # noqa: E402
from trajectories.estimands import contrast  # noqa: E402
from trajectories.fit import fit_from_draws  # noqa: E402
from trajectories.spec import GrowthSpec  # noqa: E402

SPEC = GrowthSpec(time="log", covariates=("treatment",), time_interactions=("treatment",))


@pytest.fixture(scope="module")
def pinned():  # noqa: ANN201
    rng = np.random.default_rng(1)
    draws = {"intercept": [22.0, 21.0], "slope": [-4.0, -3.5],
             "covariate_effect": [[1.0, 2.0], [0.5, 1.5]], "patient_intercept_sd": [8.0, 8.0],
             "patient_slope_sd": [2.0, 2.0], "patient_corr": [[0.0], [0.0]],
             "residual_sd": [5.0, 5.0], "patient_effect": rng.normal(0, 3, (2, 100, 2))}
    return fit_from_draws(SPEC, load_beat_the_blues(), draws)


def test_plot_contrast_draws_one_line_per_level(pinned) -> None:  # noqa: ANN001
    table = contrast(pinned, by="treatment", at_session=[0, 2, 3, 5, 8])
    ax = plot_contrast(table)
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "TAU - BtheB"]
    np.testing.assert_allclose(line.get_ydata(), table.query("scale == 'raw'")["estimate"])
    with pytest.raises(ValueError, match="scale 'log' not in the table"):
        plot_contrast(table, scale="log")


def test_predictive_check_summaries_and_figure(pinned) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="call trajectories.checks.posterior_predictive"):
        plot_predictive_check(pinned)
    checked = posterior_predictive(pinned, seed=2)
    summ = predictive_summaries(checked)
    frame = load_beat_the_blues().frame
    obs = frame.groupby("session")["score"].mean()
    per = summ["sessions"].groupby("session")["observed_mean"].first()
    np.testing.assert_allclose(per.to_numpy(), obs.to_numpy())
    first_last = frame.groupby("patient")["score"].agg(["first", "last", "size"])
    changed = first_last[first_last["size"] > 1]
    np.testing.assert_allclose(np.sort(summ["change"]["observed"]),
                               np.sort(changed["last"] - changed["first"]))
    assert summ["replicated_change"].shape == (2, len(changed))
    axes = plot_predictive_check(checked)
    assert len(axes) == 2


def test_report_gets_predictive_check_and_contrast(pinned, tmp_path) -> None:  # noqa: ANN001
    rep = Report("workflow")
    checked = add_workflow_sections(rep, pinned, seed=3, draws=2)
    assert {"predictive_check", "contrast_treatment"} <= set(rep.figures)
    table = rep.tables["contrast_treatment"]
    assert sorted(table["session"].unique()) == [0, 2, 3, 5, 8]
    assert checked is not pinned
    rep.write(tmp_path / "rep")
    assert (tmp_path / "rep" / "figures" / "predictive_check.png").exists()


def test_cli_fit_compare_writes_the_comparison(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["fit", str(path), "--instrument", "bdi2", "--rci", "8.46",
                     "--compare", "log,linear", "--out", str(out), "--draws", "300",
                     "--tune", "300", "--seed", "2", "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "model_comparison.csv")
    assert sorted(table["model"]) == ["linear", "log"]
    assert table["message"].iloc[0].startswith(f"'{table['model'].iloc[0]}' predicts")
    assert "model comparison:" in capsys.readouterr().out
    assert main(["fit", str(path), "--compare", "log", "--out", str(out)]) == 2
    assert "--compare: give two or more" in capsys.readouterr().err
