"""`setback predict`: risks for a held-out simulated clinic from a saved joint fit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analyses.cli import main
from simulations.clinic.config import ClinicConfig
from simulations.clinic.simulate import simulate
from trajectories.dropout_predict import risk_calibration
from trajectories.fit import fit_growth
from trajectories.spec import DropoutSpec, GrowthSpec


@pytest.fixture(scope="module")
def clinic(tmp_path_factory) -> dict:  # noqa: ANN001
    """A fitted joint model on one simulated clinic and a second clinic held out."""
    root = tmp_path_factory.mktemp("predict")
    config = ClinicConfig(n_patients=160, n_therapists=8)
    train = simulate(config, seed=1).data
    held = simulate(config, seed=2).data
    spec = GrowthSpec(time="log", therapist="intercept", dropout=DropoutSpec(n_bins=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains for a test
        fit = fit_growth(spec, train, seed=3, draws=300, tune=300)
    fit.save(str(root / "fit.nc"))
    path = root / "held.csv"
    held.frame.drop(columns="source_row").to_csv(path, index=False)
    return {"root": root, "fit": str(root / "fit.nc"), "held": str(path), "data": held}


def test_predict_writes_one_row_per_patient_with_flags(clinic: dict, capsys) -> None:  # noqa: ANN001
    out = clinic["root"] / "new"
    early = clinic["data"].before_session(3)
    early.frame.drop(columns="source_row").to_csv(clinic["root"] / "early.csv", index=False)
    code = main(["predict", clinic["fit"], str(clinic["root"] / "early.csv"),
                 "--instrument", "phq9", "--horizon", "4", "--alert-rate", "0.2",
                 "--seed", "1", "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == early.n_patients and table["patient"].is_unique
    for col in ("p_failure", "p_dropout", "p_dropout_next"):
        assert table[col].between(0, 1).all()
    assert (table["p_dropout"] >= table["p_dropout_next"] - 1e-12).all()
    # the alert rate: the top 20% (ceil) of each risk, and no one below a flagged risk
    n_flag = int(np.ceil(0.2 * len(table)))
    for risk, flag in (("p_dropout", "flag_dropout"), ("p_failure", "flag_not_on_track")):
        assert table[flag].sum() >= n_flag
        assert table.loc[table[flag], risk].min() >= table.loc[~table[flag], risk].max()
    assert "predictions:" in capsys.readouterr().out


def test_predict_on_held_out_data_prints_calibration(clinic: dict, capsys) -> None:  # noqa: ANN001
    out = clinic["root"] / "held"
    code = main(["predict", clinic["fit"], clinic["held"], "--instrument", "phq9",
                 "--landmark", "1", "--horizon", "6", "--at-session", "8", "--seed", "2",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "predictions.csv")
    calib = pd.read_csv(out / "calibration.csv").set_index("risk")
    row = calib.loc["dropout within 6 sessions of 1"]
    scored = table.dropna(subset=["dropped_out"])
    # the Brier score by hand from the written predictions and outcomes
    brier = float(np.mean((scored["p_dropout"] - scored["dropped_out"]) ** 2))
    assert row["brier"] == pytest.approx(brier, rel=1e-12)
    assert f"Brier {brier:.4f}" in printed
    again = risk_calibration(scored["p_dropout"], scored["dropped_out"])
    assert row["auc"] == pytest.approx(again["auc"], rel=1e-12)
    assert row["n_events"] == int(scored["dropped_out"].sum()) > 0
    assert "no reliable improvement by session 8" in calib.index
    # the failure outcome by hand: PHQ-9 intake minus session-8 score short of the RCI used
    rci = json.loads((out / "meta.json").read_text())["rci"]
    frame = pd.read_csv(clinic["held"]).dropna(subset=["score"])
    y0 = frame[frame["session"] == 0].set_index("patient")["score"]
    y8 = frame[frame["session"] == 8].set_index("patient")["score"]
    both = pd.concat([y0, y8], axis=1, keys=["y0", "y8"]).dropna()
    by_hand = (both["y0"] - both["y8"] < rci).astype(int)
    failed = table.dropna(subset=["failed"]).set_index("patient")["failed"]
    assert len(failed) > 0 and failed.astype(int).to_dict() == by_hand.loc[failed.index].to_dict()
