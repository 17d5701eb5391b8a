"""Describe a data set: headline numbers and the clinical-significance table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trajectories.clinical import clinical_significance, summarize_clinical_significance
from trajectories.data import TherapyData

__all__ = ["DatasetDescription", "describe_dataset", "format_description"]


@dataclass(frozen=True)
class DatasetDescription:
    """What :func:`describe_dataset` found.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> desc = describe_dataset(load_beat_the_blues())
    >>> isinstance(desc, DatasetDescription), desc.overview["patients"]
    (True, 100)
    """

    data: TherapyData
    overview: dict
    clinical: pd.DataFrame | None
    clinical_by_status: pd.DataFrame | None
    rule: dict | None


def describe_dataset(data: TherapyData) -> DatasetDescription:
    """Headline numbers and, when the data have an instrument, Jacobson–Truax outcomes.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> d = describe_dataset(load_beat_the_blues())
    >>> d.overview["patients"]
    100
    """
    overview = data.describe()
    if data.instrument is None:
        return DatasetDescription(data, overview, None, None, None)
    table = clinical_significance(data)
    return DatasetDescription(
        data,
        overview,
        summarize_clinical_significance(table),
        summarize_clinical_significance(table, by="end_status"),
        dict(table.attrs),
    )


def format_description(desc: DatasetDescription) -> str:
    """Plain-text rendering of a :class:`DatasetDescription` for the terminal.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> lines = format_description(describe_dataset(load_beat_the_blues())).splitlines()
    >>> lines[:2]
    ['patients:              100', 'therapists:            none (two-level data)']
    """
    o = desc.overview
    inst = desc.data.instrument
    lines = [
        f"patients:              {o['patients']}",
        f"therapists:            {o['therapists'] or 'none (two-level data)'}",
        f"observations:          {o['observations']}",
        f"sessions per patient:  mean {o['sessions_per_patient_mean']:.1f} "
        f"(min {o['sessions_per_patient_min']}, max {o['sessions_per_patient_max']})",
        "end status:            "
        + ", ".join(f"{s} {100 * o[f'share_{s}']:.1f}%"
                    for s in ("completed", "dropout", "referred", "ongoing")),
        "                       ("
        + ("from the end-status column" if o["end_status_source"] == "column"
           else o["end_status_source"]) + ")",
        f"instrument:            {inst.name if inst else 'none given (use --instrument)'}",
    ]
    if desc.clinical is not None and desc.rule is not None:
        r = desc.rule
        cut = "none" if r["cutoff"] is None else f"{r['cutoff']:g}"
        lines += [
            "",
            f"Clinical significance (Jacobson & Truax 1991; RCI {r['rci']:.2f} from "
            f"{r['rci_source']}, cutoff {cut}):",
            desc.clinical.to_string(index=False, float_format=lambda v: f"{v:.1f}"),
            "",
            "By end status:",
            desc.clinical_by_status.to_string(index=False, float_format=lambda v: f"{v:.1f}"),
        ]
    return "\n".join(lines)
