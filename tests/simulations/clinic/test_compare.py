"""Paired policy comparison."""

from __future__ import annotations

import numpy as np

from simulations import ClinicConfig, compare_policies
from simulations.clinic.compare import COLUMNS


def test_compare_policies_table_and_paired_intervals() -> None:
    cfg = ClinicConfig(n_patients=20_000, n_therapists=220)
    table = compare_policies(cfg, ["feedback", "feedback+cst", "alliance-repair"], seed=3)
    assert table.columns.tolist() == COLUMNS
    assert table["policy"].unique().tolist() == ["tau", "feedback", "feedback+cst",
                                                 "alliance-repair"]
    tau = table[table["policy"] == "tau"]
    assert (tau["diff_vs_tau"] == 0).all()
    row = table.set_index(["policy", "subgroup", "outcome"])
    # paired differences are more precise than the rates themselves (common random numbers)
    fb = row.loc[("feedback", "all", "deteriorated")]
    assert fb["diff_ci_high"] - fb["diff_ci_low"] < fb["ci_high"] - fb["ci_low"]
    # the directions the issue asks for, with intervals excluding zero at 20,000 patients
    assert row.loc[("feedback", "NOT", "deteriorated"), "diff_ci_high"] < 0
    cst = row.loc[("feedback+cst", "NOT", "deteriorated"), "rate"]
    assert cst < row.loc[("feedback", "NOT", "deteriorated"), "rate"]
    assert row.loc[("alliance-repair", "all", "dropout"), "diff_ci_high"] < 0
    assert np.all(table["ci_low"] <= table["rate"]) and np.all(table["rate"] <= table["ci_high"])


def test_compare_rejects_duplicates() -> None:
    import pytest

    with pytest.raises(ValueError, match="once"):
        compare_policies(ClinicConfig(n_patients=100, n_therapists=5), ["feedback", "feedback"],
                         seed=1)
