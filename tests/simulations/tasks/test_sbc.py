"""SBC: the uniformity test accepts a correct conjugate posterior and catches wrong ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from simulations.study.sbc import ecdf_uniformity, rank_ecdf
from simulations.tasks.sbc import (
    SBC_MODELS,
    SBC_PARAMETERS,
    draw_parameters,
    draw_prior,
    sbc_histogram,
    sbc_spec,
    sbc_task,
    sbc_uniformity,
    simulate_growth,
    simulate_sbc_data,
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
    with pytest.raises(ValueError, match="0..19"):
        sbc_histogram({"bad": [0, 20]}, L)


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


def test_ecdf_test_accepts_the_exact_posterior_and_rejects_fakes() -> None:
    ranks = {"exact": _conjugate_ranks(), "shifted": _conjugate_ranks(shift=0.5),
             "overconfident": _conjugate_ranks(scale=0.6),
             "underconfident": _conjugate_ranks(scale=1.6)}
    test = ecdf_uniformity(ranks, L, level=0.01).set_index("parameter")
    assert test["uniform"].to_dict() == {"exact": True, "shifted": False,
                                         "overconfident": False, "underconfident": False}
    # the band is simultaneous: uniform ranks leave it in about 5% of samples at prob 0.95
    # (binomial 3-SE band over 200 seeded samples: 0.05 +- 3 sqrt(.05 .95 / 200) = +-0.046)
    rng = np.random.default_rng(7)
    outside = [not rank_ecdf({"u": rng.integers(0, L + 1, 100)}, L, prob=0.95,
                             n_simulations=500)["inside"].all() for _ in range(200)]
    assert abs(np.mean(outside) - 0.05) < 0.046


@pytest.mark.parametrize("model", list(SBC_MODELS))
def test_every_model_draws_its_parameters_and_data(model: str) -> None:
    spec, sizes = sbc_spec(model), SBC_MODELS[model]
    theta, cov = draw_parameters(spec, np.random.default_rng(2),
                                 has_therapist=sizes["n_therapists"] > 0)
    frame = simulate_sbc_data(spec, theta, cov, rng=np.random.default_rng(3), **sizes)
    assert frame["patient"].nunique() == sizes["n_patients"]
    assert ("therapist" in frame) == (model == "three_level")
    assert ("nu" in theta) == (model == "student_t")
    if model == "joint":
        assert {"dropout_baseline[0]", "dropout_association[worsening]"} <= set(theta)
        last = frame.groupby("patient")["session"].max()
        status = frame.groupby("patient")["end_status"].first()
        assert ((status == "dropout") == (last < sizes["n_sessions"] - 1)).all()
    else:
        assert len(frame) == sizes["n_patients"] * sizes["n_sessions"]


def test_data_scaled_priors_are_refused() -> None:
    from trajectories.spec import GrowthSpec

    with pytest.raises(ValueError, match="absolute priors"):
        draw_parameters(GrowthSpec(), np.random.default_rng(0))


def _sbc_study(model: str, replications: int) -> pd.DataFrame:
    from simulations.study.design import StudyDesign
    from simulations.study.run import run_study

    design = StudyDesign({"model": [model], "draws": [200], "tune": [500], "L": [19]},
                         replications=replications, seed=20261126)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = run_study(design, "sbc", executor="serial", progress=False).frame
    assert frame["error"].isna().all()
    return frame


@pytest.mark.slow
@pytest.mark.parametrize(("model", "replications"), [("three_level", 200), ("joint", 100)])
def test_sbc_ranks_are_uniform(model: str, replications: int) -> None:
    # The uniformity test of docs/studies.md: each of k parameters at 0.05 / k (familywise
    # 0.05). The example TOMLs run 500 (three-level) and 200 (joint) replications.
    frame = _sbc_study(model, replications)
    k = frame["estimand"].nunique()
    test = ecdf_uniformity(frame, 19, level=0.05 / k)
    assert test["uniform"].all(), test


@pytest.mark.slow
def test_growth_model_sbc_ranks_are_uniform() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [r for i in range(60) for r in sbc_task({"draws": 200, "tune": 300, "L": 19},
                                                       np.random.default_rng(i))]
    frame = pd.DataFrame(rows)
    # every parameter the two-level model draws has its rank, named as the posterior names
    # it (patient_corr[intercept,slope]: SBC_PARAMETERS keeps the prior's short names)
    drawn, _ = draw_parameters(sbc_spec("two_level"), np.random.default_rng(0))
    assert set(frame["estimand"]) == set(drawn)
    assert len(drawn) == len(SBC_PARAMETERS)
    assert frame["rank"].between(0, 19).all()
    p = sbc_uniformity(frame, 19, bins=4)["p_value"]
    assert (p > 0.001).all()
