"""SBC: the uniformity test accepts a correct conjugate posterior and catches wrong ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from simulations.tasks.sbc import (
    SBC_PARAMETERS,
    draw_prior,
    sbc_histogram,
    sbc_task,
    sbc_uniformity,
    simulate_growth,
)

L = 19


def _conjugate_ranks(shift: float = 0.0, scale: float = 1.0, n_rep: int = 600) -> np.ndarray:
    """SBC of mu ~ N(0, 1), y_i ~ N(mu, 1), i = 1..5: the posterior is N(sum y / 6, 1/6).

    ``shift`` (in posterior SDs) and ``scale`` fake a biased or mis-dispersed posterior.
    """
    rng = np.random.default_rng(42)
    mu = rng.normal(0, 1, n_rep)
    y = rng.normal(mu[:, None], 1, (n_rep, 5))
    post_mean, post_sd = y.sum(1) / 6, np.sqrt(1 / 6)
    draws = rng.normal(post_mean[:, None] + shift * post_sd, scale * post_sd, (n_rep, L))
    return (draws < mu[:, None]).sum(1)


def test_uniformity_accepts_the_exact_posterior_and_detects_fakes() -> None:
    good = _conjugate_ranks()
    assert good.min() >= 0 and good.max() <= L
    table = sbc_uniformity({"exact": good, "shifted": _conjugate_ranks(shift=0.5),
                            "overconfident": _conjugate_ranks(scale=0.6)}, L, bins=10)
    p = table.set_index("parameter")["p_value"]
    assert p["exact"] > 0.01
    assert p["shifted"] < 1e-6 and p["overconfident"] < 1e-6
    assert (table["n"] == 600).all() and (table["df"] == 9).all()


def test_histogram_bands_and_rank_range() -> None:
    hist = sbc_histogram({"exact": _conjugate_ranks()}, L, bins=10)
    assert hist["count"].sum() == 600 and hist["expected"].sum() == pytest.approx(600)
    assert hist["rank_low"].min() == 0 and hist["rank_high"].max() == L
    inside = (hist["count"] >= hist["band_low"]) & (hist["count"] <= hist["band_high"])
    assert inside.mean() >= 0.8
    with pytest.raises(ValueError, match="0..19"):
        sbc_uniformity({"bad": [0, 20]}, L)


def test_prior_and_simulator_are_deterministic() -> None:
    a, b = draw_prior(np.random.default_rng(3)), draw_prior(np.random.default_rng(3))
    assert a == b and a["patient_intercept_sd"] >= 0
    frame = simulate_growth(a, 4, 6, np.random.default_rng(1))
    assert frame.shape == (24, 3)
    pd.testing.assert_frame_equal(frame, simulate_growth(a, 4, 6, np.random.default_rng(1)))


def test_task_validates_before_fitting() -> None:
    with pytest.raises(ValueError, match="unknown factor"):
        sbc_task({"n_patient": 3}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="L must be"):
        sbc_task({"draws": 10, "chains": 1, "L": 99}, np.random.default_rng(0))


@pytest.mark.slow
def test_growth_model_sbc_ranks_are_uniform() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [r for i in range(60) for r in sbc_task({"draws": 200, "tune": 300, "L": 19},
                                                       np.random.default_rng(i))]
    frame = pd.DataFrame(rows)
    assert set(frame["estimand"]) == set(SBC_PARAMETERS)
    assert frame["rank"].between(0, 19).all()
    p = sbc_uniformity(frame, 19, bins=4)["p_value"]
    assert (p > 0.001).all()
