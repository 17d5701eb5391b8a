"""Fit a growth model to a data set and write the fit and its headline tables to a folder."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trajectories.clinical import reliable_change
from trajectories.data import TherapyData
from trajectories.dropout_estimands import dropout_risk
from trajectories.engine.convergence import ConvergenceWarning
from trajectories.engine.settings import SamplerSettings
from trajectories.estimands import deterioration_risk, expected_change, therapist_effects
from trajectories.fit import GrowthFit, fit_growth, joint_uses_machine_code
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
    """What :func:`run_fit` produced: the fit, the files written and notes for the user.

    ``convergence`` is the fit's convergence message in words ("" when every check
    passed); it is not repeated in ``notes``, and no Python warning is shown for it, so a
    caller reports it exactly once.
    """

    fit: GrowthFit
    files: dict[str, Path]
    notes: tuple[str, ...]
    convergence: str = ""

    @property
    def converged(self) -> bool:
        """Whether the fit passed every convergence check."""
        return self.fit.diagnostics.ok


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
) -> FitOutputs:
    """Fit ``spec`` to ``data`` and write ``fit.nc``, ``summary.csv``, ``expected_change.csv``,
    ``therapist_effects.csv`` (three-level data) and ``deterioration_risk.csv`` (when an RCI
    follows from ``rci``, the instrument, or its reliability and the sample's intake SD)
    into ``out``.

    Bad data or covariates are rejected before sampling starts. Estimands are evaluated at
    ``at_session`` (default: the last session in the data). With ``spec.dropout`` the joint
    growth-dropout model is fitted (its dropout parameters appear in ``summary.csv``) and
    ``dropout_risk.csv`` is written too. The seed used is in ``fit.settings.seed``.

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
    _say(f"fitting {data!r} ({_path_name(spec)}, seed {settings.seed})", progress)
    with warnings.catch_warnings():  # reported once, by the caller, from the diagnostics
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_growth(spec, data, settings=settings)
    _say(f"{_timing(fit.diagnostics.seconds)}; writing tables", progress)
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
    return FitOutputs(fit=fit, files=files, notes=tuple(notes),
                      convergence=fit.diagnostics.message)


def _path_name(spec: GrowthSpec) -> str:
    if spec.dropout is not None:
        return ("joint growth-dropout model, machine code" if joint_uses_machine_code(spec)
                else "joint growth-dropout model, PyMC latent path (compiling a new model "
                "structure takes a minute)")
    if spec.resolved_method == "marginal":
        return "fast collapsed path"
    return "latent path (compiling a new model structure takes a minute)"


def _timing(seconds: dict) -> str:
    """E.g. ``"compiled in 31.0 s, sampled in 4.2 s"`` (the phases that took time)."""
    names = {"compile": "compiled", "sample": "sampled", "effects": "drew the effects"}
    parts = [f"{names.get(k, k)} in {v:.1f} s" if v >= 0.95 else
             f"{names.get(k, k)} in {v:.2g} s" for k, v in seconds.items()
             if v > 0 or k == "sample"]
    return ", ".join(parts) or "done"
