"""Option groups shared by the subcommands: one spelling, one default, one check per option.

A command that reads a data file, fits a growth model or writes an output folder adds the
groups it needs and turns the parsed arguments into library objects with the matching
function, so ``setback analyze``, ``setback fit`` (and any new command, e.g. one that
predicts from a fit) accept the same options with the same meaning::

    def register(sub):
        parser = sub.add_parser("mycommand", help="...")
        add_data_options(parser)            # FILE, --instrument, column mapping
        add_model_options(parser)           # --time, --patient-effects, ... --dropout
        add_sampler_options(parser)         # --draws, --tune, --chains, --sampler, --seed
        add_estimand_options(parser)        # --at-session, --rci
        add_output_options(parser, "fit")   # --out, --overwrite, --quiet
        parser.set_defaults(func=run)

    def run(args):
        data = load_data(args)                      # validated TherapyData
        spec = growth_spec(args, data)              # GrowthSpec
        settings = sampler_settings(args)           # SamplerSettings with the seed resolved
        print(seed_line(settings.seed, args.seed))  # the seed, and how to reuse it

Every option is range-checked by argparse (:mod:`analyses.commands._types`), so a bad value
stops the command with one line before any file is read.
"""

from __future__ import annotations

import argparse
from typing import get_args

from analyses.commands._types import instrument, integer, number, seed
from trajectories.data import MAX_SESSION, TherapyData
from trajectories.engine.settings import SamplerSettings
from trajectories.files import ACCEPTED_FORMATS, read_long_file
from trajectories.spec import DropoutSpec, GrowthSpec, TimeShape

__all__ = ["TIME_SHAPES", "add_data_options", "add_estimand_options", "add_model_options",
           "add_output_options", "add_sampler_options", "comma_list", "growth_spec",
           "load_data", "sampler_settings", "seed_line"]

Parser = argparse.ArgumentParser | argparse._ArgumentGroup
#: The time shapes of ``--time`` and ``--compare`` (those of :class:`GrowthSpec`).
TIME_SHAPES: tuple[str, ...] = get_args(TimeShape)


def comma_list(text: str) -> tuple[str, ...]:
    """Split a comma-separated list: ``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(c.strip() for c in text.split(",") if c.strip())


# ---------------------------------------------------------------------------- data
def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Add FILE, --instrument and the column-mapping options."""
    parser.add_argument("file", metavar="FILE",
                        help=f"the data: {ACCEPTED_FORMATS}, one row per patient and session "
                        "(recognised by content, whatever the suffix)")
    parser.add_argument("--instrument", type=instrument,
                        help="outcome measure, e.g. phq9, gad7, core10, oq45, bdi2 (sets the "
                        "score range, direction and reliable change index)")
    cols = parser.add_argument_group("column mapping (defaults are the canonical names)")
    cols.add_argument("--patient", default="patient", help="patient identifier column")
    cols.add_argument("--therapist", default=None,
                      help="therapist column (default: 'therapist' if present, else none)")
    cols.add_argument("--session", default="session",
                      help="session number column (0 = intake)")
    cols.add_argument("--time-unit", default=None,
                      help="what the session numbers count, for labels, e.g. week or month "
                      "(default: the session column's name)")
    cols.add_argument("--score", default="score", help="outcome score column")
    cols.add_argument("--alliance", default=None,
                      help="alliance rating column (default: 'alliance' if present)")
    cols.add_argument("--end-status", default=None,
                      help="end status column (default: 'end_status' if present, else inferred)")
    cols.add_argument("--covariates", default="", type=comma_list,
                      help="comma-separated covariate columns (e.g. treatment,intake)")
    cols.add_argument("--allow-missing-scores", action="store_true",
                      help="keep rows whose score is missing instead of rejecting the file")
    cols.add_argument("--allow-therapist-change", action="store_true",
                      help="allow a patient to see more than one therapist")


def load_data(args: argparse.Namespace) -> TherapyData:
    """Read and validate the file named on the command line (ids are read as text)."""
    frame = read_long_file(args.file, id_columns=(args.patient, args.therapist or "therapist"))

    def present(given: str | None, name: str) -> str | None:
        return given or (name if name in frame.columns else None)

    return TherapyData.from_frame(
        frame, patient=args.patient, therapist=present(args.therapist, "therapist"),
        session=args.session, score=args.score, alliance=present(args.alliance, "alliance"),
        end_status=present(args.end_status, "end_status"), covariates=args.covariates,
        instrument=args.instrument, allow_missing_scores=args.allow_missing_scores,
        allow_therapist_change=args.allow_therapist_change, time_unit=args.time_unit,
    )


