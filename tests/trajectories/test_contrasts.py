"""`contrast`: closed forms on pinned posteriors, and agreement with lme4 on Beat the Blues."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from trajectories.datasets import load_beat_the_blues
from trajectories.estimands import contrast
from trajectories.fit import fit_from_draws, fit_growth
from trajectories.spec import GrowthSpec

SPEC = GrowthSpec(time="log", covariates=("treatment", "drug", "intake"),
                  time_interactions=("treatment",))
# covariate_effect order: treatment[TAU], treatment[TAU]:slope, drug[Yes], intake
EFFECTS = np.array([[1.0, 2.0, -1.5, 0.5], [3.0, 0.0, -0.5, 0.7], [-1.0, 1.0, 0.0, 0.6]])


@pytest.fixture(scope="module")
def pinned():  # noqa: ANN201
    draws = {"intercept": [22.0, 21.0, 23.0], "slope": [-4.0, -3.0, -5.0],
             "covariate_effect": EFFECTS, "patient_intercept_sd": [8.0, 7.0, 9.0],
             "patient_slope_sd": [2.0, 1.5, 2.5], "patient_corr": np.zeros((3, 1)),
             "residual_sd": [5.0, 6.0, 4.0]}
    return fit_from_draws(SPEC, load_beat_the_blues(), draws)


def test_arm_contrast_is_the_coefficients_with_the_interaction(pinned) -> None:  # noqa: ANN001
    table = contrast(pinned, by="treatment", at_session=[2, 8])
    raw = table.query("scale == 'raw'").set_index("session")
    for s in (2, 8):
        diff = EFFECTS[:, 0] + EFFECTS[:, 1] * np.log1p(s)
        row = raw.loc[s]
        assert (row["level"], row["reference"]) == ("TAU", "BtheB")
        np.testing.assert_allclose(row["estimate"], diff.mean(), rtol=1e-12)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]],
                                   np.quantile(diff, [0.025, 0.975]), rtol=1e-12)
        assert row["p_direction"] == pytest.approx(np.mean(diff < 0))
    std = table.query("scale == 'standardised' and session == 8")["estimate"].iloc[0]
    sd0 = np.sqrt(np.array([8.0, 7.0, 9.0]) ** 2 + np.array([5.0, 6.0, 4.0]) ** 2)
    np.testing.assert_allclose(std, np.mean((EFFECTS[:, 0] + EFFECTS[:, 1] * np.log(9)) / sd0))
    # the other direction: named reference, the sign flips
    flipped = contrast(pinned, by="treatment", at_session=8, reference="TAU")
    np.testing.assert_allclose(flipped.query("scale == 'raw'")["estimate"].iloc[0],
                               -raw.loc[8, "estimate"])


def test_numeric_contrast_per_change_and_profiles(pinned) -> None:  # noqa: ANN001
    table = contrast(pinned, by="intake", at_session=5, change=[1.0, 10.0])
    raw = table.query("scale == 'raw'").set_index("level")["estimate"]
    np.testing.assert_allclose(raw.loc["+10"], 10 * EFFECTS[:, 3].mean())
    np.testing.assert_allclose(raw.loc["+1"], EFFECTS[:, 3].mean())
    one = pd.DataFrame({"treatment": ["TAU"], "drug": ["Yes"], "intake": [30.0]})
    cond = contrast(pinned, by="drug", at_session=5, newdata=one)
    np.testing.assert_allclose(cond.query("scale == 'raw'")["estimate"].iloc[0],
                               EFFECTS[:, 2].mean())


def test_contrast_rejects_what_it_cannot_compute(pinned) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="'length' is not a covariate"):
        contrast(pinned, by="length", at_session=8)
    with pytest.raises(ValueError, match="reference 'CBT' is not a level"):
        contrast(pinned, by="treatment", at_session=8, reference="CBT")
    with pytest.raises(ValueError, match="newdata lacks covariate columns"):
        contrast(pinned, by="drug", at_session=8, newdata=pd.DataFrame({"drug": ["No"]}))


def test_arm_contrast_agrees_with_lme4_maximum_likelihood() -> None:
    """Beat the Blues, log time x treatment, correlated patient intercepts and slopes.

    lme4 1.1 (R 4.x, Debian's r-cran-lme4), maximum likelihood::

        d <- read.csv("btb_long.csv")  # load_beat_the_blues().frame
        d$treatment <- factor(d$treatment, levels = c("BtheB", "TAU"))
        m <- lmer(score ~ log1p(session) * treatment + (log1p(session) | patient),
                  data = d, REML = FALSE)
        b <- fixef(m); V <- as.matrix(vcov(m))
        L <- c(0, 0, 1, log1p(s))  # TAU - BtheB at month s
        sum(L * b); sqrt(t(L) %*% V %*% L)

    gave 3.697951 (SE 1.938025) at month 2 and 4.828013 (SE 2.418048) at month 8. The
    posterior mean under setback's weak priors should be within a quarter of lme4's SE of the
    ML estimate (the issue's criterion); its Monte Carlo error with 4 x 1500 draws is about
    0.05 (posterior SD ~2 / sqrt(ESS ~2000)), far below the 0.48 and 0.60 allowed.
    """
    spec = GrowthSpec(time="log", covariates=("treatment",), time_interactions=("treatment",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_growth(spec, load_beat_the_blues(), seed=13, draws=1500, tune=1000,
                         chains=4)
    table = contrast(fit, by="treatment", at_session=[2, 8]).query("scale == 'raw'")
    lme4 = {2.0: (3.697951, 1.938025), 8.0: (4.828013, 2.418048)}
    for row in table.itertuples():
        estimate, se = lme4[row.session]
        assert abs(row.estimate - estimate) < se / 4, (row.session, row.estimate)
        # and the posterior SD is close to the ML standard error (not part of the criterion)
        assert 0.8 < row.sd / se < 1.25


def test_expected_course_by_arm_uses_the_same_profiles(pinned) -> None:  # noqa: ANN001
    from trajectories.contrasts import covariate_profiles
    from trajectories.estimands import expected_change

    profiles = covariate_profiles(pinned, None)
    same = expected_change(pinned, at_session=5, newdata=profiles)
    pd.testing.assert_frame_equal(same, expected_change(pinned, at_session=5))
    arms = {arm: expected_change(pinned, at_session=5, newdata=profiles.assign(treatment=arm))
            .set_index("quantity").loc["expected_score", "mean"] for arm in ("BtheB", "TAU")}
    assert arms["TAU"] > arms["BtheB"]  # TAU declines less (positive interaction)
    with pytest.raises(ValueError, match="level='population' only"):
        expected_change(pinned, at_session=5, level="patient", newdata=profiles)
