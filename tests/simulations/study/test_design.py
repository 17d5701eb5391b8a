"""StudyDesign: the crossed grid, stable condition ids under a filter, seeds, validation."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.study.design import StudyDesign


def test_grid_is_fully_crossed_in_factor_order() -> None:
    d = StudyDesign({"n": [10, 50, 200], "policy": ["none", "alert"]}, replications=5, seed=1)
    grid = d.conditions()
    assert list(grid.columns) == ["condition_id", "n", "policy"]
    assert grid["condition_id"].tolist() == list(range(6))
    assert list(zip(grid["n"], grid["policy"], strict=True))[:3] == [
        (10, "none"), (10, "alert"), (50, "none")]
    assert d.n_conditions == 6
    assert str(grid["n"].dtype) == "int64"


def test_int_factor_stays_int_beside_a_float_factor() -> None:
    d = StudyDesign({"n": [5, 20], "mu": [0.0, 1.5]}, replications=1, seed=0)
    cond = d.condition(3)
    assert cond == {"n": 20, "mu": 1.5}
    assert type(cond["n"]) is int and type(cond["mu"]) is float


def test_filter_keeps_full_grid_ids() -> None:
    full = StudyDesign({"n": [10, 50], "policy": ["none", "alert"]}, replications=5, seed=1)
    kept = StudyDesign({"n": [10, 50], "policy": ["none", "alert"]}, replications=5, seed=1,
                       where="not (policy == 'none' and n == 50)")
    assert kept.conditions()["condition_id"].tolist() == [0, 1, 3]
    assert kept.condition(3) == full.condition(3)
    with pytest.raises(KeyError, match="no condition 2"):
        kept.condition(2)


def test_seed_sequence_is_the_spawn_tree_of_style_section_5() -> None:
    d = StudyDesign({"n": [1, 2, 3]}, replications=4, seed=2024)
    root = np.random.SeedSequence(2024)
    for cid, child in enumerate(root.spawn(3)):
        for rep, grandchild in enumerate(child.spawn(4)):
            assert d.seed_sequence(cid, rep).state == grandchild.state
    # more replications later do not change the earlier streams
    longer = StudyDesign({"n": [1, 2, 3]}, replications=400, seed=2024)
    assert longer.seed_sequence(2, 3).state == d.seed_sequence(2, 3).state


def test_round_trip_and_differences() -> None:
    d = StudyDesign({"n": [10, 50], "dist": ["normal"]}, replications=5, seed=1, where="n > 5")
    assert StudyDesign.from_dict(d.to_dict()) == d
    other = StudyDesign({"n": [10, 60], "dist": ["normal"]}, replications=7, seed=1,
                        where="n > 5")
    assert other.differences(d) == ["replications: 5 -> 7", "factor 'n': [10, 50] -> [10, 60]"]
    assert d.differences(d) == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"factors": {}}, "non-empty"),
    ({"factors": {"n": []}}, "no levels"),
    ({"factors": {"n": [1, 1]}}, "repeated levels"),
    ({"factors": {"n": "10"}}, "must be a list"),
    ({"factors": {"replication": [1]}}, "reserved"),
    ({"factors": {"n size": [1]}}, "identifier"),
    ({"factors": {"n": [[1, 2]]}}, "numbers, strings or booleans"),
    ({"factors": {"x": [float("nan")]}}, "finite"),
    ({"replications": 0}, "replications must be an integer >= 1"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"where": "m > 3"}, "not a valid filter"),
    ({"where": "n > 100"}, "keeps no condition"),
])
def test_invalid_designs_are_rejected(kwargs: dict, match: str) -> None:
    args = {"factors": {"n": [10, 20]}, "replications": 5, "seed": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        StudyDesign(**args)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown design keys \\['reps'\\]"):
        StudyDesign.from_dict({"factors": {"n": [1]}, "reps": 3, "replications": 1, "seed": 1})
