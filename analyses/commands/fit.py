"""``setback fit FILE --out DIR``: fit the Bayesian growth model and write its tables."""

from __future__ import annotations

import argparse

from analyses.commands._data_options import add_data_options, add_sampling_options, load_data
from analyses.commands._types import integer, number
from analyses.pipelines.fit import run_fit
from trajectories.data import MAX_SESSION
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
        "and options fail before sampling; the files appear in DIR together when the fit is "
        "done.",
    )
    add_data_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--time", default="log",
                       choices=["linear", "log", "quadratic", "piecewise"],
                       help="shape of change over sessions (default: log)")
    model.add_argument("--breakpoint", type=number(low=0.0, high=float(MAX_SESSION),
                                                   low_open=True), default=4.0,
                       help="end of early change for --time piecewise (a session > 0)")
    model.add_argument("--patient-effects", default="slopes", choices=["intercept", "slopes"])
    model.add_argument("--therapist-effects", default="slopes",
                       choices=["none", "intercept", "slopes"])
    model.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    model.add_argument("--residual", default="independent", choices=["independent", "ar1"],
                       help="'ar1': a patient's deviations carry over between consecutive "
                       "observed sessions (correlation residual_ar estimated)")
    model.add_argument("--time-interactions", default="",
                       help="comma-separated covariates that also change the slope")
    model.add_argument("--dropout", default="none", choices=["none", "joint"],
                       help="'joint': model dropout jointly with the growth curves (shared "
                       "latent level and change; informative dropout) and write "
                       "dropout_risk.csv")
    model.add_argument("--compare", default="", metavar="SHAPES",
                       help="comma-separated time shapes to compare by leave-one-patient-out "
                       "LOO, e.g. log,linear,piecewise; writes model_comparison.csv")
    opts = parser.add_argument_group("sampling and output")
    add_sampling_options(opts)
    opts.add_argument("--chains", type=integer(1, 64), default=2, help="chains (default 2)")
    opts.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"])
    opts.add_argument("--at-session", type=number(low=0.0, high=float(MAX_SESSION)),
                      default=None,
                      help="session for the estimands, >= 0 (default: the last in the data)")
    opts.add_argument("--rci", type=number(low=0.0, low_open=True), default=None,
                      help="reliable change index, > 0 (default: the instrument's)")
    opts.add_argument("--quiet", action="store_true", help="no progress messages")
    opts.add_argument("--out", required=True, metavar="DIR", help="output folder")
    opts.add_argument("--overwrite", action="store_true",
                      help="write into a non-empty folder that is not a fit folder (its files "
                      "with the names a fit writes are replaced; others are left alone)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the file, fit and print where the results are."""
    shapes = tuple(c.strip() for c in args.compare.split(",") if c.strip())
    bad = [c for c in shapes if c not in ("linear", "log", "quadratic", "piecewise")]
    if bad or len(shapes) == 1:
        raise ValueError(f"--compare: give two or more of linear, log, quadratic, piecewise "
                         f"separated by commas (got {args.compare!r})")
    data = load_data(args)
    spec = GrowthSpec(
        time=args.time, breakpoint=args.breakpoint, patient=args.patient_effects,
        therapist=args.therapist_effects, likelihood=args.likelihood, residual=args.residual,
        covariates=data.covariates,
        time_interactions=tuple(c.strip() for c in args.time_interactions.split(",")
                                if c.strip()),
        dropout=DropoutSpec() if args.dropout == "joint" else None,
    )
    settings = SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains,
                               seed=args.seed, sampler=args.sampler, progress=not args.quiet)
    result = run_fit(data, spec, out=args.out, settings=settings, at_session=args.at_session,
                     rci=args.rci, progress=not args.quiet, overwrite=args.overwrite,
                     compare=shapes)
    for note in result.notes:
        print(f"note: {note}")
    for name, path in result.files.items():
        print(f"{name}: {path}")
    return 0

