"""`setback fit`: Beat the Blues (two-level) and a simulated three-level file."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.cli import main
from trajectories.datasets import load_beat_the_blues
from trajectories.fit import GrowthFit


def _three_level(n_therapists: int, per_therapist: int, n_sessions: int,
                 seed: int) -> pd.DataFrame:
    """Log-time growth data, as tests/trajectories/conftest.py simulates them."""
    rng = np.random.default_rng(seed)
    n = n_therapists * per_therapist
    ther = np.repeat(np.arange(n_therapists), per_therapist)
    u = rng.normal(size=(n_therapists, 2)) * (1.5, 0.5)
    cov = np.array([[25.0, -2.25], [-2.25, 2.25]])
    v = rng.multivariate_normal([0.0, 0.0], cov, size=n)
    sessions = rng.integers(2, n_sessions + 1, size=n)
    rows = []
    for i in range(n):
        s = np.arange(sessions[i])
        mu = 20 + u[ther[i], 0] + v[i, 0] + (-3 + u[ther[i], 1] + v[i, 1]) * np.log1p(s)
        rows.append(pd.DataFrame({"therapist": f"T{ther[i]:02d}", "patient": f"P{i:03d}",
                                  "session": s, "score": mu + rng.normal(0, 3, s.size)}))
    return pd.concat(rows, ignore_index=True)


SMALL = ["--draws", "200", "--tune", "300", "--chains", "2", "--seed", "4", "--quiet"]


@pytest.fixture(scope="module")
def three_level(tmp_path_factory) -> tuple[pd.DataFrame, Path]:  # noqa: ANN001
    """A three-level file fitted once: the data and the fit folder."""
    df = _three_level(8, 6, 8, seed=11)
    tmp = tmp_path_factory.mktemp("three")
    path = tmp / "clinic.csv"
    df.rename(columns={"score": "phq"}).to_csv(path, index=False)
    out = tmp / "out3"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run may warn about ESS; values are checked
        code = main(["fit", str(path), "--score", "phq", "--therapist-effects", "intercept",
                     "--rci", "6", "--out", str(out), *SMALL])
    assert code == 0
    return df, out


def test_fit_beat_the_blues_csv_into_an_old_fit_folder(tmp_path, capsys,  # noqa: ANN001
                                                       three_level) -> None:  # noqa: ANN001
    path = tmp_path / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    # Issue 12, finding 3: refitting into an old fit folder kept the previous fit's
    # therapist_effects.csv while printing "not written"; now the whole fit is replaced
    out = tmp_path / "out"
    shutil.copytree(three_level[1], out)
    assert (out / "therapist_effects.csv").exists()
    code = main(["fit", str(path), "--instrument", "bdi2", "--covariates", "treatment",
                 "--rci", "8.46", "--out", str(out), *SMALL])
    assert code == 0
    captured = capsys.readouterr()
    assert "therapist_effects.csv not written" in captured.out
    # a failed convergence check is printed once, in words (no Python warning besides)
    assert captured.err.count("may be unreliable") <= 1
    assert not (out / "therapist_effects.csv").exists()
    assert sorted(p.name for p in out.iterdir()) == [
        ".setback-output.json", "deterioration_risk.csv", "expected_change.csv", "fit.nc",
        "meta.json", "summary.csv"]
    summary = pd.read_csv(out / "summary.csv")
    assert {"intercept", "slope", "patient_intercept_sd", "patient_slope_sd",
            "residual_sd", "covariate_effect[treatment[TAU]]"} <= set(summary["parameter"])
    slope = summary.set_index("parameter").loc["slope", "mean"]
    assert -8 < slope < -2  # BDI falls over the trial months (MixedLM: -5.0)
    risk = pd.read_csv(out / "deterioration_risk.csv")
    assert len(risk) == 100 and risk["p_deteriorated"].between(0, 1).all()
    assert set(pd.read_csv(out / "expected_change.csv")["level"]) == {"population"}
    back = GrowthFit.load(str(out / "fit.nc"))
    assert back.data.n_patients == 100 and back.data.instrument.key == "bdi2"


def test_fit_three_level_file(three_level) -> None:  # noqa: ANN001
    df, out = three_level
    te = pd.read_csv(out / "therapist_effects.csv")
    assert set(te["therapist"].dropna()) == set(df["therapist"])
    assert np.isclose(te.query("quantity == 'p_better_than_average'")["mean"].between(0, 1)
                      .mean(), 1.0)
    levels = set(pd.read_csv(out / "expected_change.csv")["level"])
    assert levels == {"population", "therapist"}


def test_bad_data_fail_before_sampling(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "bad.csv"
    pd.DataFrame({"patient": [1, 1], "session": [0, 1], "score": [3.0, 4.0]}).to_csv(
        path, index=False)
    assert main(["fit", str(path), "--covariates", "arm", "--out", str(tmp_path / "o")]) == 2
    assert "column 'arm'" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "message"), [
    (["--at-session", "-5"], "argument --at-session: must be a finite number in [0, 10000], "
                             "got -5"),
    (["--at-session", "nan"], "argument --at-session: must be a finite number"),
    (["--rci", "-2"], "argument --rci: must be a finite number > 0, got -2"),
    (["--rci", "0"], "argument --rci: must be a finite number > 0, got 0"),
    (["--draws", "0"], "argument --draws: must be an integer in [1, 1000000], got 0"),
    (["--tune", "-1"], "argument --tune: must be an integer in [0, 1000000], got -1"),
    (["--chains", "0"], "argument --chains: must be an integer in [1, 64], got 0"),
    (["--seed", "-3"], "argument --seed: must be an integer in [0, "),
    (["--seed", "1.5"], "argument --seed: must be an integer, got '1.5'"),
    (["--breakpoint", "0"], "argument --breakpoint: must be a finite number in (0, 10000]"),
    (["--instrument", "phq99"], "argument --instrument: Unknown instrument 'phq99'; known"),
])
def test_out_of_range_options_exit_2_before_reading_the_file(tmp_path, capsys, cli,  # noqa: ANN001
                                                             option, message) -> None:  # noqa: ANN001
    # Issue 12, finding 6: `setback fit --at-session -5` fitted and wrote tables of NaN;
    # --rci -2 was accepted. The FILE does not exist: an error about the option, not the
    # file, shows the option is checked before any work.
    out = tmp_path / "o"
    assert cli(["fit", str(tmp_path / "no-such.csv"), *option, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
