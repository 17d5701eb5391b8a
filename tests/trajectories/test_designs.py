"""Designs of real trials: therapists in one arm only (partially nested), therapist changes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from trajectories.data import DataValidationError, TherapyData
from trajectories.design import make_design
from trajectories.estimands import expected_change, predict
from trajectories.fit import GrowthFit, fit_growth
from trajectories.latent import build_latent_model
from trajectories.spec import GrowthSpec

SPEC = GrowthSpec(time="log", therapist="intercept", covariates=("arm",))


@pytest.fixture(scope="module")
def partial(growth_tools) -> TherapyData:  # noqa: ANN001
    """Therapy arm: 6 therapists x 6 patients; waiting-list arm: 24 patients, no therapist."""
    frame = growth_tools["simulate"](6, 6, 8, seed=3).assign(arm="therapy")
    control = growth_tools["simulate"](4, 6, 8, seed=4, therapist_sd=(0.0, 0.0))
    control = control.assign(patient="C" + control["patient"], therapist=None, arm="waitlist")
    return TherapyData.from_frame(pd.concat([frame, control], ignore_index=True),
                                  patient="patient", session="session", score="score",
                                  therapist="therapist", covariates=("arm",),
                                  allow_missing_therapist=True)


@pytest.fixture(scope="module")
def partial_fit(partial: TherapyData, growth_tools) -> GrowthFit:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_growth(SPEC, partial, seed=1, **growth_tools["draws"])


def test_patients_without_a_therapist_get_no_therapist_effect(partial, partial_fit) -> None:  # noqa: ANN001
    design = partial_fit.design
    control = np.char.startswith(design.patients.astype(str), "C")
    assert (design.therapist_index[control] == -1).all()
    assert (design.therapist_index[~control] >= 0).all()
    assert partial.n_therapists == 6 and len(design.therapists) == 6
    # the per-patient log-likelihood of a waiting-list patient is the two-level marginal
    d = partial_fit.idata
    from trajectories.engine.tree import group
    from trajectories.fit import posterior_draws

    ll = group(d, "log_likelihood")["score"].values.reshape(-1, design.n_patients)
    draws = posterior_draws(partial_fit)
    i = int(np.flatnonzero(control)[0])
    rows = design.patient_index == i
    x, y = design.x[rows], design.y[rows]
    s = 7
    z = x[:, :2]  # patient intercepts and slopes, no therapist
    cov = z @ draws.sigma_v[s] @ z.T + draws.residual_sd[s] ** 2 * np.eye(rows.sum())
    brute = multivariate_normal(x @ draws.beta[s], cov).logpdf(y)
    assert ll[s, i] == pytest.approx(brute, rel=1e-9)
    # the latent model builds (its therapist row of a control patient is a zero effect)
    build_latent_model(SPEC, make_design(SPEC, partial))
    # therapist-level estimands describe the therapists' own patients only
    te = expected_change(partial_fit, at_session=4, level="therapist")
    assert set(te["therapist"].dropna()) == set(design.therapists)


def test_prediction_of_a_patient_without_therapist() -> None:
    from trajectories.fit import fit_from_draws

    frame = pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3], "session": [0, 2] * 3,
                          "therapist": ["A", "A", "A", "A", None, None],
                          "score": [20.0, 19, 22, 18, 18, 15]})
    data = TherapyData.from_frame(frame, patient="patient", session="session", score="score",
                                  therapist="therapist", allow_missing_therapist=True)
    spec = GrowthSpec(time="linear", patient="intercept", therapist="intercept")
    fit = fit_from_draws(spec, data, {
        "intercept": [20.0], "slope": [-1.0], "patient_intercept_sd": [3.0],
        "therapist_intercept_sd": [2.0], "therapist_effect": [[[1.0]]], "residual_sd": [2.0],
        "patient_effect": [np.zeros((3, 1))]})
    y, m = np.array([18.0, 15.0]), np.array([20.0, 18.0])
    for therapist, prior_var in ((None, 9.0), ("new", 9.0 + 4.0)):
        # no therapist: prior variance of the intercept deviation 3^2; an unknown
        # therapist adds the therapist variance 2^2 (integrated out)
        new = TherapyData.from_frame(frame.iloc[4:].assign(therapist=therapist),
                                     patient="patient", session="session", score="score",
                                     therapist="therapist", allow_missing_therapist=True)
        out = predict(fit, new, at_session=4, instrument=5.0).iloc[0]
        v = prior_var * np.ones((2, 2)) + 4.0 * np.eye(2)
        gain = prior_var * np.ones(2) @ np.linalg.inv(v)
        assert out["expected_score"] == pytest.approx(16.0 + gain @ (y - m), rel=1e-12)


def test_save_and_load_keep_patients_without_a_therapist(partial_fit, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "fit.nc"
    partial_fit.save(str(path))
    back = GrowthFit.load(str(path))
    np.testing.assert_array_equal(back.design.therapist_index, partial_fit.design.therapist_index)
    assert back.data.frame["therapist"].isna().sum() == \
        partial_fit.data.frame["therapist"].isna().sum()


def test_missing_therapist_rules() -> None:
    frame = pd.DataFrame({"patient": [1, 1, 2, 2], "therapist": ["A", None, None, None],
                          "session": [0, 1, 0, 1], "score": [10.0, 9, 12, 11]})
    kw = {"patient": "patient", "session": "session", "score": "score",
          "therapist": "therapist"}
    with pytest.raises(DataValidationError, match="identifiers may not be missing"):
        TherapyData.from_frame(frame, **kw)
    with pytest.raises(DataValidationError, match="on all of its rows .* or on none"):
        TherapyData.from_frame(frame, **kw, allow_missing_therapist=True)


def test_therapist_changes_are_refused_by_growth_models() -> None:
    frame = pd.DataFrame({"patient": [1, 1, 2, 2], "therapist": ["A", "B", "B", "B"],
                          "session": [0, 1, 0, 1], "score": [10.0, 9, 12, 11]})
    data = TherapyData.from_frame(frame, patient="patient", session="session", score="score",
                                  therapist="therapist", allow_therapist_change=True)
    with pytest.raises(DataValidationError, match="patients 1 are seen by more than one"):
        make_design(GrowthSpec(time="linear"), data)
    assert make_design(GrowthSpec(time="linear", therapist="none"), data).q_t == 0
