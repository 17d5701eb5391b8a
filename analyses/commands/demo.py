"""``setback demo``: the main job on built-in defaults (what ``make demo`` runs)."""

from __future__ import annotations

import argparse

from analyses.pipelines.demo import run_demo


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = sub.add_parser("demo", help="run the main job on built-in defaults",
                            description="Run setback end to end on built-in data and print "
                            "the headline numbers.")
    parser.add_argument("--out", default="demo-output", help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where its output is."""
    run_demo(args.out)
    return 0
