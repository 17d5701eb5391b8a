"""``setback power``: power and sample size of a therapist-clustered trial.

Analytic power over a grid of therapists per arm x patients per therapist (three-level
formulas as in powerlmm), the fewest therapists reaching a target, the assurance under a
design prior, and, with ``--simulate R``, simulated power with the real analysis models
under the design's (informative) dropout; ``--search`` adds a simulated sample-size search.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analyses.commands._types import integer, name_list, number, seed
from analyses.outputs import OutputFolder


def _ints(text: str) -> list[int]:
    """``"4,8,12"`` or a range ``"4:40:4"`` (start:stop:step, stop included)."""
    try:
        if ":" in text:
            start, stop, *step = (int(p) for p in text.split(":"))
            values = list(range(start, stop + 1, step[0] if step else 1))
        else:
            values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be integers like 4,8,12 or 4:40:4, got "
                                         f"{text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be positive integers, got {text!r}")
    return values


def _method(name: str) -> str:
    from simulations.tasks.power import METHODS

    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return name


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``power`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'power'
    >>> args = build_parser(only="power").parse_args(["power", "--out", "power", "--cohend", "0.5"])
    >>> args.func is run
    True
    >>> args.cohend, args.therapists[:3]
    (0.5, [4, 6, 8])
    """
    p = sub.add_parser(
        "power", help="power and sample size of a therapist-clustered trial",
        description="Power of the time x treatment effect in a two-arm longitudinal trial "
        "with patients nested in therapists: analytic (three-level formulas as in powerlmm), "
        "optionally simulated with the real analysis models under informative dropout, with "
        "power curves, the fewest therapists reaching a target power and Bayesian assurance. "
        "Writes DIR/report.html, CSV tables and the power-curve figure.")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that is not a power report folder")
    g = p.add_argument_group("design")
    g.add_argument("--therapists", type=_ints, default=_ints("4:24:2"), metavar="LIST",
                   help="therapists per arm (partially nested: in the treatment arm), e.g. "
                   "4,8,12 or 4:24:2 (default 4:24:2)")
    g.add_argument("--patients", type=_ints, default=[5, 10, 20], metavar="LIST",
                   help="patients per therapist (default 5,10,20)")
    g.add_argument("--sessions", type=integer(2, 200), default=11,
                   help="measurements per patient, equally spaced (default 11)")
    g.add_argument("--nesting", choices=("full", "partial"), default="full",
                   help="therapists in both arms, or in the treatment arm only")
    e = g.add_mutually_exclusive_group(required=True)
    e.add_argument("--cohend", type=number(), help="standardised end-of-treatment difference "
                   "(pretest SD), e.g. -0.5")
    e.add_argument("--slope-diff", type=number(), help="difference in slope per session")
    v = p.add_argument_group("variances (powerlmm's relative inputs)")
    v.add_argument("--icc-pre-subject", type=number(low=0.0, high=1.0, high_open=True),
                   default=0.5, help="share of pretest variance between patients (0.5)")
    v.add_argument("--icc-pre-cluster", type=number(low=0.0, high=1.0, high_open=True),
                   default=0.05, help="share of pretest variance between therapists (0.05)")
    v.add_argument("--icc-slope", type=number(low=0.0, high=1.0), default=0.05,
                   help="share of slope variance between therapists (0.05)")
    v.add_argument("--var-ratio", type=number(low=0.0), default=0.02,
                   help="slope variance / residual variance (0.02)")
    v.add_argument("--corr-subject", type=number(low=-1.0, high=1.0), default=-0.5,
                   help="patient intercept-slope correlation (-0.5)")
    d = p.add_argument_group("dropout")
    d.add_argument("--dropout", type=number(low=0.0, high=1.0, high_open=True), default=0.0,
                   help="share dropped out by the last measurement (0)")
    d.add_argument("--dropout-shape", type=number(low=0.0, low_open=True), default=1.0,
                   help="Weibull shape of the dropout curve: 1 constant, <1 early (1)")
    d.add_argument("--informative", type=number(), default=0.0,
                   help="log-odds of leaving per SD of the patient's slope, in simulations "
                   "(0: missing completely at random)")
    a = p.add_argument_group("answers")
    a.add_argument("--alpha", type=number(low=0.0, high=1.0, low_open=True, high_open=True),
                   default=0.05, help="two-sided test level (0.05)")
    a.add_argument("--target", type=number(low=0.0, high=1.0, low_open=True, high_open=True),
                   default=0.8, help="target power for the sample-size answers (0.8)")
    a.add_argument("--assurance-sd", type=number(low=0.0, low_open=True), default=None,
                   help="SD of a normal design prior on Cohen's d: adds the assurance")
    s = p.add_argument_group("simulation")
    s.add_argument("--simulate", type=integer(0, 1_000_000), default=0, metavar="R",
                   help="replications of simulated power per design point (0: analytic only)")
    s.add_argument("--methods", type=name_list(_method, "method"), default=None,
                   help="analyses of the simulated trials: mixedlm, bayes, summary, ols "
                   "(default mixedlm,ols; summary,ols when partially nested: mixedlm and "
                   "bayes need every patient nested in a therapist)")
    s.add_argument("--search", action="store_true",
                   help="also search the fewest therapists per arm by simulation (first "
                   "method, first --patients value)")
    s.add_argument("--seed", type=seed(), default=1, help="root seed (default 1)")
    s.add_argument("--workers", type=integer(1, 1024), default=None,
                   help="worker processes (default: one per core; 1 runs in this process)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the design, check the folder, compute and write the report.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> out = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
    ...     code = main(["power", "--out", f"{folder}/power", "--therapists", "4:8:2",
    ...                  "--patients", "5", "--cohend", "0.5"])
    ...     wrote = Path(folder, "power", "report.html").exists()
    >>> code, wrote
    (0, True)
    """
    from analyses.pipelines.power import power_report
    from simulations.power import TrialDesign
    from simulations.study.executors import Processes, Serial

    design = TrialDesign(
        n_therapists=args.therapists[0], patients_per_therapist=args.patients[0],
        n_sessions=args.sessions, cohend=args.cohend, slope_diff=args.slope_diff,
        icc_pre_subject=args.icc_pre_subject, icc_pre_cluster=args.icc_pre_cluster,
        icc_slope=args.icc_slope, var_ratio=args.var_ratio, corr_subject=args.corr_subject,
        nesting=args.nesting, dropout=args.dropout, dropout_shape=args.dropout_shape,
        informative=args.informative, alpha=args.alpha)
    if min(args.therapists) < 2:
        raise ValueError("--therapists: at least 2 per arm")
    methods = args.methods or (["mixedlm", "ols"] if args.nesting == "full"
                               else ["summary", "ols"])
    nested_only = sorted({"mixedlm", "bayes"} & set(methods))
    if args.nesting == "partial" and nested_only:
        raise ValueError(f"--methods {','.join(nested_only)}: needs a fully nested design; "
                         "use summary or ols with --nesting partial")
    folder = OutputFolder(args.out, "power", overwrite=args.overwrite)  # checked first
    executor = Serial() if args.workers == 1 else Processes(args.workers)
    rep = power_report(design, therapists=args.therapists, patients=args.patients,
                       target=args.target, assurance_sd=args.assurance_sd,
                       simulate=args.simulate, methods=tuple(methods),
                       search=args.search, seed=args.seed, executor=executor,
                       progress=not args.quiet)
    out = rep.write(folder)
    sizes = rep.tables.get("sample_size")
    if sizes is not None:
        for row in sizes.itertuples(index=False):
            answer = row.n_therapists if row.n_therapists is not None else "more than searched"
            print(f"{row.patients_per_therapist} patients per therapist: {answer} therapists "
                  f"per arm reach {args.target:.0%} power")
    print(f"Report: {out / 'report.html'}")
    return 0
