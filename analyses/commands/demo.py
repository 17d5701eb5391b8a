"""``setback demo``: the main job on built-in defaults (what ``make demo`` runs)."""

from __future__ import annotations

import argparse

from analyses.commands._types import integer, seed
from analyses.pipelines.demo import DemoSettings, run_demo


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = sub.add_parser(
        "demo", help="simulate a clinic, compare policies, fit the growth model, write a report",
        description="Simulate a default clinic under treatment as usual, feedback, feedback + "
        "clinical support tools and alliance repair (common random numbers), fit the Bayesian "
        "growth model to the treatment-as-usual clinic, and write DIR/report.html with the "
        "policy comparison, recovery curves, therapist effects and deterioration risk.")
    parser.add_argument("--out", default="demo-output", help="output folder (default "
                        "demo-output)")
    parser.add_argument("--patients", type=integer(50, 1_000_000),
                        default=DemoSettings.n_patients,
                        help="patients per simulated clinic, at least 50 (default %(default)s)")
    parser.add_argument("--seed", type=seed(), default=DemoSettings.seed,
                        help="root seed (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty folder that is not a demo report (its "
                        "report files are replaced; others are left alone)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: checks that every step runs (numbers mean little)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    settings = DemoSettings.quick() if args.quick else DemoSettings(n_patients=args.patients)
    if args.seed != settings.seed:
        settings = DemoSettings(**(settings.__dict__ | {"seed": args.seed}))
    run_demo(args.out, settings=settings, echo=not args.quiet, overwrite=args.overwrite)
    return 0
