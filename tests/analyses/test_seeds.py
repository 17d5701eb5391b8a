"""Seeds are always recorded and reproduce the numbers (issue 17, item 2).

Every command that draws writes the seed it used into ``meta.json`` (a study: into its
``manifest.json``); without ``--seed`` one is drawn and printed. Running again with that
seed gives the same files. ``setback fit`` and ``setback analyze`` apply one
reliable-change rule, so they write the same deterioration-risk table (issue 11).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from trajectories.datasets import load_beat_the_blues
from trajectories.fit import GrowthFit

SMALL = ["--draws", "100", "--tune", "100", "--quiet"]


@pytest.fixture(scope="module")
def btb_csv(tmp_path_factory) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("btb") / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    return path


def _meta_seed(folder: Path, name: str = "meta.json") -> int:
    seed = json.loads((folder / name).read_text())["seed"]
    assert isinstance(seed, int)
    return seed


def _run(cli, argv: list[str]) -> None:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: convergence warnings are expected
        assert cli(argv) == 0


def test_fit_and_analyze_draw_record_and_reproduce(tmp_path, capsys, cli, btb_csv) -> None:  # noqa: ANN001
    first = tmp_path / "fit1"
    _run(cli, ["fit", str(btb_csv), "--instrument", "bdi2", "--out", str(first), *SMALL])
    printed = capsys.readouterr().out
    seed = _meta_seed(first)
    assert f"seed {seed} (drawn; pass --seed {seed} to reproduce these numbers)" in printed
    assert GrowthFit.load(str(first / "fit.nc")).settings.seed == seed
    again = tmp_path / "fit2"
    _run(cli, ["fit", str(btb_csv), "--instrument", "bdi2", "--seed", str(seed), "--out",
               str(again), *SMALL])
    for name in ("summary.csv", "expected_change.csv", "deterioration_risk.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(first / name), pd.read_csv(again / name))

    # `setback analyze` with the same data, instrument and seed: the same tables, and the
    # same deterioration risk as `setback fit` (one RCI rule: BDI-II has no published RCI,
    # so both use Jacobson-Truax from its reliability and the sample's intake SD)
    analysis = tmp_path / "analysis"
    _run(cli, ["analyze", str(btb_csv), "--instrument", "bdi2", "--seed", str(seed),
               "--out", str(analysis), *SMALL])
    assert _meta_seed(analysis) == seed
    risk_fit = pd.read_csv(again / "deterioration_risk.csv")
    pd.testing.assert_frame_equal(risk_fit, pd.read_csv(analysis / "deterioration_risk.csv"))
    pd.testing.assert_frame_equal(risk_fit,
                                  pd.read_csv(analysis / "tables" / "deterioration_risk.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(again / "summary.csv"),
                                  pd.read_csv(analysis / "tables" / "parameters.csv"))
    page = (analysis / "report.html").read_text()
    assert f"seed {seed}" in page and "Jacobson" in page

    # analyze without --seed draws one, prints it and stores it
    drawn = tmp_path / "drawn"
    _run(cli, ["analyze", str(btb_csv), "--instrument", "bdi2", "--out", str(drawn), *SMALL])
    seed2 = _meta_seed(drawn)
    assert re.search(rf"seed {seed2} \(drawn; pass --seed {seed2}", capsys.readouterr().out)


@pytest.mark.parametrize("command", ["simulate", "compare-policies"])
def test_simulations_record_their_seed(tmp_path, cli, command) -> None:  # noqa: ANN001
    argv = [command, "--patients", "300", "--therapists", "6", "--quiet"]
    _run(cli, [*argv, "--out", str(tmp_path / "a")])  # the default seed, recorded
    seed = _meta_seed(tmp_path / "a")
    _run(cli, [*argv, "--seed", str(seed), "--out", str(tmp_path / "b")])
    name = "patients.parquet" if command == "simulate" else "comparison.csv"
    read = pd.read_parquet if name.endswith("parquet") else pd.read_csv
    pd.testing.assert_frame_equal(read(tmp_path / "a" / name), read(tmp_path / "b" / name))
    _run(cli, [*argv, "--seed", str(seed + 1), "--out", str(tmp_path / "c")])
    assert not read(tmp_path / "a" / name).equals(read(tmp_path / "c" / name))


def test_study_records_its_seed(tmp_path, cli) -> None:  # noqa: ANN001
    toml = tmp_path / "study.toml"
    toml.write_text('[study]\ntask = "t_interval"\n[design]\nreplications = 20\nseed = 31\n'
                    '[design.factors]\nn = [5, 20]\n')
    for out in ("a", "b"):
        _run(cli, ["study", "run", str(toml), "--out", str(tmp_path / out), "--workers", "1",
                   "--quiet"])
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["design"]["seed"] == 31
    from simulations.study.run import load_results
    from simulations.study.store import ParquetStore

    a, b = (load_results(ParquetStore(tmp_path / x)).frame for x in "ab")
    cols = [c for c in a.columns if c not in ("seconds", "started", "finished")]
    pd.testing.assert_frame_equal(a[cols], b[cols])
