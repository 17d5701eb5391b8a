"""``setback study run | status | errors | replay | summarize``: simulation studies from TOML.

``run`` starts or resumes a study (the same command after an interruption continues where
it stopped) and exits 1 when a condition failed entirely, saying why; ``status`` shows
replications done, remaining and failed per condition; ``errors`` lists each condition's
distinct error (and warning) messages with the replications to replay; ``replay`` reruns
one replication with the seed it had, showing its traceback; ``summarize`` writes the
performance table with Monte Carlo SEs as CSV and prints it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import pandas as pd

from analyses.commands._types import existing_file, integer, name_list, number
from analyses.outputs import (
    OutputFolder,
    OutputFolderError,
    check_writable,
    output_kind,
    write_file,
)
from analyses.settings import load_study
from simulations.study.errors import FLAG_FAILURE_RATE, failure_summary
from simulations.study.executors import JOBQUEUE, Dask, Processes, Serial
from simulations.study.metrics import METRICS, parse_targets, summarise
from simulations.study.run import StudyResults, load_results, replay, run_study
from simulations.study.store import ParquetStore


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``study`` subcommand and its ``run``, ``status`` and ``summarize`` actions.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["study", "status", "results"])
    >>> args.action, str(args.dir), args.func is status_command
    ('status', 'results', True)
    """
    parser = sub.add_parser(
        "study", help="run, resume, monitor and summarise simulation studies",
        description="Simulation studies: a design grid of conditions, replications of a task "
        "in each, results stored chunk by chunk in a resumable Parquet store, and "
        "performance measures with Monte Carlo standard errors.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run", help="start or resume a study",
        description="Run the study a TOML file describes, storing results in DIR. Running the "
        "same command again resumes: finished replications are skipped; a different design "
        "in DIR is refused. Tasks named 'module:function' are imported from the current "
        "directory or the installed packages.")
    run.add_argument("config", metavar="STUDY.toml", type=existing_file, help="study file")
    run.add_argument("--out", required=True, type=Path, metavar="DIR",
                     help="results directory: new, empty, or one this study wrote")
    run.add_argument("--overwrite", action="store_true",
                     help="start the study in a non-empty directory that holds no study "
                     "(its files are left alone; a folder of another setback command is "
                     "refused even so)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--workers", type=integer(1, 1024), default=None, metavar="N",
                       help="local worker processes (default: one per core; 1 runs in this "
                       "process)")
    where.add_argument("--scheduler", default=None, metavar="ADDR",
                       help="Dask scheduler address, e.g. tcp://10.0.0.5:8786, or 'local' to "
                       "start a local Dask cluster")
    where.add_argument("--cluster", choices=sorted(JOBQUEUE), default=None,
                       help="start Dask workers as batch jobs (dask-jobqueue; queue, cores, "
                       "memory and walltime from ~/.config/dask/jobqueue.yaml): see "
                       "docs/studies.md")
    run.add_argument("--jobs", type=integer(1, 100_000), default=1, metavar="N",
                     help="batch jobs to submit with --cluster (default 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_flag_option(run)
    run.set_defaults(func=run_command)

    status = actions.add_parser(
        "status", help="replications done, remaining and failed per condition",
        description="Show, per condition, the replications done, remaining and failed, and "
        "whether the condition stopped after too many consecutive errors.")
    status.add_argument("dir", metavar="DIR", type=Path, help="results directory")
    status.set_defaults(func=status_command)

    errors = actions.add_parser(
        "errors", help="distinct error and warning messages per condition, with seeds",
        description="List, per condition, the failure rate and each distinct error message "
        "with the number of replications it hit and the first replications to replay "
        "(`setback study replay DIR --condition C --replication R` reruns one with the seed "
        "it had and shows the traceback). Exits 1 when a condition failed entirely.")
    errors.add_argument("dir", metavar="DIR", type=Path, help="results directory")
    errors.add_argument("--warnings", action="store_true",
                        help="list the recorded warnings instead of the errors")
    _add_flag_option(errors)
    errors.set_defaults(func=errors_command)

    rerun = actions.add_parser(
        "replay", help="rerun one replication with its recorded seed",
        description="Rerun one replication of the study in DIR alone, with the seed it had "
        "(derived from the design's root seed, the condition and the replication), and print "
        "its rows; an error is raised again with its full traceback.")
    rerun.add_argument("dir", metavar="DIR", type=Path, help="results directory")
    rerun.add_argument("--condition", type=integer(0), required=True, metavar="C",
                       help="condition_id")
    rerun.add_argument("--replication", type=integer(0), required=True, metavar="R",
                       help="replication number")
    rerun.set_defaults(func=replay_command)

    summ = actions.add_parser(
        "summarize", help="performance measures with Monte Carlo SEs (CSV and printed)",
        description="Compute performance measures (bias, empirical and model SE, RMSE, "
        "coverage, rejection rate, ...) with their Monte Carlo SEs per condition, method and "
        "estimand; write DIR/summary.csv and print the table.")
    summ.add_argument("dir", metavar="DIR", type=Path, help="results directory")
    summ.add_argument("--metrics", default=None, type=name_list(_metric, "metric"),
                      help=f"comma-separated, from: {', '.join(METRICS)} (default: those the "
                      "results allow)")
    summ.add_argument("--alpha", type=number(low=0.0, high=1.0, low_open=True, high_open=True),
                      default=0.05,
                      help="test level in (0, 1) for the rejection rate from p-values "
                      "(default 0.05)")
    summ.add_argument("--target-mcse", type=_targets, default=None,
                      metavar="METRIC=X,...", help="add n_needed, the replications for a Monte "
                      "Carlo SE per metric, e.g. bias=0.01,coverage=0.005 (a bare number "
                      "applies to every metric; percent-scale metrics take points)")
    summ.add_argument("--reference", default=None, metavar="METHOD",
                      help="method that relprec (relative precision) compares the others with")
    summ.add_argument("--csv", type=Path, default=None,
                      help="where to write the table (default DIR/summary.csv)")
    summ.add_argument("--overwrite", action="store_true",
                      help="replace a --csv file (or a DIR/summary.csv) setback did not write")
    summ.set_defaults(func=summarize_command)


def _add_flag_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flag-failures", type=_rate, default=FLAG_FAILURE_RATE,
                        metavar="RATE", help="flag conditions whose failure rate exceeds RATE "
                        f"(default {FLAG_FAILURE_RATE:g})")


