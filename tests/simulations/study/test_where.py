"""The design's `where` filter: a grammar of its own, never Python (issue 12, finding 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analyses.cli import main
from simulations.study.design import StudyDesign
from simulations.study.store import NotAStudyError, ParquetStore
from simulations.study.where import MAX_LENGTH, parse_where

FACTORS = {"policy": ["none", "feedback", "feedback+cst"], "n": [20, 80, 200],
           "p": [0.25, 0.5], "flag": [True, False]}

#: Strings that reached the operating system through DataFrame.query(engine="python").
EXPLOITS = [
    "(n > 0) & (@pd.io.common.os.system('id > PWNED') == 0)",
    "@pd.io.common.os.system('touch PWNED') == 0",
    "n > 0 and __import__('os').system('touch PWNED') == 0",
    "(n > 0) and (open('PWNED', 'w') is not None)",
    "n.__class__.__base__.__subclasses__()",
    "(lambda: __import__('os').system('touch PWNED'))() == 0",
    "n > 0 or `x`.y",
]


@pytest.mark.parametrize("where", EXPLOITS)
def test_exploit_strings_are_refused_and_run_nothing(where: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is not a valid filter"):
        StudyDesign({"n": [1, 2]}, replications=1, seed=1, where=where)
    assert not (tmp_path / "PWNED").exists()


def _study_folder(tmp_path: Path, where: str) -> Path:
    """A results folder someone sent: a manifest whose design carries ``where``."""
    out = tmp_path / "sent"
    toml = tmp_path / "s.toml"
    toml.write_text('[study]\ntask = "t_interval"\n[design]\nreplications = 2\nseed = 1\n'
                    '[design.factors]\nn = [5, 10]\ndist = ["normal"]\n')
    assert main(["study", "run", str(toml), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["design"]["where"] = where
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("where", EXPLOITS[:3])
def test_a_results_folder_cannot_run_code(where: str, tmp_path: Path, capsys,  # noqa: ANN001
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = _study_folder(tmp_path, where)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    with pytest.raises(NotAStudyError, match="recorded design is invalid"):
        ParquetStore(out).design()
    for argv in (["study", "status", str(out)], ["study", "summarize", str(out)],
                 ["report", str(out), "--out", str(tmp_path / "rep")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "recorded design is invalid" in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists() and not (out / "PWNED").exists()
    assert not (tmp_path / "rep").exists()


def test_a_study_file_cannot_run_code(tmp_path: Path, capsys,  # noqa: ANN001
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "s.toml"
    toml.write_text('[study]\ntask = "t_interval"\n[design]\nreplications = 2\nseed = 1\n'
                    f'where = "{EXPLOITS[0]}"\n[design.factors]\nn = [5, 10]\n')
    assert main(["study", "run", str(toml), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "unexpected character '&' at position 8" in capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o").exists()


def _kept(where: str) -> list[int]:
    return StudyDesign(FACTORS, replications=1, seed=0, where=where).conditions()[
        "condition_id"].tolist()


@pytest.mark.parametrize(("where", "pandas_query"), [
    ("n > 20", "n > 20"),
    ("not (policy == 'none' and n >= 80)", "not (policy == 'none' and n >= 80)"),
    ("policy in ['feedback', 'none'] or p == 0.5", "policy in ['feedback', 'none'] or p == 0.5"),
    ("policy not in ('none',) and flag", "policy not in ('none',) and flag"),
    ("20 < n <= 200 and not flag", "20 < n <= 200 and not flag"),
    ("n != 80 and p > -1e3", "n != 80 and p > -1e3"),
    ('policy == "feedback+cst" or flag == False', 'policy == "feedback+cst" or flag == False'),
    ("(n == 20 or n == 200)\n  and (p < 0.3)", "(n == 20 or n == 200) and (p < 0.3)"),
])
def test_filters_keep_what_pandas_keeps(where: str, pandas_query: str) -> None:
    # an independent implementation on trusted strings: pandas' own query on the grid
    grid = StudyDesign(FACTORS, replications=1, seed=0).conditions()
    expected = grid.query(pandas_query)["condition_id"].tolist()
    assert expected and _kept(where) == expected


def test_the_example_policy_study_filter_keeps_its_conditions() -> None:
    from analyses.settings import load_study

    path = Path(__file__).resolve().parents[3] / "analyses" / "configs" / "study_policy.toml"
    design = load_study(path).design
    grid = StudyDesign(design.factors, replications=1, seed=0).conditions()
    feedback = grid["policy"].isin(["feedback", "feedback+cst", "feedback+referral"])
    keep = (feedback | (grid["p_act"] == 0.75)) & (
        (grid["policy"] == "alliance-repair") | (grid["p_success"] == 0.6))
    assert design.conditions()["condition_id"].tolist() == grid.loc[keep, "condition_id"].tolist()


@pytest.mark.parametrize(("where", "message"), [
    ("m > 3", "unknown name 'm' at position 0; the factors are"),
    ("policy == none", "unknown name 'none'"),
    ("n == '20'", "cannot compare number 20 with text '20'"),
    ("policy > 3", "cannot compare text"),
    ("n", "the filter must be true or false, got number 20"),
    ("n > 3 and p", "each side of 'and' must be true or false"),
    ("flag < True", "booleans can only be compared with == or !="),
    ("(n > 3", "expected ')' at position 6, found the end"),
    ("n > 3)", "unexpected ')' at position 5"),
    ("n in []", "the list after 'in' at position 5 is empty"),
    ("n in n", "expected a list"),
    ("n = 3", "unexpected character '='"),
    ("n > 3 not p", "unexpected 'not' at position 6"),
    ("n not p", "expected 'in' after 'not'"),
    ("", "the filter is empty"),
    ("n > 1e999", "is not finite"),
    ("(" * 150 + "n > 1" + ")" * 150, "nests deeper than 100"),
    ("n > 1 or " * (MAX_LENGTH // 9) + "n > 1", f"at most {MAX_LENGTH}"),
])
def test_bad_filters_are_clear_errors(where: str, message: str) -> None:
    with pytest.raises(ValueError, match="is not a valid filter") as exc:
        StudyDesign(FACTORS, replications=1, seed=0, where=where)
    assert message in str(exc.value)


def test_a_filter_that_keeps_nothing_and_a_non_string_are_refused() -> None:
    with pytest.raises(ValueError, match="keeps no condition"):
        StudyDesign(FACTORS, replications=1, seed=0, where="n > 1000")
    with pytest.raises(ValueError, match="the filter must be text, got int"):
        StudyDesign(FACTORS, replications=1, seed=0, where=3)  # type: ignore[arg-type]


def test_parsed_filter_on_single_conditions() -> None:
    f = parse_where("not flag or n in [20, 80.0]", ["flag", "n"])
    rows = pd.DataFrame({"flag": [True, True, False], "n": [20, 200, 200]}).to_dict("records")
    assert f.mask(rows) == [True, False, True]
