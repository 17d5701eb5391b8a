"""``setback describe FILE``: validate a data file and print what it holds."""

from __future__ import annotations

import argparse

from analyses.commands._options import add_data_options, load_data
from analyses.pipelines.describe import describe_dataset, format_description


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``describe`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'describe'
    >>> parser = build_parser(only="describe")
    >>> args = parser.parse_args(["describe", "data.csv", "--instrument", "bdi2"])
    >>> args.func is run
    True
    >>> args.instrument, args.patient, args.session, args.score
    ('bdi2', 'patient', 'session', 'score')
    """
    parser = sub.add_parser(
        "describe",
        help="validate a long-format data file and summarise it",
        description="Validate a long-format outcome file (one row per patient and session) and "
        "print patients, therapists, sessions per patient, end statuses and the "
        "Jacobson-Truax clinical-significance table. Bad data exit with code 2 and a "
        "message naming the column, the patients and the rule broken.",
    )
    add_data_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the file and print the description.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from analyses.cli import main
    >>> from trajectories.datasets import load_beat_the_blues
    >>> out = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
    ...     csv = f"{folder}/btb.csv"
    ...     load_beat_the_blues().frame.drop(columns="source_row").to_csv(csv, index=False)
    ...     code = main(["describe", csv, "--instrument", "bdi2"])
    >>> code, out.getvalue().splitlines()[0]
    (0, 'patients:              100')
    """
    data = load_data(args)
    print(format_description(describe_dataset(data)))
    return 0
