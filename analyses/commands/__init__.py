"""Subcommands of the ``setback`` command line, one module each."""
