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
    (["compare-policies", "--policies", ","], "--policies: must name at least one policy"),
    (["simulate", "--patients", "0"],
     "argument --patients: must be an integer in [1, 100000000], got 0"),
    (["simulate", "--seed", "-1"], "argument --seed: must be an integer in [0, "),
    (["simulate", "--max-sessions", "1"], "argument --max-sessions: must be an integer in [2, "),
    (["compare-policies", "--therapists", "0"], "argument --therapists: must be an integer"),
])
def test_bad_values_stop_before_simulating(tmp_path, capsys, cli, argv, message) -> None:  # noqa: ANN001
    out = tmp_path / "never"
    assert cli([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one line, no usage block
    assert not out.exists()


def _run_lines(out) -> list[str]:  # noqa: ANN001
    return [f"{p.relative_to(out)}" for p in sorted(out.rglob("*"))]


def test_simulate_refuses_a_folder_it_did_not_write(tmp_path, capsys, cli) -> None:  # noqa: ANN001
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    assert cli(["simulate", "--patients", "50", "--out", str(out), "--quiet"]) == 2
    assert "is not empty (thesis.docx) and is not the output of `setback simulate`" in \
        capsys.readouterr().err
    assert _run_lines(out) == ["thesis.docx"]
    assert cli(["simulate", "--patients", "50", "--out", str(out), "--quiet",
                "--overwrite"]) == 0
    assert (out / "thesis.docx").read_text() == "years of work"
    assert (out / "summary.json").exists()
    # now it is this command's folder: no --overwrite needed, the user's file still kept
    assert cli(["simulate", "--patients", "50", "--seed", "3", "--out", str(out),
                "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 3
    assert (out / "thesis.docx").read_text() == "years of work"
    # another command's folder is refused even with --overwrite
    assert cli(["compare-policies", "--patients", "50", "--out", str(out), "--quiet",
                "--overwrite"]) == 2
    assert "holds the output of `setback simulate`" in capsys.readouterr().err


def _complete_run(out) -> int:  # noqa: ANN001
    """The seed of the complete run in ``out`` (sessions, patients and summary agree)."""
    summary = json.loads((out / "summary.json").read_text())
    patients = pd.read_parquet(out / "patients.parquet")
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert summary["n_patients"] == len(patients) == sessions["patient"].nunique()
    rates = pd.DataFrame(summary["rates"]).set_index(["subgroup", "outcome"])
    assert rates.loc[("all", "dropout"), "rate"] == pytest.approx(patients["dropout"].mean())
    assert sorted(p.name for p in out.iterdir()) == [".setback-output.json", "meta.json",
                                                     "patients.parquet", "sessions.parquet",
                                                     "summary.json"]
    assert json.loads((out / "meta.json").read_text())["seed"] == summary["seed"]
    return summary["seed"]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_killed_simulate_leaves_the_complete_old_run(tmp_path, cli, how) -> None:  # noqa: ANN001
    # Issue 12, finding 3: killed mid-write into a folder with an earlier run, simulate
    # left an unreadable sessions.parquet beside the old patients and summary (and after
    # Ctrl-C a new sessions file beside an old summary). Now the new run is written into a
    # temporary folder beside DIR, so DIR holds the complete old run until the new one is
    # complete. The kill comes once the new run has started writing sessions.
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sim"
    assert cli(["simulate", "--patients", "300", "--seed", "1", "--out", str(out),
                "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    run = subprocess.Popen([sys.executable, "-m", "analyses", "simulate", "--patients",
                            "1000000", "--seed", "2", "--out", str(out), "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            p.stat().st_size > 0 for p in tmp_path.glob(".sim.setback-tmp-*/sessions.parquet")):
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be killed"
    run.send_signal(getattr(signal, how))
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0
    assert _complete_run(out) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    if how == "SIGINT":  # Ctrl-C: a clean message and no temporary folder left behind
        assert b"interrupted" in err and b"Traceback" not in err
        assert list(tmp_path.glob(".sim.setback-tmp-*")) == []
    # a later run replaces the old one completely
    assert cli(["simulate", "--patients", "200", "--seed", "4", "--out", str(out),
                "--quiet"]) == 0
    assert _complete_run(out) == 4
    assert list(tmp_path.glob(".sim.setback-tmp-*")) == []  # the killed run's too


def test_compare_policies_with_one_therapist_has_no_zero_width_interval(tmp_path, capsys,  # noqa: ANN001
                                                                          cli) -> None:
    # Issue 12, finding 4: `setback simulate --patients 60` printed 3.3% [3.3%, 3.3%]
    # (the default of 1 therapist below 135 patients, and a cluster-robust SE of 0), and
    # compare-policies --therapists 1 differences with zero-width intervals
    assert cli(["simulate", "--patients", "60", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "60 patients of 1 therapist" in printed and "95% Wilson CI" in printed
    assert "note: only 1 therapist: cluster-robust intervals need at least 20" in printed
    rates = pd.DataFrame(json.loads((tmp_path / "s" / "summary.json").read_text())["rates"])
    assert (rates["ci_high"] > rates["ci_low"]).all()
    assert (rates["interval"] == "independent").all()
    out = tmp_path / "c"
    assert cli(["compare-policies", "--patients", "400", "--therapists", "1", "--policies",
                "tau,feedback+cst", "--out", str(out), "--quiet"]) == 0
    assert "note: only 1 therapist" in capsys.readouterr().out
    table = pd.read_csv(out / "comparison.csv")
    assert (table["ci_high"] > table["ci_low"]).all()
    other = table[table["policy"] != "tau"]
    changed = other["diff_vs_tau"] != 0
    assert changed.any() and (other.loc[changed, "diff_ci_high"]
                              > other.loc[changed, "diff_ci_low"]).all()
