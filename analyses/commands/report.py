"""``setback report DIR``: a report from a fit folder or a simulation-study folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from analyses.pipelines.analyze import fit_report, study_report


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = sub.add_parser(
        "report", help="write report.html from a fit folder or a study folder",
        description="Write a report (report.html, CSV tables, PNG/SVG figures) from a folder "
        "written by `setback fit` (it holds fit.nc) or by `setback study run` (it holds "
        "manifest.json).")
    parser.add_argument("source", metavar="FIT_OR_STUDY_DIR")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Detect the kind of folder, build its report and write it."""
    src = Path(args.source)
    if (src / "fit.nc").exists():
        rep = fit_report(src)
    elif (src / "manifest.json").exists():
        rep = study_report(src)
    else:
        raise FileNotFoundError(f"{src}: neither a fit folder (fit.nc) nor a study folder "
                                "(manifest.json)")
    out = rep.write(args.out)
    print(f"Report: {out / 'report.html'}")
    return 0
