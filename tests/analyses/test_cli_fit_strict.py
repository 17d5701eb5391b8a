"""Failures say so: a non-converged fit is reported once; ``--strict`` makes it an error."""

from __future__ import annotations

import warnings

import pytest

from analyses.cli import main
from trajectories.datasets import load_beat_the_blues

# 20 draws after 20 tuning steps cannot pass R-hat <= 1.01 and 100 effective draws per
# chain: the fit is certain to fail its checks (that is what these tests need).
_SHORT = ["--draws", "20", "--tune", "20", "--seed", "3", "--covariates", "treatment"]


@pytest.fixture(scope="module")
def btb(tmp_path_factory) -> str:  # noqa: ANN001
    path = tmp_path_factory.mktemp("btb") / "btb.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("dropout", ["none", "joint"])
def test_non_converged_fit_is_reported_once_and_exits_zero(btb: str, dropout: str, tmp_path,
                                                           capsys) -> None:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Python warning may escape
        code = main(["fit", btb, "--dropout", dropout, *_SHORT, "--out", str(tmp_path)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0
    assert text.count("may be unreliable") == 1
    assert "setback fit: warning: The " in out.err
    assert ("joint growth-dropout model fit" in text) == (dropout == "joint")
    assert "sampled in 0.0 s" not in text and "sampled in " in text
    assert (tmp_path / "summary.csv").exists()  # tables are written all the same


def test_strict_makes_a_non_converged_fit_an_error(btb: str, tmp_path, capsys) -> None:  # noqa: ANN001
    code = main(["fit", btb, "--dropout", "joint", "--strict", "--quiet", *_SHORT,
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("may be unreliable") == 1
    assert err.startswith("setback fit: error (--strict): The joint growth-dropout model")


def test_a_sampler_failure_is_one_line_and_exit_one(btb: str, tmp_path, capsys,
                                                    monkeypatch) -> None:  # noqa: ANN001
    import analyses.pipelines.fit as pipeline

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("nutpie: all initial points had a non-finite log density")

    monkeypatch.setattr(pipeline, "fit_growth", broken)
    code = main(["fit", btb, "--quiet", *_SHORT, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        "setback fit: the fit failed: nutpie: all initial points had a non-finite log density"]
