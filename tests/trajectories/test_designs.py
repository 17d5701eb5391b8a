"""Designs of real trials: therapists in one arm only (partially nested), therapist changes."""

from __future__ import annotations

import warnings
from dataclasses import replace

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


@pytest.fixture(scope="module")
def moving() -> TherapyData:
    """Patient 1 moves from therapist A to B after session 1; the others stay."""
    frame = pd.DataFrame({"patient": [1, 1, 1, 2, 2, 3, 3, 3],
                          "therapist": ["A", "A", "B", "B", "B", "A", "A", "A"],
                          "session": [0, 1, 2, 0, 1, 0, 1, 2],
                          "score": [10.0, 9, 7, 12, 11, 14, 12, 13]})
    return TherapyData.from_frame(frame, patient="patient", session="session", score="score",
                                  therapist="therapist", allow_therapist_change=True)


def test_sessions_are_attributed_to_their_therapist(moving) -> None:  # noqa: ANN001
    from trajectories.fit import fit_path

    spec = GrowthSpec(time="linear", therapist="intercept")
    design = make_design(spec, moving)
    assert design.therapist_row.tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert design.therapist_index.tolist() == [1, 1, 0]  # the current (last) therapist
    assert design.changes_therapist and fit_path(spec, design) == "latent"
    with pytest.raises(ValueError, match="nests each patient in one therapist"):
        fit_path(GrowthSpec(time="linear", therapist="intercept", method="marginal"), design)
    with pytest.raises(ValueError, match="take the latent path"):
        design.collapsed()
    with pytest.raises(DataValidationError, match="AR\\(1\\) residuals are not available"):
        make_design(GrowthSpec(time="linear", residual="ar1"), moving)
    nested = make_design(GrowthSpec(time="linear", therapist="none"), moving)
    assert not nested.changes_therapist
    with pytest.raises(ValueError, match="seen by more than one therapist"):
        from trajectories.fit import fit_from_draws

        fit = fit_from_draws(replace(spec, patient="intercept"), moving, {
            "intercept": [12.0], "slope": [-1.0], "patient_intercept_sd": [2.0],
            "therapist_intercept_sd": [1.0], "therapist_effect": [[[0.5], [-0.5]]],
            "residual_sd": [1.5], "patient_effect": [np.zeros((3, 1))]})
        predict(fit, moving, at_session=4, instrument=3.0)


def test_crossed_log_likelihood_is_the_marginal_normal(moving) -> None:  # noqa: ANN001
    from trajectories.engine.tree import PosteriorDraws
    from trajectories.fit import _crossed_loglik

    spec = GrowthSpec(time="linear", therapist="intercept")
    design = make_design(spec, moving)
    rng = np.random.default_rng(2)
    s = 3
    a = rng.normal(size=(s, 2, 2))
    d = PosteriorDraws(beta=rng.normal([12, -1], 1, (s, 2)), residual_sd=rng.uniform(1, 2, s),
                       sigma_v=a @ a.transpose(0, 2, 1) + np.eye(2), patient_effect=None,
                       sigma_u=np.ones((s, 1, 1)), therapist_effect=rng.normal(size=(s, 2, 1)),
                       nu=None)
    got = _crossed_loglik(design, d)
    for k in range(s):
        for i in range(3):
            rows = design.patient_index == i
            x = design.x[rows]
            mean = x @ d.beta[k] + d.therapist_effect[k, design.therapist_row[rows], 0]
            cov = x @ d.sigma_v[k] @ x.T + d.residual_sd[k] ** 2 * np.eye(rows.sum())
            assert got[k, i] == pytest.approx(multivariate_normal(mean, cov).logpdf(
                design.y[rows]), rel=1e-10)


def test_latent_model_uses_each_sessions_therapist(moving) -> None:  # noqa: ANN001
    from scipy.stats import norm

    spec = GrowthSpec(time="linear", therapist="intercept", patient="intercept")
    design = make_design(spec, moving)
    model = build_latent_model(spec, design)
    point = model.initial_point(random_seed=1)
    names = ["intercept", "slope", "patient_effect", "therapist_effect", "residual_sd"]
    outs = model.replace_rvs_by_values([model.logp(vars=[model["score"]], sum=True),
                                        *[model[n] for n in names]])
    logp, b0, b1, v, u, sigma = model.compile_fn(outs, inputs=model.value_vars,
                                                 on_unused_input="ignore")(point)
    mu = (b0 + b1 * design.session + v[design.patient_index, 0]
          + u[design.therapist_row, 0])
    assert float(logp) == pytest.approx(norm(mu, sigma).logpdf(design.y).sum(), rel=1e-10)


@pytest.mark.slow
def test_fit_with_therapist_changes_end_to_end(growth_tools) -> None:  # noqa: ANN001
    frame = growth_tools["simulate"](6, 6, 8, seed=8)
    movers = frame["patient"].isin(frame["patient"].unique()[::4]) & (frame["session"] >= 3)
    frame.loc[movers, "therapist"] = "T99"  # every 4th patient moves to a new therapist
    data = TherapyData.from_frame(frame, patient="patient", session="session", score="score",
                                  therapist="therapist", allow_therapist_change=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_growth(GrowthSpec(time="log", therapist="intercept"), data, seed=1,
                         **growth_tools["draws"])
    assert fit.diagnostics.method == "latent" and "T99" in fit.design.therapists
    from trajectories.checks import posterior_predictive
    from trajectories.engine.tree import group

    assert np.isfinite(group(fit.idata, "log_likelihood")["score"].values).all()
    posterior_predictive(fit, seed=1, draws=20)
    slope = fit.summary().set_index("parameter").loc["slope"]
    assert slope["ci_low"] < -3 < slope["ci_high"]


def test_joint_model_with_patients_without_a_therapist(partial) -> None:  # noqa: ANN001
    from trajectories.model import build_model
    from trajectories.spec import DropoutSpec

    spec = GrowthSpec(time="log", therapist="intercept", dropout=DropoutSpec(n_bins=2))
    model = build_model(spec, partial)
    # rows of waiting-list patients point at the appended zero effect (index T), in the
    # hazard's therapist effect and in the growth part shared with it; the growth part
    # (patient effects relative to their growth conditional) masks their therapist effect
    for name in ("dropout_therapist_of_row", "dropout_growth_therapist_of_row"):
        rows = model[name].get_value()
        assert rows.max() == partial.n_therapists and rows.min() == 0, name
    without = partial.therapist_of_patient.reindex(partial.patients).isna().to_numpy()
    assert without.any()
    np.testing.assert_array_equal(model["has_therapist"].get_value(), (~without).astype(float))


def test_mixedlm_cross_check_refuses_designs_it_cannot_nest(partial, moving) -> None:  # noqa: ANN001
    from trajectories.baseline import fit_mixedlm

    for data in (partial, moving):
        with pytest.raises(ValueError, match="cannot fit patients without a therapist or who"):
            fit_mixedlm(GrowthSpec(time="linear", therapist="intercept",
                                   covariates=tuple(data.covariates)), data)
