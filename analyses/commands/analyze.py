"""``setback analyze FILE``: validate, describe, fit and report a data set in one go."""

from __future__ import annotations

import argparse

from analyses.commands._data_options import add_data_options, add_sampling_options, load_data
from analyses.pipelines.analyze import analyze_dataset
from trajectories.engine.settings import SamplerSettings
from trajectories.spec import GrowthSpec


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand."""
    parser = sub.add_parser(
        "analyze", help="describe, fit and report a data set (writes DIR/report.html)",
        description="Validate a long-format outcome file, tabulate clinical significance and "
        "retention, fit the growth model (three-level with a therapist column, else two-level) "
        "and write DIR/report.html with tables (CSV) and figures (PNG/SVG), plus the fit "
        "files of `setback fit`. Bad data fail before sampling.")
    add_data_options(parser)
    parser.add_argument("--time", default="log", choices=["linear", "log", "quadratic",
                                                         "piecewise"],
                        help="time shape of the growth model (default log(1 + session))")
    add_sampling_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty folder that is not an analysis folder "
                        "(its files with the names an analysis writes are replaced)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the file and say where the report is."""
    data = load_data(args)
    covariates = tuple(c.strip() for c in args.covariates.split(",") if c.strip())
    spec = GrowthSpec(time=args.time, covariates=covariates)
    settings = SamplerSettings(draws=args.draws, tune=args.tune, seed=args.seed,
                               progress=not args.quiet)
    analyze_dataset(data, spec, out=args.out, settings=settings, input_path=args.file,
                    progress=not args.quiet, overwrite=args.overwrite)
    print(f"Report: {args.out}/report.html")
    return 0
