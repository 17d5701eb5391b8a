"""Trial power: closed-form check of the analysis, zero effect rejects near alpha."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulations.tasks.trial import analyse_trial, trial_power, true_effect


def test_balanced_trial_estimate_is_the_difference_in_arm_means() -> None:
    # every therapist sees the same intakes, so intake is balanced across arms and both
    # analyses must estimate the arm effect by the plain difference in means
    rng = np.random.default_rng(4)
    k, m = 12, 15
    intake = np.tile(np.linspace(8, 24, m), k)
    therapist = np.repeat(np.arange(k), m)
    arm = (therapist % 2).astype(float)
    final = (3 + 0.5 * intake - 1.5 * arm + np.repeat(rng.normal(0, 2, k), m)
             + rng.normal(0, 3, k * m))
    frame = pd.DataFrame({"final": final, "intake": intake, "arm": arm, "therapist": therapist})
    rows = {r["method"]: r for r in analyse_trial(frame)}
    diff = final[arm == 1].mean() - final[arm == 0].mean()
    assert rows["ols"]["estimate"] == pytest.approx(diff, abs=1e-9)
    assert rows["mixedlm"]["estimate"] == pytest.approx(diff, abs=1e-6)
    # therapist effects of SD 2: the clustered SE must exceed the naive one, and use k - 2 df
    assert rows["mixedlm"]["se"] > rows["ols"]["se"]
    assert rows["mixedlm"]["df"] == k - 2
    q = stats.t.ppf(0.975, k - 2)
    assert rows["mixedlm"]["ci_high"] - rows["mixedlm"]["ci_low"] == pytest.approx(
        2 * q * rows["mixedlm"]["se"])


def test_zero_effect_has_zero_truth_and_rejects_near_alpha() -> None:
    assert true_effect(0.0, n_patients=2_000) == 0.0
    cond = {"p_act": 0.0, "n_therapists": 10, "patients_per_therapist": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [r for i in range(40)
                for r in trial_power(cond, np.random.default_rng(i)) if r["method"] == "mixedlm"]
    p = np.array([r["p_value"] for r in rows])
    assert all(r["truth"] == 0.0 for r in rows)
    # 40 replications at alpha 0.05: more than 7 rejections has probability < 0.005
    assert (p < 0.05).sum() <= int(stats.binom.ppf(0.995, 40, 0.05))
    again = trial_power(cond, np.random.default_rng(0))
    assert again[0]["estimate"] == rows[0]["estimate"]


def test_validates_factors() -> None:
    with pytest.raises(ValueError, match="unknown factor"):
        trial_power({"n_therapist": 4}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_therapists"):
        trial_power({"n_therapists": 2}, np.random.default_rng(0))
