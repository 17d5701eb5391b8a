"""Dropout hazard: risk set by hand, bad dropout information, estimands on a pinned posterior."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from trajectories.data import DataValidationError, TherapyData, end_status_from_rows
from trajectories.dropout import (
    DropoutFit,
    DropoutSpec,
    build_dropout_model,
    fit_dropout,
    hazard_design,
    link_inverse,
    risk_set,
)
from trajectories.dropout_estimands import (
    dropout_association,
    dropout_risk,
    hazard_curve,
    therapist_dropout_effects,
)


def _data() -> TherapyData:
    """Four patients, two therapists: dropout, completed, referred, ongoing."""
    rows = [  # patient, therapist, session, score, status
        ("a", "T1", 0, 20.0, "dropout"), ("a", "T1", 1, 22.0, "dropout"),
        ("a", "T1", 2, 24.0, "dropout"),
        ("b", "T1", 0, 18.0, "completed"), ("b", "T1", 1, 14.0, "completed"),
        ("b", "T1", 3, 10.0, "completed"),
        ("c", "T2", 0, 15.0, "referred"), ("c", "T2", 1, 16.0, "referred"),
        ("d", "T2", 0, 12.0, "ongoing"), ("d", "T2", 1, 8.0, "ongoing"),
    ]
    df = pd.DataFrame(rows, columns=["pid", "th", "week", "phq", "status"])
    return TherapyData.from_frame(df, patient="pid", therapist="th", session="week",
                                  score="phq", end_status="status")


# ---------------------------------------------------------------------------- risk set
def test_risk_set_by_hand() -> None:
    rs = risk_set(_data())
    got = list(zip(rs["patient"], rs["session"], rs["event"], strict=True))
    # a: at risk after 0, 1, 2 and drops out after 2; b: censored at 3 (planned end);
    # c: referred at 1; d: ongoing, its last session's outcome is not known yet.
    assert got == [("a", 0, 0), ("a", 1, 0), ("a", 2, 1), ("b", 0, 0), ("b", 1, 0),
                   ("c", 0, 0), ("d", 0, 0)]
    a = rs[rs["patient"] == "a"]
    assert a["change"].tolist() == [0.0, 2.0, 4.0]
    assert rs["therapist"].tolist() == ["T1"] * 5 + ["T2"] * 2


def test_missing_scores_are_carried_forward() -> None:
    df = pd.DataFrame({"p": [1, 1, 1], "s": [0, 1, 2], "y": [10.0, np.nan, 7.0],
                       "st": ["dropout"] * 3})
    data = TherapyData.from_frame(df, patient="p", session="s", score="y", end_status="st",
                                  allow_missing_scores=True)
    assert risk_set(data)["score"].tolist() == [10.0, 10.0, 7.0]


def test_predictors_are_standardised_by_hand() -> None:
    data = _data()
    d = hazard_design(DropoutSpec(therapist=False, breaks=(0, 1)), data)
    y = data.frame["score"]
    mean, sd = y.mean(), y.std(ddof=1)
    a = d.rows["patient"] == "a"
    np.testing.assert_allclose(d.x[a.to_numpy(), 0], (np.array([20, 22, 24]) - mean) / sd,
                               rtol=1e-12)
    np.testing.assert_allclose(d.x[a.to_numpy(), 2], np.array([0, 2, 4]) / sd, rtol=1e-12)
    b = (d.rows["patient"] == "b").to_numpy()
    np.testing.assert_allclose(d.x[b, 1], np.array([0, 4]) / sd, rtol=1e-12)  # improvement
    assert d.bin_labels == ["0", "1+"]
    assert d.bin_of(np.array([0, 1, 7])).tolist() == [0, 1, 1]


# ---------------------------------------------------------------------------- bad data
def test_unknown_status_names_patient() -> None:
    data = _data()
    bad = dataclasses.replace(data, end_status=data.end_status.replace({"ongoing": "lost"}))
    with pytest.raises(DataValidationError, match=r"patient 'd' has 'lost'"):
        risk_set(bad)


def test_missing_status_names_patient() -> None:
    data = _data()
    bad = dataclasses.replace(data, end_status=data.end_status.drop("c"))
    with pytest.raises(DataValidationError, match=r"patient 'c' has no end status"):
        risk_set(bad)


def test_dropout_at_final_session_is_an_error() -> None:
    with pytest.raises(DataValidationError, match=r"patient 'a' is marked 'dropout'.*final"):
        risk_set(_data(), final_session=2)


def test_status_rows_with_sessions_after_dropout() -> None:
    df = pd.DataFrame({"id": ["x", "x", "x", "y"], "wk": [0, 1, 2, 0],
                       "st": [None, "dropout", None, "completed"]})
    with pytest.raises(DataValidationError,
                       match=r"patient 'x' is marked 'dropout' at wk=1 but attended later "
                             r"sessions \[2\]"):
        end_status_from_rows(df, patient="id", session="wk", status="st")


def test_status_rows_unknown_and_conflicting() -> None:
    df = pd.DataFrame({"id": [1, 1], "wk": [0, 1], "st": ["", "quit"]})
    with pytest.raises(DataValidationError, match=r"\(id=1, wk=1, value='quit'\)"):
        end_status_from_rows(df, patient="id", session="wk", status="st")
    df = pd.DataFrame({"id": [1, 1], "wk": [0, 1], "st": ["referred", "dropout"]})
    with pytest.raises(DataValidationError, match="more than one end status"):
        end_status_from_rows(df, patient="id", session="wk", status="st")


def test_alliance_predictor_needs_alliance() -> None:
    with pytest.raises(DataValidationError, match="no alliance"):
        hazard_design(DropoutSpec(predictors=("alliance",)), _data())


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="link"):
        DropoutSpec(link="probit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="predictors"):
        DropoutSpec(predictors=("mood",))
    with pytest.raises(ValueError, match="breaks"):
        DropoutSpec(breaks=(3, 1))


# ---------------------------------------------------------------------------- model
def test_model_builds_with_finite_logp_and_gradient() -> None:
    model = build_dropout_model(DropoutSpec(breaks=(0, 1)), _data())
    names = {v.name for v in model.free_RVs}
    assert names == {"dropout_baseline", "dropout_coef", "therapist_dropout_sd",
                     "therapist_dropout_raw"}
    point = model.initial_point()
    # FAST_COMPILE: the check is about the graph, not speed; C compilation takes a minute.
    assert np.isfinite(model.compile_logp(mode="FAST_COMPILE")(point))
    assert np.all(np.isfinite(model.compile_dlogp(mode="FAST_COMPILE")(point)))


# ---------------------------------------------------------------------------- estimands
def _fake_fit(link: str = "logit") -> tuple[DropoutFit, dict]:
    """A standalone fit whose posterior is pinned at known values (3 identical draws)."""
    data = _data()
    spec = DropoutSpec(link=link, breaks=(0, 1))  # type: ignore[arg-type]
    vals = {"base": np.array([-2.0, -1.0]), "coef": np.array([0.5, -0.3, 0.8]),
            "th": np.array([0.4, -0.4]), "sd": 0.6}
    s = 3
    post = xr.Dataset(
        {"dropout_baseline": (("chain", "draw", "dropout_bin"),
                              np.tile(vals["base"], (1, s, 1))),
         "dropout_coef": (("chain", "draw", "dropout_term"), np.tile(vals["coef"], (1, s, 1))),
         "therapist_dropout_effect": (("chain", "draw", "therapist"),
                                      np.tile(vals["th"], (1, s, 1))),
         "therapist_dropout_sd": (("chain", "draw"), np.full((1, s), vals["sd"]))},
        coords={"dropout_bin": ["0", "1+"], "therapist": ["T1", "T2"],
                "dropout_term": ["score", "improvement", "worsening"]})
    idata = xr.DataTree.from_dict({"posterior": post})
    return DropoutFit(spec=spec, data=data, idata=idata, diagnostics=None), vals


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_dropout_risk_closed_form(link: str) -> None:
    fit, v = _fake_fit(link)
    data = fit.data
    y = data.frame["score"]
    mean, sd = y.mean(), y.std(ddof=1)
    risk = dropout_risk(fit, horizon=3).set_index(["patient", "step"])
    # Patient a: last session 2 (score 24, change +4); grid 0, 1, 2, 3 then 4 -> 2, 3, 4.
    eta = (v["base"][1] + v["coef"][0] * (24 - mean) / sd + v["coef"][2] * 4 / sd
           + v["th"][0])
    h = link_inverse(np.array([eta]), link)[0]
    expected = 1 / (1 + math.exp(-eta)) if link == "logit" else 1 - math.exp(-math.exp(eta))
    assert h == pytest.approx(expected, rel=1e-12)
    a = risk.loc["a"]
    assert a["session"].tolist() == [2, 3, 4]
    np.testing.assert_allclose(a["hazard"], h, rtol=1e-8)
    np.testing.assert_allclose(a["cumulative"], 1 - (1 - h) ** np.arange(1, 4), rtol=1e-8)
    np.testing.assert_allclose(a["hazard_low"], a["hazard_high"], rtol=1e-8)
    # Patient d (T2, ongoing): last session 1, score 8, improved by 4.
    eta_d = (v["base"][1] + v["coef"][0] * (8 - mean) / sd + v["coef"][1] * 4 / sd
             + v["th"][1])
    np.testing.assert_allclose(risk.loc[("d", 0), "hazard"],
                               link_inverse(np.array([eta_d]), link)[0], rtol=1e-8)


def test_hazard_curve_averages_patients() -> None:
    fit, v = _fake_fit()
    curve = hazard_curve(fit)
    y = fit.data.frame["score"]
    mean, sd = y.mean(), y.std(ddof=1)
    # Session 0: every patient at intake (change 0) with its therapist.
    intake = {"a": (20, "T1"), "b": (18, "T1"), "c": (15, "T2"), "d": (12, "T2")}
    th = {"T1": v["th"][0], "T2": v["th"][1]}
    h0 = np.mean([link_inverse(np.array([v["base"][0] + v["coef"][0] * (s - mean) / sd
                                         + th[t]]), "logit")[0] for s, t in intake.values()])
    assert curve["session"].tolist() == [0, 1, 2]
    assert curve.loc[0, "hazard"] == pytest.approx(h0, rel=1e-8)
    assert curve.loc[0, "retained"] == pytest.approx(1 - h0, rel=1e-8)


def test_therapist_effects_closed_form() -> None:
    fit, v = _fake_fit()
    t = therapist_dropout_effects(fit).set_index("quantity")
    icc = v["sd"] ** 2 / (v["sd"] ** 2 + math.pi**2 / 3)
    assert t.loc["icc", "mean"] == pytest.approx(icc, rel=1e-8)
    assert t.loc["variance", "mean"] == pytest.approx(0.36, rel=1e-8)
    eff = t.loc["effect"].set_index("therapist")
    assert eff.loc["T1", "ratio"] == pytest.approx(math.exp(0.4), rel=1e-8)
    assert eff["p_above_average"].tolist() == [1.0, 0.0]


def test_association_table() -> None:
    fit, v = _fake_fit()
    t = dropout_association(fit).set_index("term")
    assert t.loc["worsening", "ratio"] == pytest.approx(math.exp(0.8), rel=1e-8)
    assert t.loc["worsening", "kind"] == "observed"
    assert "raises the odds" in t.loc["worsening", "interpretation"]
    assert "lowers the odds" in t.loc["improvement", "interpretation"]


# ---------------------------------------------------------------------------- recovery
def test_standalone_hazard_recovers_known_effects() -> None:
    """2,000 patients, hazard logit = -2 + 0.8 * (standardised score); intervals cover."""
    rng = np.random.default_rng(7)
    n, s_max = 2000, 6
    y = rng.normal(15, 5, (n, s_max))
    z = (y - 15) / 5
    drop = rng.random((n, s_max)) < 1 / (1 + np.exp(-(-2.0 + 0.8 * z)))
    drop[:, -1] = False
    last = np.where(drop.any(1), drop.argmax(1), s_max - 1)
    pid, sess = np.nonzero(np.arange(s_max)[None, :] <= last[:, None])
    df = pd.DataFrame({"p": pid, "s": sess, "y": y[pid, sess],
                       "st": np.where(last[pid] < s_max - 1, "dropout", "completed")})
    data = TherapyData.from_frame(df, patient="p", session="s", score="y", end_status="st")
    fit = fit_dropout(DropoutSpec(predictors=("score",), n_bins=1), data, draws=300,
                      tune=300, chains=1, seed=3)
    t = dropout_association(fit, prob=0.99).set_index("term")
    # The data's score SD is about 5, so the per-SD coefficient is close to 0.8.
    sd = data.frame["y" if "y" in data.frame else "score"].std(ddof=1)
    assert t.loc["score", "ci_low"] < 0.8 * sd / 5 < t.loc["score", "ci_high"]
    base = fit.summary(ci_prob=0.99).set_index("parameter")
    mean = data.frame["score"].mean()
    truth = -2.0 + 0.8 * (mean - 15) / 5
    assert base.loc["dropout_baseline[0+]", "ci_low"] < truth < base.loc[
        "dropout_baseline[0+]", "ci_high"]


def test_status_rows_repeated_per_patient_are_accepted() -> None:
    df = pd.DataFrame({"id": [1, 1, 2, 2], "wk": [0, 1, 0, 1],
                       "st": ["dropout", "dropout", "", "completed"]})
    got = end_status_from_rows(df, patient="id", session="wk", status="st")
    assert got.to_dict() == {1: "dropout", 2: "completed"}
