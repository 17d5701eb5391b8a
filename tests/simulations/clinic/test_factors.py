"""Adverse-outcome factors: each is in the simulated data a user gets, and its effect on
deterioration and dropout has the direction the model (and the literature it cites) says.

Design: one seeded run of 100,000 patients of 1,000 therapists under TAU and one under
feedback. For every exported factor, a logistic regression of the outcome on all factors at
once (they are drawn independently, so each coefficient is that factor's total effect; the
others only remove noise), with standard errors clustered by therapist. A direction passes
when its z statistic has the stated sign and |z| > 4: the effects asserted have |z| of 6.9
to 33.9 at this size (seed 11), so a correct model fails with probability well below 1e-4,
while a factor with no effect (z ~ N(0, 1)) passes with probability 3e-5.

The therapist's rupture skills have effects too small to show against between-patient noise
in one run (noticing on both outcomes, |z| 0.4 and 3.7; repair on deterioration, 4.4); they
are checked causally with common random numbers instead: every therapist's skill is raised
by one SD and the same patients are compared (the paired difference's 95% interval must
exclude zero; at 40,000 patients the differences are 3 to 12 of their SEs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from simulations import ClinicConfig, compare_policies, simulate
from simulations.clinic.patients import THERAPIST_FACTORS
from simulations.clinic.policies import Policy

CONFIG = ClinicConfig(n_patients=100_000, n_therapists=1_000)
CLIENT = ("low_readiness", "comorbidity", "prior_negative_therapy")
EXTERNAL = ("external_stress",)
THERAPIST = ("rate_effect", "alliance_skill", "dropout_effect", "noticing_skill",
             "repair_skill", "rupture_propensity", "overrating")
# factor -> (policy, sign on deterioration, sign on dropout); 0 = no direction asserted
# because the model has opposing paths (faster change: fewer deteriorate, but rapid
# improvers drop out more, Arndt et al. 2020; a therapist's dropout effect ends treatments
# early, which cuts both improvement and deterioration short).
DIRECTIONS = {
    "low_readiness": ("tau", +1, +1),
    "comorbidity": ("tau", +1, +1),
    "prior_negative_therapy": ("tau", +1, +1),
    "external_stress": ("tau", +1, +1),
    "rate_effect": ("tau", -1, 0),
    "alliance_skill": ("tau", -1, -1),
    "dropout_effect": ("tau", 0, +1),
    "noticing_skill": ("tau", 0, 0),  # too small for one run: see test_skills_causally
    "repair_skill": ("tau", 0, -1),  # deterioration: see test_skills_causally
    "rupture_propensity": ("tau", +1, +1),
    # therapists who overrate themselves act less on feedback (Walfish et al. 2012): seen
    # among the not-on-track patients feedback is about
    "overrating": ("feedback-NOT", +1, +1),
}


@pytest.fixture(scope="module")
def fits() -> dict[tuple[str, str], pd.Series]:
    out = {}
    for policy in ("tau", "feedback", "feedback-NOT"):
        sim = simulate(CONFIG, policy.removesuffix("-NOT"), seed=11, keep_sessions=False)
        p, th = sim.patients, sim.therapists.set_index("therapist")
        if policy.endswith("-NOT"):
            p = p[p["ever_not"]]
        x = p[[*CLIENT, *EXTERNAL]].astype(float)
        for f in THERAPIST:
            x[f] = th[f].reindex(p["therapist"]).to_numpy() / th[f].std()
        x["intake"] = p["intake"] - p["intake"].mean()
        x = sm.add_constant(x)
        for outcome in ("deteriorated", "dropout"):
            m = sm.Logit(p[outcome].astype(float), x).fit(
                disp=0, cov_type="cluster", cov_kwds={"groups": p["therapist"]})
            out[(policy, outcome)] = m.params / m.bse
    return out


def test_every_factor_is_exported() -> None:
    sim = simulate(ClinicConfig(n_patients=300, n_therapists=10), seed=1, keep_sessions=False)
    assert set(CLIENT + EXTERNAL) <= set(sim.patients.columns)
    assert sim.therapists.columns.tolist() == ["therapist", *THERAPIST_FACTORS, "n_patients"]
    assert set(THERAPIST) <= set(THERAPIST_FACTORS)
    process = {"n_withdrawal", "n_confrontation", "n_resolved_withdrawal",
               "n_resolved_confrontation", "n_noticed", "early_alliance"}
    assert process <= set(sim.patients.columns)


@pytest.mark.parametrize("factor", sorted(DIRECTIONS))
def test_factor_direction(fits: dict, factor: str) -> None:
    policy, on_det, on_drop = DIRECTIONS[factor]
    for outcome, sign in (("deteriorated", on_det), ("dropout", on_drop)):
        z = fits[(policy, outcome)][factor]
        if sign:
            assert sign * z > 4, f"{factor} on {outcome} under {policy}: z = {z:.1f}"


@dataclass(frozen=True)
class _SkilledTherapists(Policy):
    """Every therapist one SD more skilled at noticing or repairing ruptures."""

    name: ClassVar[str] = "skilled"
    noticing: float = 0.0
    repair: float = 0.0

    def start(self, chunk) -> None:  # noqa: ANN001
        chunk.notice_boost += np.float32(self.noticing)
        chunk.repair_boost += np.float32(self.repair)


@pytest.mark.parametrize("skill", ["noticing", "repair"])
def test_skills_causally(skill: str) -> None:
    cfg = ClinicConfig(n_patients=40_000, n_therapists=440)
    sd = getattr(cfg.therapists, f"{skill}_sd")
    table = compare_policies(cfg, [_SkilledTherapists(**{skill: sd})], seed=3)
    rows = table[(table["policy"] == "skilled") & (table["subgroup"] == "all")]
    for outcome in ("deteriorated", "dropout", "failure_horizon"):
        row = rows[rows["outcome"] == outcome].iloc[0]
        assert row["diff_ci_high"] < 0, f"{skill} skill on {outcome}: {row.to_dict()}"


def test_process_factors() -> None:
    """Unresolved ruptures cause deterioration and dropout (switch their costs off with
    common random numbers), and a weak early alliance goes with both."""
    from dataclasses import replace

    cfg = ClinicConfig(n_patients=40_000, n_therapists=440)
    rt = cfg.ruptures
    costless = cfg.replace(ruptures=replace(
        rt, withdrawal=replace(rt.withdrawal, symptom=0.0, dropout=0.0),
        confrontation=replace(rt.confrontation, symptom=0.0, dropout=0.0)))
    with_cost = simulate(cfg, seed=5, keep_sessions=False).patients
    without = simulate(costless, seed=5, keep_sessions=False).patients
    for outcome in ("deteriorated", "dropout"):
        diff = with_cost[outcome].mean() - without[outcome].mean()
        # paired binary outcomes: SE <= sqrt(share of patients whose outcome differs / n)
        changed = (with_cost[outcome] != without[outcome]).mean()
        assert diff > 4 * np.sqrt(changed / len(with_cost)), outcome
    # early alliance (sessions 0-2) among patients who attended them
    three = with_cost[with_cost["n_sessions"] >= 4]
    low = three["early_alliance"] < three["early_alliance"].median()
    for outcome in ("deteriorated", "dropout"):
        a, b = three.loc[low, outcome], three.loc[~low, outcome]
        se = np.sqrt(a.var() / len(a) + b.var() / len(b))
        assert a.mean() - b.mean() > 4 * se, outcome
