"""The ``setback`` command line: one subcommand per main job.

Each subcommand lives in ``analyses/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func=run`` where
``run(args) -> int`` parses nothing itself, calls one pipeline function and prints.
Shared option groups are in :mod:`analyses.commands._options`.

Bad input never ends in a traceback: bad data (:class:`trajectories.DataValidationError`),
bad options or files (``ValueError``, ``KeyError``, e.g. an unreadable data file or a
refused output folder) and any operating-system error (``OSError``: a missing file, a
folder where a file was expected, a permission or disk problem) are printed as one line,
``setback COMMAND: message``, with exit code 2. ``--debug`` (before or after the command)
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

from analyses.commands._types import OneLineParser
from trajectories.data import DataValidationError

__all__ = ["build_parser", "main"]

#: Subcommand modules, in the order ``setback --help`` lists them.
COMMANDS: tuple[str, ...] = ("describe", "analyze", "fit", "predict", "report", "simulate",
                             "compare_policies", "study", "power", "demo")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("setback")
    except PackageNotFoundError:  # running from a source tree without installation
        return "unknown"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand registered.

    ``only`` registers just that one, so that a command does not pay for importing the others'
    plotting stack.

    Examples
    --------
    >>> parser = build_parser(only="describe")  # just one subcommand: a fast start
    >>> args = parser.parse_args(["describe", "data.csv", "--instrument", "phq9"])
    >>> args.command, args.file, args.instrument
    ('describe', 'data.csv', 'phq9')
    """
    parser = OneLineParser(
        prog="setback",
        description="Therapy trajectory and dropout modelling: describe data, fit growth "
        "models, simulate clinics and compare feedback and alliance-repair policies.",
    )
    parser.add_argument("--version", action="version", version=f"setback {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"analyses.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not built yet
            if exc.name != f"analyses.commands.{name}":
                raise
            continue
        module.register(sub)
    _add_debug(sub)
    return parser


def _add_debug(sub: argparse._SubParsersAction) -> None:
    """Accept ``--debug`` after the command too (``setback fit ... --debug``), nested ones included.

    SUPPRESS keeps a subcommand from resetting a ``--debug`` given before it.
    """
    for parser in dict.fromkeys(sub.choices.values()):
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show the full traceback of an error instead of one line")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug(action)


def _one_line(message: object) -> str:
    """Put a message on one line (a multi-line library message would look like a traceback)."""
    return re.sub(r"\s*\n\s*", " ", str(message)).strip()


def _os_message(exc: OSError) -> str:
    """``path: what went wrong`` for an operating-system error."""
    if exc.filename is None or (exc.args and isinstance(exc.args[0], str)
                                and len(exc.args) == 1):
        return str(exc)  # a message of our own, which names the path
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    return f"{where}: {exc.strerror or type(exc).__name__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``setback`` console script.

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     code = main([])  # no command: the help, exit code 1
    >>> code
    1
    >>> main(["fit", "data.csv", "--out", "fit", "--compare", "log"])  # one line on stderr
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    named = argv[0].replace("-", "_") if argv else ""
    parser = build_parser(only=named if named in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if args.debug:
        return int(args.func(args) or 0)
    command = " ".join(["setback", args.command] + ([args.action] if getattr(
        args, "action", None) else []))
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        print(f"{command}: invalid data: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{command}: {_one_line(msg)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`setback ... | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 1
    except OSError as exc:
        print(f"{command}: {_one_line(_os_message(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
