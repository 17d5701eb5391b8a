"""`setback fit --dropout joint`: the joint growth–dropout model from the command line."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from analyses.cli import main
from trajectories.datasets import load_beat_the_blues


@pytest.mark.slow
def test_fit_joint_dropout_on_beat_the_blues(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few draws: convergence warnings are expected
        code = main(["fit", str(path), "--instrument", "bdi2", "--rci", "8.5", "--dropout",
                     "joint", "--sampler", "pymc", "--draws", "100", "--tune", "150",
                     "--seed", "2", "--quiet", "--out", str(out)])
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    params = set(summary["parameter"])
    assert {"dropout_association[level]", "dropout_association[improvement]",
            "dropout_association[worsening]"} <= params
    risk = pd.read_csv(out / "dropout_risk.csv")
    assert set(risk["patient"]) == set(range(1, 101))
    assert risk[["hazard", "cumulative"]].stack().between(0, 1).all()
    # cumulative risk never falls over the upcoming sessions of a patient
    assert (risk.groupby("patient")["cumulative"].diff().dropna() >= -1e-12).all()
