"""``setback fit FILE --out DIR``: fit the Bayesian growth model and write its tables."""

from __future__ import annotations

import argparse
import sys

from analyses.commands._options import (
    TIME_SHAPES,
    add_data_options,
    add_estimand_options,
    add_model_options,
    add_output_options,
    add_sampler_options,
    comma_list,
    growth_spec,
    load_data,
    sampler_settings,
    seed_line,
)
from analyses.outputs import OutputFolder
from analyses.pipelines.fit import run_fit


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'fit'
    >>> parser = build_parser(only="fit")
    >>> args = parser.parse_args(["fit", "data.csv", "--out", "fit", "--compare", "log,linear"])
    >>> args.func is run
    True
    >>> args.compare
    ('log', 'linear')
    """
    parser = sub.add_parser(
        "fit",
        help="fit the Bayesian multilevel growth model",
        description="Fit the three-level growth model (sessions in patients in therapists; "
        "two-level without a therapist column) and write DIR/fit.nc, summary.csv, "
        "expected_change.csv, therapist_effects.csv, deterioration_risk.csv and meta.json "
        "(seed, spec, sampler, versions, input file). Bad data and options fail before "
        "sampling; the files appear in DIR together when the fit is done. `setback analyze` "
        "takes the same options and adds a report.",
    )
    add_data_options(parser)
    add_model_options(parser)
    parser.add_argument("--compare", default="", type=comma_list, metavar="SHAPES",
                        help="comma-separated time shapes to compare by leave-one-patient-out "
                        "LOO, e.g. log,linear,piecewise; writes model_comparison.csv")
    add_sampler_options(parser)
    add_estimand_options(parser)
    add_output_options(parser, "fit files")
    parser.add_argument("--strict", action="store_true",
                        help="exit with code 1 when the fit fails a convergence check (R-hat, "
                        "effective draws, divergences); by default that is a warning and the "
                        "tables are written all the same")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the file, fit and print where the results are.

    Examples
    --------
    Options are checked before any work, e.g. --compare needs two or more time shapes:

    >>> import argparse
    >>> try:
    ...     run(argparse.Namespace(compare=("log",)))
    ... except ValueError as err:
    ...     print(str(err).split(" (")[0])
    --compare: give two or more of linear, log, quadratic, piecewise separated by commas
    """
    shapes = tuple(args.compare)
    bad = [c for c in shapes if c not in TIME_SHAPES]
    if bad or len(shapes) == 1:
        raise ValueError(f"--compare: give two or more of {', '.join(TIME_SHAPES)} "
                         f"separated by commas (got {','.join(shapes)!r})")
    folder = OutputFolder(args.out, "fit", overwrite=args.overwrite)  # checked before work
    data = load_data(args)
    settings = sampler_settings(args)
    try:
        result = run_fit(data, growth_spec(args, data), out=folder, settings=settings,
                         at_session=args.at_session, rci=args.rci, progress=not args.quiet,
                         input_path=args.file, compare=shapes)
    except (RuntimeError, FloatingPointError) as exc:  # the sampler itself failed
        print(f"setback fit: the fit failed: {exc}", file=sys.stderr)
        return 1
    print(seed_line(settings.seed, args.seed))
    for note in result.notes:
        print(f"note: {note}")
    for name, path in result.files.items():
        print(f"{name}: {path}")
    return report_convergence("fit", result.convergence, strict=args.strict)


def report_convergence(command: str, message: str, *, strict: bool) -> int:
    """Print a fit's convergence message once; the exit code (1 under ``--strict``).

    Examples
    --------
    >>> report_convergence("fit", "", strict=True)  # converged: nothing printed
    0
    >>> report_convergence("fit", "R-hat 1.2 for slope", strict=True)  # printed on stderr
    1
    """
    if not message:
        return 0
    if strict:
        print(f"setback {command}: error (--strict): {message}", file=sys.stderr)
        return 1
    print(f"setback {command}: warning: {message}", file=sys.stderr)
    return 0
