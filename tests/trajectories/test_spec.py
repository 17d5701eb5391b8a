"""GrowthSpec, Priors and DropoutSpec: validation, names, time bases, storage."""

from __future__ import annotations

import numpy as np
import pytest

from trajectories.spec import DropoutSpec, GrowthSpec, Priors


def test_defaults_and_names() -> None:
    spec = GrowthSpec()
    assert spec.coefficients == ("intercept", "slope")
    assert spec.resolved_method == "marginal"
    assert GrowthSpec(likelihood="student_t").resolved_method == "latent"
    assert GrowthSpec(time="quadratic").coefficients == ("intercept", "slope", "quadratic")
    assert GrowthSpec(patient="intercept").patient_coefficients == ("intercept",)
    assert GrowthSpec(therapist="slopes").therapist_coefficients(False) == ()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"time": "cubic"}, "time must be one of"),
    ({"likelihood": "student_t", "method": "marginal"}, "needs likelihood='normal'"),
    ({"time_interactions": ("arm",)}, "must also be listed in covariates"),
    ({"covariates": ("a", "a")}, "duplicates"),
    ({"breakpoint": -1.0}, "breakpoint must be positive"),
])
def test_invalid_specs_are_rejected(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GrowthSpec(**kwargs)


def test_priors_must_be_positive() -> None:
    with pytest.raises(ValueError, match="Priors.group_sd must be a positive number"):
        Priors(group_sd=0.0)


def test_round_trip_and_unknown_keys() -> None:
    spec = GrowthSpec(time="piecewise", breakpoint=3, covariates=("arm", "intake"),
                      time_interactions=("arm",), priors=Priors(residual_sd=0.5))
    assert GrowthSpec.from_dict(spec.to_dict()) == spec
    assert GrowthSpec.from_dict(spec.to_dict()).to_json() == spec.to_json()
    with pytest.raises(ValueError, match="unknown keys"):
        GrowthSpec.from_dict({"tiem": "log"})


def test_time_bases() -> None:
    s = np.array([0, 1, 3])
    np.testing.assert_allclose(GrowthSpec(time="log").time_basis(s)[:, 0], np.log1p(s))
    np.testing.assert_allclose(GrowthSpec(time="quadratic").time_basis(s), [[0, 0], [1, 1], [3, 9]])
    np.testing.assert_allclose(GrowthSpec(time="piecewise", breakpoint=1).time_basis(s),
                               [[0, 0], [1, 0], [1, 2]])


def test_dropout_part_switches_to_the_joint_model() -> None:
    dropout = DropoutSpec(link="cloglog", breaks=(0, 2), association=("level", "worsening"))
    spec = GrowthSpec(time="log", dropout=dropout)
    assert spec.resolved_method == "latent"  # the hazard shares the latent patient effects
    assert GrowthSpec(method="latent", dropout=dropout).resolved_method == "latent"
    back = GrowthSpec.from_dict(spec.to_dict())
    assert back == spec and back.dropout == dropout
    assert back.to_json() == spec.to_json()
    assert GrowthSpec.from_dict(GrowthSpec().to_dict()).dropout is None
    with pytest.raises(ValueError, match="dropout needs latent patient effects"):
        GrowthSpec(method="marginal", dropout=dropout)
    with pytest.raises(ValueError, match="must be a DropoutSpec or None, got dict"):
        GrowthSpec(dropout={"link": "logit"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="DropoutSpec.from_dict: unknown keys"):
        GrowthSpec.from_dict({"dropout": {"lnk": "logit"}})
