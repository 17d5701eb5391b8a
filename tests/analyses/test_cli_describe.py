"""`setback describe` and `setback --version`: readable output, clean failures."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from analyses.cli import main
from trajectories.datasets import load_beat_the_blues


@pytest.fixture
def btb_csv(tmp_path):  # noqa: ANN001, ANN201
    path = tmp_path / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    return path


def test_describe_bundled_data_exported_to_csv(btb_csv, capsys) -> None:  # noqa: ANN001
    assert main(["describe", str(btb_csv), "--instrument", "bdi2",
                 "--covariates", "treatment"]) == 0
    out = capsys.readouterr().out
    assert "patients:              100" in out
    assert "observations:          380" in out
    assert "dropout 48.0%" in out
    assert "recovered" in out and "deteriorated" in out


def test_describe_broken_file_fails_cleanly(tmp_path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"patient": [1, 1, 2], "session": [0, 0, 0], "score": [3, 4, 5]}).to_csv(
        bad, index=False)
    assert main(["describe", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "column 'session'" in err and "patient='1'" in err and "Traceback" not in err


def test_describe_missing_column_and_missing_file(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "d.csv"
    pd.DataFrame({"id": [1], "session": [0], "score": [3]}).to_csv(path, index=False)
    assert main(["describe", str(path)]) == 2
    assert "column 'patient': required column is missing" in capsys.readouterr().err
    assert main(["describe", str(tmp_path / "none.csv")]) == 2


def test_console_script_version_and_exit_code(btb_csv) -> None:  # noqa: ANN001
    out = subprocess.run([sys.executable, "-m", "analyses", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("setback ")
    bad = subprocess.run([sys.executable, "-m", "analyses", "describe", str(btb_csv),
                          "--instrument", "phq9"], capture_output=True, text=True)
    assert bad.returncode == 2  # BDI scores above 27 are out of the PHQ-9 range
    assert "PHQ-9 range" in bad.stderr and "Traceback" not in bad.stderr


def test_csv_ids_are_read_as_written(tmp_path, capsys) -> None:  # noqa: ANN001
    # Issue 12, finding 5: ids 10 and 10.0, 007 and 7 were merged by the CLI's CSV reader
    path = tmp_path / "ids.csv"
    path.write_text("patient,session,score\n007,0,10\n7,0,12\n10,0,8\n10.0,0,14\n"
                    "007,1,9\n7,1,11\n10,1,8\n10.0,1,13\n")
    assert main(["describe", str(path)]) == 0
    assert "patients:              4" in capsys.readouterr().out
