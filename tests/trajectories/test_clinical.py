"""Jacobson–Truax rules against hand calculations, on several instruments and both directions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trajectories import Instrument, TherapyData, get_instrument
from trajectories.clinical import (
    classify_change,
    clinical_cutoffs,
    clinical_significance,
    reliable_change_index,
    reliable_deterioration_flags,
    summarize_clinical_significance,
)

# A well-being scale (higher = better), defined by the user as the API allows.
WELLBEING = Instrument(key="wb", name="WB", min_score=14, max_score=70, higher_is_worse=False,
                       reliability=0.89, clinical_mean=40.0, clinical_sd=8.0,
                       normal_mean=51.0, normal_sd=7.0, published_rci=8.0, cutoff=40.0)


def test_rci_formula_by_hand() -> None:
    # PHQ-9: 1.96 * sqrt(2) * 5.5 * sqrt(1 - .84) = 2.771859 * 5.5 * 0.4 = 6.09809
    assert reliable_change_index(5.5, 0.84) == pytest.approx(6.098090, rel=1e-6)
    # CORE-10 at the 90% level: 1.645 * sqrt(2) * 7.7 * sqrt(.1) = 5.66463 (published: 6)
    assert reliable_change_index(7.7, 0.90, z=1.645) == pytest.approx(5.664631, rel=1e-6)
    # GAD-7: 1.96 * sqrt(2) * 4.5 * sqrt(.1) = 3.94442 (published: 4)
    assert reliable_change_index(4.5, 0.90) == pytest.approx(3.944424, rel=1e-6)
    with pytest.raises(ValueError, match="reliability"):
        reliable_change_index(5.0, 1.0)


def test_cutoffs_by_hand_both_directions() -> None:
    cut = clinical_cutoffs(19.7, 7.7, 4.7, 4.8)  # CORE-10 norms
    assert (cut.a, cut.b) == pytest.approx((19.7 - 15.4, 4.7 + 9.6))
    assert cut.c == pytest.approx((4.8 * 19.7 + 7.7 * 4.7) / 12.5)  # 10.46
    up = clinical_cutoffs(40.0, 8.0, 51.0, 7.0, higher_is_worse=False)
    assert (up.a, up.b) == pytest.approx((56.0, 37.0))
    assert up.c == pytest.approx((7 * 40 + 8 * 51) / 15)  # 45.8667


@pytest.mark.parametrize(
    ("instrument", "pre", "post", "expected"),
    [
        # PHQ-9: RCI 6, caseness >= 10
        ("phq9", [18, 18, 15, 9, 10, 12, 16, 16],
         [9, 12, 10, 3, 16, 17.9, 10, 9.5],
         ["recovered", "improved", "unchanged", "improved", "deteriorated", "unchanged",
          "improved", "recovered"]),
        # GAD-7: RCI 4, caseness >= 8
        ("gad7", [14, 14, 5, 12], [7, 10, 9, 9],
         ["recovered", "improved", "deteriorated", "unchanged"]),
        # CORE-10: RCI 6, cutoff 11
        ("core10", [25, 25, 8, 11], [10, 18, 13, 5],
         ["recovered", "improved", "unchanged", "recovered"]),
        # OQ-45: RCI 14, cutoff 64
        ("oq45", [90, 90, 60, 70], [60, 75, 75, 57],
         ["recovered", "improved", "deteriorated", "unchanged"]),
        # well-being (higher is better): RCI 8, clinical if <= 40
        (WELLBEING, [35, 35, 45, 30, 40], [45, 41, 36, 39, 48],
         ["recovered", "unchanged", "deteriorated", "improved", "recovered"]),
    ],
)
def test_classification_by_hand(instrument, pre, post, expected) -> None:  # noqa: ANN001
    got = classify_change(np.array(pre, float), np.array(post, float), instrument=instrument)
    assert got.tolist() == expected


def test_without_cutoff_nobody_recovers_and_nan_is_missing() -> None:
    got = classify_change([20, 20, np.nan], [5, 30, 3], rci=6.0)
    assert got.tolist() == ["improved", "deteriorated", "missing"]


def _data(instrument: str | Instrument, scores: dict[str, list[float]]) -> TherapyData:
    rows = [(p, s, y) for p, ys in scores.items() for s, y in enumerate(ys)]
    df = pd.DataFrame(rows, columns=["patient", "session", "score"])
    return TherapyData.from_frame(df, patient="patient", session="session", score="score",
                                  instrument=instrument)


def test_session_flags_respect_direction() -> None:
    worse_up = reliable_deterioration_flags(_data("phq9", {"a": [18, 20, 24, 23], "b": [9, 5]}))
    assert worse_up["reliably_deteriorated"].tolist() == [False, False, True, False, False, False]
    assert worse_up["change"].tolist() == [0, 2, 6, 5, 0, -4]
    worse_down = reliable_deterioration_flags(_data(WELLBEING, {"a": [40, 33, 32], "b": [30, 50]}))
    assert worse_down["reliably_deteriorated"].tolist() == [False, False, True, False, False]


def test_patient_table_by_hand() -> None:
    data = _data("phq9", {"a": [18, 14, 9], "b": [20, 22, 26], "c": [12, 11], "d": [15]})
    t = clinical_significance(data).set_index("patient")
    assert t["category"].to_dict() == {"a": "recovered", "b": "deteriorated",
                                       "c": "unchanged", "d": "unchanged"}
    assert t["change"].to_dict() == {"a": -9, "b": 6, "c": -1, "d": 0}
    assert t["clinical_at_intake"].all()
    assert t.attrs["rci"] == 6.0 and t.attrs["rci_source"] == "published RCI of PHQ-9"
    summary = summarize_clinical_significance(t.reset_index()).set_index("category")
    assert summary["n"].to_dict() == {"recovered": 1, "improved": 0, "unchanged": 2,
                                      "deteriorated": 1}
    assert summary["percent"].sum() == pytest.approx(100.0)


def test_rci_from_sample_sd_when_instrument_has_none() -> None:
    data = _data("bdi2", {"a": [30, 10], "b": [20, 19], "c": [25, 40]})
    t = clinical_significance(data)
    sd = np.std([30, 20, 25], ddof=1)  # = 5
    assert t.attrs["rci"] == pytest.approx(1.96 * math.sqrt(2) * sd * math.sqrt(1 - 0.92))
    assert t.attrs["rci_source"].startswith("Jacobson-Truax from the sample's intake SD")
    assert t["category"].tolist() == ["recovered", "unchanged", "deteriorated"]


def test_published_rci_overrides_and_summary_by_group() -> None:
    data = _data("phq9", {"a": [18, 14], "b": [18, 9]})
    t = clinical_significance(data, rci=3.0)
    assert t["category"].tolist() == ["improved", "recovered"]
    by = summarize_clinical_significance(t, by="end_status")
    assert set(by.columns) == {"end_status", "category", "n", "percent"}


def test_instrument_registry_and_validation() -> None:
    assert get_instrument("PHQ-9") is get_instrument("phq9")
    assert get_instrument("core10").published_rci == 6.0
    assert "unverified" in get_instrument("oq45").notes.lower()
    with pytest.raises(KeyError, match="known instruments"):
        get_instrument("nope")
    with pytest.raises(ValueError, match="reliability"):
        Instrument(key="x", name="x", min_score=0, max_score=10, reliability=1.5)
    with pytest.raises(ValueError, match="cutoff"):
        Instrument(key="x", name="x", min_score=0, max_score=10, cutoff=11)
    # RCI computed from SD and reliability when none is published
    own = Instrument(key="own", name="own", min_score=0, max_score=40, reliability=0.8,
                     clinical_sd=6.0)
    assert own.rci == pytest.approx(1.96 * math.sqrt(2) * 6 * math.sqrt(0.2))
    assert own.measurement_sd == pytest.approx(6 * math.sqrt(0.2))
