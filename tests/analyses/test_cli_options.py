"""Every option of every subcommand is range-checked by argparse, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "analyses" / "configs"


@pytest.mark.parametrize(("argv", "message"), [
    (["describe", "x.csv", "--instrument", "phq99"], "argument --instrument: Unknown"),
    (["analyze", "x.csv", "--draws", "0", "--out", "o"], "argument --draws: must be an integer"),
    (["analyze", "x.csv", "--seed", "-1", "--out", "o"], "argument --seed: must be an integer"),
    (["study", "run", "x.toml", "--out", "o"], "argument STUDY.toml: x.toml: no such file"),
    (["study", "run", str(CONFIGS / "study_t_interval.toml"), "--out", "o", "--workers", "0"],
     "argument --workers: must be an integer in [1, 1024], got 0"),
    (["study", "summarize", "d", "--alpha", "2"],
     "argument --alpha: must be a finite number in (0, 1), got 2"),
    (["study", "summarize", "d", "--alpha", "nan"], "argument --alpha: must be a finite number"),
    (["study", "summarize", "d", "--alpha", "0"], "argument --alpha: must be a finite number"),
    (["study", "summarize", "d", "--target-mcse", "0"],
     "argument --target-mcse: MCSE target '0' must be a positive number"),
    (["study", "summarize", "d", "--metrics", "coverage,speed"],
     "argument --metrics: unknown metric 'speed'"),
    (["demo", "--patients", "10"], "argument --patients: must be an integer in [50, "),
    (["demo", "--seed", "-2"], "argument --seed: must be an integer in [0, "),
])
def test_out_of_range_options_exit_2_before_any_work(tmp_path, capsys, cli, argv,  # noqa: ANN001
                                                     message, monkeypatch) -> None:
    # Issue 12, finding 6 (`study summarize --alpha 2` reported rejection 1 everywhere,
    # `--alpha nan` 0): every option is checked by argparse, so the command stops with one
    # line before it reads any file (none of the files named here exists)
    monkeypatch.chdir(tmp_path)
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
