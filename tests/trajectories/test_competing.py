"""Competing endings: risk set, the model, and cumulative incidences that sum to one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from trajectories.competing import (
    CompetingFit,
    CompetingSpec,
    build_competing_model,
    cumulative_incidence,
    fit_competing,
)
from trajectories.data import DataValidationError, TherapyData
from trajectories.dropout import risk_set
from trajectories.engine.convergence import check_convergence
from trajectories.engine.tree import make_tree

# True hazards of each ending after sessions 0..8 (constant within the bins 0, 1, 2-3, 4-5,
# 6+), with a session after which treatment may still continue, so that every session up
# to 7 has complete follow-up.
BREAKS = (0, 1, 2, 4, 6)
TRUE = {"dropout": [0.10, 0.08, 0.06, 0.05, 0.04], "completed": [0.0, 0.0, 0.03, 0.06, 0.12],
        "referred": [0.01, 0.01, 0.02, 0.02, 0.02]}


def _bin(s: int) -> int:
    return int(np.searchsorted(BREAKS, s, side="right") - 1)


def _simulate(n: int, seed: int) -> TherapyData:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        for s in range(9):
            rows.append({"p": i, "s": s, "y": rng.normal(10, 3)})
            h = np.array([TRUE[e][_bin(s)] for e in TRUE])
            u = rng.random()
            pick = np.searchsorted(np.cumsum(h), u, side="right")
            end = list(TRUE)[pick] if pick < 3 else ("ongoing" if s == 8 else None)
            if end:
                for r in rows[-(s + 1):]:
                    r["st"] = end
                break
    return TherapyData.from_frame(pd.DataFrame(rows), patient="p", session="s", score="y",
                                  end_status="st")


def _truth(sessions: range) -> dict[str, np.ndarray]:
    h = np.array([[TRUE[e][_bin(s)] for e in TRUE] for s in sessions])
    alive = np.cumprod(1 - h.sum(1))
    before = np.concatenate([[1.0], alive[:-1]])
    out = {e: np.cumsum(before * h[:, k]) for k, e in enumerate(TRUE)}
    return out | {"in treatment": alive}


def test_risk_set_keeps_planned_endings_only_on_request() -> None:
    df = pd.DataFrame({"p": [1, 1, 2, 2, 3, 3], "s": [0, 1, 0, 1, 0, 1],
                       "y": [5.0, 4, 6, 5, 7, 6],
                       "st": ["completed"] * 2 + ["dropout"] * 2 + ["ongoing"] * 2})
    data = TherapyData.from_frame(df, patient="p", session="s", score="y", end_status="st")
    plain = risk_set(data)
    assert plain[["patient", "session"]].to_numpy().tolist() == [[1, 0], [2, 0], [2, 1], [3, 0]]
    full = risk_set(data, planned_endings=True)
    assert full[["patient", "session", "ending"]].to_numpy().tolist() == [
        [1, 0, "none"], [1, 1, "completed"], [2, 0, "none"], [2, 1, "dropout"], [3, 0, "none"]]


def test_model_has_one_baseline_per_ending_present() -> None:
    data = _simulate(80, seed=1)
    model = build_competing_model(CompetingSpec(breaks=BREAKS), data)
    assert model.coords["ending"] == ("dropout", "completed", "referred")
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode="FAST_COMPILE")(point))
    only = build_competing_model(CompetingSpec(endings=("dropout",), breaks=BREAKS), data)
    assert only.coords["ending"] == ("dropout",)  # the other endings are censored


def test_spec_and_data_errors() -> None:
    with pytest.raises(ValueError, match="endings must be distinct"):
        CompetingSpec(endings=("dropout", "ongoing"))
    df = pd.DataFrame({"p": [1, 1], "s": [0, 1], "y": [5.0, 4], "st": ["ongoing"] * 2})
    data = TherapyData.from_frame(df, patient="p", session="s", score="y", end_status="st")
    with pytest.raises(DataValidationError, match="none of the endings"):
        build_competing_model(CompetingSpec(), data)


def _pinned(data: TherapyData, baseline: np.ndarray) -> CompetingFit:
    """A fit whose posterior is given: baseline draws (S, endings, bins), no predictors."""
    spec = CompetingSpec(breaks=BREAKS, therapist=False)
    post = xr.Dataset({"ending_baseline": (("chain", "draw", "ending", "ending_bin"),
                                           baseline[None])},
                      coords={"ending": list(TRUE), "ending_bin": ["0", "1", "2-3", "4-5",
                                                                   "6+"]})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((1, len(baseline)), bool))})
    idata = make_tree(posterior=post, sample_stats=stats)
    diag = check_convergence(idata, warn=False)
    return CompetingFit(spec=spec, data=data, endings=tuple(TRUE), idata=idata,
                        diagnostics=diag)


def test_cumulative_incidence_closed_form_and_sums_to_one() -> None:
    data = _simulate(50, seed=2)
    rng = np.random.default_rng(3)
    h = np.array([TRUE[e] for e in TRUE])  # (endings, bins)
    logit = np.log(np.maximum(h, 1e-4) / (1 - h.sum(0)))  # softmax inverse, continue = 0
    draws = logit[None] + rng.normal(0, 0.2, (40, *logit.shape))
    table = cumulative_incidence(_pinned(data, draws), sessions=list(range(8)), prob=0.9)
    wide = table.pivot(index="session", columns="ending", values="mean")
    np.testing.assert_allclose(wide.sum(axis=1), 1.0, rtol=1e-12)  # posterior means too
    # the one-draw closed form: F_k(s) = sum_r S(r-1) h_k(r)
    one = cumulative_incidence(_pinned(data, logit[None]), sessions=list(range(8)))
    one = one.pivot(index="session", columns="ending", values="mean")
    expect = _truth(range(8))
    for e, curve in expect.items():
        np.testing.assert_allclose(one[e].to_numpy(), np.maximum(curve, 0), atol=2e-4)


@pytest.mark.slow
def test_cumulative_incidences_are_recovered_from_simulated_data() -> None:
    data = _simulate(800, seed=4)
    fit = fit_competing(CompetingSpec(breaks=BREAKS, therapist=False), data, seed=5)
    assert fit.diagnostics.ok
    table = cumulative_incidence(fit, sessions=list(range(8)), prob=0.95)
    truth = _truth(range(8))
    table["truth"] = [truth[e][s] for e, s in zip(table["ending"], table["session"],
                                                  strict=True)]
    # 32 curve points: each truth within 3.5 posterior SDs (two-sided 4.7e-4 each, a
    # family-wise miss chance under 2% by Bonferroni) ...
    z = (table["mean"] - table["truth"]) / table["sd"]
    assert (z.abs() < 3.5).all(), table[z.abs() >= 3.5]
    # ... and the 95% intervals cover at least 27 of the 32 (binomial(32, .95): P(< 27) < 1%)
    inside = (table["ci_low"] <= table["truth"]) & (table["truth"] <= table["ci_high"])
    assert inside.sum() >= 27
    draws_sum = table.pivot(index="session", columns="ending", values="mean").sum(axis=1)
    np.testing.assert_allclose(draws_sum, 1.0, rtol=1e-12)
