"""``setback predict FIT FILE --out DIR``: not-on-track and dropout risk for new patients."""

from __future__ import annotations

import argparse

from analyses.commands._options import add_data_options, add_output_options, load_data
from analyses.outputs import OutputFolder
from analyses.pipelines.predict import format_calibration, run_predict
from trajectories.fit import GrowthFit


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"--alert-rate must be a share in (0, 1], got {text!r}")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--horizon must be a positive integer, got {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'predict'
    >>> parser = build_parser(only="predict")
    >>> args = parser.parse_args(["predict", "fit/fit.nc", "new.csv", "--out", "risks"])
    >>> args.func is run
    True
    >>> args.fit, args.file
    ('fit/fit.nc', 'new.csv')
    """
    parser = sub.add_parser(
        "predict",
        help="not-on-track and dropout risk of new patients from a saved fit",
        description="From a fit saved by `setback fit` (FIT, e.g. DIR/fit.nc) and the "
        "sessions seen so far of new patients (FILE), write DIR/predictions.csv: one row "
        "per patient with the probability of no reliable improvement by the planned "
        "session (not on track), the probability of dropping out within the horizon (fits "
        "with --dropout joint) and a flag for the patients with the highest risks at the "
        "alert rate. With --landmark the file is held-out data with known outcomes: risks "
        "are predicted from the sessions up to the landmark and their calibration (Brier "
        "score, calibration slope, AUC) is printed and written to DIR/calibration.csv. "
        "Nothing is refitted.",
    )
    parser.add_argument("fit", metavar="FIT", help="a fit saved by `setback fit` (fit.nc)")
    add_data_options(parser)
    opts = parser.add_argument_group("prediction")
    opts.add_argument("--at-session", type=float, default=None,
                      help="planned session of the not-on-track outcome (default: the last "
                      "session of the fitted data)")
    opts.add_argument("--horizon", type=_positive, default=3,
                      help="sessions looked ahead for the dropout risk, the last one seen "
                      "first (default 3)")
    opts.add_argument("--alert-rate", type=_rate, default=0.1,
                      help="share of patients flagged on each risk (default 0.1)")
    opts.add_argument("--landmark", type=int, default=None,
                      help="held-out data: predict from the sessions up to this one and "
                      "score the risks against what happened next")
    opts.add_argument("--rci", type=float, default=None,
                      help="reliable change index (default: the fit's instrument rule)")
    opts.add_argument("--seed", type=int, default=None,
                      help="seed of the dropout model's effect draws (recorded)")
    add_output_options(parser, "predictions", quiet=False)  # nothing to show progress of
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the fit and the file, predict, write and print where the results are.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> from trajectories.datasets import load_beat_the_blues
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     csv = f"{folder}/btb.csv"
    ...     load_beat_the_blues().frame.drop(columns="source_row").to_csv(csv, index=False)
    ...     small_fit.save(f"{folder}/fit.nc")  # log time, treatment arm as covariate
    ...     code = main(["predict", f"{folder}/fit.nc", csv, "--instrument", "bdi2",
    ...                  "--covariates", "treatment", "--out", f"{folder}/risks"])
    ...     wrote = Path(folder, "risks", "predictions.csv").exists()
    >>> code, wrote
    (0, True)
    """
    folder = OutputFolder(args.out, "predict", overwrite=args.overwrite)  # before any work
    fit = GrowthFit.load(args.fit)
    data = load_data(args)
    result = run_predict(fit, data, out=folder, at_session=args.at_session,
                         horizon=args.horizon, alert_rate=args.alert_rate,
                         landmark=args.landmark, rci=args.rci, seed=args.seed,
                         fit_path=args.fit, data_path=args.file)
    for note in result.notes:
        print(f"note: {note}")
    if result.calibration is not None:
        print(format_calibration(result.calibration))
    for name, path in result.files.items():
        print(f"{name}: {path}")
    return 0
