"""Every command, every class of bad path and bad file: exit 2, one line, no traceback,
nothing left behind, and no work started (issue 17, "Tracebacks on bad input").

The commands run in this process (the ``cli`` fixture calls ``analyses.cli.main``), so an
exception that escaped the top-level handler would fail the test as an error, and the
``no_work`` fixture turns the start of any long computation (sampling, simulating, a
study) into a test failure: the error must come before it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from trajectories.datasets import load_beat_the_blues

CONFIGS = Path(__file__).resolve().parents[2] / "analyses" / "configs"
#: A location no one can write to, root included (mkdir there fails with EPERM/ENOENT).
READ_ONLY = Path("/proc/setback-no-write")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command starts its long work (the error must come first)."""
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started its work before refusing the input")

    for target in ("analyses.pipelines.fit.fit_growth",
                   "analyses.commands.simulate.simulate_chunks",
                   "analyses.commands.compare_policies.compare_policies",
                   "analyses.pipelines.demo.compare_policies_report",
                   "analyses.commands.study.run_study"):
        monkeypatch.setattr(target, started)


def _files(tmp: Path) -> dict[str, Path]:
    """One file of each bad kind, and a good CSV and study file."""
    good = tmp / "good.csv"
    load_beat_the_blues().frame.drop(columns="source_row").to_csv(good, index=False)
    parquet = tmp / "data.parquet"
    load_beat_the_blues().frame.drop(columns="source_row").to_parquet(parquet)
    truncated = tmp / "truncated.parquet"
    truncated.write_bytes(parquet.read_bytes()[:400])
    (tmp / "folder.csv").mkdir()
    files = {
        "missing": tmp / "no-such.csv",
        "folder": tmp / "folder.csv",
        "empty": tmp / "empty.csv",
        "blank lines": tmp / "blank.csv",
        "binary": tmp / "binary.csv",
        "excel xlsx": tmp / "sheet.xlsx",
        "excel xls": tmp / "sheet.xls",
        "netcdf": tmp / "fit.csv",
        "latin-1": tmp / "latin1.csv",
        "utf-16 without BOM": tmp / "utf16.csv",
        "truncated parquet": truncated,
        "malformed csv": tmp / "malformed.csv",
        "damaged gzip": tmp / "damaged.csv.gz",
    }
    files["empty"].write_bytes(b"")
    files["blank lines"].write_bytes(b"\n\n\n")
    files["binary"].write_bytes(bytes(range(256)) * 4)
    files["excel xlsx"].write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    files["excel xls"].write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200)
    files["netcdf"].write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 200)
    files["latin-1"].write_bytes("patient,session,score\nJosé,0,3\n".encode("latin-1"))
    files["utf-16 without BOM"].write_bytes("patient,session,score\n".encode("utf-16-le"))
    files["malformed csv"].write_text('patient,session,score\n1,0,3\n"2,1,4\n5,6,7,8,9\n')
    files["damaged gzip"].write_bytes(gzip.compress(b"patient,session,score\n1,0,3\n")[:15])
    return {"good": good, **files}


FILE_COMMANDS = {
    "describe": ["describe"],
    "analyze": ["analyze", "--draws", "50", "--tune", "50", "--quiet", "--out", "{out}"],
    "fit": ["fit", "--draws", "50", "--tune", "50", "--quiet", "--out", "{out}"],
}
BAD_FILES = ["missing", "folder", "empty", "blank lines", "binary", "excel xlsx", "excel xls",
             "netcdf", "latin-1", "utf-16 without BOM", "truncated parquet", "malformed csv",
             "damaged gzip"]


