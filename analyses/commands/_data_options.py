"""Column-mapping options shared by the subcommands that read a data file."""

from __future__ import annotations

import argparse

from analyses.commands._types import instrument, integer, seed
from trajectories.data import TherapyData, read_long_file


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Add FILE, --instrument and the column-mapping options to a subcommand."""
    parser.add_argument("file", metavar="FILE", help="long-format CSV or Parquet file")
    parser.add_argument("--instrument", type=instrument,
                        help="outcome measure, e.g. phq9, gad7, core10, oq45, bdi2")
    cols = parser.add_argument_group("column mapping (defaults are the canonical names)")
    cols.add_argument("--patient", default="patient", help="patient identifier column")
    cols.add_argument("--therapist", default=None,
                      help="therapist column (default: 'therapist' if present, else none)")
    cols.add_argument("--session", default="session", help="session number column (0 = intake)")
    cols.add_argument("--score", default="score", help="outcome score column")
    cols.add_argument("--alliance", default=None, help="alliance rating column")
    cols.add_argument("--end-status", default=None,
                      help="end status column (default: 'end_status' if present, else inferred)")
    cols.add_argument("--covariates", default="", help="comma-separated covariate columns")
    cols.add_argument("--allow-missing-scores", action="store_true",
                      help="keep rows whose score is missing instead of rejecting the file")


def load_data(args: argparse.Namespace) -> TherapyData:
    """Read and validate the file named on the command line (ids are read as text)."""
    frame = read_long_file(args.file, id_columns=(args.patient, args.therapist or "therapist"))
    therapist = args.therapist or ("therapist" if "therapist" in frame.columns else None)
    end_status = args.end_status or ("end_status" if "end_status" in frame.columns else None)
    alliance = args.alliance or ("alliance" if "alliance" in frame.columns else None)
    covariates = tuple(c.strip() for c in args.covariates.split(",") if c.strip())
    return TherapyData.from_frame(
        frame, patient=args.patient, therapist=therapist, session=args.session,
        score=args.score, alliance=alliance, end_status=end_status, covariates=covariates,
        instrument=args.instrument, allow_missing_scores=args.allow_missing_scores,
    )


def add_sampling_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add --draws, --tune and --seed (``fit`` and ``analyze``)."""
    parser.add_argument("--draws", type=integer(1, 1_000_000), default=1000,
                        help="draws per chain (default 1000)")
    parser.add_argument("--tune", type=integer(0, 1_000_000), default=1000,
                        help="tuning steps per chain (default 1000)")
    parser.add_argument("--seed", type=seed(), default=None,
                        help="seed of the sampler (default: drawn and recorded)")
