"""Pipelines, reports, figures and the ``setback`` command-line interface."""
