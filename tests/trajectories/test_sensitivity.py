"""Delta-adjusted and tipping-point analyses on a pinned posterior (closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trajectories.datasets import load_beat_the_blues
from trajectories.fit import fit_from_draws
from trajectories.sensitivity import delta_adjusted, tipping_point
from trajectories.spec import GrowthSpec

S = 400


def _fit(effects_sd: float = 1.0, seed: int = 0):  # noqa: ANN202
    """Beat the Blues with a pinned posterior: intercept 22, slopes by arm, tiny residuals
    (so that imputed scores are the latent ones and every number has a closed form)."""
    data = load_beat_the_blues()
    spec = GrowthSpec(time="log", covariates=("treatment",), time_interactions=("treatment",))
    rng = np.random.default_rng(seed)
    effects = rng.normal(0, effects_sd, (S, data.n_patients, 2))
    return fit_from_draws(spec, data, {
        "intercept": np.full(S, 22.0), "slope": rng.normal(-5.0, 0.3, S),
        "covariate_effect": np.column_stack([np.zeros(S), np.full(S, 1.0)]),
        "patient_intercept_sd": np.full(S, 5.0), "patient_slope_sd": np.full(S, 1.0),
        "patient_corr": np.zeros((S, 1)), "residual_sd": np.full(S, 1e-9),
        "patient_effect": effects}), effects


def _by_hand(fit, effects: np.ndarray, delta: float):  # noqa: ANN001, ANN202
    """Per-draw mean change to month 8 per arm, dropouts (missing at 8) shifted by delta."""
    data = fit.data
    frame = data.frame
    post = fit.posterior
    slope = post["slope"].values.ravel()
    inter = post["covariate_effect"].values.reshape(S, 2)[:, 1]  # treatment[TAU] x slope
    arm = data.patient_table().set_index("patient")["treatment"].reindex(data.patients)
    y0 = frame[frame["session"] == 0].set_index("patient")["score"].reindex(data.patients)
    y8 = frame[frame["session"] == 8].set_index("patient")["score"].reindex(data.patients)
    tau = (arm == "TAU").to_numpy(float)
    b0 = 22.0 + effects[:, :, 0]
    b1 = slope[:, None] + inter[:, None] * tau[None] + effects[:, :, 1]
    latent8 = b0 + b1 * math.log(9)
    dropout = (data.end_status.reindex(data.patients) == "dropout").to_numpy()
    missing = y8.isna().to_numpy()
    end = np.where(missing[None], latent8 + delta * (missing & dropout & (tau == 0))[None],
                   y8.to_numpy()[None])
    change = end - y0.to_numpy()[None]
    return {a: change[:, (arm == a).to_numpy()].mean(1) for a in ("BtheB", "TAU")}


def test_delta_adjusted_matches_the_closed_form() -> None:
    fit, effects = _fit()
    table = delta_adjusted(fit, at_session=8, deltas=[0.0, 3.0], by="treatment",
                           reference="TAU", seed=1, max_draws=None).set_index(["arm", "delta"])
    for delta in (0.0, 3.0):
        hand = _by_hand(fit, effects, delta)
        for arm in ("BtheB", "TAU"):
            assert table.loc[(arm, delta), "mean"] == pytest.approx(hand[arm].mean(), abs=1e-6)
        contrast = hand["BtheB"] - hand["TAU"]
        row = table.loc[("BtheB - TAU", delta)]
        assert row["mean"] == pytest.approx(contrast.mean(), abs=1e-6)
        assert row["ci_high"] == pytest.approx(np.quantile(contrast, 0.975), abs=1e-6)
    # only BtheB's dropouts move: TAU's change does not
    assert table.loc[("TAU", 3.0), "mean"] == pytest.approx(table.loc[("TAU", 0.0), "mean"])


def test_estimand_is_linear_in_delta_with_the_share_of_shifted_dropouts() -> None:
    fit, _ = _fit()
    deltas = [0.0, 1.0, 2.5]
    table = delta_adjusted(fit, at_session=8, deltas=deltas, seed=2, scale="sd")
    sd0 = fit.data.patient_table()["intake_score"].std(ddof=1)
    status = fit.data.end_status
    share = (status == "dropout").mean()  # every dropout is missing at month 8
    means = table["mean"].to_numpy()
    np.testing.assert_allclose(means - means[0], share * sd0 * np.array(deltas), rtol=1e-9)
    np.testing.assert_allclose(table["delta_points"], sd0 * np.array(deltas), rtol=1e-12)


def test_tipping_point_is_where_the_interval_reaches_zero() -> None:
    fit, _ = _fit(effects_sd=0.5)
    tips = tipping_point(fit, at_session=8, by="treatment", reference="TAU", seed=3,
                         max_draws=None).set_index("arm")
    row = tips.loc["BtheB - TAU"]
    assert row["conclusion"] == "favours BtheB" and row["tipping_delta"] > 0
    at = delta_adjusted(fit, at_session=8, deltas=[row["tipping_delta"]], by="treatment",
                        reference="TAU", seed=3, max_draws=None).set_index("arm")
    assert at.loc["BtheB - TAU", "ci_high"] == pytest.approx(0.0, abs=1e-9)
    just_before = delta_adjusted(fit, at_session=8, deltas=[0.99 * row["tipping_delta"]],
                                 by="treatment", reference="TAU", seed=3, max_draws=None)
    assert just_before.set_index("arm").loc["BtheB - TAU", "conclusion"] == "favours BtheB"
    # TAU's dropouts are not shifted: no delta changes TAU's own conclusion
    assert math.isnan(tips.loc["TAU", "tipping_delta"]) and tips.loc["TAU", "n_shifted"] == 0


def test_bad_options_name_the_rule() -> None:
    fit, _ = _fit()
    with pytest.raises(ValueError, match="by='arm'"):
        delta_adjusted(fit, at_session=8, deltas=[0], by="arm")
    with pytest.raises(ValueError, match="reference='CBT'"):
        tipping_point(fit, at_session=8, by="treatment", reference="CBT")
    with pytest.raises(ValueError, match="scale must be"):
        delta_adjusted(fit, at_session=8, deltas=[0], scale="percent")
    with pytest.raises(ValueError, match="scale must be"):
        tipping_point(fit, at_session=8, scale="percent")
    with pytest.raises(ValueError, match="deltas must be"):
        delta_adjusted(fit, at_session=8, deltas=[])
