"""``setback simulate``: simulate a clinic under one policy and write its data and outcomes."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import pandas as pd

from analyses.commands._options import add_output_options
from analyses.commands._types import integer, seed
from analyses.outputs import OutputFolder
from analyses.report import provenance
from simulations import ClinicConfig, policy_from_name
from simulations.clinic.outcomes import (
    MIN_CLUSTERS,
    FewClustersWarning,
    few_clusters_note,
    summary,
)
from simulations.clinic.simulate import simulate_chunks

PATIENTS_PER_THERAPIST = 90  # Saxon & Barkham (2012): 10,786 patients of 119 therapists


def policy_name(text: str) -> str:
    """Parse a policy name that :func:`policy_from_name` understands (an argparse ``type=``).

    Examples
    --------
    >>> policy_name("feedback+cst")
    'feedback+cst'
    >>> try:
    ...     policy_name("no-such-policy")
    ... except argparse.ArgumentTypeError:
    ...     print("refused")
    refused
    """
    try:
        policy_from_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_clinic_options(parser: argparse.ArgumentParser) -> None:
    """Options that define the simulated service (shared with ``compare-policies``).

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_clinic_options(parser)
    >>> args = parser.parse_args(["--patients", "500", "--out", "sim"])
    >>> args.patients, args.therapists, args.seed, args.setting
    (500, None, 1, 'trial')
    """
    parser.add_argument("--patients", type=integer(1, 100_000_000), default=2_000,
                        help="number of patients (default 2000)")
    parser.add_argument("--therapists", type=integer(1, 1_000_000),
                        default=None,
                        help=f"number of therapists (default: patients / "
                        f"{PATIENTS_PER_THERAPIST}, at least 1). Intervals are cluster-robust "
                        f"by therapist with at least {MIN_CLUSTERS} therapists; with fewer "
                        "they treat patients as independent, and a note says so")
    parser.add_argument("--seed", type=seed(), default=1,
                        help="root seed (default 1, recorded in meta.json); the same seed "
                        "gives identical results")
    parser.add_argument("--setting", choices=("trial", "routine"), default="trial",
                        help="dropout baseline: trial-like (~20%%) or routine care (~30%%)")
    parser.add_argument("--max-sessions", type=integer(2, 200), default=20,
                        help="session limit, intake included (default 20)")
    parser.add_argument("--good-enough", action="store_true",
                        help="end treatment once the score stays below the cutoff (2 sessions)")
    add_output_options(parser, "simulated data and outcomes")


def clinic_config(args: argparse.Namespace) -> ClinicConfig:
    """Return the :class:`ClinicConfig` the options describe (validated: bad values raise).

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_clinic_options(parser)
    >>> config = clinic_config(parser.parse_args(["--patients", "500", "--out", "sim"]))
    >>> config.n_patients, config.n_therapists  # patients / PATIENTS_PER_THERAPIST
    (500, 6)
    """
    therapists = args.therapists or max(1, round(args.patients / PATIENTS_PER_THERAPIST))
    make = ClinicConfig.routine if args.setting == "routine" else ClinicConfig
    return make(n_patients=args.patients, n_therapists=therapists,
                max_sessions=args.max_sessions, good_enough=args.good_enough)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'simulate'
    >>> parser = build_parser(only="simulate")
    >>> args = parser.parse_args(["simulate", "--policy", "feedback", "--out", "sim"])
    >>> args.func is run
    True
    >>> args.policy
    'feedback'
    """
    parser = sub.add_parser(
        "simulate",
        help="simulate a clinic under a policy",
        description="Simulate therapy courses (PHQ-9) with alliance ruptures and informative "
        "dropout under a policy, and write DIR/sessions.parquet (observed long data), "
        "DIR/patients.parquet (outcomes and hidden truth per patient), DIR/summary.json "
        "(outcome rates with 95% intervals) and DIR/meta.json (seed, configuration, "
        "versions). Policies: tau, feedback, feedback+cst, "
        "alliance-repair, feedback+alliance-repair, referral, and other '+' combinations.",
    )
    parser.add_argument("--policy", default="tau", type=policy_name,
                        help="policy name (default tau)")
    add_clinic_options(parser)
    parser.set_defaults(func=run)


