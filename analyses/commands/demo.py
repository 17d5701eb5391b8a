"""``setback demo``: the main job on built-in defaults (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from analyses.commands._options import add_output_options
from analyses.commands._types import integer, seed
from analyses.outputs import OutputFolder
from analyses.pipelines.demo import DemoSettings, run_demo


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'demo'
    >>> args = build_parser(only="demo").parse_args(["demo", "--out", "demo", "--quick"])
    >>> args.func is run
    True
    >>> args.quick
    True
    """
    parser = sub.add_parser(
        "demo", help="simulate a clinic, compare policies, fit the growth model, write a report",
        description="Simulate a default clinic under treatment as usual, feedback, feedback + "
        "clinical support tools and alliance repair (common random numbers), fit the Bayesian "
        "growth model to the treatment-as-usual clinic, and write DIR/report.html with the "
        "policy comparison, methods, observed courses, recovery curves, therapist effects "
        "and deterioration risk.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--patients", type=integer(50, 1_000_000), default=None,
                      help=f"patients per simulated clinic, at least 50 (default "
                      f"{DemoSettings.n_patients})")
    size.add_argument("--quick", action="store_true",
                      help=f"tiny sizes ({DemoSettings.quick().n_patients} patients, short "
                      "chains): checks that every step runs (numbers mean little)")
    parser.add_argument("--seed", type=seed(), default=DemoSettings.seed,
                        help="root seed of the simulations and the fit (recorded in "
                        "meta.json)")
    add_output_options(parser, "demo report", required=False, default="demo-output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo.

    Examples
    --------
    A bad output folder is refused before anything is simulated or fitted:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "taken").write_text("a file")
    ...     code = main(["demo", "--quick", "--out", f"{folder}/taken"])
    >>> code
    2
    """
    settings = DemoSettings.quick() if args.quick else DemoSettings()
    if args.patients is not None:
        settings = replace(settings, n_patients=args.patients)
    settings = replace(settings, seed=args.seed)
    folder = OutputFolder(args.out, "demo", overwrite=args.overwrite)  # checked before work
    run_demo(folder, settings=settings, echo=not args.quiet)
    return 0
