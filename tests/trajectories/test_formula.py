"""The formula interface builds the same GrowthSpec as the hand-written one, or says why not."""

from __future__ import annotations

import pytest

from trajectories.formula import spec_from_formula
from trajectories.spec import GrowthSpec


@pytest.mark.parametrize(("formula", "expected"), [
    ("score ~ log1p(session) * treatment + intake + (log1p(session) | therapist)"
     " + (log1p(session) | patient)",
     GrowthSpec(time="log", covariates=("treatment", "intake"),
                time_interactions=("treatment",))),
    ("score ~ session + (1 | patient)",
     GrowthSpec(time="linear", patient="intercept", therapist="none")),
    ("score ~ (session + I(session**2)) * arm + (1 | therapist)"
     " + (session + I(session**2) | patient)",
     GrowthSpec(time="quadratic", therapist="intercept", covariates=("arm",),
                time_interactions=("arm",))),
    ("score ~ piecewise(session, 3) + drug + (piecewise(session, 3) | patient)",
     GrowthSpec(time="piecewise", breakpoint=3.0, therapist="none", covariates=("drug",))),
])
def test_formula_builds_the_spec(formula: str, expected: GrowthSpec) -> None:
    assert spec_from_formula(formula) == expected


def test_options_pass_through_and_do_not_clash() -> None:
    spec = spec_from_formula("score ~ session + (session | patient)", likelihood="student_t",
                             residual="ar1")
    assert (spec.likelihood, spec.residual) == ("student_t", "ar1")
    with pytest.raises(ValueError, match="given by the formula"):
        spec_from_formula("score ~ session + (1 | patient)", time="log")


@pytest.mark.parametrize(("formula", "message"), [
    ("score ~ 0 + session + (1 | patient)", "have an intercept"),
    ("score ~ session + treatment:drug + (1 | patient)", "term 'treatment:drug'"),
    ("score ~ session + (0 + session | patient)", "random slopes come with random intercepts"),
    ("phq ~ session + (1 | patient)", "the response must be 'score'"),
    ("score ~ sqrt(session) + (1 | patient)", r"term 'sqrt\(session\)'"),
    ("score ~ session + (1 | clinic) + (1 | patient)", "group 'clinic'"),
    ("score ~ session + (1 | therapist)", "patient random effects are needed"),
    ("score ~ session + (drug | patient)", r"random effect \(drug \| patient\)"),
    ("score ~ session + session:arm + (1 | patient)", "list 'arm' as a main effect"),
    ("score ~ log1p(session) + session + (1 | patient)", "one time shape is needed"),
    ("score ~ session + (1 | patient", "could not be parsed"),
])
def test_unfittable_terms_are_named(formula: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec_from_formula(formula)
