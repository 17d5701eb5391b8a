"""The ``setback`` command line: one subcommand per main job.

Each subcommand lives in ``analyses/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func=run`` where
``run(args) -> int`` parses nothing itself, calls one pipeline function and prints.
Bad input (a :class:`trajectories.DataValidationError` or a ``ValueError`` raised while
checking options) is printed as one plain message with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from analyses.commands._types import OneLineParser
from trajectories.data import DataValidationError

__all__ = ["build_parser", "main"]

#: Subcommand modules, in the order ``setback --help`` lists them.
COMMANDS: tuple[str, ...] = ("describe", "analyze", "fit", "report", "simulate",
                             "compare_policies", "study", "power", "demo")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("setback")
    except PackageNotFoundError:  # running from a source tree without installation
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = OneLineParser(
        prog="setback",
        description="Therapy trajectory and dropout modelling: describe data, fit growth "
        "models, simulate clinics and compare feedback and alliance-repair policies.",
    )
    parser.add_argument("--version", action="version", version=f"setback {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"analyses.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not built yet
            if exc.name != f"analyses.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``setback`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        print(f"setback {args.command}: invalid data: {exc}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, FileNotFoundError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"setback {args.command}: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"setback {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