def run_command(args: argparse.Namespace) -> int:
    r"""Start or resume the study and print its status.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     _ = Path(folder, "study.toml").write_text(
    ...         "[study]\ntask = \"t_interval\"\n[design]\nreplications = 5\nseed = 1\n"
    ...         "[design.factors]\nn = [5, 30]\n")
    ...     run_code = main(["study", "run", f"{folder}/study.toml", "--out", f"{folder}/s",
    ...                      "--workers", "1", "--quiet"])
    ...     done = len(list(Path(folder, "s", "chunks").iterdir())) > 0
    >>> run_code, done
    (0, True)
    """
    settings = load_study(args.config)
    check_writable(args.out)  # a file, a path below one, a read-only place: before any work
    kind = output_kind(args.out) if args.out.is_dir() else None
    if kind not in (None, "study"):
        raise OutputFolderError(f"{args.out} holds the output of `setback {kind}`; a study is "
                                "not written into it (even with --overwrite): choose another "
                                "directory")
    _import_from_here()
    if args.cluster is not None:
        executor = Dask(cluster=args.cluster, jobs=args.jobs)
    elif args.scheduler is not None:
        executor = Dask(None if args.scheduler == "local" else args.scheduler)
    elif args.workers == 1:
        executor = Serial()
    else:
        executor = Processes(args.workers)
    store = ParquetStore(args.out, chunk_size=settings.chunk_size,
                         allow_other_files=args.overwrite)
    store.check_folder()  # a non-empty folder that holds no study: refused before the work
    # SIGTERM (kill, a batch scheduler's time limit) ends the run as Ctrl-C does: workers
    # are stopped, the lock released and finished chunks kept
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run_study(settings.design, settings.task, store=store, executor=executor,
                            max_consecutive_errors=settings.max_consecutive_errors,
                            progress=not args.quiet)
    except RuntimeError as exc:  # the store is locked by another run
        print(f"setback study run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"setback study run: interrupted; finished chunks are kept in {store.path}, run "
              "the same command to resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"ran {results.meta['n_run']} replications; results in {store.path}")
    _print_status(store)
    return _report_failures(results, results.failure_table(args.flag_failures),
                            "setback study run")


def _report_failures(results: StudyResults, table: pd.DataFrame, prog: str) -> int:
    """Print flagged and entirely failed conditions of ``results.failure_table()``.

    Returns 1 if any condition failed entirely.
    """
    lines = failure_summary(table, list(results.design.factors))
    for line in lines:
        print(f"{prog}: {line}", file=sys.stderr)
    if lines:
        print(f"{prog}: see `setback study errors {results.meta.get('store', 'DIR')}` for the "
              "messages and the replications to replay", file=sys.stderr)
    return 1 if table["failed_entirely"].any() else 0


def _import_from_here() -> None:
    """Let a task named 'module:function' be found among the user's own modules."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_status(store: ParquetStore) -> None:
    table = store.status()
    with pd.option_context("display.width", 120, "display.max_rows", 500):
        print(table.assign(seconds=table["seconds"].round(1)).to_string(index=False))
    done, planned = int(table["done"].sum()), int((table["done"] + table["remaining"]).sum())
    stopped = int(table["stopped"].sum())
    print(f"total: {done} of {planned} replications done, {int(table['failed'].sum())} failed"
          + (f", {stopped} condition(s) stopped after consecutive errors" if stopped else ""))
    spent = float(table["seconds"].sum())
    if done and table["remaining"].sum():
        # each condition's own time per replication: conditions differ a lot in cost
        per_rep = (table["seconds"] / table["done"].where(table["done"] > 0)).fillna(spent / done)
        left = float((per_rep * table["remaining"]).sum())
        print(f"compute time: {_duration(spent)} so far, about {_duration(left)} left "
              "(divide by the number of workers)")
    elif done:
        print(f"compute time: {_duration(spent)}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def status_command(args: argparse.Namespace) -> int:
    """Print done / remaining / failed per condition.

    Examples
    --------
    ``study_dir`` (a doctest fixture) is a finished study folder of the t-interval task:

    >>> import contextlib, io
    >>> from analyses.cli import main
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     code = main(["study", "status", str(study_dir)])
    >>> code, "remaining" in out.getvalue()
    (0, True)
    """
    _print_status(ParquetStore(args.dir))
    return 0


def errors_command(args: argparse.Namespace) -> int:
    """Print the failure table and the distinct messages with replications to replay.

    Examples
    --------
    ``study_dir`` (a doctest fixture) is a finished study folder of the t-interval task:

    >>> import contextlib, io
    >>> from analyses.cli import main
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     code = main(["study", "errors", str(study_dir)])
    >>> code
    0
    """
    results = load_results(ParquetStore(args.dir))
    design = results.design
    status = results.failure_table(args.flag_failures)
    kind = "warning" if args.warnings else "error"
    messages = results.errors(kind)
    with pd.option_context("display.width", 160, "display.max_rows", 1000,
                           "display.max_colwidth", 100):
        shown = status[[*design.conditions().columns, "done", "failed", "failure_rate",
                        "flagged", "stopped"]]
        print(shown.assign(failure_rate=shown["failure_rate"].round(3)).to_string(index=False))
        print()
        if messages.empty:
            print(f"no {kind}s recorded")
        else:
            print(f"{kind}s: {len(messages)} distinct message(s) in "
                  f"{messages['condition_id'].nunique()} condition(s)")
            print(messages.to_string(index=False))
            first = messages.iloc[0]
            rep = str(first["replications"]).split(",")[0].strip()
            print(f"\nreplay one: setback study replay {args.dir} --condition "
                  f"{first['condition_id']} --replication {rep}")
    return _report_failures(results, status, "setback study errors")


def replay_command(args: argparse.Namespace) -> int:
    """Rerun one replication; its error propagates with the traceback.

    Examples
    --------
    ``study_dir`` (a doctest fixture) is a finished study folder of the t-interval task:

    >>> import contextlib, io
    >>> from analyses.cli import main
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     code = main(["study", "replay", str(study_dir), "--condition", "1",
    ...                  "--replication", "3"])
    >>> code, "estimate" in out.getvalue()
    (0, True)
    """
    import traceback

    store = ParquetStore(args.dir)
    manifest = store.manifest()
    design = store.design()
    _import_from_here()
    design.condition(args.condition)  # a clear error for an unknown condition, first
    try:
        rows = replay(design, manifest["task"], args.condition, args.replication)
    except Exception:  # the point of replay: show what the study recorded, in full
        traceback.print_exc()
        print(f"setback study replay: condition {args.condition}, replication "
              f"{args.replication} raised the error above", file=sys.stderr)
        return 1
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(rows.to_string(index=False))
    return 0


def _rate(text: str) -> float:
    return number(low=0.0, high=1.0, high_open=True)(text)


def _targets(text: str) -> dict[str, float]:
    try:
        return parse_targets(text, METRICS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return name


def summarize_command(args: argparse.Namespace) -> int:
    """Write the performance table as CSV and print it.

    Examples
    --------
    ``study_dir`` (a doctest fixture) is a finished study folder of the t-interval task:

    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     code = main(["study", "summarize", str(study_dir), "--metrics", "coverage",
    ...                  "--csv", f"{folder}/summary.csv"])
    ...     wrote = Path(folder, "summary.csv").exists()
    >>> code, wrote
    (0, True)
    """
    store = ParquetStore(args.dir)
    store.manifest()  # a clear error for a folder that is not a study, before any work
    folder = None if args.csv else OutputFolder(args.dir, "study", overwrite=args.overwrite,
                                                files=["summary.csv"])
    if args.csv and args.csv.exists() and not args.overwrite:
        raise OutputFolderError(f"{args.csv} exists; pass --overwrite to replace it")
    results = load_results(store)
    metrics = None if args.metrics is None else tuple(args.metrics)
    table = summarise(results, metrics, alpha=args.alpha, target_mcse=args.target_mcse,
                      reference=args.reference)
    if folder is None:
        path = write_file(args.csv, table.to_csv(index=False), overwrite=args.overwrite)
    else:
        with folder:
            table.to_csv(folder.tmp / "summary.csv", index=False)
        path = folder.final("summary.csv")
    with pd.option_context("display.width", 160, "display.max_rows", 1000,
                           "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    print(f"written to {path}")
    return 0
