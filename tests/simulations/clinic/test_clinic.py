"""Simulator behaviour: validation, determinism, common random numbers, policies, monitors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulations import (
    AllianceRepair,
    ClinicConfig,
    ExpectedRecoveryMonitor,
    Feedback,
    policy_from_name,
    simulate,
)
from simulations.clinic.config import CourseConfig, DropoutConfig
from simulations.clinic.monitors import ReliableWorseningMonitor
from simulations.clinic.policies import ClinicalSupport, Referral, TreatmentAsUsual, combine
from trajectories.instruments import get_instrument

SMALL = ClinicConfig(n_patients=3_000, n_therapists=30)


@pytest.fixture(scope="module")
def runs() -> dict[str, object]:
    return {name: simulate(SMALL, name, seed=42)
            for name in ("tau", "feedback", "feedback+cst", "alliance-repair", "referral")}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"n_patients": 0}, "n_patients"),
    ({"n_therapists": 0}, "n_therapists"),
    ({"n_patients": 5, "n_therapists": 6}, "n_therapists"),
    ({"max_sessions": 1}, "max_sessions"),
    ({"intake_mean": 40.0}, "intake_mean"),
    ({"intake_sd": 0.5}, "intake_sd"),
])
def test_config_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ClinicConfig(**kwargs)


def test_sub_config_errors_name_field_and_range() -> None:
    with pytest.raises(ValueError, match=r"course\.class_probs must sum to 1"):
        CourseConfig(class_probs=(0.5, 0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match=r"dropout\.frailty_sd must be in \[0.0, 5.0\]"):
        DropoutConfig(frailty_sd=-1.0)
    with pytest.raises(ValueError, match="feedback.p_act must be in"):
        Feedback(p_act=1.5)


def test_same_seed_identical_and_different_seed_differs() -> None:
    a = simulate(SMALL, "feedback+alliance-repair", seed=7)
    b = simulate(SMALL, "feedback+alliance-repair", seed=7)
    c = simulate(SMALL, "feedback+alliance-repair", seed=8)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    assert not a.patients["final"].equals(c.patients["final"])


def test_no_seed_draws_one_records_it_and_uses_it_throughout() -> None:
    # one root for the therapists, their caseloads and every chunk: the therapist table
    # matches the patients' therapists and the recorded seed reruns the same clinic
    run = simulate(SMALL, "feedback", seed=None, keep_sessions=False, chunk_size=40)
    assert isinstance(run.seed, int)
    caseload = np.bincount(run.patients["therapist"], minlength=SMALL.n_therapists)
    np.testing.assert_array_equal(run.therapists["n_patients"], caseload)
    again = simulate(SMALL, "feedback", seed=run.seed, keep_sessions=False, chunk_size=40)
    pd.testing.assert_frame_equal(run.patients, again.patients)
    pd.testing.assert_frame_equal(run.therapists, again.therapists)


def test_keep_sessions_false_gives_the_same_patients() -> None:
    full = simulate(SMALL, "feedback", seed=3)
    lean = simulate(SMALL, "feedback", seed=3, keep_sessions=False)
    assert lean.data is None and lean.sessions is None
    pd.testing.assert_frame_equal(full.patients, lean.patients)


def test_common_random_numbers_share_patients_therapists_and_noise(runs: dict) -> None:
    tau, fb = runs["tau"].patients, runs["feedback"].patients
    # the same patients and therapists: truth drawn before any policy can act is identical
    for col in ("therapist", "intake", "latent_intake", "trajectory_class", "change_rate",
                "low_readiness", "comorbidity", "external_stress"):
        pd.testing.assert_series_equal(tau[col], fb[col])
    pd.testing.assert_frame_equal(runs["tau"].therapists, runs["feedback"].therapists)
    # patients never acted on under feedback follow exactly the TAU course
    untouched = ~fb["acted"].to_numpy()
    assert untouched.mean() > 0.5
    for col in ("final", "n_sessions", "n_ruptures", "latent_final"):
        np.testing.assert_array_equal(tau[col].to_numpy()[untouched],
                                      fb[col].to_numpy()[untouched])
    # and before the first action their session histories coincide
    s_tau, s_fb = runs["tau"].sessions, runs["feedback"].sessions
    acted = fb.set_index("patient")["first_action_session"]
    first = s_fb["patient"].map(acted)
    before = (first < 0) | (s_fb["session"] <= first)
    merged = s_fb[before].merge(s_tau, on=["patient", "session"], suffixes=("_fb", "_tau"))
    assert len(merged) == before.sum()
    np.testing.assert_array_equal(merged["score_fb"], merged["score_tau"])


def test_alliance_repair_changes_only_after_ruptures(runs: dict) -> None:
    tau, rep = runs["tau"].sessions, runs["alliance-repair"].sessions
    first_rupture = tau[tau["rupture"] != "none"].groupby("patient")["session"].min()
    ever = rep["patient"].map(first_rupture)
    before = ever.isna() | (rep["session"] <= ever)
    merged = rep[before].merge(tau, on=["patient", "session"], suffixes=("_r", "_t"))
    np.testing.assert_array_equal(merged["score_r"], merged["score_t"])
    np.testing.assert_array_equal(merged["rupture_r"], merged["rupture_t"])


def test_observed_data_is_valid_therapy_data(runs: dict) -> None:
    sim = runs["tau"]
    data = sim.data
    assert data.n_patients == SMALL.n_patients
    assert data.has_alliance and data.has_therapist
    frame = data.frame
    assert frame["score"].between(0, 27).all()
    assert (frame["score"] == frame["score"].round()).all()
    assert frame["alliance"].between(1, 5).all()
    last = frame.groupby("patient")["session"].max() + 1
    np.testing.assert_array_equal(last.to_numpy(), sim.patients["n_sessions"].to_numpy())
    assert set(data.end_status.unique()) == {"completed", "dropout"}
    completed = sim.patients["end_status"] == "completed"
    lengths = sim.patients.loc[completed, "n_sessions"]
    assert lengths.between(SMALL.min_planned, SMALL.max_sessions).all()
    assert lengths.nunique() == SMALL.max_sessions - SMALL.min_planned + 1
    np.testing.assert_array_equal(lengths, sim.patients.loc[completed, "planned_sessions"])


def test_outcome_columns_are_consistent(runs: dict) -> None:
    p = runs["feedback+cst"].patients
    assert ((p["change_class"] == "deteriorated") == p["deteriorated"]).all()
    assert (p["failure"] == ~p["reliably_improved"]).all()
    assert (p["recovered"] <= p["reliably_improved"]).all()
    assert (p.loc[p["acted"], "first_action_session"] >= 1).all()
    assert (p.loc[p["acted"], "ever_not"]).all()
    assert (p["n_actions"] <= p["n_alerts"]).all()
    targets = p[[c for c in p.columns if c.startswith("target_")]]
    assert targets.columns.tolist() == ["target_crisis", "target_alliance", "target_motivation",
                                        "target_social_support", "target_case_formulation"]
    assert not targets[~p["acted"]].any().any()  # only patients acted on are assessed
    # more than the first failing domain is targeted
    assert (targets.sum(axis=1) >= 2).mean() > 0.2
    assert (p["n_repaired"] <= p["n_ruptures"]).all()
    assert (p["n_withdrawal"] + p["n_confrontation"] == p["n_ruptures"]).all()
    assert (p["n_noticed"] <= p["n_ruptures"]).all()
    for kind in ("withdrawal", "confrontation"):
        assert (p[f"n_resolved_{kind}"] <= p[f"n_{kind}"]).all()


def test_referral_counts_referred_apart_from_dropout(runs: dict) -> None:
    p = runs["referral"].patients
    referred = p["end_status"] == "referred"
    assert referred.sum() > 0
    assert not p.loc[referred, "dropout"].any()
    # referred at the alert that made k off-track sessions, at the last attended session
    assert (p.loc[referred, "n_alerts"] == Referral().after_sessions).all()
    np.testing.assert_array_equal(p.loc[referred, "referred_session"],
                                  p.loc[referred, "n_sessions"] - 1)
    wait = SMALL.follow_up.referral_wait
    np.testing.assert_array_equal(p.loc[referred, "next_treatment_start"],
                                  p.loc[referred, "referred_session"] + 1 + wait)
    assert (p.loc[~referred, "next_treatment_start"] == -1).all()


def test_policy_composition_and_names() -> None:
    assert (Feedback() + AllianceRepair()).name == "feedback+alliance-repair"
    assert combine(AllianceRepair(), ClinicalSupport(), Feedback()).name == \
        "feedback+cst+alliance-repair"
    assert policy_from_name("Feedback+CST").name == "feedback+cst"
    assert TreatmentAsUsual().name == "tau"
    with pytest.raises(ValueError, match="once"):
        Feedback() + Feedback()
    with pytest.raises(ValueError, match="tau"):
        policy_from_name("tau+feedback")


def test_rational_monitor_flags_reliable_worsening() -> None:
    inst = get_instrument("phq9")
    scores = np.array([[10, 12, 16], [10, 12, 15], [20, 25, 26]], dtype=float)
    flags = ReliableWorseningMonitor().flag(2, scores, instrument=inst)
    assert flags.tolist() == [True, False, True]
    better_up = inst.replace(key="wb", higher_is_worse=False)
    assert ReliableWorseningMonitor().flag(2, 27 - scores, instrument=better_up).tolist() == \
        [True, False, True]


def test_expected_recovery_monitor_flags_about_its_percentile() -> None:
    mon = ExpectedRecoveryMonitor(percentile=0.8, n_reference=20_000).bind(SMALL)
    tau = simulate(SMALL, "tau", seed=11, monitor=mon)
    alerts = tau.sessions[tau.sessions["session"] >= 1]["alert"]
    # the boundary leaves 20% of reference patients above it at each session; a fresh
    # sample of ~40,000 sessions should be within a few points of that
    assert 0.15 < alerts.mean() < 0.25
    # a stricter percentile flags fewer patients
    strict = simulate(SMALL, "tau", seed=11, monitor=ExpectedRecoveryMonitor(percentile=0.95))
    assert strict.patients["ever_not"].mean() < tau.patients["ever_not"].mean()


def test_monitor_protocol_accepts_a_custom_monitor() -> None:
    class Never:
        def bind(self, config: ClinicConfig) -> Never:
            return self

        def flag(self, session: int, scores: np.ndarray, *, instrument: object) -> np.ndarray:
            return np.zeros(len(scores), bool)

    sim = simulate(SMALL, Feedback(monitor=Never()), seed=1, keep_sessions=False)
    assert not sim.patients["ever_not"].any() and not sim.patients["acted"].any()


def test_sudden_gains_and_good_enough_ending() -> None:
    cfg = SMALL.replace(course=CourseConfig(p_sudden_gain=1 / 3), good_enough=True)
    p = simulate(cfg, seed=4, keep_sessions=False).patients
    assert 0.15 < p["sudden_gain"].mean() < 0.34
    early = (p["end_status"] == "completed") & (p["n_sessions"] < p["planned_sessions"])
    assert early.sum() > 0
    assert (p.loc[early, "final"] < 10).all()


def test_chunking_keeps_memory_bounded_and_results_valid() -> None:
    sim = simulate(SMALL, "feedback", seed=9, chunk_size=700, keep_sessions=False)
    assert len(sim.patients) == SMALL.n_patients
    assert sim.patients["patient"].is_monotonic_increasing
    assert sim.n_variates > SMALL.n_patients * SMALL.max_sessions * 8


def test_policy_directions_on_a_moderate_run(runs: dict) -> None:
    not_det = {k: runs[k].patients.query("ever_not")["deteriorated"].mean()
               for k in ("tau", "feedback", "feedback+cst")}
    assert not_det["feedback+cst"] < not_det["feedback"] < not_det["tau"]
    assert runs["alliance-repair"].patients["dropout"].mean() < \
        runs["tau"].patients["dropout"].mean()


def test_simulate_chunks_streams_the_same_run() -> None:
    from simulations.clinic.simulate import simulate_chunks

    whole = simulate(SMALL, "feedback+cst", seed=12, chunk_size=1_000)
    chunks = list(simulate_chunks(SMALL, "feedback+cst", seed=12, chunk_size=1_000))
    assert len(chunks) == 3
    pd.testing.assert_frame_equal(pd.concat([c.patients for c in chunks], ignore_index=True),
                                  whole.patients)
    observed = pd.concat([c.observed().frame.drop(columns="source_row") for c in chunks],
                         ignore_index=True)
    expected = whole.data.frame.drop(columns="source_row")
    pd.testing.assert_frame_equal(observed, expected)
