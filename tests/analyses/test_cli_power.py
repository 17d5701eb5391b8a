"""`setback power`: analytic answers, simulated points, refusals before any work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analyses.cli import main
from simulations.power import TrialDesign, analytic_power, analytic_sample_size


def test_analytic_report_and_sample_sizes(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "power"
    assert main(["power", "--cohend", "-0.5", "--therapists", "4:12:4", "--patients", "5,10",
                 "--assurance-sd", "0.2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    table = pd.read_csv(out / "tables" / "analytic_power.csv")
    assert len(table) == 3 * 2 and {"power", "assurance", "se", "df"} <= set(table.columns)
    row = table.query("n_therapists == 8 and patients_per_therapist == 10").iloc[0]
    design = TrialDesign(n_therapists=8, patients_per_therapist=10, cohend=-0.5)
    assert row["power"] == pytest.approx(analytic_power(design))
    need = analytic_sample_size(design, "n_therapists", range(2, 49), 0.8)
    assert f"10 patients per therapist: {need} therapists per arm reach 80% power" in text
    assert (out / "figures" / "power_curve.png").is_file()


def test_simulated_points_are_in_the_report(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    assert main(["power", "--cohend", "-0.8", "--therapists", "4,6", "--patients", "4",
                 "--sessions", "5", "--simulate", "20", "--methods", "summary,ols",
                 "--workers", "1", "--quiet", "--out", str(out)]) == 0
    sim = pd.read_csv(out / "tables" / "simulated_power.csv")
    assert sorted(sim["method"].unique()) == ["ols", "summary"]
    assert (sim["n_ok"] == 20).all() and sim["value"].between(0, 1).all()


@pytest.mark.parametrize(("argv", "message"), [
    (["--cohend", "-0.5", "--slope-diff", "1"], "not allowed with argument"),
    (["--cohend", "-0.5", "--methods", "lme4"], "unknown method 'lme4'"),
    (["--cohend", "-0.5", "--dropout", "1"], "--dropout: must be a finite number in [0, 1)"),
    (["--cohend", "-0.5", "--therapists", "a,b"], "must be integers like 4,8,12"),
])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, capsys, argv: list[str],  # noqa: ANN001
                                          message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["power", *argv, "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
