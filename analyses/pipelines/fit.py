"""Fit a growth model to a data set and write the fit and its headline tables to a folder."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analyses.pipelines.workflow import compare_time_shapes
from trajectories.clinical import reliable_change
from trajectories.data import TherapyData
from trajectories.dropout_estimands import dropout_risk
from trajectories.engine.settings import SamplerSettings
from trajectories.estimands import deterioration_risk, expected_change, therapist_effects
from trajectories.fit import GrowthFit, fit_growth
from trajectories.spec import GrowthSpec

__all__ = ["FitOutputs", "resolve_rci", "run_fit"]


def resolve_rci(data: TherapyData, rci: float | None) -> tuple[float | None, str]:
    """The RCI of an analysis by the one rule (:func:`~trajectories.clinical.
    reliable_change`), and a note saying where it came from, or (None, why not)."""
    try:
        rc = reliable_change(data, rci=rci)
    except ValueError as exc:
        return None, f"deterioration risk not computed: {exc}"
    return rc.rci, f"reliable change: {rc}"


@dataclass(frozen=True)
class FitOutputs:
    """What :func:`run_fit` produced: the fit, the files written and notes for the user."""

    fit: GrowthFit
    files: dict[str, Path]
    notes: tuple[str, ...]


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"setback fit: {message}", file=sys.stderr, flush=True)


def run_fit(
    data: TherapyData,
    spec: GrowthSpec,
    *,
    out: str | Path,
    settings: SamplerSettings | None = None,
    at_session: float | None = None,
    rci: float | None = None,
    progress: bool = True,
    compare: tuple[str, ...] = (),
) -> FitOutputs:
    """Fit ``spec`` to ``data`` and write ``fit.nc``, ``summary.csv``, ``expected_change.csv``,
    ``therapist_effects.csv`` (three-level data) and ``deterioration_risk.csv`` (when an RCI
    follows from ``rci``, the instrument, or its reliability and the sample's intake SD)
    into ``out``.

    Bad data or covariates are rejected before sampling starts. Estimands are evaluated at
    ``at_session`` (default: the last session in the data). With ``spec.dropout`` the joint
    growth-dropout model is fitted (its dropout parameters appear in ``summary.csv``) and
    ``dropout_risk.csv`` is written too. With ``compare`` (time shapes, e.g. ``("log",
    "linear", "piecewise")``) the spec is also fitted with each shape and
    ``model_comparison.csv`` (leave-one-patient-out LOO, :func:`~trajectories.comparison.
    compare`) is written; its reading in words is one of the notes. The seed used is in
    ``fit.settings.seed``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> run_fit(load_beat_the_blues(), GrowthSpec(), out="fit-out")  # doctest: +SKIP
    """
    rci, rci_note = resolve_rci(data, rci)
    notes: list[str] = [rci_note if rci is not None else
                        rci_note.replace("deterioration risk not computed",
                                         "deterioration_risk.csv not written")]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    session = float(data.frame["session"].max()) if at_session is None else float(at_session)
    settings = (settings or SamplerSettings(progress=progress)).resolved()
    path = "fast collapsed" if spec.resolved_method == "marginal" and not spec.dropout else (
        "latent (compiling a new model structure takes a minute)")
    _say(f"fitting {data!r} ({path} path, seed {settings.seed})", progress)
    fit = fit_growth(spec, data, settings=settings)
    _say(f"sampled in {fit.diagnostics.seconds.get('sample', 0):.1f} s; writing tables", progress)
    files = {"fit": out / "fit.nc", "summary": out / "summary.csv",
             "expected_change": out / "expected_change.csv"}
    fit.save(str(files["fit"]))
    fit.summary().to_csv(files["summary"], index=False)
    change = [expected_change(fit, at_session=session).assign(level="population")]
    if fit.design.q_t:
        change.append(expected_change(fit, at_session=session, level="therapist")
                      .assign(level="therapist"))
        files["therapist_effects"] = out / "therapist_effects.csv"
        therapist_effects(fit, at_session=session).to_csv(files["therapist_effects"],
                                                          index=False)
    else:
        notes.append("therapist_effects.csv not written: the data have no therapist level")
    pd.concat(change, ignore_index=True).to_csv(files["expected_change"], index=False)
    if rci is not None:
        files["deterioration_risk"] = out / "deterioration_risk.csv"
        deterioration_risk(fit, by_session=session, instrument=rci).to_csv(
            files["deterioration_risk"], index=False)
    if spec.dropout is not None:
        files["dropout_risk"] = out / "dropout_risk.csv"
        dropout_risk(fit).to_csv(files["dropout_risk"], index=False)
    if compare:
        _say(f"comparing time shapes {', '.join(compare)}", progress)
        result = compare_time_shapes(data, spec, tuple(compare), settings=settings,
                                     fitted=fit, out=out)
        files["model_comparison"] = out / "model_comparison.csv"
        notes.append(f"model comparison: {result.message}")
    if fit.diagnostics.message:
        notes.append(fit.diagnostics.message)
    return FitOutputs(fit=fit, files=files, notes=tuple(notes))