def _check_one_line(err: str, *names: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert any(n in err for n in names), f"{names} not named in: {err}"


@pytest.mark.parametrize("kind", BAD_FILES)
@pytest.mark.parametrize("command", sorted(FILE_COMMANDS))
def test_bad_data_file(tmp_path, capsys, cli, no_work, command, kind) -> None:  # noqa: ANN001
    files = _files(tmp_path)
    out = tmp_path / "out"
    argv = [a.format(out=out) for a in FILE_COMMANDS[command]]
    argv.insert(1, str(files[kind]))
    assert cli(argv) == 2
    err = capsys.readouterr().err
    _check_one_line(err, files[kind].name)
    assert err.startswith(f"setback {command}: ")
    if kind not in ("missing", "folder"):
        assert "expected a long-format CSV" in err  # the formats accepted
    assert not out.exists()
    assert not list(tmp_path.glob(".out.setback-tmp-*"))


def _bad_outputs(tmp: Path) -> dict[str, Path]:
    a_file = tmp / "a-file"
    a_file.write_text("not a folder")
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    return {"existing file": a_file, "below a file": a_file / "sub",
            "non-empty folder": foreign, "read-only location": READ_ONLY}


def _output_commands(tmp: Path) -> dict[str, list[str]]:
    files = _files(tmp)
    toml = CONFIGS / "study_t_interval.toml"
    fit_dir = tmp / "fitdir"  # a fit folder for `report`: any marker will do, no work starts
    fit_dir.mkdir()
    (fit_dir / "fit.nc").write_bytes(b"")
    (fit_dir / ".setback-output.json").write_text(json.dumps({"kind": "fit", "files": []}))
    return {
        "analyze": ["analyze", str(files["good"]), "--quiet"],
        "fit": ["fit", str(files["good"]), "--quiet"],
        "report": ["report", str(fit_dir)],
        "simulate": ["simulate", "--patients", "100", "--quiet"],
        "compare-policies": ["compare-policies", "--patients", "100", "--quiet"],
        "demo": ["demo", "--quick", "--quiet"],
        "study run": ["study", "run", str(toml), "--workers", "1", "--quiet"],
        "predict": ["predict", str(fit_dir / "fit.nc"), str(files["good"])],
    }


OUTPUT_COMMANDS = ["analyze", "fit", "report", "simulate", "compare-policies", "demo",
                   "study run", "predict"]


@pytest.mark.parametrize("kind", ["existing file", "below a file", "non-empty folder",
                                  "read-only location"])
@pytest.mark.parametrize("command", OUTPUT_COMMANDS)
def test_bad_output_path_is_refused_before_any_work(tmp_path, capsys, cli, no_work,  # noqa: ANN001
                                                    command, kind) -> None:  # noqa: ANN001
    argv = _output_commands(tmp_path)[command]
    out = _bad_outputs(tmp_path)[kind]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert cli([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    _check_one_line(err, str(out), out.name)
    if kind == "non-empty folder":
        assert "--overwrite" in err or "holds no study" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing left behind
    assert not READ_ONLY.exists()


def test_bad_fit_files_for_report(tmp_path, capsys, cli) -> None:  # noqa: ANN001
    fit = tmp_path / "fit"
    fit.mkdir()
    out = tmp_path / "rep"
    cases = {"not netCDF": b"garbage, not a netCDF file\n",
             "truncated": b"\x89HDF\r\n\x1a\n" + b"\x00" * 100,
             "empty": b""}
    for what, content in cases.items():
        (fit / "fit.nc").write_bytes(content)
        assert cli(["report", str(fit), "--out", str(out)]) == 2, what
        err = capsys.readouterr().err
        _check_one_line(err, "fit.nc")
        assert not out.exists()
    for source in (tmp_path / "missing", fit / "fit.nc"):  # no folder; a file, not a folder
        assert cli(["report", str(source), "--out", str(out)]) == 2
        _check_one_line(capsys.readouterr().err, source.name)


def test_bad_study_files_and_folders(tmp_path, capsys, cli) -> None:  # noqa: ANN001
    (tmp_path / "dir.toml").mkdir()
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)))
    (tmp_path / "utf16.toml").write_bytes('[study]\ntask = "t"\n'.encode("utf-16"))
    (tmp_path / "bad.toml").write_text("[study\ntask = \n")
    out = tmp_path / "out"
    for name in ("dir.toml", "binary.toml", "utf16.toml", "bad.toml", "missing.toml"):
        assert cli(["study", "run", str(tmp_path / name), "--out", str(out)]) == 2, name
        _check_one_line(capsys.readouterr().err, name)
        assert not out.exists()
    not_a_study = tmp_path / "plain"
    not_a_study.mkdir()
    (not_a_study / "manifest.json").write_text("{not json")
    for action in ("status", "summarize"):
        for folder in (tmp_path / "missing", not_a_study, tmp_path / "bad.toml"):
            assert cli(["study", action, str(folder)]) == 2, (action, folder)
            _check_one_line(capsys.readouterr().err, folder.name)


def test_a_traceback_only_with_debug(tmp_path, capsys, cli) -> None:  # noqa: ANN001
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert cli(["describe", str(folder)]) == 2
    assert "is a folder" in capsys.readouterr().err
    from trajectories.files import DataFileError

    for argv in (["--debug", "describe", str(folder)], ["describe", str(folder), "--debug"]):
        with pytest.raises(DataFileError, match="is a folder"):
            cli(argv)


def test_an_unexpected_os_error_is_one_line(tmp_path, capsys, cli, monkeypatch) -> None:  # noqa: ANN001
    # any OSError that no check foresaw (a disk that fills up, a permission that changes
    # between the check and the write) still ends in one line and exit code 2
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "summary.json"))

    monkeypatch.setattr("analyses.commands.simulate.summary", full_disk)
    assert cli(["simulate", "--patients", "100", "--quiet", "--out",
                str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    _check_one_line(err, "summary.json")
    assert "No space left on device" in err
    assert not (tmp_path / "out").exists()


def test_help_shows_defaults(capsys, cli) -> None:  # noqa: ANN001
    assert cli(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: log)", "(default: 1000)", "(default: slopes)", "(default: 0.8)",
                  "(default: nutpie)", "(default: patient)"):
        assert shown in text
    assert cli(["analyze", "--help"]) == 0  # the same model options as fit
    analyze = " ".join(capsys.readouterr().out.split())
    for option in ("--time ", "--breakpoint", "--patient-effects", "--therapist-effects",
                   "--likelihood", "--time-interactions", "--dropout", "--chains",
                   "--sampler", "--at-session", "--rci", "--allow-therapist-change"):
        assert option in analyze and option in text


def test_demo_quick_and_patients_exclude_each_other(tmp_path, capsys, cli) -> None:  # noqa: ANN001
    # issue 17: `demo --quick --patients 5000` ignored --patients without a word
    assert cli(["demo", "--quick", "--patients", "5000", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    _check_one_line(err, "--patients", "--quick")
    assert "not allowed with" in err and not (tmp_path / "d").exists()


def test_two_therapists_error_names_the_command_line_option(tmp_path, capsys, cli) -> None:  # noqa: ANN001
    path = tmp_path / "two.csv"
    pd.DataFrame({"patient": ["a", "a", "b", "b"], "therapist": ["T1", "T2", "T1", "T1"],
                  "session": [0, 1, 0, 1], "score": [10.0, 8, 12, 9]}).to_csv(path, index=False)
    assert cli(["describe", str(path)]) == 2
    assert "--allow-therapist-change" in capsys.readouterr().err
    assert cli(["describe", str(path), "--allow-therapist-change"]) == 0
