"""Compact reprs: a few lines saying what the object is, its sizes and key numbers
(issue 17, item 5: GrowthFit printed its whole DataTree; dataclasses their DataFrames)."""

from __future__ import annotations

import numpy as np

from simulations import ClinicConfig, simulate
from simulations.study.design import StudyDesign
from simulations.study.run import run_study
from trajectories.datasets import load_beat_the_blues
from trajectories.fit import fit_from_draws
from trajectories.spec import GrowthSpec


def _compact(text: str) -> str:
    assert len(text.splitlines()) <= 3 and len(text) <= 320, text
    return text


def test_data_and_fit() -> None:
    data = load_beat_the_blues()
    assert _compact(repr(data)) == ("TherapyData(100 patients, no therapists, 380 scores of "
                                    "BDI-II at months 0-8; 52 completed, 48 dropout)")
    draws = {"intercept": np.full(4, 20.0), "slope": np.full(4, -3.0),
             "patient_intercept_sd": np.full(4, 5.0), "patient_slope_sd": np.full(4, 1.5),
             "patient_corr": np.full((4, 1), -0.3), "residual_sd": np.full(4, 3.0)}
    fit = fit_from_draws(GrowthSpec(time="log"), data, draws)
    text = _compact(repr(fit))
    assert text.startswith("GrowthFit(log time") and "100 patients" in text and "seed 0" in text


def test_clinic_and_simulated_clinic() -> None:
    config = ClinicConfig(n_patients=200, n_therapists=10)
    assert _compact(repr(config)).startswith("ClinicConfig(200 patients of 10 therapists")
    sim = simulate(config, "feedback", seed=3)
    text = _compact(repr(sim))
    p = sim.patients
    assert text.startswith("SimulatedClinic(policy feedback, seed 3: 200 patients of 10 "
                           f"therapists, {sim.data.n_observations} scores")
    assert f"recovered {p['recovered'].mean():.1%}" in text
    assert f"{int((p['end_status'] == 'dropout').sum())} dropout" in text


def test_study_results() -> None:
    design = StudyDesign({"n": [5, 20]}, replications=4, seed=9)
    results = run_study(design, "t_interval", executor="serial", progress=False)
    text = _compact(repr(results))
    assert "seed 9: 2 conditions x 4 replications; 8 of 8 replications done, 0 failed" in text
