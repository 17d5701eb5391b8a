"""`setback simulate` and `setback compare-policies`: files, printed summary, clean failures."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analyses.cli import main
from trajectories.data import TherapyData


def test_simulate_writes_three_files_and_prints_summary(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "sim"
    assert main(["simulate", "--patients", "400", "--therapists", "8", "--policy",
                 "feedback+alliance-repair", "--seed", "5", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "policy feedback+alliance-repair: 400 patients" in printed
    assert "deteriorated" in printed and "dropout" in printed
    sessions = pd.read_parquet(out / "sessions.parquet")
    patients = pd.read_parquet(out / "patients.parquet")
    summary = json.loads((out / "summary.json").read_text())
    # the observed file is valid long data on its own
    data = TherapyData.from_frame(sessions, patient="patient", therapist="therapist",
                                  session="session", score="score", alliance="alliance",
                                  end_status="end_status", instrument="phq9")
    assert data.n_patients == 400 == len(patients)
    assert "latent_score" not in sessions.columns  # the hidden truth stays out of it
    assert {"latent_intake", "trajectory_class", "failure"} <= set(patients.columns)
    assert summary["policy"] == "feedback+alliance-repair" and summary["seed"] == 5
    rates = pd.DataFrame(summary["rates"])
    row = rates[(rates["subgroup"] == "all") & (rates["outcome"] == "dropout")].iloc[0]
    assert row["rate"] == pytest.approx(patients["dropout"].mean())
    assert row["ci_low"] <= row["rate"] <= row["ci_high"]


def test_simulate_same_seed_same_files(tmp_path) -> None:  # noqa: ANN001
    for name in ("a", "b"):
        assert main(["simulate", "--patients", "200", "--seed", "9", "--out",
                     str(tmp_path / name), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "patients.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "patients.parquet"))


def test_compare_policies_writes_csv(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "cmp"
    assert main(["compare-policies", "--patients", "600", "--seed", "2", "--policies",
                 "tau,feedback,referral", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert table.columns.tolist()[:9] == ["policy", "subgroup", "outcome", "rate", "ci_low",
                                          "ci_high", "diff_vs_tau", "diff_ci_low",
                                          "diff_ci_high"]
    assert table["policy"].unique().tolist() == ["tau", "feedback", "referral"]
    assert set(table["subgroup"]) == {"all", "NOT"}
    assert "diff_vs_tau" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["simulate", "--policy", "telepathy"], "policy: unknown part 'telepathy'"),
    (["simulate", "--patients", "10", "--therapists", "20"],
     "n_therapists must be in [1, n_patients=10]"),
    (["compare-policies", "--policies", "tau,bogus"], "unknown part 'bogus'"),
    (["compare-policies", "--policies", ","], "--policies must name at least one policy"),
])
def test_bad_values_stop_before_simulating(tmp_path, capsys, argv, message) -> None:  # noqa: ANN001
    out = tmp_path / "never"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_out_of_range_option_is_an_argparse_error(tmp_path, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--patients", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "--patients must be in [1, 100000000], got 0" in capsys.readouterr().err
