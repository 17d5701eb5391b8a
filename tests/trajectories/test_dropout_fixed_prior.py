"""DropoutSpec(baseline_mean=..., score_scale=...): a dropout prior that does not depend on the
data (what simulation-based calibration of the joint model needs)."""

from __future__ import annotations

import math

import pytest

from trajectories.datasets import load_beat_the_blues
from trajectories.dropout import build_dropout_model, hazard_design
from trajectories.spec import DropoutSpec


def test_fixed_scale_and_baseline_mean_replace_the_data_ones() -> None:
    data = load_beat_the_blues()
    default = hazard_design(DropoutSpec(), data)
    fixed = hazard_design(DropoutSpec(score_scale=(20.0, 8.0)), data)
    assert default.scales["score_mean"] != 20.0
    assert (fixed.scales["score_mean"], fixed.scales["score_sd"]) == (20.0, 8.0)
    # the score predictor is (score - centre) / sd with the given centre and sd
    col = list(fixed.terms).index("score")
    expected = (fixed.rows["score"].to_numpy() - 20.0) / 8.0
    assert fixed.x[:, col] == pytest.approx(expected)
    centre = math.log(0.1 / 0.9)
    model = build_dropout_model(DropoutSpec(baseline_mean=centre), data)
    assert float(model["dropout_baseline_centre"].get_value()) == pytest.approx(centre)
    spec = DropoutSpec(baseline_mean=centre, score_scale=(20, 8))
    assert DropoutSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"score_scale": (10.0, 0.0)}, "score_scale must be"),
    ({"score_scale": (10.0,)}, "score_scale must be"),
    ({"baseline_mean": float("nan")}, "baseline_mean must be a finite number"),
])
def test_bad_fixed_priors_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DropoutSpec(**kwargs)
