"""fit_growth: the fast path's posterior equals the latent path's; caching, seeds, storage."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from trajectories.fit import (
    _CACHE,
    ConvergenceWarning,
    GrowthFit,
    _data_updates,
    _structure_key,
    check_convergence,
    fit_growth,
    posterior_draws,
)
from trajectories.model import make_design
from trajectories.spec import GrowthSpec

PARAMS = ["intercept", "slope", "patient_intercept_sd", "patient_slope_sd",
          "patient_corr[intercept,slope]", "therapist_intercept_sd", "residual_sd"]


def test_fast_and_latent_paths_give_the_same_posterior(small_fit, small_latent_fit) -> None:  # noqa: ANN001
    fast = small_fit.summary().set_index("parameter")
    slow = small_latent_fit.summary().set_index("parameter")
    for name in PARAMS:
        f, s = fast.loc[name], slow.loc[name]
        # Means: the difference of two independent MC estimates has SE
        # sqrt(mcse_f^2 + mcse_l^2); 4 SE bounds a false alarm over 7 checks at ~4e-4.
        assert abs(f["mean"] - s["mean"]) < 4 * np.hypot(f["mcse_mean"], s["mcse_mean"]), name
        # SDs: the MC SE of an SD estimate is about sd / sqrt(2 ESS) (normal approximation);
        # same 4-SE rule, with the posterior SD of the better-mixed fit.
        se = max(f["sd"], s["sd"]) * np.sqrt(1 / (2 * f["ess_bulk"]) + 1 / (2 * s["ess_bulk"]))
        assert abs(f["sd"] - s["sd"]) < 4 * se, name


def test_patient_effects_are_drawn_for_every_draw(small_fit, small_data) -> None:  # noqa: ANN001
    pe = small_fit.idata["posterior"]["patient_effect"]
    assert pe.dims == ("chain", "draw", "patient", "coefficient")
    assert pe.shape == (2, 500, small_data.n_patients, 2)
    assert list(pe["patient"].values) == list(small_data.patients)
    d = posterior_draws(small_fit)
    assert d.beta.shape == (1000, 2) and d.therapist_effect.shape == (1000, 8, 1)
    assert small_fit.diagnostics.method == "marginal"


def test_second_fit_reuses_the_compiled_model_and_seed_reproduces(  # noqa: ANN001
        small_fit, small_data, growth_tools) -> None:
    g = growth_tools
    other = g["to_data"](g["simulate"](8, 5, 7, seed=99))  # same structure, new data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again = fit_growth(g["spec"], small_data, seed=1, **g["draws"])
        new = fit_growth(g["spec"], other, seed=3, **g["draws"])
    assert again.diagnostics.seconds["compile"] == 0.0
    assert new.diagnostics.seconds["compile"] == 0.0
    xr.testing.assert_equal(again.idata["posterior"].to_dataset(),
                            small_fit.idata["posterior"].to_dataset())
    assert new.idata["posterior"].sizes["patient"] == 40
    assert list(new.idata["posterior"]["therapist"].values) == sorted(
        other.frame["therapist"].unique())
    # nutpie's initial-point function reads the cached PyMC model's data: they must be the
    # new data set's, or a refit starts from the first data set's initial point.
    design = make_design(g["spec"], other)
    model, _ = _CACHE[_structure_key(g["spec"], design, "nutpie")]
    for name, value in _data_updates(g["spec"], design).items():
        np.testing.assert_array_equal(model[name].get_value(), value, err_msg=name)


@pytest.mark.slow
def test_a_refit_with_the_cached_model_equals_a_fresh_compile(growth_tools) -> None:  # noqa: ANN001
    g = growth_tools
    first, second = (g["to_data"](g["simulate"](6, 5, 6, seed=s)) for s in (5, 6))
    spec = GrowthSpec(time="log", therapist="intercept", correlated=False)  # own structure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_growth(spec, first, seed=1, **g["draws"])
        cached = fit_growth(spec, second, seed=2, **g["draws"])
        assert cached.diagnostics.seconds["compile"] == 0.0
        for key in [k for k in _CACHE if k[1] == spec.to_json()]:
            del _CACHE[key]
        fresh = fit_growth(spec, second, seed=2, **g["draws"])
    assert fresh.diagnostics.seconds["compile"] > 0.0
    xr.testing.assert_equal(cached.idata["posterior"].to_dataset(),
                            fresh.idata["posterior"].to_dataset())


def test_save_and_load_round_trip(small_fit, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "fit.nc"
    small_fit.save(str(path))
    back = GrowthFit.load(str(path))
    assert back.spec == small_fit.spec
    assert back.data.n_patients == small_fit.data.n_patients
    np.testing.assert_array_equal(back.data.frame["score"], small_fit.data.frame["score"])
    xr.testing.assert_allclose(back.idata["posterior"].to_dataset(),
                               small_fit.idata["posterior"].to_dataset())
    assert back.summary().equals(small_fit.summary())


def test_load_rejects_foreign_files(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="not a setback growth fit"):
        GrowthFit.load(str(path))


def test_convergence_warning_names_failing_parameters() -> None:
    rng = np.random.default_rng(0)
    good = rng.normal(size=(2, 300))
    bad = np.stack([rng.normal(0, 1, 300), rng.normal(5, 1, 300)])  # chains disagree
    post = xr.Dataset({"slope": (("chain", "draw"), good),
                       "residual_sd": (("chain", "draw"), bad)})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 300), bool))})
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    with pytest.warns(ConvergenceWarning, match=r"R-hat above 1.01\) for residual_sd") as rec:
        diag = check_convergence(tree)
    assert len(rec) == 1 and "slope" not in diag.failing and "residual_sd" in diag.failing


def test_bad_arguments_fail_before_sampling(small_data, growth_tools) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        fit_growth(growth_tools["spec"], small_data, draws=0)
    with pytest.raises(ValueError, match="sampler must be"):
        fit_growth(growth_tools["spec"], small_data, sampler="stan")
