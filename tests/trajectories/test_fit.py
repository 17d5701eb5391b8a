"""fit_growth: the fast path's posterior equals the latent path's; no compiling, seeds,
storage, leave-one-patient-out."""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from trajectories.engine.convergence import check_convergence
from trajectories.fit import ConvergenceWarning, GrowthFit, fit_growth, posterior_draws
from trajectories.spec import INTAKE, GrowthSpec

PARAMS = ["intercept", "slope", "patient_intercept_sd", "patient_slope_sd",
          "patient_corr[intercept,slope]", "therapist_intercept_sd", "residual_sd"]


def test_fast_and_latent_paths_give_the_same_posterior(small_fit, small_latent_fit,  # noqa: ANN001
                                                       growth_tools) -> None:
    growth_tools["same_posterior"](small_fit, small_latent_fit, PARAMS)


@pytest.mark.parametrize(("spec", "params"), [
    (GrowthSpec(time="linear", therapist="intercept", covariates=("arm",),
                time_interactions=("arm",)),
     ["intercept", "slope", "covariate_effect[arm[B]]", "covariate_effect[arm[B]:slope]",
      "patient_slope_sd", "therapist_intercept_sd", "residual_sd"]),
    (GrowthSpec(time="quadratic", patient="intercept", therapist="slopes", correlated=False,
                covariates=(INTAKE,)),
     ["intercept", "slope", "quadratic", "covariate_effect[intake]", "patient_intercept_sd",
      "therapist_intercept_sd", "therapist_slope_sd", "residual_sd"]),
    (GrowthSpec(time="piecewise", breakpoint=2, therapist="intercept"),
     ["intercept", "slope_early", "slope_late", "patient_intercept_sd", "patient_slope_late_sd",
      "patient_corr[intercept,slope_early]", "therapist_intercept_sd", "residual_sd"]),
], ids=["linear+arm", "quadratic+intake", "piecewise"])
def test_fast_and_latent_agree_for_every_time_shape(spec: GrowthSpec, params: list[str],  # noqa: ANN001
                                                    growth_tools) -> None:
    """Three-level data (8 therapists x 6 patients), both paths, same posterior within MC
    error; the log-time case is the session fixture pair above."""
    g = growth_tools
    frame = g["simulate"](8, 6, 8, seed=21)
    frame["arm"] = np.where(frame["patient"].str[-1].astype(int) % 2 == 0, "A", "B")
    data = g["to_data"](frame, covariates=("arm",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fit_growth(spec, data, seed=5, draws=600, tune=600)
        slow = fit_growth(replace(spec, method="latent"), data, seed=6, draws=600, tune=600)
    g["same_posterior"](fast, slow, params)


def test_patient_effects_are_drawn_for_every_draw(small_fit, small_data) -> None:  # noqa: ANN001
    pe = small_fit.posterior["patient_effect"]
    assert pe.dims == ("chain", "draw", "patient", "coefficient")
    assert pe.shape == (2, 500, small_data.n_patients, 2)
    assert list(pe["patient"].values) == list(small_data.patients)
    d = posterior_draws(small_fit)
    assert d.beta.shape == (1000, 2) and d.therapist_effect.shape == (1000, 8, 1)
    assert small_fit.diagnostics.method == "marginal"
    assert small_fit.design.n_patients == small_data.n_patients  # the fit keeps its design


def test_the_fast_path_never_compiles_and_a_seed_reproduces(  # noqa: ANN001
        small_fit, small_data, growth_tools) -> None:
    g = growth_tools
    other = g["to_data"](g["simulate"](8, 5, 7, seed=99))  # same structure, new data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again = fit_growth(g["spec"], small_data, seed=1, **g["draws"])
        new = fit_growth(g["spec"], other, seed=3, **g["draws"])
    assert again.diagnostics.seconds["compile"] == 0.0
    assert new.diagnostics.seconds["compile"] == 0.0
    xr.testing.assert_equal(again.posterior, small_fit.posterior)
    assert new.posterior.sizes["patient"] == 40
    assert list(new.posterior["therapist"].values) == sorted(other.frame["therapist"].unique())


def test_a_seed_is_drawn_recorded_and_reproduces(small_data, growth_tools) -> None:  # noqa: ANN001
    g = growth_tools
    short = {"draws": 100, "tune": 100, "chains": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = fit_growth(g["spec"], small_data, **short)
        assert first.settings.seed is not None
        again = fit_growth(g["spec"], small_data, seed=first.settings.seed, **short)
    xr.testing.assert_equal(again.posterior, first.posterior)


def test_machine_code_is_loaded_from_the_cache_in_a_new_process(small_fit) -> None:  # noqa: ANN001
    """The collapsed kernels are compiled once per install (numba ``cache=True``): a fresh
    process loads them from disk instead of compiling (the session fixture ran them)."""
    code = ("import numpy as np\n"
            "from trajectories.engine import kernels\n"
            "from trajectories.engine.collapsed import CollapsedProblem\n"
            "z = np.zeros((0, 2, 2))\n"
            "prob = CollapsedProblem(np.array([[[2.0, 3.0], [3.0, 5.0]]]), z, z,\n"
            "    np.array([2.0]), np.array([-1]), 0, 1, 0, True, False, np.zeros(1),\n"
            "    np.ones(1), np.ones(1), np.zeros(0), 1.0, 2.0)\n"
            "prob.log_density(np.zeros(prob.ndim))\n"
            "st = kernels.log_density.stats\n"
            "print(sum(st.cache_hits.values()), sum(st.cache_misses.values()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    hits, misses = (int(v) for v in out.stdout.split())
    assert (hits, misses) == (1, 0), out.stdout


def test_loo_works_on_both_paths_and_agrees(small_fit, small_latent_fit) -> None:  # noqa: ANN001
    import arviz as az

    fast, latent = az.loo(small_fit.idata), az.loo(small_latent_fit.idata)
    for res in (fast, latent):
        assert np.all(np.isfinite(res.elpd_i)) and np.asarray(res.elpd_i).shape == (48,)
    # Both estimate the same per-patient predictive density; the paths differ by Monte
    # Carlo error only. Issue criterion: elpd within 2 SE. Per patient, the importance-
    # sampling error of 1000 draws is a few hundredths of a nat; 0.5 flags a wrong term
    # (a missing log|Sigma_v| is ~2 nats per patient) with room for the tails.
    assert abs(fast.elpd - latent.elpd) < 2 * max(fast.se, latent.se)
    assert np.max(np.abs(np.asarray(fast.elpd_i) - np.asarray(latent.elpd_i))) < 0.5


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
    match = r"R-hat up to 1.8\d\) for residual_sd: the chains ended"
    with pytest.warns(ConvergenceWarning, match=match) as rec:
        diag = check_convergence(tree)
    assert len(rec) == 1 and "slope" not in diag.failing and "residual_sd" in diag.failing


def test_bad_arguments_fail_before_sampling(small_data, growth_tools) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        fit_growth(growth_tools["spec"], small_data, draws=0)
    with pytest.raises(ValueError, match="sampler must be"):
        fit_growth(growth_tools["spec"], small_data, sampler="stan")
