"""Option groups of the data commands, kept for commands written against this module.

The option groups now live in :mod:`analyses.commands._options` (data, model, sampler, estimands,
output).
"""

from __future__ import annotations

import argparse

from analyses.commands._options import add_data_options, add_sampler_options, load_data

__all__ = ["add_data_options", "add_sampling_options", "load_data"]


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """Add the sampler options (:func:`analyses.commands._options.add_sampler_options`)."""
    add_sampler_options(parser)
