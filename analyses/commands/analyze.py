"""``setback analyze FILE``: validate, describe, fit and report a data set in one go."""

from __future__ import annotations

import argparse

from analyses.commands._options import (
    add_data_options,
    add_estimand_options,
    add_model_options,
    add_output_options,
    add_sampler_options,
    growth_spec,
    load_data,
    sampler_settings,
    seed_line,
)
from analyses.outputs import OutputFolder
from analyses.pipelines.analyze import analyze_dataset


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'analyze'
    >>> args = build_parser(only="analyze").parse_args(["analyze", "data.csv", "--out", "report"])
    >>> args.func is run
    True
    >>> args.out, args.draws > 0
    ('report', True)
    """
    parser = sub.add_parser(
        "analyze", help="describe, fit and report a data set (writes DIR/report.html)",
        description="Validate a long-format outcome file, tabulate clinical significance and "
        "retention, fit the growth model (three-level with a therapist column, else two-level) "
        "and write DIR/report.html (methods, observed trajectories, estimates; CSV tables and "
        "PNG/SVG figures beside it) plus the fit files of `setback fit`, which takes the same "
        "options. Bad data fail before sampling.")
    add_data_options(parser)
    add_model_options(parser)
    add_sampler_options(parser)
    add_estimand_options(parser)
    add_output_options(parser, "report and fit files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the file and say where the report is.

    Examples
    --------
    A bad output folder is refused before the data are read or a model is fitted:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> from trajectories.datasets import load_beat_the_blues
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     csv = f"{folder}/btb.csv"
    ...     load_beat_the_blues().frame.drop(columns="source_row").to_csv(csv, index=False)
    ...     _ = Path(folder, "taken").write_text("a file")
    ...     code = main(["analyze", csv, "--out", f"{folder}/taken"])
    >>> code
    2
    """
    folder = OutputFolder(args.out, "analyze", overwrite=args.overwrite)  # checked before work
    data = load_data(args)
    settings = sampler_settings(args)
    analyze_dataset(data, growth_spec(args, data), out=folder, settings=settings,
                    input_path=args.file, progress=not args.quiet,
                    at_session=args.at_session, rci=args.rci)
    print(seed_line(settings.seed, args.seed))
    print(f"Report: {folder.final('report.html')}")
    return 0
