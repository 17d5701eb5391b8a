"""Pipelines: from data or study results to tables, figures and reports."""
