"""Beat the Blues: the long data reproduce the source file's observed visits."""

from __future__ import annotations

import numpy as np

from trajectories.datasets import BTB_MONTHS, load_beat_the_blues


def test_counts_match_the_source_file() -> None:
    raw = load_beat_the_blues(raw=True)
    data = load_beat_the_blues()
    assert data.n_patients == 100 == len(raw)
    observed = raw[list(BTB_MONTHS)].notna().sum()  # per visit, from the wide file
    per_month = data.frame.groupby("session").size()
    assert per_month.to_dict() == {BTB_MONTHS[c]: int(n) for c, n in observed.items()}
    assert data.n_observations == int(observed.sum())


def test_scores_covariates_and_end_status() -> None:
    raw = load_beat_the_blues(raw=True).set_index("rownames")
    data = load_beat_the_blues()
    f = data.frame
    row = f[(f["patient"] == 2) & (f["session"] == 5)]
    assert row["score"].item() == raw.loc[2, "bdi.6m"]  # 6m column = protocol month 5
    assert set(data.covariates) == {"treatment", "drug", "length"}
    assert set(f["treatment"]) == {"TAU", "BtheB"}
    seen_at_8 = raw["bdi.8m"].notna()
    expected = np.where(seen_at_8, "completed", "dropout")
    assert (data.end_status.reindex(raw.index).to_numpy() == expected).all()
    assert data.instrument is not None and data.instrument.key == "bdi2"
    assert not data.has_therapist
