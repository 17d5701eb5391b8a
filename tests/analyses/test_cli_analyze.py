"""`setback analyze` and `setback report`: one command from a file to report.html."""

from __future__ import annotations

import warnings

import matplotlib
import pandas as pd

matplotlib.use("Agg")

from analyses.cli import main  # noqa: E402
from trajectories.datasets import load_beat_the_blues  # noqa: E402

SMALL = ["--draws", "150", "--tune", "200", "--seed", "3", "--quiet"]


def test_analyze_then_report_from_the_fit_folder(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    out = tmp_path / "analysis"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few draws: convergence warnings are expected
        assert main(["analyze", str(path), "--instrument", "bdi2", "--covariates",
                     "treatment", "--out", str(out), *SMALL]) == 0
    assert "report.html" in capsys.readouterr().out
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {"clinical_significance", "retention", "parameters", "expected_change",
            "recovery_curves", "deterioration_risk"} <= tables
    assert "therapist_effects" not in tables  # two-level data
    page = (out / "report.html").read_text()
    assert "Jacobson" in page and page.count("<img") == len(list((out / "figures").glob("*.png")))
    # the fit files of `setback fit` are there too, and `setback report` rebuilds the model part
    assert (out / "fit.nc").exists() and (out / "summary.csv").exists()
    again = tmp_path / "again"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["report", str(out), "--out", str(again)]) == 0
    a = pd.read_csv(out / "tables" / "parameters.csv")
    b = pd.read_csv(again / "tables" / "parameters.csv")
    pd.testing.assert_frame_equal(a, b)
    # analyze shows the risk table run_fit computed; report computes it from fit.nc: the same
    risk = pd.read_csv(out / "tables" / "deterioration_risk.csv")
    pd.testing.assert_frame_equal(risk, pd.read_csv(again / "tables" / "deterioration_risk.csv"))
    pd.testing.assert_frame_equal(risk, pd.read_csv(out / "deterioration_risk.csv"))


def test_report_from_a_study_folder_and_bad_folder(tmp_path, capsys) -> None:  # noqa: ANN001
    toml = tmp_path / "study.toml"
    toml.write_text('[study]\ntask = "t_interval"\n[design]\nreplications = 30\nseed = 5\n'
                    '[design.factors]\nn = [5, 20]\ndist = ["normal"]\n')
    study = tmp_path / "study"
    assert main(["study", "run", str(toml), "--out", str(study), "--workers", "1",
                 "--quiet"]) == 0
    rep = tmp_path / "rep"
    assert main(["report", str(study), "--out", str(rep)]) == 0
    perf = pd.read_csv(rep / "tables" / "performance.csv")
    assert {"bias", "coverage"} <= set(perf["metric"]) and (perf["n_ok"] == 30).all()
    assert any(p.name.startswith("coverage") for p in (rep / "figures").glob("*.png"))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "neither a fit folder" in capsys.readouterr().err
