"""Withdrawal and confrontation are two processes, not two labels.

Two clinics differ only in which kind of rupture occurs: every rupture a withdrawal, or every
rupture a confrontation, with the *same* rate, the same dependence on alliance and worsening
and the same damage to the latent alliance. Each type's own visibility (to the patient's
rating, to the therapist), dropout process and resolution path must show. 40,000 patients
give about 130,000 rupture sessions per clinic, so means of rating drops have SEs near
0.001 and shares near 0.002; each assertion leaves a margin of at least 5 SEs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from simulations import AllianceRepair, ClinicConfig, simulate
from simulations.clinic.alliance_params import CONFRONTATION, WITHDRAWAL, RuptureConfig

BASE = ClinicConfig(n_patients=40_000, n_therapists=440)


def only(kind: str) -> ClinicConfig:
    """Every rupture of one kind; same rate, drivers and damage for both kinds."""
    same = {"alliance": 0.5, "worsening": 0.5, "damage": 0.8}
    w = replace(WITHDRAWAL, logit=-2.0 if kind == "withdrawal" else -30.0, **same)
    c = replace(CONFRONTATION, logit=-2.0 if kind == "confrontation" else -30.0, **same)
    return BASE.replace(ruptures=RuptureConfig(withdrawal=w, confrontation=c))


def _sessions(sim) -> pd.DataFrame:  # noqa: ANN001
    s = sim.sessions.copy()
    s["drop"] = s.groupby("patient")["alliance"].shift() - s["alliance"]
    p = sim.patients.set_index("patient")
    last = s["patient"].map(p["n_sessions"]) - 1
    s["dropout_here"] = s["patient"].map(p["dropout"]).to_numpy() & (s["session"] == last)
    s["ruptured"] = s["rupture"] != "none"
    s["unresolved"] = s["ruptured"] & ~s["repaired"]
    s["unresolved_before"] = s.groupby("patient")["unresolved"].shift(fill_value=False)
    s["repair_skill"] = s["therapist"].map(sim.therapists["repair_skill"])
    return s


@pytest.fixture(scope="module")
def clinics() -> dict[str, pd.DataFrame]:
    return {kind: _sessions(simulate(only(kind), seed=4)) for kind in
            ("withdrawal", "confrontation")}


def test_the_two_kinds_are_different_runs(clinics: dict) -> None:
    w, c = clinics["withdrawal"], clinics["confrontation"]
    assert set(w.loc[w["ruptured"], "rupture"]) == {"withdrawal"}
    assert set(c.loc[c["ruptured"], "rupture"]) == {"confrontation"}
    # same rate and drivers: similar rupture frequency (within 2 points) ...
    assert abs(w["ruptured"].mean() - c["ruptured"].mean()) < 0.02
    # ... but not the same clinic
    assert not np.array_equal(w["alliance"].to_numpy()[:1000], c["alliance"].to_numpy()[:1000])


def test_withdrawal_is_hidden_from_the_patients_rating(clinics: dict) -> None:
    excess = {}
    for kind, s in clinics.items():
        seen = s.dropna(subset=["drop"])
        excess[kind] = (seen.loc[seen["ruptured"], "drop"].mean()
                        - seen.loc[~seen["ruptured"], "drop"].mean())
    # the same latent damage shows fully after a confrontation, barely after a withdrawal
    # (visibility 1 vs 0.2 of 0.8 SD x 0.55 rating points per SD)
    assert excess["confrontation"] > 0.3
    assert excess["withdrawal"] < 0.5 * excess["confrontation"]


def test_therapists_notice_confrontations_far_more_often(clinics: dict) -> None:
    noticed = {k: s.loc[s["ruptured"], "noticed"].mean() for k, s in clinics.items()}
    assert noticed["confrontation"] > 0.7
    assert noticed["withdrawal"] < 0.4


def test_a_rating_drop_reveals_confrontations_not_withdrawals() -> None:
    # the repair policy's rating-drop channel alone (no attunement gain, no low-rating rule):
    # of the ruptures the therapist's attunement missed, the share the drop catches
    caught = {}
    for kind in ("withdrawal", "confrontation"):
        tau = simulate(only(kind), seed=4).sessions
        rep = simulate(only(kind), AllianceRepair(attunement=0.0, low=1.0), seed=4).sessions
        before = tau.loc[tau["rupture"] != "none", "noticed"].mean()
        after = rep.loc[rep["rupture"] != "none", "noticed"].mean()
        caught[kind] = (after - before) / (1 - before)
    assert caught["confrontation"] > 0.3
    assert caught["confrontation"] > 2 * caught["withdrawal"]


def test_confrontation_dropout_is_acute_withdrawal_dropout_lingers(clinics: dict) -> None:
    acute, lingering = {}, {}
    for kind, s in clinics.items():
        calm = ~s["ruptured"] & ~s["unresolved_before"]
        base = s.loc[calm, "dropout_here"].mean()
        acute[kind] = s.loc[s["unresolved"], "dropout_here"].mean() / base
        after = ~s["ruptured"] & s["unresolved_before"]
        lingering[kind] = s.loc[after, "dropout_here"].mean() / base
    # relative hazards: an unresolved confrontation raises dropout in its own session far
    # more than a withdrawal; in the next (calm) session the withdrawal's load still shows
    assert acute["confrontation"] > acute["withdrawal"] + 0.5
    assert lingering["withdrawal"] > lingering["confrontation"] + 0.15


def test_repair_skill_matters_more_for_confrontations(clinics: dict) -> None:
    gap = {}
    for kind, s in clinics.items():
        noticed = s[s["ruptured"] & s["noticed"]]
        high = noticed["repair_skill"] > noticed["repair_skill"].median()
        gap[kind] = noticed.loc[high, "repaired"].mean() - noticed.loc[~high, "repaired"].mean()
    # skill weights 1.2 (confrontation: disembedding) vs 0.7 (withdrawal)
    assert gap["withdrawal"] > 0.05
    assert gap["confrontation"] > gap["withdrawal"] + 0.05
