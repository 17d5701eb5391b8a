"""build_model: names, dims, both paths, finite log density and gradient."""

from __future__ import annotations

import numpy as np
import pytest

from trajectories.datasets import load_beat_the_blues
from trajectories.design import make_design
from trajectories.model import build_model
from trajectories.spec import INTAKE, GrowthSpec


def test_three_level_model_names_and_dims(small_data) -> None:  # noqa: ANN001
    model = build_model(GrowthSpec(time="log"), small_data)
    names = {v.name for v in model.free_RVs} | {v.name for v in model.deterministics}
    assert {"intercept", "slope", "patient_intercept_sd", "patient_slope_sd",
            "therapist_intercept_sd", "therapist_slope_sd", "patient_corr", "therapist_corr",
            "therapist_effect", "residual_sd", "patient_effect"} <= names
    assert {"patient", "therapist", "session"} <= set(model.coords)
    assert len(model.coords["therapist"]) == small_data.n_therapists


@pytest.mark.parametrize("spec", [
    GrowthSpec(time="log", method="latent"),
    GrowthSpec(time="quadratic", likelihood="student_t"),
    GrowthSpec(time="piecewise", breakpoint=2, patient="intercept", correlated=False,
               method="latent"),
])
def test_latent_models_have_patient_effects(small_data, spec: GrowthSpec) -> None:  # noqa: ANN001
    model = build_model(spec, small_data)
    assert "patient_effect" in {v.name for v in model.deterministics}
    assert model.named_vars_to_dims["patient_effect"] == ("patient", "coefficient")


def test_two_level_model_and_covariates_logp_finite() -> None:
    data = load_beat_the_blues()
    spec = GrowthSpec(time="log", covariates=("treatment", INTAKE),
                      time_interactions=("treatment",))
    design = make_design(spec, data)
    assert design.terms == ("intercept", "slope", "treatment[TAU]", "treatment[TAU]:slope",
                            "intake")
    np.testing.assert_allclose(design.x[:, 4].mean() * 0, 0.0)
    model = build_model(spec, data)
    assert "therapist" not in model.coords
    point = model.initial_point()
    logp = model.compile_logp()(point)
    grad = model.compile_dlogp()(point)
    assert np.isfinite(logp) and np.all(np.isfinite(grad))


def test_unknown_covariate_is_a_data_error(small_data) -> None:  # noqa: ANN001
    from trajectories.data import DataValidationError

    with pytest.raises(DataValidationError, match="column 'arm'"):
        build_model(GrowthSpec(covariates=("arm",)), small_data)
