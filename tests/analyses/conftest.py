"""Fixtures of the command-line tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from analyses.cli import main


def _exit_code(argv: Sequence[str]) -> int:
    """Run ``setback ARGV`` in this process; its exit code, whether argparse exits (a bad
    option) or the command returns."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture
def cli() -> Callable[[Sequence[str]], int]:
    """``cli(argv) -> exit code`` for ``setback`` (options errors included)."""
    return _exit_code
