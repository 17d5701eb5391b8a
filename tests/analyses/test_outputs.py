"""Output folders: whose folder, refusal before work, nothing half-written, runs never mix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from analyses.outputs import MARKER, OutputFolder, OutputFolderError, output_kind, write_file
from analyses.report import Report

STUDY = ('[study]\ntask = "t_interval"\n[design]\nreplications = 3\nseed = 1\n'
         '[design.factors]\nn = [5]\ndist = ["normal"]\n')


def _write(folder: OutputFolder, files: dict[str, str]) -> None:
    with folder:
        for name, text in files.items():
            (folder.tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (folder.tmp / name).write_text(text)


def _tree(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != MARKER}


def test_a_new_folder_appears_complete_with_its_marker(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    _write(OutputFolder(out, "report"), {"report.html": "1", "tables/t.csv": "x"})
    assert _tree(out) == {"report.html": "1", "tables/t.csv": "x"}
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "report" and marker["files"] == ["report.html", "tables/t.csv"]
    assert output_kind(out) == "report"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]  # no temporary folder left


def test_a_rerun_replaces_its_files_removes_its_stale_ones_and_keeps_others(
        tmp_path: Path) -> None:
    out = tmp_path / "rep"
    _write(OutputFolder(out, "report"), {"report.html": "old", "tables/a.csv": "old",
                                         "figures/f.png": "old"})
    (out / "notes.txt").write_text("mine")
    (out / "tables" / "mine.csv").write_text("mine")
    _write(OutputFolder(out, "report"), {"report.html": "new", "tables/b.csv": "new"})
    assert _tree(out) == {"notes.txt": "mine", "report.html": "new", "tables/b.csv": "new",
                          "tables/mine.csv": "mine"}
    assert not (out / "figures").exists()  # emptied by removing the stale figure


def test_a_foreign_folder_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary.csv").write_text("my own summary")
    (out / "paper.tex").write_text("mine")
    with pytest.raises(OutputFolderError, match="is not empty \\(paper.tex, summary.csv\\) "
                       "and is not the output of `setback fit`.*--overwrite"):
        OutputFolder(out, "fit")
    # --overwrite: files with the names a fit writes are replaced, others are left alone
    (out / "therapist_effects.csv").write_text("an older fit's")
    _write(OutputFolder(out, "fit", overwrite=True), {"summary.csv": "new", "fit.nc": "new"})
    assert _tree(out) == {"fit.nc": "new", "paper.tex": "mine", "summary.csv": "new"}


def test_another_commands_folder_is_refused_even_with_overwrite(tmp_path: Path, cli,  # noqa: ANN001
                                                                capsys) -> None:  # noqa: ANN001
    fit = tmp_path / "fit"
    _write(OutputFolder(fit, "fit"), {"summary.csv": "the fit's summary", "fit.nc": "x"})
    for kind in ("simulate", "report", "analyze"):
        with pytest.raises(OutputFolderError, match="holds the output of `setback fit`"):
            OutputFolder(fit, kind, overwrite=True)
    toml = tmp_path / "s.toml"
    toml.write_text(STUDY)
    # Issue 12, finding 3: `study run --out` a fit folder was accepted, and `study
    # summarize` then overwrote the fit's summary.csv
    for extra in ([], ["--overwrite"]):
        assert cli(["study", "run", str(toml), "--out", str(fit), "--workers", "1", "--quiet",
                    *extra]) == 2
        assert "holds the output of `setback fit`" in capsys.readouterr().err
    assert cli(["study", "summarize", str(fit)]) == 2
    assert _tree(fit) == {"summary.csv": "the fit's summary", "fit.nc": "x"}
    # and the other way round: a study folder is not a fit (or report, or simulate) folder
    study = tmp_path / "study"
    assert cli(["study", "run", str(toml), "--out", str(study), "--workers", "1",
                "--quiet"]) == 0
    assert output_kind(study) == "study"
    for kind in ("fit", "report", "simulate"):
        with pytest.raises(OutputFolderError, match="holds the output of `setback study run`"):
            OutputFolder(study, kind, overwrite=True)


def test_fit_into_a_study_folder_is_refused_before_reading_sampling(tmp_path: Path, cli,  # noqa: ANN001
                                                                   capsys) -> None:  # noqa: ANN001
    toml = tmp_path / "s.toml"
    toml.write_text(STUDY)
    study = tmp_path / "study"
    assert cli(["study", "run", str(toml), "--out", str(study), "--workers", "1",
                "--quiet"]) == 0
    data = tmp_path / "d.csv"
    pd.DataFrame({"patient": [1, 1, 2, 2], "session": [0, 1, 0, 1],
                  "score": [10.0, 8, 12, 11]}).to_csv(data, index=False)
    assert cli(["fit", str(data), "--out", str(study), "--quiet", "--overwrite"]) == 2
    assert "holds the output of `setback study run`" in capsys.readouterr().err
    assert not (study / "fit.nc").exists()


def test_summarize_replaces_only_its_own_summary(tmp_path: Path, cli, capsys) -> None:  # noqa: ANN001
    toml = tmp_path / "s.toml"
    toml.write_text(STUDY)
    study = tmp_path / "study"
    assert cli(["study", "run", str(toml), "--out", str(study), "--workers", "1",
                "--quiet"]) == 0
    (study / "summary.csv").write_text("a table I made myself")
    assert cli(["study", "summarize", str(study)]) == 2
    assert "summary.csv exists and was not written by `setback study run`" in \
        capsys.readouterr().err
    assert (study / "summary.csv").read_text() == "a table I made myself"
    assert cli(["study", "summarize", str(study), "--overwrite"]) == 0
    assert cli(["study", "summarize", str(study)]) == 0  # its own file now
    assert "coverage" in (study / "summary.csv").read_text()
    elsewhere = tmp_path / "table.csv"
    elsewhere.write_text("mine")
    assert cli(["study", "summarize", str(study), "--csv", str(elsewhere)]) == 2
    assert "table.csv exists; pass --overwrite" in capsys.readouterr().err
    assert elsewhere.read_text() == "mine"


def test_an_error_leaves_the_previous_run_and_no_temporary_folder(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    _write(OutputFolder(out, "simulate"), {"summary.json": "old", "patients.parquet": "old"})
    with pytest.raises(RuntimeError, match="the simulation failed"), OutputFolder(
            out, "simulate") as folder:
        (folder.tmp / "summary.json").write_text("new")
        raise RuntimeError("the simulation failed")
    assert _tree(out) == {"patients.parquet": "old", "summary.json": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path: Path) -> None:
    dead = tmp_path / f".out.setback-tmp-{2**22 + 1}-0000"  # pid above pid_max: dead
    dead.mkdir()
    (dead / "sessions.parquet").write_text("half")
    alive = tmp_path / f".out.setback-tmp-{os.getpid()}-1111"  # a run still going
    alive.mkdir()
    _write(OutputFolder(tmp_path / "out", "simulate"), {"summary.json": "x"})
    assert not dead.exists() and alive.exists()


def test_report_write_follows_the_rules(tmp_path: Path) -> None:
    out = tmp_path / "r"
    first = Report("first")
    first.add_table("a", pd.DataFrame({"x": [1]}))
    first.add_table("b", pd.DataFrame({"x": [2]}))
    first.write(out)
    second = Report("second")
    second.add_table("a", pd.DataFrame({"x": [3]}))
    second.write(out)
    assert sorted(p.name for p in (out / "tables").iterdir()) == ["a.csv"]  # b was stale
    assert json.loads((out / "meta.json").read_text())["report"] == "second"
    with pytest.raises(OutputFolderError, match="holds the output of `setback report`"):
        second.write(out, kind="demo")


def test_write_file_is_atomic_and_refuses_to_replace(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_file(path, "one")
    with pytest.raises(OutputFolderError, match="exists; pass --overwrite"):
        write_file(path, "two")
    write_file(path, "two", overwrite=True)
    assert path.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_ctrl_c_during_the_moves_waits_until_they_are_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    out = tmp_path / "sim"
    _write(OutputFolder(out, "simulate"), {"summary.json": "old", "patients.parquet": "old"})
    real_replace = os.replace
    moved = []

    def replace_and_interrupt(src, dst) -> None:  # noqa: ANN001
        moved.append(Path(dst).name)
        if len(moved) == 1:  # Ctrl-C arrives between the first and the second move
            signal.raise_signal(signal.SIGINT)
        real_replace(src, dst)

    folder = OutputFolder(out, "simulate")
    with pytest.raises(KeyboardInterrupt), folder:
        (folder.tmp / "summary.json").write_text("new")
        (folder.tmp / "patients.parquet").write_text("new")
        monkeypatch.setattr(os, "replace", replace_and_interrupt)
    monkeypatch.undo()
    # both files and the marker were moved before the interrupt was delivered
    assert moved == ["patients.parquet", "summary.json", MARKER]
    assert _tree(out) == {"patients.parquet": "new", "summary.json": "new"}
