"""TherapyData.from_frame on input already ordered by (patient, session): the fast path
(no sort, no hash-based duplicate search) gives exactly what the general path gives, and
breaks of its assumptions still raise the same errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trajectories.data import DataValidationError, TherapyData

KW = {"patient": "p", "session": "s", "score": "y", "therapist": "t", "instrument": "phq9"}


def _frame(n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 12, n)
    p = np.repeat(np.arange(n), counts)
    s = np.concatenate([np.arange(k) for k in counts])
    return pd.DataFrame({"p": p, "s": s, "t": p % 7, "y": rng.integers(0, 28, len(p))})


def test_ordered_input_gives_the_same_data_as_shuffled_input() -> None:
    ordered = _frame()
    shuffled = ordered.sample(frac=1.0, random_state=3)
    a, b = TherapyData.from_frame(ordered, **KW), TherapyData.from_frame(shuffled, **KW)
    cols = ["patient", "therapist", "session", "score", "end_status"]
    pd.testing.assert_frame_equal(a.frame[cols], b.frame[cols])
    pd.testing.assert_series_equal(a.end_status, b.end_status)
    assert a.end_status_source == b.end_status_source
    np.testing.assert_array_equal(a.frame["source_row"], np.arange(len(ordered)))


def test_the_input_is_not_shared_with_the_data() -> None:
    df = _frame()
    score0 = float(df.loc[0, "y"])
    data = TherapyData.from_frame(df, **KW)
    df.loc[0, "y"] = 27 if score0 != 27 else 0
    df.loc[0, "p"] = 999
    assert data.frame.loc[0, "patient"] == 0
    assert data.frame.loc[0, "score"] == score0


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.assign(t=np.where(np.arange(len(f)) == 1, 99, f["t"])),
     "each patient must be seen by one therapist"),
    (lambda f: pd.concat([f.iloc[:2], f.iloc[1:]], ignore_index=True),
     "each \\(patient, session\\) pair must appear once"),
])
def test_ordered_input_that_breaks_a_rule_still_raises(change, message) -> None:  # noqa: ANN001
    df = _frame()
    df = df[df.groupby("p")["s"].transform("size") >= 3].reset_index(drop=True)
    with pytest.raises(DataValidationError, match=message):
        TherapyData.from_frame(change(df), **KW)
