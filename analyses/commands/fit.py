"""``setback fit FILE --out DIR``: fit the Bayesian growth model and write its tables."""

from __future__ import annotations

import argparse
import sys

from analyses.commands._data_options import add_data_options, load_data
from analyses.pipelines.fit import run_fit
from trajectories.engine.settings import SamplerSettings
from trajectories.spec import DropoutSpec, GrowthSpec


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` subcommand."""
    parser = sub.add_parser(
        "fit",
        help="fit the Bayesian multilevel growth model",
        description="Fit the three-level growth model (sessions in patients in therapists; "
        "two-level without a therapist column) and write DIR/fit.nc, summary.csv, "
        "expected_change.csv, therapist_effects.csv and deterioration_risk.csv. Bad data "
        "fail before sampling.",
    )
    add_data_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--time", default="log",
                       choices=["linear", "log", "quadratic", "piecewise"],
                       help="shape of change over sessions (default: log)")
    model.add_argument("--breakpoint", type=float, default=4.0,
                       help="end of early change for --time piecewise")
    model.add_argument("--patient-effects", default="slopes", choices=["intercept", "slopes"])
    model.add_argument("--therapist-effects", default="slopes",
                       choices=["none", "intercept", "slopes"])
    model.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    model.add_argument("--time-interactions", default="",
                       help="comma-separated covariates that also change the slope")
    model.add_argument("--dropout", default="none", choices=["none", "joint"],
                       help="'joint': model dropout jointly with the growth curves (shared "
                       "latent level and change; informative dropout; the current alliance "
                       "rating as an observed predictor when the data have one) and write "
                       "dropout_risk.csv")
    opts = parser.add_argument_group("sampling and output")
    opts.add_argument("--draws", type=int, default=1000)
    opts.add_argument("--tune", type=int, default=1000)
    opts.add_argument("--chains", type=int, default=2)
    opts.add_argument("--seed", type=int, default=None)
    opts.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"])
    opts.add_argument("--at-session", type=float, default=None,
                     help="session for the estimands (default: the last in the data)")
    opts.add_argument("--rci", type=float, default=None,
                     help="reliable change index (default: the instrument's)")
    opts.add_argument("--strict", action="store_true",
                      help="exit with code 1 when the fit fails a convergence check (R-hat, "
                      "effective draws, divergences); by default that is a warning and the "
                      "tables are written all the same")
    opts.add_argument("--quiet", action="store_true", help="no progress messages")
    opts.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the file, fit and print where the results are."""
    data = load_data(args)
    spec = GrowthSpec(
        time=args.time, breakpoint=args.breakpoint, patient=args.patient_effects,
        therapist=args.therapist_effects, likelihood=args.likelihood,
        covariates=data.covariates,
        time_interactions=tuple(c.strip() for c in args.time_interactions.split(",")
                                if c.strip()),
        # the current alliance rating predicts dropout (Sharf et al. 2010): used when rated
        dropout=(DropoutSpec(predictors=("alliance",) if data.has_alliance else ())
                 if args.dropout == "joint" else None),
    )
    settings = SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains,
                               seed=args.seed, sampler=args.sampler, progress=not args.quiet)
    try:
        result = run_fit(data, spec, out=args.out, settings=settings,
                         at_session=args.at_session, rci=args.rci, progress=not args.quiet)
    except (RuntimeError, FloatingPointError) as exc:  # the sampler itself failed
        print(f"setback fit: the fit failed: {exc}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"note: {note}")
    for name, path in result.files.items():
        print(f"{name}: {path}")
    return report_convergence("fit", result.convergence, strict=args.strict)


def report_convergence(command: str, message: str, *, strict: bool) -> int:
    """Print a fit's convergence message once; the exit code (1 under ``--strict``)."""
    if not message:
        return 0
    if strict:
        print(f"setback {command}: error (--strict): {message}", file=sys.stderr)
        return 1
    print(f"setback {command}: warning: {message}", file=sys.stderr)
    return 0

