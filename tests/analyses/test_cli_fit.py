"""`setback fit`: Beat the Blues (two-level) and a simulated three-level file."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def test_fit_beat_the_blues_csv(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    out = tmp_path / "out"
    # 200 draws: the ESS floor warning is expected, printed once (no Python warning)
    code = main(["fit", str(path), "--instrument", "bdi2", "--covariates", "treatment",
                 "--rci", "8.46", "--out", str(out), *SMALL])
    assert code == 0
    captured = capsys.readouterr()
    assert "therapist_effects.csv not written" in captured.out
    assert captured.err.count("may be unreliable") == 1
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


def test_fit_three_level_file(tmp_path, capsys) -> None:  # noqa: ANN001
    df = _three_level(8, 6, 8, seed=11)
    path = tmp_path / "clinic.csv"
    df.rename(columns={"score": "phq"}).to_csv(path, index=False)
    out = tmp_path / "out3"
    # the structure of the session-scoped small fit: its compiled model is reused
    code = main(["fit", str(path), "--score", "phq", "--therapist-effects", "intercept",
                 "--rci", "6", "--out", str(out), *SMALL])
    assert code == 0
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
