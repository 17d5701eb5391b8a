"""Argparse ``type=`` functions: every option is checked when the command line is parsed.

A value outside its range (``--at-session -5``, ``--alpha 2``, ``--alpha nan``,
``--rci -2``) is an argparse error, so the command exits with code 2 and one line naming
the option and the rule (``setback fit: argument --rci: must be a finite number > 0, got
-2``) before any data are read or any sampling starts. The messages leave the option's name
to argparse.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

__all__ = ["SEED_MAX", "DefaultsFormatter", "OneLineParser", "existing_file", "instrument",
           "integer", "name_list", "number", "seed"]

#: Largest seed accepted on the command line (numpy's SeedSequence takes any non-negative
#: integer; 2**63 - 1 keeps seeds printable and storable as 64-bit integers).
SEED_MAX = 2**63 - 1


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless the help text already speaks of it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS, "", ())
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block).

    For example ``setback fit: argument --rci: must be a finite number > 0, got -2``, exit code 2;
    its ``--help`` shows the defaults (:class:`DefaultsFormatter`), for its subcommands too.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return (f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
                if isinstance(low, float) or isinstance(high, float)
                else f"in [{low}, {high}]")
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """Make a parser of whole numbers in ``[low, high]`` (either bound may be None).

    Examples
    --------
    >>> integer(1)("200")
    200
    >>> integer(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1, got 0
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be an integer {_bounds(low, high, False, False)}, got {value}")
        return value

    return parse


def seed() -> Callable[[str], int]:
    """Make a parser of seeds: integers in ``[0, SEED_MAX]``."""
    return integer(0, SEED_MAX)


def number(*, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """Make a parser of finite numbers within bounds (``low_open``: the bound itself is excluded).

    Examples
    --------
    >>> alpha = number(low=0.0, high=1.0, low_open=True, high_open=True)
    >>> alpha("0.05")
    0.05
    >>> alpha("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a finite number in (0, 1), got nan
    """
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        inside = math.isfinite(value)
        if inside and low is not None:
            inside = value > low if low_open else value >= low
        if inside and high is not None:
            inside = value < high if high_open else value <= high
        if not inside:
            raise argparse.ArgumentTypeError(
                f"must be a finite number {_bounds(low, high, low_open, high_open)}, "
                f"got {text}")
        return value

    return parse


def instrument(text: str) -> str:
    """Parse an instrument key that :func:`trajectories.instruments.get_instrument` knows."""
    from trajectories.instruments import get_instrument

    try:
        get_instrument(text)
    except (KeyError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc.args[0] if exc.args else exc)) from None
    return text


def name_list(check: Callable[[str], object], what: str) -> Callable[[str], list[str]]:
    """Make a parser of comma-separated names, each checked by ``check``.

    ``check`` raises ``ValueError`` or ``KeyError`` for a bad name; at least one name is required.

    Examples
    --------
    >>> name_list(str, "letter")(" a, b")
    ['a', 'b']
    >>> name_list(str, "letter")(",")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must name at least one letter
    """
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"must name at least one {what}")
        for n in names:
            try:
                check(n)
            except (KeyError, ValueError) as exc:
                raise argparse.ArgumentTypeError(str(exc.args[0] if exc.args else exc)) from None
        return names

    return parse


def existing_file(text: str) -> Path:
    """Parse a path that names an existing file (not a folder)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path