# ---------------------------------------------------------------------------- model
def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the growth-model options (the fields of :class:`GrowthSpec`)."""
    model = parser.add_argument_group("model")
    model.add_argument("--time", default="log",
                       choices=TIME_SHAPES,
                       help="shape of change over sessions: session, log(1 + session), "
                       "session and its square, or early and late linear pieces")
    model.add_argument("--breakpoint", type=number(low=0.0, high=float(MAX_SESSION),
                                                   low_open=True), default=4.0,
                       help="end of early change for --time piecewise (a session > 0)")
    model.add_argument("--patient-effects", default="slopes", choices=["intercept", "slopes"],
                       help="patient random effects on the intercept only, or on every "
                       "growth coefficient")
    model.add_argument("--therapist-effects", default="slopes",
                       choices=["none", "intercept", "slopes"],
                       help="therapist random effects (ignored without a therapist column)")
    model.add_argument("--likelihood", default="normal", choices=["normal", "student_t"],
                       help="residual distribution (student_t resists outlying sessions)")
    model.add_argument("--residual", default="independent", choices=["independent", "ar1"],
                       help="'ar1': a patient's deviations carry over between consecutive "
                       "observed sessions (correlation residual_ar estimated)")
    model.add_argument("--time-interactions", default="", type=comma_list,
                       help="comma-separated covariates that also change the slope (e.g. "
                       "treatment for arm x time)")
    model.add_argument("--dropout", default="none", choices=["none", "joint"],
                       help="'joint': model dropout jointly with the growth curves (shared "
                       "latent level and change; informative dropout; the current alliance "
                       "rating as an observed predictor when the data have one) and report "
                       "each patient's dropout risk")


def growth_spec(args: argparse.Namespace, data: TherapyData) -> GrowthSpec:
    """Return the :class:`GrowthSpec` the model options describe (covariates from the data)."""
    return GrowthSpec(
        time=args.time, breakpoint=args.breakpoint, patient=args.patient_effects,
        therapist=args.therapist_effects, likelihood=args.likelihood, residual=args.residual,
        covariates=data.covariates, time_interactions=args.time_interactions,
        # the current alliance rating predicts dropout (Sharf et al. 2010): used when rated
        dropout=(DropoutSpec(predictors=("alliance",) if data.has_alliance else ())
                 if args.dropout == "joint" else None),
    )


# ---------------------------------------------------------------------------- sampler
def add_sampler_options(parser: argparse.ArgumentParser) -> None:
    """Add the sampler options (the fields of :class:`SamplerSettings`)."""
    group = parser.add_argument_group("sampler")
    group.add_argument("--draws", type=integer(1, 1_000_000), default=1000,
                       help="posterior draws per chain")
    group.add_argument("--tune", type=integer(0, 1_000_000), default=1000,
                       help="tuning (warm-up) steps per chain")
    group.add_argument("--chains", type=integer(1, 64), default=2, help="chains")
    group.add_argument("--target-accept", type=number(low=0.0, high=1.0, low_open=True,
                                                      high_open=True), default=0.8,
                       help="target acceptance rate in (0, 1); raise it (0.9, 0.95) after "
                       "divergent transitions")
    group.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"],
                       help="NUTS implementation for the latent and joint models (the fast "
                       "path always uses nutpie)")
    group.add_argument("--seed", type=seed(), default=None,
                       help="seed of the sampler (default: one is drawn, printed and stored "
                       "in meta.json and the fit)")


def sampler_settings(args: argparse.Namespace) -> SamplerSettings:
    """Return the :class:`SamplerSettings` of the options, seed resolved (drawn if none)."""
    return SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains,
                           target_accept=args.target_accept, seed=args.seed,
                           sampler=args.sampler, progress=not args.quiet).resolved()


def seed_line(used: int, given: int | None) -> str:
    """Return the line that tells the user which seed was used and how to get the same numbers.

    Examples
    --------
    >>> seed_line(12, None)
    'seed 12 (drawn; pass --seed 12 to reproduce these numbers)'
    >>> seed_line(12, 12)
    'seed 12'
    """
    return f"seed {used}" if given is not None else (
        f"seed {used} (drawn; pass --seed {used} to reproduce these numbers)")


# ---------------------------------------------------------------------------- estimands
def add_estimand_options(parser: argparse.ArgumentParser) -> None:
    """Add --at-session and --rci (where the estimands are evaluated, and how)."""
    group = parser.add_argument_group("estimands")
    group.add_argument("--at-session", type=number(low=0.0, high=float(MAX_SESSION)),
                       default=None,
                       help="session for the estimands, >= 0 (default: the last in the data)")
    group.add_argument("--rci", type=number(low=0.0, low_open=True), default=None,
                       help="reliable change index, > 0 (default: the instrument's published "
                       "one, else Jacobson-Truax from its reliability)")


# ---------------------------------------------------------------------------- output
def add_output_options(parser: Parser, what: str, *, required: bool = True,
                       default: str | None = None, quiet: bool = True) -> None:
    """Add --out, --overwrite and (``quiet``) --quiet; ``what`` names the output in the help."""
    group = parser.add_argument_group("output") if isinstance(
        parser, argparse.ArgumentParser) else parser
    group.add_argument("--out", required=required, default=default, metavar="DIR",
                       help=f"output folder for the {what} (new, empty, or one this command "
                       "wrote before; checked before any work)")
    group.add_argument("--overwrite", action="store_true",
                       help="write into a non-empty folder that is not this command's output "
                       "(files with the names this command writes are replaced; others are "
                       "left alone)")
    if quiet:
        group.add_argument("--quiet", action="store_true", help="no progress output")
