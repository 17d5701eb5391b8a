"""Joint growth–dropout model: graph, shared latent terms and estimands on a pinned posterior."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from trajectories.data import DataValidationError, TherapyData
from trajectories.dropout import DropoutSpec, hazard_design
from trajectories.dropout_estimands import dropout_association, dropout_risk
from trajectories.fit import GrowthFit, fit_from_draws, fit_growth
from trajectories.joint import build_joint_model, change_without_dropout, dropout_sensitivity
from trajectories.model import build_model
from trajectories.spec import GrowthSpec


def _data(therapists: bool = False, n: int = 8, seed: int = 0) -> TherapyData:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        last = 2 + i % 3
        status = "dropout" if i % 2 else "completed"
        for s in range(last + 1):
            rows.append({"p": f"p{i}", "t": f"T{i % 2}", "s": s,
                         "y": 20 - 2 * math.log1p(s) + rng.normal(0, 2), "st": status})
    df = pd.DataFrame(rows)
    return TherapyData.from_frame(df, patient="p", session="s", score="y", end_status="st",
                                  therapist="t" if therapists else None)


@pytest.mark.parametrize("therapists", [False, True])
def test_joint_model_builds_with_finite_logp(therapists: bool) -> None:
    data = _data(therapists)
    spec = GrowthSpec(time="log", therapist="intercept")
    model = build_joint_model(spec, DropoutSpec(association=("level", "slope", "improvement",
                                                             "worsening")), data)
    names = {v.name for v in model.free_RVs}
    assert {"intercept", "slope", "patient_effect_raw", "residual_sd", "dropout_baseline",
            "dropout_association"} <= names
    assert ("therapist_dropout_sd" in names) == therapists
    assert model.coords["association"] == ("level", "slope", "improvement", "worsening")
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode="FAST_COMPILE")(point))
    assert np.all(np.isfinite(model.compile_dlogp(mode="FAST_COMPILE")(point)))


def test_marginal_method_is_refused() -> None:
    with pytest.raises(ValueError, match="latent patient effects"):
        GrowthSpec(method="marginal", dropout=DropoutSpec())


def test_growth_spec_with_dropout_builds_the_joint_model() -> None:
    data = _data(therapists=True)
    dspec = DropoutSpec(association=("level", "slope"))
    via_spec = build_model(GrowthSpec(time="log", therapist="intercept", dropout=dspec), data)
    direct = build_joint_model(GrowthSpec(time="log", therapist="intercept"), dspec, data)
    assert {v.name for v in via_spec.free_RVs} == {v.name for v in direct.free_RVs}
    point = direct.initial_point()
    assert via_spec.compile_logp(mode="FAST_COMPILE")(point) == pytest.approx(
        direct.compile_logp(mode="FAST_COMPILE")(point), rel=1e-12)


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_bad_dropout_information_fails_before_sampling(sampler: str, monkeypatch) -> None:  # noqa: ANN001
    import nutpie
    import pymc as pm

    def never(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("sampling started before the data were checked")

    monkeypatch.setattr(nutpie, "compile_pymc_model", never)
    monkeypatch.setattr(pm, "sample", never)
    data = _data()
    bad = dataclasses.replace(data, end_status=data.end_status.replace({"dropout": "quit"}))
    spec = GrowthSpec(time="log", dropout=DropoutSpec())
    with pytest.raises(DataValidationError, match=r"end_status: patient 'p1' has 'quit'"):
        fit_growth(spec, bad, sampler=sampler, draws=10, tune=10)


_DSPEC = DropoutSpec(breaks=(0,), predictors=(), association=("level", "improvement",
                                                              "worsening"))


def _fake_joint(data: TherapyData, assoc: np.ndarray, effects: np.ndarray, *,
                legacy: bool = False) -> GrowthFit:
    """A joint fit pinned at intercept 20, slope -3, given patient effects and associations.

    ``legacy``: the dropout spec only in the posterior's attributes (files written before
    ``GrowthSpec.dropout`` existed), not in the growth spec.
    """
    spec = GrowthSpec(time="log", method="latent", dropout=None if legacy else _DSPEC)
    s = 2
    growth = fit_from_draws(spec, data, {
        "intercept": np.full(s, 20.0), "slope": np.full(s, -3.0),
        "patient_intercept_sd": np.full(s, 4.0), "patient_slope_sd": np.full(s, 1.0),
        "patient_corr": np.zeros((s, 1)), "residual_sd": np.full(s, 2.0),
        "patient_effect": np.repeat(effects[None], s, axis=0)})
    post = growth.idata["posterior"].to_dataset()
    post = post.assign(
        dropout_baseline=(("chain", "draw", "dropout_bin"), np.full((1, s, 1), -2.0)),
        dropout_association=(("chain", "draw", "association"),
                             np.broadcast_to(assoc, (s, 3))[None].copy())).assign_coords(
        association=["level", "improvement", "worsening"])
    if legacy:
        post.attrs["setback_dropout_spec"] = _DSPEC.to_json()
    idata = xr.DataTree.from_dict({"posterior": post,
                                   "sample_stats": growth.idata["sample_stats"].to_dataset()})
    return GrowthFit(spec=spec, data=data, design=growth.design, idata=idata,
                     diagnostics=growth.diagnostics)


def test_dropout_risk_uses_latent_trajectory_closed_form() -> None:
    data = _data()
    effects = np.zeros((data.n_patients, 2))
    effects[0] = [2.0, 1.5]  # p0: intercept +2, slope -3 + 1.5
    assoc = np.array([0.5, 0.8, 1.2])
    fit = _fake_joint(data, assoc, effects)
    hd = hazard_design(DropoutSpec(breaks=(0,), predictors=()), data)
    mean, sd = hd.scales["score_mean"], hd.scales["score_sd"]
    risk = dropout_risk(fit, horizon=2).set_index(["patient", "step"])
    # p0 completed at session 2: upcoming sessions 2 and 3.
    for step, sess in enumerate([2, 3]):
        level = 22.0 - 1.5 * math.log1p(sess)
        change = -1.5 * math.log1p(sess)  # negative = improvement
        eta = -2.0 + 0.5 * (level - mean) / sd + 0.8 * max(-change, 0) / sd
        assert risk.loc[("p0", step), "hazard"] == pytest.approx(1 / (1 + math.exp(-eta)),
                                                                 rel=1e-8)
    # p1 has no patient effect: population trajectory 20 - 3 log(1 + s).
    level = 20 - 3 * math.log1p(3)
    eta = -2.0 + 0.5 * (level - mean) / sd + 0.8 * 3 * math.log1p(3) / sd
    assert risk.loc[("p1", 0), "session"] == 3
    assert risk.loc[("p1", 0), "hazard"] == pytest.approx(1 / (1 + math.exp(-eta)), rel=1e-8)
    table = dropout_association(fit).set_index("term")
    assert table.loc["worsening", "kind"] == "latent"
    assert table.loc["improvement", "ratio"] == pytest.approx(math.exp(0.8), rel=1e-8)


def test_association_reads_an_interval_across_one_as_no_clear_association() -> None:
    data = _data()
    draws = np.array([[-0.5, 0.1, -0.4], [0.5, 0.3, -0.2]])  # level's interval spans 0
    t = dropout_association(_fake_joint(data, draws, np.zeros((data.n_patients, 2))))
    t = t.set_index("term")
    assert "is not clearly associated with the odds (the interval includes 1)" in t.loc[
        "level", "interpretation"]
    assert "raises the odds" in t.loc["improvement", "interpretation"]
    assert "lowers the odds" in t.loc["worsening", "interpretation"]
    assert t.loc["level", "p_positive"] == 0.5


def test_change_without_dropout_closed_form() -> None:
    data = _data()
    effects = np.zeros((data.n_patients, 2))
    effects[:, 1] = np.linspace(-1, 2, data.n_patients)
    fit = _fake_joint(data, np.zeros(3), effects)
    t = change_without_dropout(fit, at_session=4).set_index(["level", "quantity"])
    assert t.loc[("population", "change"), "mean"] == pytest.approx(-3 * math.log(5), rel=1e-8)
    sample = (-3 + effects[:, 1].mean()) * math.log(5)
    assert t.loc[("sample", "change"), "mean"] == pytest.approx(sample, rel=1e-8)
    assert t.loc[("population", "score"), "mean"] == pytest.approx(20 - 3 * math.log(5),
                                                                   rel=1e-8)
    sd0 = data.patient_table()["intake_score"].std(ddof=1)
    assert t.loc[("population", "standardised_change"), "mean"] == pytest.approx(
        -3 * math.log(5) / sd0, rel=1e-8)


def test_sensitivity_table_differences() -> None:
    data = _data()
    naive = _fake_joint(data, np.zeros(3), np.zeros((data.n_patients, 2)))
    effects = np.zeros((data.n_patients, 2))
    effects[:, 1] = -0.5
    joint = _fake_joint(data, np.zeros(3), effects)
    t = dropout_sensitivity(naive, joint, at_session=4).set_index("estimand")
    assert t.loc["slope", "difference"] == pytest.approx(0.0, abs=1e-12)
    key = "expected change at session 4 (all patients)"
    assert t.loc[key, "difference"] == pytest.approx(-0.5 * math.log(5), rel=1e-8)


@pytest.mark.slow
def test_joint_fit_smoke() -> None:
    data = _data(therapists=True, n=16)
    spec = GrowthSpec(time="log", therapist="intercept", dropout=DropoutSpec(n_bins=2))
    fit = fit_growth(spec, data, draws=50, tune=50, chains=1, seed=1, sampler="pymc")
    assert fit.spec == spec and fit.diagnostics.method == "joint"
    post = fit.idata["posterior"]
    for name in ("slope", "patient_effect", "dropout_association", "dropout_baseline",
                 "therapist_dropout_effect"):
        assert name in post
        assert np.all(np.isfinite(post[name].values))
    risk = dropout_risk(fit, horizon=2)
    assert risk["cumulative"].between(0, 1).all()


@pytest.mark.slow
def test_joint_refit_with_the_cached_model_equals_a_fresh_compile() -> None:
    from trajectories.engine.sampling import clear_cache

    first, second = _data(n=16, seed=1), _data(n=16, seed=2)
    # the PyMC latent model (the machine-code path compiles nothing, so caches nothing)
    spec = GrowthSpec(time="log", method="latent", dropout=DropoutSpec(breaks=(0, 2)))
    settings = {"draws": 100, "tune": 100, "chains": 1, "sampler": "nutpie"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny chains
        fit_growth(spec, first, seed=1, **settings)
        cached = fit_growth(spec, second, seed=2, **settings)
        clear_cache()
        fresh = fit_growth(spec, second, seed=2, **settings)
    xr.testing.assert_equal(cached.idata["posterior"].to_dataset(),
                            fresh.idata["posterior"].to_dataset())


def test_joint_fit_survives_save_and_load(tmp_path) -> None:  # noqa: ANN001
    data = _data()
    fit = _fake_joint(data, np.array([0.1, 0.2, 0.3]), np.zeros((data.n_patients, 2)))
    fit.save(str(tmp_path / "fit.nc"))
    loaded = GrowthFit.load(str(tmp_path / "fit.nc"))
    pd.testing.assert_frame_equal(dropout_association(loaded), dropout_association(fit))
    assert "dropout_association[level]" in set(loaded.summary()["parameter"])
    assert loaded.spec.dropout == _DSPEC


def test_fit_without_dropout_in_its_spec_reads_the_legacy_attribute() -> None:
    data = _data()
    assoc = np.array([0.1, 0.2, 0.3])
    new, old = (_fake_joint(data, assoc, np.zeros((data.n_patients, 2)), legacy=flag)
                for flag in (False, True))
    pd.testing.assert_frame_equal(dropout_association(old), dropout_association(new))
