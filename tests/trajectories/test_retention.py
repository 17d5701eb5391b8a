"""Retention curves against statsmodels' Kaplan–Meier and a hand-worked life table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from trajectories import TherapyData
from trajectories.datasets import load_beat_the_blues
from trajectories.retention import retention_curve


def test_hand_worked_life_table() -> None:
    # a: sessions 0-2 completed; b: 0-1 dropout; c: 0 dropout; d: 0-1 referred
    rows = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("c", 0), ("d", 0), ("d", 1)]
    df = pd.DataFrame(rows, columns=["patient", "session"]).assign(score=10.0)
    df["status"] = df["patient"].map({"a": "completed", "b": "dropout", "c": "dropout",
                                      "d": "referred"})
    data = TherapyData.from_frame(df, patient="patient", session="session", score="score",
                                  end_status="status")
    t = retention_curve(data)
    assert t["at_risk"].tolist() == [4, 3, 1]
    assert t["dropouts"].tolist() == [1, 1, 0]
    assert t["censored"].tolist() == [0, 1, 1]  # referral is censored, not dropout
    np.testing.assert_allclose(t["hazard"], [1 / 4, 1 / 3, 0])
    np.testing.assert_allclose(t["retained"], [3 / 4, 3 / 4 * 2 / 3, 0.5])


def test_matches_statsmodels_kaplan_meier_on_beat_the_blues() -> None:
    data = load_beat_the_blues()
    t = retention_curve(data).set_index("session")
    pt = data.patient_table()
    sf = SurvfuncRight(pt["last_session"].to_numpy(),
                       (pt["end_status"] == "dropout").to_numpy().astype(int))
    np.testing.assert_allclose(t.loc[sf.surv_times, "retained"], sf.surv_prob, rtol=1e-12)
    np.testing.assert_allclose(t.loc[sf.surv_times, "at_risk"], sf.n_risk)
    # the log(-log) band contains the estimate and stays inside (0, 1)
    assert ((t["retained_low"] <= t["retained"]) & (t["retained"] <= t["retained_high"])).all()
    assert t["retained_low"].gt(0).all() and t["retained_high"].lt(1).all()


def test_by_group_and_bad_column() -> None:
    t = retention_curve(load_beat_the_blues(), by="treatment")
    assert set(t["treatment"]) == {"TAU", "BtheB"}
    with pytest.raises(ValueError, match="not a patient-level column"):
        retention_curve(load_beat_the_blues(), by="nope")
