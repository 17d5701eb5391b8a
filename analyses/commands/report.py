"""``setback report DIR``: a report from a fit folder or a simulation-study folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from analyses.outputs import OutputFolder, output_kind
from analyses.pipelines.analyze import fit_report
from analyses.pipelines.study import study_report


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'report'
    >>> args = build_parser(only="report").parse_args(["report", "fit-folder", "--out", "report"])
    >>> args.func is run
    True
    >>> str(args.source)
    'fit-folder'
    """
    parser = sub.add_parser(
        "report", help="write report.html from a fit folder or a study folder",
        description="Write a report (report.html, CSV tables, PNG/SVG figures) from a folder "
        "written by `setback fit` or `setback analyze` (it holds fit.nc) or by `setback "
        "study run` (it holds the study's manifest.json).")
    parser.add_argument("source", metavar="FIT_OR_STUDY_DIR", type=Path)
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty folder that is not a report folder (its "
                        "report files are replaced; others are left alone)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Detect the kind of folder, build its report and write it.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     Path(folder, "fit").mkdir()
    ...     small_fit.save(f"{folder}/fit/fit.nc")
    ...     code = main(["report", f"{folder}/fit", "--out", f"{folder}/report"])
    ...     wrote = Path(folder, "report", "report.html").exists()
    >>> code, wrote
    (0, True)
    """
    src = args.source
    kind = output_kind(src) if src.is_dir() else None
    if kind is None and (src / "fit.nc").is_file():  # a fit folder from before the markers
        kind = "fit"
    if kind not in ("fit", "analyze", "study"):
        raise FileNotFoundError(f"{src}: neither a fit folder (fit.nc, from `setback fit`) nor "
                                "a study folder (manifest.json, from `setback study run`)")
    folder = OutputFolder(args.out, "report", overwrite=args.overwrite)  # checked first
    rep = study_report(src) if kind == "study" else fit_report(src)
    out = rep.write(folder)
    print(f"Report: {out / 'report.html'}")
    return 0