def format_summary(policy: str, info: dict) -> str:
    """Plain-text summary: one line per outcome, overall and among not-on-track patients.

    Examples
    --------
    >>> import contextlib, io, json, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     code = main(["simulate", "--patients", "60", "--therapists", "3", "--out",
    ...                  f"{folder}/sim", "--quiet"])
    ...     info = json.loads(Path(folder, "sim", "summary.json").read_text())
    >>> print(format_summary("tau", info).splitlines()[0])  # doctest: +ELLIPSIS
    policy tau: 60 patients of 3 therapists, ... sessions on average
    """
    rates = pd.DataFrame(info["rates"])
    robust = bool((rates["interval"] == "cluster-robust").all())
    how = "95% CI, cluster-robust" if robust else "95% Wilson CI"
    k = info["n_therapists"]
    lines = [f"policy {policy}: {info['n_patients']} patients of {k} "
             f"therapist{'s' if k != 1 else ''}, {info['mean_sessions']:.1f} sessions on "
             "average",
             "end status: " + ", ".join(f"{k} {v}" for k, v in info["end_status"].items()),
             f"{'outcome':<18}{f'all ({how})':<32}{f'not on track ({how})'}"]
    for outcome, group in rates.groupby("outcome", sort=False):
        cells = []
        for subgroup in ("all", "NOT"):
            row = group[group["subgroup"] == subgroup]
            cells.append("" if row.empty else
                         f"{row['rate'].iloc[0]:6.1%} [{row['ci_low'].iloc[0]:.1%}, "
                         f"{row['ci_high'].iloc[0]:.1%}]")
        lines.append(f"{outcome:<18}{cells[0]:<32}{cells[1]}")
    if not robust:
        lines.append(f"note: {few_clusters_note(k)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Validate, simulate chunk by chunk, then write the summary and print it.

    Each chunk is validated and written in a second thread while the next is simulated, so memory
    stays bounded by two chunks. Everything is written into a temporary folder and moved into
    ``--out`` only when complete.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     code = main(["simulate", "--patients", "60", "--therapists", "3", "--out",
    ...                  f"{folder}/sim", "--quiet"])
    ...     files = sorted(p.name for p in Path(folder, "sim").iterdir())
    >>> code, files  # doctest: +NORMALIZE_WHITESPACE
    (0, ['.setback-output.json', 'meta.json', 'patients.parquet', 'sessions.parquet',
         'summary.json'])
    """
    config = clinic_config(args)
    policy = policy_from_name(args.policy)
    folder = OutputFolder(args.out, "simulate", overwrite=args.overwrite)
    chunks = simulate_chunks(config, policy, seed=args.seed, progress=not args.quiet,
                             truth=False)
    with folder:
        patients, variates = [], {"normal": 0, "uniform": 0}
        with _ChunkWriter(folder.tmp) as writer:
            for chunk in chunks:
                writer.submit(chunk)
                patients.append(chunk.patients)
                for kind, count in chunk.variates.items():
                    variates[kind] += count
        frame = pd.concat(patients, ignore_index=True)
        with warnings.catch_warnings():  # format_summary prints the note instead
            warnings.simplefilter("ignore", FewClustersWarning)
            info = {"policy": policy.name, "seed": args.seed, "config": config.to_dict(),
                    "variates": variates, **summary(frame)}
        (folder.tmp / "summary.json").write_text(json.dumps(info, indent=2, default=str))
        meta = provenance(seed=args.seed, config=config.to_dict(), policy=policy.name)
        (folder.tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(format_summary(policy.name, info))
    print(f"seed {args.seed}")
    print(f"wrote {args.out}/sessions.parquet, patients.parquet, summary.json, meta.json")
    return 0


class _ChunkWriter:
    """Validate and write each chunk's data in one worker thread.

    Each chunk's observed data are validated as TherapyData and appended to ``sessions.parquet``
    (its patients to ``patients.parquet``); NumPy and Arrow release the GIL, so this overlaps with
    simulating the next chunk. At most one chunk waits, and an error in the worker is raised in the
    caller.
    """

    def __init__(self, out: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.out, self.pending, self.files = out, None, {}
        self.pool = ThreadPoolExecutor(max_workers=1)

    def _write(self, chunk) -> None:  # noqa: ANN001
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunk.observed()  # validated as TherapyData (raises naming column and rule)
        for name, frame in (("sessions", chunk.sessions), ("patients", chunk.patients)):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in self.files:
                # dictionary-encode the categories only: trying it on every numeric column
                # doubles the writing time for no gain
                categorical = [c for c in frame.columns
                               if isinstance(frame[c].dtype, pd.CategoricalDtype)]
                self.files[name] = pq.ParquetWriter(self.out / f"{name}.parquet", table.schema,
                                                    use_dictionary=categorical)
            self.files[name].write_table(table)

    def submit(self, chunk) -> None:  # noqa: ANN001
        self.wait()
        self.pending = self.pool.submit(self._write, chunk)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)
            for writer in self.files.values():
                writer.close()
